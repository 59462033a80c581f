package gate_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/guardian-go/guardian/internal/gate"
)

type key struct{}

func TestPass(t *testing.T) {
	mw := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Ok") == "" {
				http.Error(w, "no", http.StatusTeapot)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key{}, "v")))
		})
	}
	g := gate.New(mw)

	rec := httptest.NewRecorder()
	if r, ok := g.Pass(rec, httptest.NewRequest("GET", "/", nil), "/route"); ok || r != nil || rec.Code != http.StatusTeapot {
		t.Fatalf("refused request: ok %v, request %v, status %d; want false, nil, the middleware's 418", ok, r, rec.Code)
	}
	in := httptest.NewRequest("GET", "/", nil)
	in.Header.Set("X-Ok", "1")
	r, ok := g.Pass(httptest.NewRecorder(), in, "/route")
	if !ok || r.Context().Value(key{}) != "v" || r.Pattern != "/route" {
		t.Fatalf("passed request: ok %v, context value %v, pattern %q; want the middleware's request", ok, r.Context().Value(key{}), r.Pattern)
	}
	in.Pattern = "GET /own"
	if r, _ := g.Pass(httptest.NewRecorder(), in, "/route"); r.Pattern != "GET /own" {
		t.Errorf("pattern %q: a request's own pattern must be kept", r.Pattern)
	}
}
