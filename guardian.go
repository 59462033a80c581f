package guardian

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/guardian-go/guardian/internal/authheader"
)

// Guardian is the user-typed front of an [Issuer]: it turns the app's users
// (of type U) into tokens and back, signs them in and out, and provides the
// middleware. Build it once with [New]; it is safe for concurrent use.
type Guardian[U any] struct {
	issuer   *Issuer
	subject  func(U) (string, error)
	resource func(context.Context, *Claims) (U, error)
	claims   func(context.Context, U) (any, error)
	realm    string
	scheme   string
	onError  ErrorHandler
	cookies  *cookieJar // nil without AuthOptions.Cookies
	logger   *slog.Logger
	refused  func(*http.Request, error)
	verified func(*http.Request, *Claims)
}

// AuthOptions configures a [Guardian]; nil means defaults.
type AuthOptions[U any] struct {
	// Realm is the realm of WWW-Authenticate challenges. Default: "api".
	Realm string
	// Scheme is the authentication scheme: VerifyHeader expects
	// "<Scheme> <token>" (matched case-insensitively), SignIn writes it, and
	// challenges name it. Default: "Bearer".
	Scheme string
	// ErrorHandler answers every request the middleware refuses. Default:
	// [Guardian.DefaultErrorHandler], the RFC 6750 answers with a JSON body.
	ErrorHandler ErrorHandler
	// Claims returns custom claims for tokens issued for a user by SignIn
	// and Issue (when IssueOptions.Custom is nil), and again on every
	// Refresh: roles, a tenant. It must encode to a JSON object. Default:
	// none.
	Claims func(ctx context.Context, user U) (any, error)
	// Cookies, when set, hands tokens out as cookies too, for browser
	// apps; see [CookieOptions]. Default: none (headers only).
	Cookies *CookieOptions
	// OnRefused is called for every request the middleware refuses, before
	// the error handler answers it, with the reason: the most specific
	// sentinel error of the package (see [Reason]), never token bytes. The
	// route is r.Pattern. Use it for logs and metrics. Default: none.
	OnRefused func(r *http.Request, reason error)
	// OnAuthenticated is called for every request whose token verified,
	// with its claims (read-only). Default: none.
	OnAuthenticated func(r *http.Request, c *Claims)
	// Logger receives, at level Error, the cause of every 5xx answer of
	// the default error handler (a store outage, a failing resource
	// callback), which the client is never shown. Default: slog.Default().
	Logger *slog.Logger
}

// ErrorHandler answers a refused request. err wraps one of the package's
// sentinel errors; see [ErrorStatus].
type ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

// New returns a Guardian that issues and verifies tokens with issuer.
// subject names a user in the sub claim (a stable ID, never an email that
// can change hands); resource loads the user a verified token names, and
// returns an error wrapping [ErrResourceNotFound] when the user is gone.
func New[U any](issuer *Issuer, subject func(U) (string, error), resource func(ctx context.Context, c *Claims) (U, error), opts *AuthOptions[U]) (*Guardian[U], error) {
	if issuer == nil || subject == nil || resource == nil {
		return nil, errors.New("guardian: New needs an issuer, a subject callback and a resource callback")
	}
	g := &Guardian[U]{issuer: issuer, subject: subject, resource: resource, realm: "api", scheme: "Bearer"}
	if opts != nil {
		if opts.Realm != "" {
			g.realm = opts.Realm
		}
		if opts.Scheme != "" {
			g.scheme = opts.Scheme
		}
		g.onError = opts.ErrorHandler
		g.claims = opts.Claims
		g.logger = opts.Logger
		g.refused = opts.OnRefused
		g.verified = opts.OnAuthenticated
		if opts.Cookies != nil {
			var err error
			if g.cookies, err = newCookieJar(opts.Cookies); err != nil {
				return nil, err
			}
		}
	}
	if g.logger == nil {
		g.logger = slog.Default()
	}
	if !authheader.IsToken(g.scheme) {
		return nil, fmt.Errorf("guardian: scheme %q is not an HTTP token", g.scheme)
	}
	if !authheader.IsQuotable(g.realm) {
		return nil, fmt.Errorf("guardian: realm %q cannot be sent in a WWW-Authenticate header", g.realm)
	}
	if g.onError == nil {
		g.onError = g.DefaultErrorHandler
	}
	return g, nil
}

// Issuer returns the Guardian's issuer, for refresh, exchange and
// revocation.
func (g *Guardian[U]) Issuer() *Issuer { return g.issuer }

