package guardian

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"

	"github.com/guardian-go/guardian/internal/authheader"
)

// VerifyOptions configures VerifyHeader, VerifyCookie and VerifyQuery; nil
// means defaults.
type VerifyOptions struct {
	// Header is the header VerifyHeader reads. Default: "Authorization",
	// or the header of the Guardian's slot (see [Guardian.Slot]).
	Header string
	// Types are the token types accepted. Default: access only.
	Types []TokenType
	// RejectInvalid answers a request with a bad token at once, through the
	// error handler. By default the failure is recorded on the context and
	// the request goes on, for EnsureAuthenticated to decide (routes that
	// serve anonymous users too then treat it as anonymous).
	RejectInvalid bool
	// RequireDPoP refuses tokens that are not DPoP-bound on this route,
	// as GuardianOptions.RequireDPoP does for every route. It needs
	// GuardianOptions.DPoP. Default: false.
	RequireDPoP bool
}

// LoadOptions configures LoadResource; nil means defaults.
type LoadOptions struct {
	// AllowBlank lets a request whose token is valid but whose user is gone
	// go on without a resource. Default: false, the request is refused with
	// ErrResourceNotFound.
	AllowBlank bool
}

// extractor finds the token of a request. found is false, with a nil
// error, when the request carries none.
type extractor func(r *http.Request) (c credential, found bool, err error)

// credential is a token as a request presents it.
type credential struct {
	raw string
	// dpop: it came with the DPoP scheme (RFC 9449 §7.1), not Bearer.
	dpop bool
}

// VerifyHeader returns middleware that reads "Authorization: <scheme>
// <token>" (see GuardianOptions.Scheme and VerifyOptions.Header), verifies the
// token and records the outcome on the request context. It never refuses
// a request by itself unless RejectInvalid is set: a request without a
// token, or with another scheme, goes on unauthenticated; a bad token's
// error is recorded for EnsureAuthenticated and [FailureReason]. Repeated
// headers, or the scheme without a token, are malformed (400). A request
// already authenticated by an earlier Verify* middleware is passed on.
func (g *Guardian[U]) VerifyHeader(opts *VerifyOptions) func(http.Handler) http.Handler {
	name := g.header
	if opts != nil && opts.Header != "" {
		name = textproto.CanonicalMIMEHeaderKey(opts.Header)
	}
	return g.verifyWith(opts, g.headerToken(name))
}

// headerToken reads "<scheme> <token>" from the header name.
func (g *Guardian[U]) headerToken(name string) extractor {
	maxLen := g.maxSize + len(g.scheme) + 64
	return func(r *http.Request) (credential, bool, error) {
		values := r.Header[name]
		switch len(values) {
		case 0:
			return credential{}, false, nil
		case 1:
		default:
			return credential{}, true, fmt.Errorf("%w: %d %s headers", ErrMalformedRequest, len(values), name)
		}
		// Split, not Parse: the characters of a token that verifies are
		// known good, so they are checked only when it does not (below).
		raw, found, err := authheader.Split(values[0], g.scheme, maxLen)
		if err != nil {
			return credential{}, true, fmt.Errorf("%w: want %q followed by one token", ErrMalformedRequest, g.scheme)
		}
		if !found && g.dpop != nil {
			raw, found, err = authheader.Split(values[0], "DPoP", maxLen)
			if err != nil {
				return credential{}, true, fmt.Errorf("%w: want \"DPoP\" followed by one token", ErrMalformedRequest)
			}
			return credential{raw: raw, dpop: true}, found, nil
		}
		return credential{raw: raw}, found, nil
	}
}

// cookieToken reads the token of the cookie name. With a cookie jar
// (GuardianOptions.Cookies), an unsafe cross-site request is refused.
func (g *Guardian[U]) cookieToken(name string) extractor {
	return func(r *http.Request) (credential, bool, error) {
		cookies := r.CookiesNamed(name)
		switch len(cookies) {
		case 0:
			return credential{}, false, nil
		case 1:
		default:
			return credential{}, true, fmt.Errorf("%w: %d %s cookies", ErrMalformedRequest, len(cookies), name)
		}
		if g.cookies != nil {
			if err := g.cookies.checkOrigin(r); err != nil {
				return credential{}, true, err
			}
		}
		return g.bareToken(cookies[0].Value, "cookie "+name)
	}
}

// defaultToken is where Authenticated and Optional look: the Authorization
// header (a slot's header, see Slot), else, with GuardianOptions.Cookies,
// the access cookie.
func (g *Guardian[U]) defaultToken() extractor {
	header := g.headerToken(g.header)
	if g.cookies == nil {
		return header
	}
	cookie := g.cookieToken(g.cookies.AccessName)
	return func(r *http.Request) (credential, bool, error) {
		if c, found, err := header(r); found {
			return c, found, err
		}
		return cookie(r)
	}
}

