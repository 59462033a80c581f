package guardian

import (
	"strings"
	"time"
	"unicode/utf8"
)

// decodeClaimsFast decodes the registered claims of a payload of the usual
// shape without reflection: member names without escapes, string claims
// without escapes, dates as plain non-negative integers, aud as a string or
// an array of such strings, any other member a valid JSON value. It fills c
// and reports true only when it is sure to agree with decodePayload (the
// encoding/json path) on that input; on anything else it reports false and
// the caller uses decodePayload, which decides. The strings it sets share
// the memory of p.
//
// It is fuzzed against decodePayload (FuzzDecodeClaimsFast): on every input
// where it reports true, both must yield the same claims.
func decodeClaimsFast(p string, c *Claims) bool {
	s := jsonScanner{s: p}
	s.space()
	if !s.consume('{') {
		return false
	}
	var seen uint32
	var scope, scp []string
	s.space()
	if s.consume('}') {
		return s.end()
	}
	for {
		s.space()
		name, ok := s.plainString()
		if !ok {
			return false
		}
		s.space()
		if !s.consume(':') {
			return false
		}
		s.space()
		bit := claimBit(name)
		if bit != 0 {
			if seen&bit != 0 { // a repeated claim: encoding/json keeps the last
				return false
			}
			seen |= bit
		}
		switch bit {
		case bitAct:
			return false // an object: encoding/json decodes it
		case bitCnf:
			if !s.confirmation(c) {
				return false
			}
		case bitPem:
			if !s.permissions(c) {
				return false
			}
		case bitScope, bitScp:
			list, ok := s.scopes()
			if !ok {
				return false
			}
			if bit == bitScope {
				scope = list
			} else {
				scp = list
			}
		case bitAmr:
			if s.i >= len(s.s) || s.s[s.i] != '[' {
				return false
			}
			list, ok := s.stringArray()
			if !ok {
				return false
			}
			c.AMR = list
		case bitIss, bitSub, bitTyp, bitJti, bitFam, bitClientID, bitAzp, bitAcr:
			v, ok := s.plainString()
			if !ok {
				return false
			}
			switch bit {
			case bitIss:
				c.Issuer = v
			case bitSub:
				c.Subject = v
			case bitTyp:
				c.Type = TokenType(v)
			case bitJti:
				c.ID = v
			case bitFam:
				c.Family = v
			case bitClientID:
				c.ClientID = v
			case bitAzp:
				c.AuthorizedParty = v
			case bitAcr:
				c.ACR = v
			}
		case bitAud:
			if !s.audience(c) {
				return false
			}
		case bitIat, bitNbf, bitExp, bitAuthTime:
			n, ok := s.seconds()
			if !ok {
				return false
			}
			t := time.Unix(n, 0).UTC()
			switch bit {
			case bitIat:
				c.IssuedAt = t
			case bitNbf:
				c.NotBefore = t
			case bitExp:
				c.ExpiresAt = t
			case bitAuthTime:
				c.AuthTime = t
			}
		default:
			// encoding/json matches member names case-insensitively: a
			// name like "EXP" would set exp there. Leave such names to it.
			if foldsToClaim(name) {
				return false
			}
			if !s.skipValue(0) {
				return false
			}
		}
		s.space()
		if s.consume(',') {
			continue
		}
		if s.consume('}') {
			if scope != nil || scp != nil {
				c.Scope = mergeScopes(mergeScopes(nil, scope), scp)
			}
			return s.end()
		}
		return false
	}
}

const (
	bitIss uint32 = 1 << iota
	bitSub
	bitAud
	bitTyp
	bitJti
	bitFam
	bitIat
	bitNbf
	bitExp
	bitAuthTime
	bitScope
	bitScp
	bitClientID
	bitAzp
	bitAcr
	bitAmr
	bitCnf
	bitPem
	bitAct
)