// Issue signs a token for user; opts as for [Issuer.Issue]. When
// opts.Custom is nil, the AuthOptions.Claims callback provides the custom
// claims.
func (g *Guardian[U]) Issue(ctx context.Context, user U, opts *IssueOptions) (Token, error) {
	sub, err := g.subject(user)
	if err != nil {
		return Token{}, fmt.Errorf("guardian: subject for user: %w", err)
	}
	if sub == "" {
		return Token{}, errors.New("guardian: the subject callback returned an empty subject")
	}
	if g.claims != nil && (opts == nil || opts.Custom == nil) {
		custom, err := g.claims(ctx, user)
		if err != nil {
			return Token{}, fmt.Errorf("guardian: claims for user: %w", err)
		}
		o := IssueOptions{}
		if opts != nil {
			o = *opts
		}
		o.Custom = custom
		opts = &o
	}
	return g.issuer.Issue(ctx, sub, opts)
}

// SignIn issues an access token for user (who has just proven who they
// are), and returns it with a request whose context carries the token, its
// claims and user, so [CurrentToken], [CurrentClaims] and
// [Guardian.CurrentResource] see them. It sets "Authorization: Bearer
// <token>", "X-Expires: <exp in Unix seconds>" and "Cache-Control: no-store"
// on w; write the body yourself.
func (g *Guardian[U]) SignIn(w http.ResponseWriter, r *http.Request, user U) (Token, *http.Request, error) {
	tok, err := g.Issue(r.Context(), user, nil)
	if err != nil {
		return Token{}, r, err
	}
	ctx, _ := withState(r.Context(), authState{token: tok.Raw, claims: tok.Claims, resource: user, loaded: true})
	g.SetTokenHeaders(w, tok)
	return tok, r.WithContext(ctx), nil
}

// SetTokenHeaders sets the headers of a response that hands out tok, as
// SignIn does: "Authorization: <scheme> <token>", "X-Expires: <exp in Unix
// seconds>" and "Cache-Control: no-store" (RFC 6749 §5.1). Use it where
// tokens are handed out otherwise, as after a refresh.
func (g *Guardian[U]) SetTokenHeaders(w http.ResponseWriter, tok Token) {
	h := w.Header()
	h.Set("Authorization", g.scheme+" "+tok.Raw)
	h.Set("X-Expires", strconv.FormatInt(tok.Claims.ExpiresAt.Unix(), 10))
	h.Set("Cache-Control", "no-store")
}

// Refresh rotates the refresh token raw into a new access and refresh
// pair (see [Issuer.Refresh]: one operation, the old token consumed last),
// and sets the response headers of the new access token on w, as SignIn
// does. The user is loaded again through the resource callback, so a user
// who is gone gets ErrResourceNotFound (401) instead of new tokens, and the
// custom claims are computed again through AuthOptions.Claims, so a role
// withdrawn since the login is gone from the new tokens.
func (g *Guardian[U]) Refresh(w http.ResponseWriter, r *http.Request, raw string) (TokenPair, error) {
	pair, err := g.issuer.Refresh(r.Context(), raw, &SuccessorOptions{Custom: g.successorClaims})
	if err != nil {
		return TokenPair{}, err
	}
	g.SetTokenHeaders(w, pair.Access)
	return pair, nil
}

// successorClaims loads the user of old and computes their custom claims
// afresh.
func (g *Guardian[U]) successorClaims(ctx context.Context, old *Claims) (any, error) {
	u, err := g.resource(ctx, old)
	if err != nil {
		if errors.Is(err, ErrResourceNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("guardian: load resource: %w", err)
	}
	if sub, err := g.subject(u); err != nil || sub != old.Subject {
		return nil, fmt.Errorf("%w: the user of subject %q now has another subject", ErrResourceNotFound, old.Subject)
	}
	if g.claims == nil {
		return nil, nil
	}
	custom, err := g.claims(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("guardian: claims for user: %w", err)
	}
	return custom, nil
}

// SignOut revokes the request's current token and its family (every token
// of the same login, refresh tokens included), so that no verifier sharing
// the Revoker accepts them again. It returns ErrMissingToken when the
// request is not authenticated and ErrNoRevoker without a Revoker.
func (g *Guardian[U]) SignOut(r *http.Request) error {
	c, ok := CurrentClaims(r.Context())
	if !ok {
		return ErrMissingToken
	}
	if err := g.issuer.RevokeClaims(r.Context(), c); err != nil {
		return err
	}
	if c.Family != "" {
		return g.issuer.RevokeFamily(r.Context(), c.Family)
	}
	return nil
}

// CurrentResource returns the user that LoadResource or SignIn put on ctx.
func (g *Guardian[U]) CurrentResource(ctx context.Context) (U, bool) {
	st := stateOf(ctx)
	if st == nil || !st.loaded {
		var zero U
		return zero, false
	}
	u, ok := st.resource.(U)
	return u, ok
}
