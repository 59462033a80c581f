package guardian

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"math/bits"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// The fast decoders of a DPoP proof's header and claims. Like
// decodeClaimsFast, they read the usual shape without reflection and hand
// anything else to decodeSegment (encoding/json), which then decides: a
// member name with an escape, outside ASCII, or matching a known member
// only case-insensitively; a known member twice; a value of another type
// than the usual one; a date that is not a plain integer. Where the fast
// path answers, it agrees with decodeSegment (FuzzDecodeProof).

// proofSegmentBuffer is the size of the stack buffer a segment is decoded
// into; longer segments get one from the heap.
const proofSegmentBuffer = 1024

// decodeProofHeader decodes a proof's JOSE header segment into h as
// decodeSegment(seg, h) does: base64url, a JSON object, encoding/json's
// rules for dpopHeader.
func decodeProofHeader(seg string, h *dpopHeader) error {
	if decodeProofHeaderFast(seg, h) {
		return nil
	}
	// Through a copy, so that h stays on its caller's stack when the
	// fast path answers.
	v := *h
	err := decodeSegment(seg, &v)
	*h = v
	return err
}

// decodeProofClaims decodes a proof's payload segment into c as
// decodeSegment(seg, c) does: base64url, a JSON object, encoding/json's
// rules for dpopClaims.
func decodeProofClaims(seg string, c *dpopClaims) error {
	if decodeProofClaimsFast(seg, c) {
		return nil
	}
	v := *c // as in decodeProofHeader
	err := decodeSegment(seg, &v)
	*c = v
	return err
}

// proofSegment base64url-decodes seg, as decodeSegment does, and returns
// its contents as a string of its own (shared with nothing else).
func proofSegment(seg string) (string, bool) {
	var buf [proofSegmentBuffer]byte
	dst := buf[:]
	if n := b64.DecodedLen(len(seg)); n > len(dst) {
		dst = make([]byte, n)
	}
	n, err := b64.Decode(dst, []byte(seg))
	if err != nil {
		return "", false
	}
	return string(dst[:n]), true
}

// Bits of the header members that dpopHeader holds.
const (
	hdrTyp uint16 = 1 << iota
	hdrAlg
	hdrJwk
	hdrKid
	hdrJku
	hdrX5u
	hdrX5c
	hdrCrit
	hdrB64
	hdrZip
)

// hdrRaw is the number of raw members, from hdrJwk on.
const hdrRaw = 8

func headerBit(name string) uint16 {
	switch name {
	case "typ":
		return hdrTyp
	case "alg":
		return hdrAlg
	case "jwk":
		return hdrJwk
	case "kid":
		return hdrKid
	case "jku":
		return hdrJku
	case "x5u":
		return hdrX5u
	case "x5c":
		return hdrX5c
	case "crit":
		return hdrCrit
	case "b64":
		return hdrB64
	case "zip":
		return hdrZip
	}
	return 0
}

// decodeProofHeaderFast reports whether it decoded seg into h; false means
// decodeSegment must decide (h is then unchanged).
func decodeProofHeaderFast(seg string, h *dpopHeader) bool {
	p, ok := proofSegment(seg)
	if !ok {
		return false
	}
	s := jsonScanner{s: p}
	var typ, alg string
	var typSet, algSet bool
	var raw [hdrRaw]struct{ start, end int }
	seen, ok := s.proofObject(headerBit, proofHeaderNames, func(bit uint16) bool {
		switch bit {
		case hdrTyp, hdrAlg:
			v, set, ok := s.stringOrNull()
			if bit == hdrTyp {
				typ, typSet = v, set
			} else {
				alg, algSet = v, set
			}
			return ok
		}
		start := s.i
		if !s.skipValue(0) {
			return false
		}
		raw[bits.TrailingZeros16(bit/hdrJwk)] = struct{ start, end int }{start, s.i}
		return true
	})
	if !ok {
		return false
	}
	if typSet {
		h.Typ = typ
	}
	if algSet {
		h.Alg = alg
	}
	for i, dst := range [hdrRaw]*json.RawMessage{&h.Jwk, &h.Kid, &h.Jku, &h.X5u, &h.X5c, &h.Crit, &h.B64, &h.Zip} {
		if seen&(hdrJwk<<i) != 0 {
			*dst = json.RawMessage(p[raw[i].start:raw[i].end])
		}
	}
	return true
}