func claimBit(name string) uint32 {
	switch name {
	case "iss":
		return bitIss
	case "sub":
		return bitSub
	case "aud":
		return bitAud
	case "typ":
		return bitTyp
	case "jti":
		return bitJti
	case "fam":
		return bitFam
	case "iat":
		return bitIat
	case "nbf":
		return bitNbf
	case "exp":
		return bitExp
	case "auth_time":
		return bitAuthTime
	case "scope":
		return bitScope
	case "scp":
		return bitScp
	case "client_id":
		return bitClientID
	case "azp":
		return bitAzp
	case "acr":
		return bitAcr
	case "amr":
		return bitAmr
	case "cnf":
		return bitCnf
	case "pem":
		return bitPem
	case "act":
		return bitAct
	}
	return 0
}

// foldsToClaim reports whether name would match a registered claim under
// encoding/json's case folding (which also folds 'ſ' to 's' and the Kelvin
// sign to 'k'). Such names go to the slow path.
func foldsToClaim(name string) bool {
	if len(name) < 3 || len(name) > 9 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			return true // non-ASCII of a claim's length: let encoding/json judge
		}
	}
	return registeredNames[strings.ToLower(name)]
}

// jsonScanner reads JSON from a string, strictly.
type jsonScanner struct {
	s string
	i int
}

