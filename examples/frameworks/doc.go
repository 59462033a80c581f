// Package frameworks shows, in its tests, that guardian's middleware works
// as it is with the routers that speak net/http: chi, gorilla/mux and the
// standard library's [net/http.ServeMux]. Their middleware is
// func(http.Handler) http.Handler, which is what
// [github.com/guardian-go/guardian.Guardian.Authenticated] and
// [github.com/guardian-go/guardian.Guardian.Optional] return, so no adapter
// is needed:
//
//	// chi: a whole router or group, or one route
//	r.Use(g.Authenticated())
//	r.With(g.Authenticated()).Get("/me", me)
//
//	// gorilla/mux: a router or subrouter (the func converts to
//	// mux.MiddlewareFunc by itself)
//	api := r.PathPrefix("/api").Subrouter()
//	api.Use(g.Authenticated())
//
//	// http.ServeMux: one route
//	mux.Handle("GET /me", g.Protect(http.HandlerFunc(me)))
//
// Path parameters survive the middleware (chi.URLParam, mux.Vars,
// r.PathValue), since it only adds to the request's context.
//
// One difference matters for the OnRefused and OnAuthenticated hooks,
// which name the route by r.Pattern: http.ServeMux sets it before the
// route's handler runs, and chi sets it before the middleware of r.With and
// r.Group runs, but middleware given to a chi router's Use runs before chi
// has matched a route and sees an empty Pattern (or, in a subrouter of
// r.Route or r.Mount, the mount's "/api/*"). gorilla/mux does not set it at
// all (mux.CurrentRoute(r).GetPathTemplate() has the route). The gin and
// echo adapters (guardiangin, guardianecho) set it to their own route.
//
// The package has no code of its own: see the tests.
package frameworks
