// Package authheader parses credentials out of HTTP requests: the
// "Authorization: <scheme> <token>" header of RFC 7235 and RFC 6750 §2.1,
// and bare tokens from cookies and query parameters.
package authheader

import (
	"errors"
	"strings"
)

// ErrMalformed is returned for credentials that are present but unusable:
// a scheme without a token, a token with spaces, characters outside the
// token68 syntax, or a value over the size bound.
var ErrMalformed = errors.New("malformed credentials")

// Split extracts the token from an Authorization header value whose scheme
// matches scheme, case-insensitively. Surrounding whitespace is tolerated.
// found is false, with a nil error, when the value uses another scheme:
// those credentials are not ours to judge. An empty value is malformed.
// maxLen bounds the whole value.
//
// It only makes sure the token is one non-empty word, not that its
// characters are token68: callers verify the token anyway (a token that
// verifies is base64url and dots) and check IsToken68 only when
// verification fails, to tell a malformed header from a bad token.
func Split(value, scheme string, maxLen int) (token string, found bool, err error) {
	if len(value) > maxLen {
		return "", true, ErrMalformed
	}
	v := trim(value)
	if v == "" {
		return "", true, ErrMalformed
	}
	i := 0
	for i < len(v) && !isSpace(v[i]) {
		i++
	}
	if !equalFold(v[:i], scheme) {
		return "", false, nil
	}
	token = trim(v[i:])
	if token == "" || strings.IndexByte(token, ' ') >= 0 || strings.IndexByte(token, '\t') >= 0 {
		return "", true, ErrMalformed
	}
	return token, true, nil
}

// IsToken68 reports whether s is a non-empty token68 (RFC 7235 §2.1):
// ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then any "=".
func IsToken68(s string) bool {
	n := len(s)
	for n > 0 && s[n-1] == '=' {
		n--
	}
	if n == 0 {
		return false
	}
	for i := 0; i < n; i++ {
		if !token68Chars[s[i]] {
			return false
		}
	}
	return true
}

// IsToken reports whether s is a non-empty HTTP token (RFC 9110 §5.6.2),
// the syntax of an authentication scheme.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) {
			continue
		}
		switch c {
		case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
			continue
		}
		return false
	}
	return true
}

// IsQuotable reports whether s can stand inside a quoted-string of a
// WWW-Authenticate parameter without escaping (RFC 6750 §3: %x20-21 /
// %x23-5B / %x5D-7E).
func IsQuotable(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// token68Chars marks the bytes of token68 before its padding.
var token68Chars = func() (t [256]bool) {
	for c := range 256 {
		b := byte(c)
		t[c] = isAlnum(b) || b == '-' || b == '.' || b == '_' || b == '~' || b == '+' || b == '/'
	}
	return t
}()

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

func trim(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// equalFold is ASCII case-insensitive equality, as scheme names need.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
