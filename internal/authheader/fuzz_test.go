package authheader_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/guardian-go/guardian/internal/authheader"
)

// FuzzParseAuthorization checks Parse's invariants on any header value,
// scheme and bound:
//   - it never panics;
//   - an error always comes with found, is ErrMalformed, and carries no token;
//   - a token is found only when the value, trimmed, is the scheme (matched
//     case-insensitively), white space, and a token68 that appears in the
//     input as is;
//   - flipping the case of the scheme, in the value or in the configuration,
//     changes nothing;
//   - the scheme, a space and any token68 within the bound is always found.
func FuzzParseAuthorization(f *testing.F) {
	seeds := []struct {
		value, scheme string
		maxLen        int
	}{
		{"Bearer abc", "Bearer", 100},
		{"bearer  eyJhbGciOiJIUzI1NiJ9.e30.c2ln", "Bearer", 100},
		{"BEARER abc==", "bearer", 100},
		{"\t Bearer\tabc \t", "Bearer", 100},
		{"Basic dXNlcjpwYXNz", "Bearer", 100},
		{"", "Bearer", 100},
		{"Bearer", "Bearer", 100},
		{"Bearer a b", "Bearer", 100},
		{"Bearer a=b", "Bearer", 100},
		{"Bearer abcdef", "Bearer", 8},
		{"Token x.y.z", "Token", 100},
		{"Bearer \x00", "Bearer", 100},
		{"Bearer\u00a0abc", "Bearer", 100},
		{"ſcheme abc", "Scheme", 100},
		{"Bearer abc", "", 100},
		{"Bearer abc", "Bearer", -1},
	}
	for _, s := range seeds {
		f.Add(s.value, s.scheme, s.maxLen)
	}
	f.Fuzz(func(t *testing.T, value, scheme string, maxLen int) {
		tok, found, err := parse(value, scheme, maxLen)
		// Split agrees with Parse, but for the token68 check of the token.
		stok, sfound, serr := authheader.Split(value, scheme, maxLen)
		switch {
		case sfound != found:
			t.Fatalf("Split(%q) found %v, Parse found %v", value, sfound, found)
		case serr == nil && err == nil && stok != tok:
			t.Fatalf("Split(%q) = %q, Parse = %q", value, stok, tok)
		case serr != nil && err == nil:
			t.Fatalf("Split(%q) failed (%v) where Parse succeeded", value, serr)
		case serr == nil && err != nil && authheader.IsToken68(stok):
			t.Fatalf("Parse(%q) failed (%v) on a token68 that Split found", value, err)
		}
		if err != nil {
			if !found || tok != "" || !errors.Is(err, authheader.ErrMalformed) {
				t.Fatalf("Parse(%q, %q, %d) = %q, %v, %v: an error must be ErrMalformed, with found and no token", value, scheme, maxLen, tok, found, err)
			}
		}
		if !found && tok != "" {
			t.Fatalf("Parse(%q, %q) = %q without found", value, scheme, tok)
		}
		if found && err == nil {
			if !authheader.IsToken68(tok) {
				t.Fatalf("Parse(%q) = %q, not a token68", value, tok)
			}
			if !strings.Contains(value, tok) {
				t.Fatalf("Parse(%q) = %q, not in the input", value, tok)
			}
			if len(value) > maxLen {
				t.Fatalf("Parse accepted %d bytes over a bound of %d", len(value), maxLen)
			}
			v := trim(value)
			if len(v) <= len(scheme) || !asciiEqualFold(v[:len(scheme)], scheme) || !isSpace(v[len(scheme)]) {
				t.Fatalf("Parse(%q, %q) found a token without the scheme and a space", value, scheme)
			}
			if trim(v[len(scheme):]) != tok {
				t.Fatalf("Parse(%q) = %q, not all that follows the scheme", value, tok)
			}
		}

		for _, variant := range []struct {
			value, scheme string
		}{
			{flipFirstWord(value), scheme},
			{value, flipCase(scheme)},
		} {
			tok2, found2, err2 := parse(variant.value, variant.scheme, maxLen)
			if tok2 != tok || found2 != found || (err2 == nil) != (err == nil) {
				t.Fatalf("case changes the answer: Parse(%q, %q) = %q, %v, %v; Parse(%q, %q) = %q, %v, %v",
					value, scheme, tok, found, err, variant.value, variant.scheme, tok2, found2, err2)
			}
		}

		if authheader.IsToken(scheme) && authheader.IsToken68(value) && len(scheme)+1+len(value) <= maxLen {
			got, found, err := parse(scheme+" "+value, scheme, maxLen)
			if got != value || !found || err != nil {
				t.Fatalf("Parse(%q) = %q, %v, %v; want %q", scheme+" "+value, got, found, err, value)
			}
		}
	})
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

func trim(s string) string { return strings.Trim(s, " \t") }

// asciiEqualFold is equality up to the case of ASCII letters.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// flipCase swaps the case of every ASCII letter of s.
func flipCase(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}

// flipFirstWord swaps the case of the ASCII letters of the first word of s
// (after leading spaces and tabs): where the scheme is.
func flipFirstWord(s string) string {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	j := i
	for j < len(s) && !isSpace(s[j]) {
		j++
	}
	return s[:i] + flipCase(s[i:j]) + s[j:]
}
