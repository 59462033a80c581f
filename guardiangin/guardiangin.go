// Package guardiangin protects the routes of a gin app with a
// [guardian.Guardian].
//
// [Authenticated] is the middleware of a protected route, [Optional] that
// of a route that serves anonymous users too. They run the Guardian's own
// middleware ([guardian.Guardian.Authenticated] and
// [guardian.Guardian.Optional]), so the token is found, verified and turned
// into the user exactly as in a net/http app, and a refused request gets
// the answer of the Guardian's error handler (GuardianOptions.ErrorHandler; by
// default RFC 6750's 401 with a WWW-Authenticate challenge) and is aborted:
// no later handler of its chain runs.
//
//	api := r.Group("/api", guardiangin.Authenticated(g))
//	api.GET("/me", func(c *gin.Context) {
//		user, _ := g.CurrentResource(c.Request.Context())
//		claims, _ := guardian.CurrentClaims(c.Request.Context())
//		c.JSON(http.StatusOK, gin.H{"id": user.ID, "expires": claims.ExpiresAt})
//	})
//
// Handlers read the user, the claims and the token from
// c.Request.Context(), with [guardian.Guardian.CurrentResource],
// [guardian.CurrentClaims] and [guardian.CurrentToken]. Pass
// c.Request.Context(), not c itself: a *gin.Context looks into its request's
// context only when the engine's ContextWithFallback is set, and otherwise
// those functions would find nothing.
//
// For the OnRefused and OnAuthenticated hooks of GuardianOptions, the request's
// Pattern is gin's route ([gin.Context.FullPath], e.g. "/api/items/:id")
// unless a [net/http.ServeMux] in front of the engine has already set it.
package guardiangin

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/gate"
)

// Authenticated returns the gin middleware of a protected route: the
// Guardian's [guardian.Guardian.Authenticated]. A request with a valid token
// whose user exists goes on, its context carrying the token, the claims and
// the user; any other is answered by the Guardian's error handler and
// aborted.
func Authenticated[U any](g *guardian.Guardian[U]) gin.HandlerFunc {
	return adapt(g.Authenticated())
}

// Optional returns the gin middleware of a route that serves anonymous
// users too: the Guardian's [guardian.Guardian.Optional]. With a valid token
// whose user exists, the request's context carries them; without one the
// request goes on anonymous, and [guardian.FailureReason] tells why a token
// was refused. It aborts only what the Guardian refuses (an unsafe
// cross-site request authenticated by a cookie).
func Optional[U any](g *guardian.Guardian[U]) gin.HandlerFunc {
	return adapt(g.Optional())
}

// Require returns the gin middleware that puts reqs on a route: the
// Guardian's [guardian.Guardian.Require], after [Authenticated]. A request
// whose token does not meet them is answered by the Guardian's error
// handler (403 insufficient_scope, or 401 insufficient_user_authentication
// for [guardian.MaxAge] and [guardian.ACR]) and aborted. Requirements that
// cannot work are an ErrConfig error, when the route is built.
//
//	admin, err := guardiangin.Require(g, perms.All("admin.users_read"))
func Require[U any](g *guardian.Guardian[U], reqs ...guardian.Requirement) (gin.HandlerFunc, error) {
	mw, err := g.Require(reqs...)
	if err != nil {
		return nil, err
	}
	return adapt(mw), nil
}

// adapt runs the net/http middleware mw in front of the rest of the gin
// chain.
func adapt(mw func(http.Handler) http.Handler) gin.HandlerFunc {
	g := gate.New(mw)
	return func(c *gin.Context) {
		r, ok := g.Pass(c.Writer, c.Request, c.FullPath())
		if !ok {
			// Refused: the error handler has answered through c.Writer.
			c.Abort()
			return
		}
		c.Request = r
		c.Next()
	}
}
