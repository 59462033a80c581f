package guardian_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/guardian-go/guardian"
)

// TestRefuse checks that the app's own middleware reaches the Guardian's
// hooks and error handler through Refuse: the complaint of a user whose
// hand-written role check could not.
func TestRefuse(t *testing.T) {
	f := newFixture(t, nil)
	var reasons []error
	var handled []error
	newG := func(custom bool) *guardian.Guardian[string] {
		opts := &guardian.GuardianOptions[string]{
			OnRefused: func(_ *http.Request, reason error) { reasons = append(reasons, reason) },
		}
		if custom {
			opts.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
				handled = append(handled, err)
				w.WriteHeader(http.StatusTeapot)
			}
		}
		g, err := guardian.New(f.issuer,
			func(u string) (string, error) { return u, nil },
			func(_ context.Context, c *guardian.Claims) (string, error) { return c.Subject, nil }, opts)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	suspended := fmt.Errorf("%w: tenant suspended", guardian.ErrInsufficientScope)
	for _, tc := range []struct {
		name      string
		custom    bool
		status    int
		challenge string
	}{
		{name: "default handler", status: http.StatusForbidden, challenge: `Bearer realm="api", error="insufficient_scope", error_description="insufficient scope"`},
		{name: "custom handler", custom: true, status: http.StatusTeapot},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reasons, handled = nil, nil
			g := newG(tc.custom)
			own := func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					g.Refuse(w, r, suspended)
				})
			}
			w := httptest.NewRecorder()
			own(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
			if w.Code != tc.status || w.Header().Get("WWW-Authenticate") != tc.challenge {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Header().Get("WWW-Authenticate"), tc.status, tc.challenge)
			}
			if len(reasons) != 1 || reasons[0] != guardian.ErrInsufficientScope {
				t.Errorf("OnRefused got %v, want [ErrInsufficientScope]", reasons)
			}
			if tc.custom && (len(handled) != 1 || !errors.Is(handled[0], suspended)) {
				t.Errorf("the error handler got %v, want the app's error", handled)
			}
		})
	}
}
