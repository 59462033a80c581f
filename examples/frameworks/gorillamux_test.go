package frameworks_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/gorilla/mux"
)

// TestGorillaMux protects a gorilla/mux subrouter with Use (the
// middleware's func(http.Handler) http.Handler is a mux.MiddlewareFunc
// as it is; the conversion may be spelled out), serves another with
// Optional, and reads path parameters with mux.Vars behind the middleware.
func TestGorillaMux(t *testing.T) {
	g := newGuardian(t, nil)
	var count hits
	r := mux.NewRouter()
	r.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { count++; fmt.Fprint(w, "ok") }).Methods(http.MethodGet)

	api := r.PathPrefix("/api").Subrouter()
	api.Use(g.Authenticated())
	api.HandleFunc("/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		count++
		fmt.Fprintf(w, "%s item %s", name(g, r), mux.Vars(r)["id"])
	}).Methods(http.MethodGet)

	site := r.PathPrefix("/site").Subrouter()
	site.Use(mux.MiddlewareFunc(g.Optional()))
	site.HandleFunc("/pages/{slug}", func(w http.ResponseWriter, r *http.Request) {
		count++
		fmt.Fprintf(w, "page %s for %s", mux.Vars(r)["slug"], name(g, r))
	}).Methods(http.MethodGet)

	run(t, r, &count, []check{
		{"public", anon("GET", "/health"), 200, "ok", true},
		{"protected, no token", anon("GET", "/api/items/7"), 401, "", false},
		{"protected, token", as(t, g, alice, "GET", "/api/items/7"), 200, "alice item 7", true},
		{"protected, wrong method", as(t, g, alice, "POST", "/api/items/7"), 405, "", false},
		{"Optional, no token", anon("GET", "/site/pages/about"), 200, "page about for anonymous", true},
		{"Optional, token", as(t, g, bob, "GET", "/site/pages/about"), 200, "page about for bob", true},
	})
}
