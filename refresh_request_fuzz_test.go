package guardian

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRefreshBody feeds any body and content type to the refresh-token
// reader: it never panics, and it either finds a bounded token, finds none,
// or fails with ErrMalformedRequest.
func FuzzRefreshBody(f *testing.F) {
	for _, seed := range []struct{ ct, body string }{
		{"application/json", `{"refresh_token":"a.b.c"}`},
		{"application/json", `{"refresh_token":""}`},
		{"", `{}`},
		{"application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=a.b.c"},
		{"application/x-www-form-urlencoded", "refresh_token=a&refresh_token=b"},
		{"text/plain", "refresh_token"},
		{"application/json; charset=utf-8", `{"refresh_token":"x"} {"y":1}`},
		{"application/json", `{"refresh_token":null}`},
		{"application/json", `[1,2]`},
		{"application/x-www-form-urlencoded", "%zz"},
	} {
		f.Add(seed.ct, seed.body)
	}
	f.Fuzz(func(t *testing.T, ct, body string) {
		r := httptest.NewRequest("POST", "/refresh", strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		raw, err := refreshTokenFromBody(httptest.NewRecorder(), r, 64)
		switch {
		case err != nil:
			if !errors.Is(err, ErrMalformedRequest) || raw != "" {
				t.Fatalf("refreshTokenFromBody(%q, %q) = %q, %v; want \"\" and ErrMalformedRequest", ct, body, raw, err)
			}
			if len(body) > 8 && strings.Contains(err.Error(), body) {
				t.Fatalf("the error %q echoes the body", err)
			}
		case len(raw) > 64:
			t.Fatalf("a %d-byte token accepted past the bound", len(raw))
		}
	})
}
