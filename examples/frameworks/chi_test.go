package frameworks_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/guardian-go/guardian"
)

// TestChi protects chi routes three ways: r.Use on a subrouter of r.Route,
// r.With on one route, and r.Group for Optional; chi.URLParam and
// r.PathValue still see the path parameters behind the middleware.
func TestChi(t *testing.T) {
	g := newGuardian(t, nil)
	var count hits
	r := chi.NewRouter()
	r.Get("/health", func(w http.ResponseWriter, r *http.Request) { count++; fmt.Fprint(w, "ok") })
	r.Route("/api", func(r chi.Router) {
		r.Use(g.Authenticated())
		r.Get("/items/{id}", func(w http.ResponseWriter, r *http.Request) {
			count++
			fmt.Fprintf(w, "%s item %s %s", name(g, r), chi.URLParam(r, "id"), r.PathValue("id"))
		})
	})
	r.With(g.Authenticated()).Get("/me", func(w http.ResponseWriter, r *http.Request) {
		count++
		c, _ := guardian.CurrentClaims(r.Context())
		fmt.Fprintf(w, "%s %s", name(g, r), c.Subject)
	})
	r.Group(func(r chi.Router) {
		r.Use(g.Optional())
		r.Get("/feed/{page}", func(w http.ResponseWriter, r *http.Request) {
			count++
			fmt.Fprintf(w, "feed %s for %s", chi.URLParam(r, "page"), name(g, r))
		})
	})

	run(t, r, &count, []check{
		{"public", anon("GET", "/health"), 200, "ok", true},
		{"group, no token", anon("GET", "/api/items/7"), 401, "", false},
		{"group, token", as(t, g, alice, "GET", "/api/items/7"), 200, "alice item 7 7", true},
		{"With, no token", anon("GET", "/me"), 401, "", false},
		{"With, token", as(t, g, bob, "GET", "/me"), 200, "bob u2", true},
		{"Optional, no token", anon("GET", "/feed/2"), 200, "feed 2 for anonymous", true},
		{"Optional, token", as(t, g, alice, "GET", "/feed/2"), 200, "feed 2 for alice", true},
		{"unknown route", as(t, g, alice, "GET", "/nowhere"), 404, "", false},
	})
}

// TestChiPattern shows what r.Pattern the OnRefused hook sees under chi:
// the route's for r.With, the mount's in a subrouter of r.Route, nothing
// for Use on the top router (chi runs that before it matches a route).
func TestChiPattern(t *testing.T) {
	var refused []string
	g := newGuardian(t, &guardian.GuardianOptions[*user]{
		OnRefused: func(r *http.Request, _ error) { refused = append(refused, r.Pattern) },
	})
	ok := func(http.ResponseWriter, *http.Request) {}

	top := chi.NewRouter()
	top.Use(g.Authenticated())
	top.Get("/a/{id}", ok)

	r := chi.NewRouter()
	r.With(g.Authenticated()).Get("/b/{id}", ok)
	r.Group(func(r chi.Router) {
		r.Use(g.Authenticated())
		r.Get("/c/{id}", ok)
	})
	r.Route("/d", func(r chi.Router) {
		r.Use(g.Authenticated())
		r.Get("/{id}", ok)
	})

	var count hits
	run(t, top, &count, []check{{"top Use", anon("GET", "/a/1"), 401, "", false}})
	run(t, r, &count, []check{
		{"With", anon("GET", "/b/1"), 401, "", false},
		{"Group", anon("GET", "/c/1"), 401, "", false},
		{"Route", anon("GET", "/d/1"), 401, "", false},
	})
	if want := []string{"", "/b/{id}", "/c/{id}", "/d/*"}; fmt.Sprint(refused) != fmt.Sprint(want) {
		t.Errorf("OnRefused saw patterns %q, want %q", refused, want)
	}
}