// Authenticated returns the middleware of a protected route, with the
// Guardian's settings: it finds the token (the Authorization header, else
// the access cookie when GuardianOptions.Cookies is set), verifies it, loads
// the user for [Guardian.CurrentResource], and refuses through the error
// handler every request without a valid token and a user. It is
// VerifyHeader, LoadResource and EnsureAuthenticated, in that order.
func (g *Guardian[U]) Authenticated() func(http.Handler) http.Handler {
	verify := g.verifyWith(nil, g.defaultToken())
	load, ensure := g.LoadResource(nil), g.EnsureAuthenticated(nil)
	return func(next http.Handler) http.Handler { return verify(load(ensure(next))) }
}

// Protect wraps h in [Guardian.Authenticated]: g.Protect(h) is the one
// call a protected route needs.
func (g *Guardian[U]) Protect(h http.Handler) http.Handler { return g.Authenticated()(h) }

// Optional returns the middleware of a route that serves anonymous users
// too: with a valid token whose user exists, [Guardian.CurrentResource]
// and [CurrentClaims] see them; without one (no token, a bad one, a user
// who is gone) the request goes on anonymous, and [FailureReason] tells
// why a token was refused. It never refuses a request, except an unsafe
// cross-site one authenticated by a cookie.
func (g *Guardian[U]) Optional() func(http.Handler) http.Handler {
	verify := g.verifyWith(nil, g.defaultToken())
	load := g.LoadResource(&LoadOptions{AllowBlank: true})
	return func(next http.Handler) http.Handler {
		inner := load(next)
		return verify(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if errors.Is(g.FailureReason(r.Context()), ErrCrossSite) {
				g.refuse(w, r, nil, g.FailureReason(r.Context()))
				return
			}
			inner.ServeHTTP(w, r)
		}))
	}
}

// Refuse answers r as the Guardian's middleware answers the requests it
// refuses: it calls GuardianOptions.OnRefused with [Reason](err), then
// the error handler (GuardianOptions.ErrorHandler, by default the RFC 6750
// answers of [ErrorStatus]). For the app's own middleware and handlers,
// so that their refusals look, log and count like the Guardian's: wrap a
// sentinel, e.g. fmt.Errorf("%w: tenant suspended", guardian.ErrInsufficientScope)
// for a 403. Write nothing more after it.
func (g *Guardian[U]) Refuse(w http.ResponseWriter, r *http.Request, err error) {
	g.refuse(w, r, nil, err)
}

// refuse answers a refused request through onFail (nil: the Guardian's
// error handler), after the OnRefused hook.
func (g *Guardian[U]) refuse(w http.ResponseWriter, r *http.Request, onFail ErrorHandler, err error) {
	if nonce, ok := DPoPNonceOf(err); ok {
		w.Header().Set("DPoP-Nonce", nonce) // RFC 9449 §8, §9
	}
	if g.refused != nil {
		g.refused(r, Reason(err))
	}
	if onFail == nil {
		onFail = g.onError
	}
	onFail(w, r, err)
}

// VerifyCookie is VerifyHeader for a token held in the cookie name, for
// browser apps. With GuardianOptions.Cookies set, unsafe cross-site requests
// are refused with ErrCrossSite (see [CookieOptions]); without, protect
// such routes from CSRF yourself.
func (g *Guardian[U]) VerifyCookie(name string, opts *VerifyOptions) func(http.Handler) http.Handler {
	return g.verifyWith(opts, g.cookieToken(name))
}

// VerifyQuery is VerifyHeader for a token in the query parameter param, for
// WebSocket upgrades and other clients that cannot set headers. Tokens in
// URLs end up in logs and browser history: use short-lived tokens there
// (RFC 6750 §2.3).
func (g *Guardian[U]) VerifyQuery(param string, opts *VerifyOptions) func(http.Handler) http.Handler {
	return g.verifyWith(opts, func(r *http.Request) (credential, bool, error) {
		values, ok := r.URL.Query()[param]
		if !ok {
			return credential{}, false, nil
		}
		if len(values) != 1 {
			return credential{}, true, fmt.Errorf("%w: %d %s parameters", ErrMalformedRequest, len(values), param)
		}
		return g.bareToken(values[0], "parameter "+param)
	})
}