// Bits of the claims that dpopClaims holds.
const (
	clmJti uint16 = 1 << iota
	clmHtm
	clmHtu
	clmIat
	clmAth
	clmNonce
)

func proofClaimBit(name string) uint16 {
	switch name {
	case "jti":
		return clmJti
	case "htm":
		return clmHtm
	case "htu":
		return clmHtu
	case "iat":
		return clmIat
	case "ath":
		return clmAth
	case "nonce":
		return clmNonce
	}
	return 0
}

// proofClaimValues holds what the pointers of a dpopClaims point to, in
// one allocation.
type proofClaimValues struct {
	iat        numericDate
	ath, nonce string
}

// decodeProofClaimsFast reports whether it decoded seg into c; false means
// decodeSegment must decide (c is then unchanged).
func decodeProofClaimsFast(seg string, c *dpopClaims) bool {
	p, ok := proofSegment(seg)
	if !ok {
		return false
	}
	s := jsonScanner{s: p}
	var null uint16
	var str [6]string // the string claims, by the index of their bit
	var iat int64
	seen, ok := s.proofObject(proofClaimBit, proofClaimNames, func(bit uint16) bool {
		if s.null() {
			null |= bit
			return true
		}
		var ok bool
		if bit == clmIat {
			iat, ok = s.seconds()
		} else {
			str[bits.TrailingZeros16(bit)], ok = s.plainString()
		}
		return ok
	})
	if !ok {
		return false
	}
	// A null leaves a string as it is and sets a pointer to nil, as
	// encoding/json does.
	set := seen &^ null
	for i, dst := range [...]*string{&c.Jti, &c.Htm, &c.Htu} {
		if set&(clmJti<<i) != 0 {
			*dst = str[i]
		}
	}
	var v *proofClaimValues
	if set&(clmIat|clmAth|clmNonce) != 0 {
		v = &proofClaimValues{iat: numericDate{time.Unix(iat, 0).UTC()}, ath: str[bits.TrailingZeros16(clmAth)], nonce: str[bits.TrailingZeros16(clmNonce)]}
	}
	switch {
	case set&clmIat != 0:
		c.Iat = &v.iat
	case null&clmIat != 0:
		c.Iat = nil
	}
	switch {
	case set&clmAth != 0:
		c.Ath = &v.ath
	case null&clmAth != 0:
		c.Ath = nil
	}
	switch {
	case set&clmNonce != 0:
		c.Nonce = &v.nonce
	case null&clmNonce != 0:
		c.Nonce = nil
	}
	return true
}

// proofObject reads a whole segment: one JSON object with plain member
// names (white space around it). A member that bitOf does not know (0) is
// skipped, unless its name could match one of names (the known ones) the
// way encoding/json matches them; value reads a known member's value, the
// scanner at it, and reports whether it could. It returns the bits of the
// known members seen, and whether it could read it all: a known member
// twice is for encoding/json (which keeps the last).
func (s *jsonScanner) proofObject(bitOf func(string) uint16, names []string, value func(bit uint16) bool) (seen uint16, ok bool) {
	s.space()
	if s.i >= len(s.s) || s.s[s.i] != '{' {
		return 0, false
	}
	ok = s.nullOrObject(func(name string) bool {
		bit := bitOf(name)
		switch {
		case bit == 0:
			return !foldsToName(name, names) && s.skipValue(0)
		case seen&bit != 0:
			return false
		}
		seen |= bit
		return value(bit)
	})
	return seen, ok && s.end()
}

// null reads a null, if that is what comes next.
func (s *jsonScanner) null() bool {
	if len(s.s)-s.i >= 4 && s.s[s.i:s.i+4] == "null" {
		s.i += 4
		return true
	}
	return false
}

// stringOrNull reads a plain string (set) or null (not set).
func (s *jsonScanner) stringOrNull() (v string, set, ok bool) {
	if s.null() {
		return "", false, true
	}
	v, ok = s.plainString()
	return v, ok, ok
}

// The members of dpopHeader and dpopClaims, lower case.
var (
	proofHeaderNames = []string{"typ", "alg", "jwk", "kid", "jku", "x5u", "x5c", "crit", "b64", "zip"}
	proofClaimNames  = []string{"jti", "htm", "htu", "iat", "ath", "nonce"}
)

