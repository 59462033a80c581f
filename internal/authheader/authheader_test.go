package authheader_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/guardian-go/guardian/internal/authheader"
)

func TestParse(t *testing.T) {
	const tok = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2ln-_~+/=="
	tests := []struct {
		name      string
		value     string
		scheme    string
		maxLen    int
		wantToken string
		wantFound bool
		wantErr   bool
	}{
		{name: "plain", value: "Bearer " + tok, scheme: "Bearer", wantToken: tok, wantFound: true},
		{name: "lower-case scheme", value: "bearer " + tok, scheme: "Bearer", wantToken: tok, wantFound: true},
		{name: "upper-case scheme", value: "BEARER " + tok, scheme: "Bearer", wantToken: tok, wantFound: true},
		{name: "configured in lower case", value: "Bearer " + tok, scheme: "bearer", wantToken: tok, wantFound: true},
		{name: "surrounding white space", value: " \t Bearer \t " + tok + " \t ", scheme: "Bearer", wantToken: tok, wantFound: true},
		{name: "tab separator", value: "Bearer\t" + tok, scheme: "Bearer", wantToken: tok, wantFound: true},
		{name: "padding only at the end", value: "Bearer abc==", scheme: "Bearer", wantToken: "abc==", wantFound: true},
		{name: "custom scheme", value: "Token abc", scheme: "Token", wantToken: "abc", wantFound: true},
		{name: "another scheme", value: "Basic dXNlcjpwYXNz", scheme: "Bearer"},
		{name: "another scheme, malformed for us", value: "Basic a b c", scheme: "Bearer"},
		{name: "scheme as a prefix", value: "Bearerx abc", scheme: "Bearer"},
		{name: "scheme glued to the token", value: "Bearerabc", scheme: "Bearer"},
		{name: "shorter scheme", value: "Bear abc", scheme: "Bearer"},
		{name: "empty", value: "", scheme: "Bearer", wantFound: true, wantErr: true},
		{name: "white space only", value: " \t ", scheme: "Bearer", wantFound: true, wantErr: true},
		{name: "scheme alone", value: "Bearer", scheme: "Bearer", wantFound: true, wantErr: true},
		{name: "scheme and spaces", value: "Bearer   ", scheme: "Bearer", wantFound: true, wantErr: true},
		{name: "two tokens", value: "Bearer a b", scheme: "Bearer", wantFound: true, wantErr: true},
		{name: "comma", value: "Bearer a,b", scheme: "Bearer", wantFound: true, wantErr: true},
		{name: "padding in the middle", value: "Bearer a=b", scheme: "Bearer", wantFound: true, wantErr: true},
		{name: "padding only", value: "Bearer ==", scheme: "Bearer", wantFound: true, wantErr: true},
		{name: "quote", value: `Bearer "abc"`, scheme: "Bearer", wantFound: true, wantErr: true},
		{name: "NUL", value: "Bearer ab\x00c", scheme: "Bearer", wantFound: true, wantErr: true},
		{name: "line feed", value: "Bearer ab\nc", scheme: "Bearer", wantFound: true, wantErr: true},
		{name: "non-ASCII", value: "Bearer abç", scheme: "Bearer", wantFound: true, wantErr: true},
		{name: "over the bound", value: "Bearer abcdef", scheme: "Bearer", maxLen: 12, wantFound: true, wantErr: true},
		{name: "at the bound", value: "Bearer abcde", scheme: "Bearer", maxLen: 12, wantToken: "abcde", wantFound: true},
		{name: "another scheme over the bound", value: "Basic " + strings.Repeat("a", 100), scheme: "Bearer", maxLen: 50, wantFound: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			maxLen := tt.maxLen
			if maxLen == 0 {
				maxLen = 1 << 10
			}
			tok, found, err := parse(tt.value, tt.scheme, maxLen)
			if tok != tt.wantToken || found != tt.wantFound || (err != nil) != tt.wantErr {
				t.Fatalf("Parse(%q, %q) = %q, %v, %v; want %q, %v, error %v", tt.value, tt.scheme, tok, found, err, tt.wantToken, tt.wantFound, tt.wantErr)
			}
			if err != nil && !errors.Is(err, authheader.ErrMalformed) {
				t.Errorf("error %v is not ErrMalformed", err)
			}
		})
	}
}

func TestIsToken68(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{s: "a", want: true},
		{s: "AZaz09-._~+/", want: true},
		{s: "abc=", want: true},
		{s: "abc===", want: true},
		{s: "", want: false},
		{s: "=", want: false},
		{s: "a=b", want: false},
		{s: "a b", want: false},
		{s: "a,b", want: false},
		{s: "a\tb", want: false},
		{s: "é", want: false},
		{s: "a\x00", want: false},
		{s: "a\x7f", want: false},
	}
	for _, tt := range tests {
		if got := authheader.IsToken68(tt.s); got != tt.want {
			t.Errorf("IsToken68(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestIsToken(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{s: "Bearer", want: true},
		{s: "DPoP", want: true},
		{s: "x-custom_1.0!#$%&'*+^`|~", want: true},
		{s: "", want: false},
		{s: "Bearer Token", want: false},
		{s: "Bearer:", want: false},
		{s: "a/b", want: false},
		{s: "a=b", want: false},
		{s: `a"b`, want: false},
		{s: "a\r\nb", want: false},
		{s: "é", want: false},
	}
	for _, tt := range tests {
		if got := authheader.IsToken(tt.s); got != tt.want {
			t.Errorf("IsToken(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestIsQuotable(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{s: "", want: true},
		{s: "api", want: true},
		{s: "Example Corp's API (v2) !#$%&'*+,-./:;<=>?@[]^_`{|}~", want: true},
		{s: `a"b`, want: false},
		{s: `a\b`, want: false},
		{s: "a\tb", want: false},
		{s: "a\r\nb", want: false},
		{s: "a\x7f", want: false},
		{s: "café", want: false},
	}
	for _, tt := range tests {
		if got := authheader.IsQuotable(tt.s); got != tt.want {
			t.Errorf("IsQuotable(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

// parse is what the middleware makes of a header: Split, then the token68
// check it applies when verification fails.
func parse(value, scheme string, maxLen int) (string, bool, error) {
	token, found, err := authheader.Split(value, scheme, maxLen)
	if err == nil && found && !authheader.IsToken68(token) {
		return "", true, authheader.ErrMalformed
	}
	return token, found, err
}