// bareToken checks a token that comes without a scheme.
func (g *Guardian[U]) bareToken(raw, where string) (credential, bool, error) {
	if len(raw) > g.maxSize || !authheader.IsToken68(raw) {
		return credential{}, true, fmt.Errorf("%w: %s does not hold a token", ErrMalformedRequest, where)
	}
	return credential{raw: raw}, true, nil
}

// verifyWith is the one verification path of every Verify* middleware.
func (g *Guardian[U]) verifyWith(opts *VerifyOptions, extract extractor) func(http.Handler) http.Handler {
	var types []TokenType
	reject, requireDPoP := false, g.requireDPoP
	if opts != nil {
		types = append(types, opts.Types...)
		reject = opts.RejectInvalid
		requireDPoP = requireDPoP || opts.RequireDPoP
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			if st := stateOf(ctx, g.slot); st != nil && st.claims != nil {
				// Verified by an earlier Verify* middleware, perhaps one
				// that accepts other types: this route's types still rule.
				if err := checkType(st.claims, types); err != nil {
					ctx, _ = withState(ctx, g.slot, authState{err: err})
					r = r.WithContext(ctx)
					if reject {
						g.refuse(w, r, nil, err)
						return
					}
				}
				next.ServeHTTP(w, r)
				return
			}
			cred, found, err := extract(r)
			if !found {
				next.ServeHTTP(w, r)
				return
			}
			raw := cred.raw
			st := authState{err: err}
			if err == nil {
				if v := g.verifierOf(r); v == nil {
					st.err = invalid(ErrIssuer, "no trusted issuer for this request")
				} else if st.claims, err = v.Verify(ctx, raw, types...); err == nil {
					if next, err := g.checkBinding(r, cred, st.claims, requireDPoP); err != nil {
						st.claims, st.err = nil, err
					} else {
						st.token = raw
						setNextNonce(w, next)
					}
				} else if !authheader.IsToken68(raw) {
					st.err = fmt.Errorf("%w: the token has characters outside token68", ErrMalformedRequest)
				} else {
					st.err = err
				}
			}
			ctx, _ = withState(ctx, g.slot, st)
			r = r.WithContext(ctx)
			if st.err != nil && reject {
				g.refuse(w, r, nil, st.err)
				return
			}
			if st.err == nil && g.verified != nil {
				g.verified(r, st.claims)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// LoadResource returns middleware that loads the user a verified token
// names, through the resource callback, for [Guardian.CurrentResource].
// Requests without a valid token pass on untouched (EnsureAuthenticated
// decides about them). When the callback reports ErrResourceNotFound the
// request is refused (401 invalid_token) unless AllowBlank is set; any
// other callback error is refused as a server error (500 by default).
func (g *Guardian[U]) LoadResource(opts *LoadOptions) func(http.Handler) http.Handler {
	allowBlank := opts != nil && opts.AllowBlank
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st := stateOf(r.Context(), g.slot)
			if st == nil || st.claims == nil || st.loaded {
				next.ServeHTTP(w, r)
				return
			}
			if g.resource == nil { // a Guardian that only verifies
				next.ServeHTTP(w, r)
				return
			}
			u, err := g.resource(r.Context(), st.claims)
			switch {
			case err == nil:
				st.resource, st.loaded = u, true
			case errors.Is(err, ErrResourceNotFound) && allowBlank:
			case errors.Is(err, ErrResourceNotFound):
				g.refuse(w, r, nil, err)
				return
			default:
				g.refuse(w, r, nil, fmt.Errorf("guardian: load resource: %w", err))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// EnsureAuthenticated returns middleware that passes on only requests with
// a verified token. Others go to onFail (nil: the Guardian's error handler)
// with ErrMissingToken, or with the error VerifyHeader recorded.
func (g *Guardian[U]) EnsureAuthenticated(onFail ErrorHandler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st := stateOf(r.Context(), g.slot)
			switch {
			case st == nil:
				g.refuse(w, r, onFail, ErrMissingToken)
			case st.err != nil:
				g.refuse(w, r, onFail, st.err)
			case st.claims == nil:
				g.refuse(w, r, onFail, ErrMissingToken)
			default:
				next.ServeHTTP(w, r)
			}
		})
	}
}

// EnsureNotAuthenticated returns middleware that refuses requests with a
// verified token (ErrAlreadyAuthenticated, to onFail or the Guardian's
// error handler): for routes such as login and sign-up. A bad token does not
// count as authenticated.
func (g *Guardian[U]) EnsureNotAuthenticated(onFail ErrorHandler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if st := stateOf(r.Context(), g.slot); st != nil && st.claims != nil {
				g.refuse(w, r, onFail, ErrAlreadyAuthenticated)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