func (s *jsonScanner) space() {
	for s.i < len(s.s) {
		switch s.s[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) consume(c byte) bool {
	if s.i < len(s.s) && s.s[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (s *jsonScanner) end() bool {
	s.space()
	return s.i == len(s.s)
}

// plainString reads a string without escapes and returns its contents. It
// fails on escapes, control characters and invalid UTF-8 (which
// encoding/json would replace).
func (s *jsonScanner) plainString() (string, bool) {
	if !s.consume('"') {
		return "", false
	}
	start := s.i
	ascii := true
	for s.i < len(s.s) {
		c := s.s[s.i]
		switch {
		case c == '"':
			v := s.s[start:s.i]
			s.i++
			if !ascii && !utf8.ValidString(v) {
				return "", false
			}
			return v, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		s.i++
	}
	return "", false
}

// seconds reads a NumericDate written as a plain non-negative integer of
// at most 15 digits (below 2^53, where float64 is exact).
func (s *jsonScanner) seconds() (int64, bool) {
	start := s.i
	var n int64
	for s.i < len(s.s) && s.s[s.i] >= '0' && s.s[s.i] <= '9' {
		n = n*10 + int64(s.s[s.i]-'0')
		s.i++
	}
	digits := s.i - start
	if digits == 0 || digits > 15 || (digits > 1 && s.s[start] == '0') {
		return 0, false
	}
	if s.i < len(s.s) {
		switch s.s[s.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	return n, true
}

// audience reads aud: a plain string, or an array of plain strings.
func (s *jsonScanner) audience(c *Claims) bool {
	if s.i < len(s.s) && s.s[s.i] == '"' {
		v, ok := s.plainString()
		if !ok {
			return false
		}
		c.aud1[0] = v
		c.Audience = c.aud1[:]
		return true
	}
	list, ok := s.stringArray()
	if ok {
		c.Audience = list
	}
	return ok
}

// scopes reads scope or scp: a plain string of scopes separated by spaces,
// or an array of plain strings.
func (s *jsonScanner) scopes() ([]string, bool) {
	if s.i < len(s.s) && s.s[s.i] == '"' {
		v, ok := s.plainString()
		return splitScope(v), ok
	}
	return s.stringArray()
}

// stringArray reads an array of plain strings; an empty one is not nil.
func (s *jsonScanner) stringArray() ([]string, bool) {
	if !s.consume('[') {
		return nil, false
	}
	list := []string{}
	s.space()
	if s.consume(']') {
		return list, true
	}
	for {
		s.space()
		v, ok := s.plainString()
		if !ok {
			return nil, false
		}
		list = append(list, v)
		s.space()
		if s.consume(',') {
			continue
		}
		if s.consume(']') {
			return list, true
		}
		return nil, false
	}
}

// confirmation reads cnf: null, or an object whose members are jkt and
// x5t#S256, each at most once, with plain strings. Any other member goes
// to encoding/json, which matches names case-insensitively.
func (s *jsonScanner) confirmation(c *Claims) bool {
	var cnf Confirmation
	var seenJKT, seenX5t bool
	ok := s.nullOrObject(func(name string) bool {
		v, ok := s.plainString()
		switch {
		case !ok:
			return false
		case name == "jkt" && !seenJKT:
			cnf.JWKThumbprint, seenJKT = v, true
		case name == "x5t#S256" && !seenX5t:
			cnf.X509Thumbprint, seenX5t = v, true
		default:
			return false
		}
		return true
	})
	c.Confirmation = cnf
	return ok
}

// permissions reads pem: an object of plain names to integers that fit in
// an int64, or null.
func (s *jsonScanner) permissions(c *Claims) bool {
	var list []PermissionBits
	ok := s.nullOrObject(func(group string) bool {
		start := s.i
		if !s.skipNumber() {
			return false
		}
		bits, ok := parseMask(s.s[start:s.i])
		if ok {
			list = addPermission(list, PermissionBits{Group: group, Bits: bits})
		}
		return ok
	})
	c.Permissions = list
	return ok
}

// nullOrObject reads null, or an object with plain member names, calling
// value for each member once the scanner is at its value; value reads it
// and reports whether it could.
func (s *jsonScanner) nullOrObject(value func(name string) bool) bool {
	if strings.HasPrefix(s.s[s.i:], "null") {
		s.i += 4
		return true
	}
	if !s.consume('{') {
		return false
	}
	s.space()
	if s.consume('}') {
		return true
	}
	for {
		s.space()
		name, ok := s.plainString()
		if !ok {
			return false
		}
		s.space()
		if !s.consume(':') {
			return false
		}
		s.space()
		if !value(name) {
			return false
		}
		s.space()
		if s.consume(',') {
			continue
		}
		return s.consume('}')
	}
}

// maxSkipDepth bounds the nesting of skipped values; deeper ones go to the
// slow path.
const maxSkipDepth = 32

// skipValue steps over one valid JSON value.
func (s *jsonScanner) skipValue(depth int) bool {
	if s.i >= len(s.s) || depth > maxSkipDepth {
		return false
	}
	switch c := s.s[s.i]; {
	case c == '"':
		return s.skipString()
	case c == '{':
		s.i++
		s.space()
		if s.consume('}') {
			return true
		}
		for {
			s.space()
			if !s.skipString() {
				return false
			}
			s.space()
			if !s.consume(':') {
				return false
			}
			s.space()
			if !s.skipValue(depth + 1) {
				return false
			}
			s.space()
			if s.consume(',') {
				continue
			}
			return s.consume('}')
		}
	case c == '[':
		s.i++
		s.space()
		if s.consume(']') {
			return true
		}
		for {
			s.space()
			if !s.skipValue(depth + 1) {
				return false
			}
			s.space()
			if s.consume(',') {
				continue
			}
			return s.consume(']')
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return s.skipNumber()
	case strings.HasPrefix(s.s[s.i:], "true"):
		s.i += 4
		return true
	case strings.HasPrefix(s.s[s.i:], "false"):
		s.i += 5
		return true
	case strings.HasPrefix(s.s[s.i:], "null"):
		s.i += 4
		return true
	}
	return false
}

// skipString steps over a JSON string, escapes included.
func (s *jsonScanner) skipString() bool {
	if !s.consume('"') {
		return false
	}
	for s.i < len(s.s) {
		c := s.s[s.i]
		switch {
		case c == '"':
			s.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			s.i++
			if s.i >= len(s.s) {
				return false
			}
			switch s.s[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if s.i+5 > len(s.s) {
					return false
				}
				for _, h := range []byte(s.s[s.i+1 : s.i+5]) {
					if !isHex(h) {
						return false
					}
				}
				s.i += 5
			default:
				return false
			}
		default:
			s.i++
		}
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// skipNumber steps over a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jsonScanner) skipNumber() bool {
	s.consume('-')
	switch {
	case s.consume('0'):
	case s.i < len(s.s) && s.s[s.i] >= '1' && s.s[s.i] <= '9':
		s.digits()
	default:
		return false
	}
	if s.consume('.') && !s.digits() {
		return false
	}
	if s.consume('e') || s.consume('E') {
		if !s.consume('+') {
			s.consume('-')
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

// digits steps over one or more digits.
func (s *jsonScanner) digits() bool {
	start := s.i
	for s.i < len(s.s) && s.s[s.i] >= '0' && s.s[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}
