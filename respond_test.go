package guardian_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/guardian-go/guardian"
)

// tokenFailure makes a token error of kind as Verify does: it matches kind
// and ErrInvalidToken.
func tokenFailure(t *testing.T, kind error) error {
	t.Helper()
	f := newFixture(t, nil)
	var raw string
	switch kind {
	case guardian.ErrExpired:
		raw = craft(testSecret, defaultHeader, payloadJSON(map[string]any{"exp": t0.Unix()}))
	case guardian.ErrInvalidSignature:
		raw = craft([]byte("another secret of thirty-two byte"), defaultHeader, payloadJSON(nil))
	case guardian.ErrMalformedToken:
		raw = "a.b"
	default:
		t.Fatalf("no recipe for %v", kind)
	}
	_, err := f.issuer.Verify(t.Context(), raw)
	if !errors.Is(err, kind) {
		t.Fatalf("recipe for %v gave %v", kind, err)
	}
	return err
}

func TestErrorStatus(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{name: "missing token", err: guardian.ErrMissingToken, status: 401, code: ""},
		{name: "malformed header", err: guardian.ErrMalformedRequest, status: 400, code: "invalid_request"},
		{name: "wrapped malformed header", err: fmt.Errorf("%w: 2 headers", guardian.ErrMalformedRequest), status: 400, code: "invalid_request"},
		{name: "invalid token", err: guardian.ErrInvalidToken, status: 401, code: "invalid_token"},
		{name: "expired token", err: tokenFailure(t, guardian.ErrExpired), status: 401, code: "invalid_token"},
		{name: "bad signature", err: tokenFailure(t, guardian.ErrInvalidSignature), status: 401, code: "invalid_token"},
		{name: "malformed token", err: tokenFailure(t, guardian.ErrMalformedToken), status: 401, code: "invalid_token"},
		{name: "resource not found", err: guardian.ErrResourceNotFound, status: 401, code: "invalid_token"},
		{name: "insufficient scope", err: guardian.ErrInsufficientScope, status: 403, code: "insufficient_scope"},
		{name: "already authenticated", err: guardian.ErrAlreadyAuthenticated, status: 403, code: "already_authenticated"},
		{name: "unavailable", err: fmt.Errorf("%w: %w", guardian.ErrUnavailable, errStoreDown), status: 503, code: "temporarily_unavailable"},
		{name: "unavailable wins over a token failure", err: errors.Join(guardian.ErrUnavailable, guardian.ErrInvalidToken), status: 503, code: "temporarily_unavailable"},
		{name: "unknown", err: errors.New("boom"), status: 500, code: "server_error"},
		{name: "credentials", err: guardian.ErrInvalidCredentials, status: 500, code: "server_error"},
		{name: "nil", err: nil, status: 500, code: "server_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code := guardian.ErrorStatus(tt.err)
			if status != tt.status || code != tt.code {
				t.Fatalf("ErrorStatus(%v) = %d, %q; want %d, %q", tt.err, status, code, tt.status, tt.code)
			}
		})
	}
}

func TestDefaultErrorHandler(t *testing.T) {
	gf := newTestGuardian(t, nil, &guardian.GuardianOptions[*member]{Realm: "shop", Scheme: "Bearer"})
	tests := []struct {
		name      string
		err       error
		status    int
		challenge string // exact; "" means none
		code      string
		desc      string
	}{
		{name: "no token", err: guardian.ErrMissingToken, status: 401, challenge: `Bearer realm="shop"`, code: "unauthorized", desc: "no token"},
		{name: "malformed header", err: fmt.Errorf("%w: \"Bearer\" then junk", guardian.ErrMalformedRequest), status: 400,
			challenge: `Bearer realm="shop", error="invalid_request", error_description="malformed request"`, code: "invalid_request", desc: "malformed request"},
		{name: "expired", err: tokenFailure(t, guardian.ErrExpired), status: 401,
			challenge: `Bearer realm="shop", error="invalid_token", error_description="token expired"`, code: "invalid_token", desc: "token expired"},
		{name: "resource gone", err: fmt.Errorf("user 42: %w", guardian.ErrResourceNotFound), status: 401,
			challenge: `Bearer realm="shop", error="invalid_token", error_description="resource not found"`, code: "invalid_token", desc: "resource not found"},
		{name: "insufficient scope", err: guardian.ErrInsufficientScope, status: 403,
			challenge: `Bearer realm="shop", error="insufficient_scope", error_description="insufficient scope"`, code: "insufficient_scope", desc: "insufficient scope"},
		{name: "already authenticated", err: guardian.ErrAlreadyAuthenticated, status: 403, code: "already_authenticated", desc: "already authenticated"},
		{name: "store down", err: fmt.Errorf("%w: dial tcp 10.0.0.7:6379: connection refused", guardian.ErrUnavailable), status: 503, code: "temporarily_unavailable", desc: "unavailable"},
		{name: "internal", err: fmt.Errorf("load: %w", errSecretDB), status: 500, code: "server_error", desc: "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			gf.g.DefaultErrorHandler(w, httptest.NewRequest(http.MethodGet, "/", nil), tt.err)
			if w.Code != tt.status {
				t.Errorf("status = %d, want %d", w.Code, tt.status)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
			for k, v := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			var body map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if body["error"] != tt.code || body["error_description"] != tt.desc || len(body) != 2 {
				t.Errorf("body = %v, want error %q, error_description %q", body, tt.code, tt.desc)
			}
			for _, leak := range []string{"hunter2", "10.0.0.7", "junk", "42"} {
				if strings.Contains(w.Body.String(), leak) || strings.Contains(w.Header().Get("WWW-Authenticate"), leak) {
					t.Errorf("the answer leaks %q: %s", leak, w.Body)
				}
			}
		})
	}
}
