package frameworks_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/guardian-go/guardian"
)

// TestServeMux protects http.ServeMux routes one by one with g.Protect,
// and a whole subtree by protecting a second mux; method+path patterns,
// r.PathValue and r.Pattern (for OnRefused) work behind the middleware.
func TestServeMux(t *testing.T) {
	var refused []string
	g := newGuardian(t, &guardian.GuardianOptions[*user]{
		OnRefused: func(r *http.Request, _ error) { refused = append(refused, r.Pattern) },
	})
	var count hits
	admin := http.NewServeMux()
	admin.HandleFunc("GET /admin/stats", func(w http.ResponseWriter, r *http.Request) {
		count++
		fmt.Fprintf(w, "stats for %s", name(g, r))
	})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { count++; fmt.Fprint(w, "ok") })
	mux.Handle("GET /items/{id}", g.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count++
		fmt.Fprintf(w, "%s item %s", name(g, r), r.PathValue("id"))
	})))
	mux.Handle("GET /feed", g.Optional()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count++
		fmt.Fprintf(w, "feed for %s", name(g, r))
	})))
	mux.Handle("/admin/", g.Protect(admin))

	run(t, mux, &count, []check{
		{"public", anon("GET", "/health"), 200, "ok", true},
		{"protected, no token", anon("GET", "/items/7"), 401, "", false},
		{"protected, token", as(t, g, alice, "GET", "/items/7"), 200, "alice item 7", true},
		{"protected, wrong method", as(t, g, alice, "DELETE", "/items/7"), 405, "", false},
		{"Optional, no token", anon("GET", "/feed"), 200, "feed for anonymous", true},
		{"Optional, token", as(t, g, bob, "GET", "/feed"), 200, "feed for bob", true},
		{"subtree, no token", anon("GET", "/admin/stats"), 401, "", false},
		{"subtree, token", as(t, g, bob, "GET", "/admin/stats"), 200, "stats for bob", true},
	})
	if want := []string{"GET /items/{id}", "/admin/"}; fmt.Sprint(refused) != fmt.Sprint(want) {
		t.Errorf("OnRefused saw patterns %q, want %q", refused, want)
	}
}
