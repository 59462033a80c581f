// Package gate runs a net/http middleware as a gate, for the framework
// adapters (guardiangin, guardianecho): it tells whether the middleware
// passed a request on, and with which request (the context the middleware
// gave it), or answered it itself.
package gate

import (
	"context"
	"net/http"
)

// A Gate is a middleware built once in front of a recording handler.
type Gate struct{ h http.Handler }

// New builds the gate of mw.
func New(mw func(http.Handler) http.Handler) *Gate { return &Gate{h: mw(reached)} }

// Pass serves r through the middleware. It returns the request the
// middleware passed on and true, or false when the middleware answered
// through w instead. pattern, when r has none, becomes r.Pattern, so that
// hooks that read the route see the framework's.
func (g *Gate) Pass(w http.ResponseWriter, r *http.Request, pattern string) (*http.Request, bool) {
	p := new(passage)
	r = r.WithContext(context.WithValue(r.Context(), passageKey{}, p))
	if r.Pattern == "" {
		r.Pattern = pattern
	}
	g.h.ServeHTTP(w, r)
	return p.r, p.r != nil
}

// passage records the request that reached the end of the middleware.
type passage struct{ r *http.Request }

type passageKey struct{}

// reached is the end of every gate: it records the request it got.
var reached = http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
	if p, ok := r.Context().Value(passageKey{}).(*passage); ok {
		p.r = r
	}
})