// foldsToName reports whether encoding/json could match name to one of
// names (all lower-case ASCII) under its case folding, which also folds
// 'ſ' to 's' and the Kelvin sign to 'k': any name outside ASCII is taken
// to, so that encoding/json judges it.
func foldsToName(name string, names []string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			return true
		}
	}
	for _, n := range names {
		if len(n) == len(name) && equalFoldASCII(name, n) {
			return true
		}
	}
	return false
}

// equalFoldASCII reports whether ASCII a equals lower-case b but for the
// case of letters.
func equalFoldASCII(a, b string) bool {
	for i := 0; i < len(a); i++ {
		c := a[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != b[i] {
			return false
		}
	}
	return true
}

// athMatches reports whether ath is the proof's hash of token, as
// ath != nil && equalStrings(*ath, accessTokenHash(token)) does, without
// allocating.
func athMatches(ath *string, token string) bool {
	if ath == nil {
		return false
	}
	var buf [1024]byte // tokens longer than this are copied to the heap
	sum := sha256.Sum256(append(buf[:0], token...))
	var enc [43]byte // b64.EncodedLen(sha256.Size)
	b64.Encode(enc[:], sum[:])
	return subtle.ConstantTimeCompare([]byte(*ath), enc[:]) == 1
}

// proofReplayKey is replayKey(jkt, jti), in one allocation (the result)
// instead of three.
func proofReplayKey(jkt, jti string) string {
	const prefix = "guardian dpop\x00"
	var buf [len(prefix) + 64 + maxProofIDLength]byte // longer ones go to the heap
	b := append(buf[:0], prefix...)
	b = append(b, jkt...)
	b = append(b, 0)
	b = append(b, jti...)
	sum := sha256.Sum256(b)
	var key [len("dpop.") + 22]byte // b64.EncodedLen(16)
	copy(key[:], "dpop.")
	b64.Encode(key[len("dpop."):], sum[:16])
	return string(key[:])
}

// lookup returns the entry get would find for jwk and alg, without
// building the key on the heap.
func (p *proofKeys) lookup(jwk json.RawMessage, alg Algorithm) (proofKeyEntry, bool) {
	var buf [512]byte // longer keys are built on the heap
	id := append(append(append(buf[:0], alg...), 0), jwk...)
	p.mu.RLock()
	e, ok := p.byID[string(id)]
	p.mu.RUnlock()
	return e, ok
}

// proofHeaders remembers, by their header segment, the proofs whose
// header passed Verify's header checks, with the key of its jwk: a client
// sends the same header with every proof, and a hit spares decoding it,
// checking it and looking its key up. The segment decides all of that, for
// one DPoPVerifier (whose algorithms are fixed), so a hit answers as the
// checks would. Bounded as proofKeys is.
type proofHeaders struct {
	mu    sync.RWMutex
	bySeg map[string]proofKeyEntry
}

// get returns the key and thumbprint remembered for the header segment
// seg.
func (p *proofHeaders) get(seg string) (*Key, string, bool) {
	p.mu.RLock()
	e, ok := p.bySeg[seg]
	p.mu.RUnlock()
	return e.key, e.jkt, ok
}

// put remembers that the header segment seg passed the header checks,
// with its key; when full, it starts over.
func (p *proofHeaders) put(seg string, key *Key, jkt string) {
	p.mu.Lock()
	if p.bySeg == nil || len(p.bySeg) >= maxProofKeys {
		p.bySeg = make(map[string]proofKeyEntry)
	}
	p.bySeg[strings.Clone(seg)] = proofKeyEntry{key, jkt}
	p.mu.Unlock()
}

// maxProofSignature is the size of the largest signature of a proof's
// algorithms: RS256 or PS256 with a key of maxRSABits.
const maxProofSignature = maxRSABits / 8

// decodeProofSignature is b64.DecodeString(seg), decoded into buf when it
// fits (a proof's signature need not outlive Verify, and verifyWith does
// not keep it): the same bytes and the same error.
func decodeProofSignature(buf []byte, seg string) ([]byte, error) {
	if b64.DecodedLen(len(seg)) > len(buf) {
		return b64.DecodeString(seg)
	}
	n, err := b64.Decode(buf, []byte(seg))
	return buf[:n], err
}
