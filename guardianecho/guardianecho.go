// Package guardianecho protects the routes of an echo app with a
// [guardian.Guardian].
//
// [Authenticated] is the middleware of a protected route, [Optional] that
// of a route that serves anonymous users too. They run the Guardian's own
// middleware ([guardian.Guardian.Authenticated] and
// [guardian.Guardian.Optional]), so the token is found, verified and turned
// into the user exactly as in a net/http app. A refused request gets the
// answer of the Guardian's error handler (GuardianOptions.ErrorHandler; by
// default RFC 6750's 401 with a WWW-Authenticate challenge), and the next
// handler does not run; the middleware then returns nil, so echo's
// HTTPErrorHandler does not answer a second time.
//
//	api := e.Group("/api", guardianecho.Authenticated(g))
//	api.GET("/me", func(c echo.Context) error {
//		user, _ := g.CurrentResource(c.Request().Context())
//		claims, _ := guardian.CurrentClaims(c.Request().Context())
//		return c.JSON(http.StatusOK, echo.Map{"id": user.ID, "expires": claims.ExpiresAt})
//	})
//
// Handlers read the user, the claims and the token from
// c.Request().Context(), with [guardian.Guardian.CurrentResource],
// [guardian.CurrentClaims] and [guardian.CurrentToken].
//
// For the OnRefused and OnAuthenticated hooks of GuardianOptions, the request's
// Pattern is echo's route ([echo.Context.Path], e.g. "/api/items/:id")
// unless a [net/http.ServeMux] in front of echo has already set it.
package guardianecho

import (
	"net/http"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/gate"
	"github.com/labstack/echo/v4"
)

// Authenticated returns the echo middleware of a protected route: the
// Guardian's [guardian.Guardian.Authenticated]. A request with a valid token
// whose user exists goes on, its context carrying the token, the claims and
// the user; any other is answered by the Guardian's error handler, and the
// next handler does not run.
func Authenticated[U any](g *guardian.Guardian[U]) echo.MiddlewareFunc {
	return adapt(g.Authenticated())
}

// Optional returns the echo middleware of a route that serves anonymous
// users too: the Guardian's [guardian.Guardian.Optional]. With a valid token
// whose user exists, the request's context carries them; without one the
// request goes on anonymous, and [guardian.FailureReason] tells why a token
// was refused. It stops only what the Guardian refuses (an unsafe
// cross-site request authenticated by a cookie).
func Optional[U any](g *guardian.Guardian[U]) echo.MiddlewareFunc {
	return adapt(g.Optional())
}

// Require returns the echo middleware that puts reqs on a route: the
// Guardian's [guardian.Guardian.Require], after [Authenticated]. A request
// whose token does not meet them is answered by the Guardian's error
// handler (403 insufficient_scope, or 401 insufficient_user_authentication
// for [guardian.MaxAge] and [guardian.ACR]) and aborted. Requirements that
// cannot work are an ErrConfig error, when the route is built.
//
//	admin, err := guardianecho.Require(g, perms.All("admin.users_read"))
func Require[U any](g *guardian.Guardian[U], reqs ...guardian.Requirement) (echo.MiddlewareFunc, error) {
	mw, err := g.Require(reqs...)
	if err != nil {
		return nil, err
	}
	return adapt(mw), nil
}

// adapt runs the net/http middleware mw in front of next.
func adapt(mw func(http.Handler) http.Handler) echo.MiddlewareFunc {
	g := gate.New(mw)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r, ok := g.Pass(c.Response(), c.Request(), c.Path())
			if !ok {
				// Refused: the error handler has answered through
				// c.Response(). An error here would make echo answer again.
				return nil
			}
			c.SetRequest(r)
			return next(c)
		}
	}
}
