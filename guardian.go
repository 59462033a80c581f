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
	cookies  *cookieJar // nil without GuardianOptions.Cookies
	logger   *slog.Logger
	refused  func(*http.Request, error)
	verified func(*http.Request, *Claims)
	// verifier verifies the middleware's tokens, unless verifierFor picks
	// one per request.
	verifier    TokenVerifier
	verifierFor func(*http.Request) TokenVerifier
	// maxSize bounds a token the middleware reads.
	maxSize int
}

// GuardianOptions configures a [Guardian]; nil means defaults.
type GuardianOptions[U any] struct {
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
	// Verifier verifies the tokens the middleware finds. Set a
	// [*Verifier] to accept the tokens of external issuers (and, when it
	// includes the Guardian's issuer, first-party tokens too). Default:
	// the issuer given to New.
	Verifier TokenVerifier
	// VerifierFor, when set, picks the verifier of each request instead:
	// the issuers of a tenant chosen by host or path. A nil result
	// refuses the request's token with ErrIssuer. Default: none.
	VerifierFor func(r *http.Request) TokenVerifier
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
//
// A Guardian that only verifies (a resource server, accepting the tokens
// of external issuers through GuardianOptions.Verifier or VerifierFor)
// takes a nil issuer and subject; its SignIn, Refresh and SignOut return
// ErrConfig. Its resource may be nil too: requests then carry claims and
// no resource.
func New[U any](issuer *Issuer, subject func(U) (string, error), resource func(ctx context.Context, c *Claims) (U, error), opts *GuardianOptions[U]) (*Guardian[U], error) {
	verifyOnly := issuer == nil && opts != nil && (opts.Verifier != nil || opts.VerifierFor != nil)
	if !verifyOnly && (issuer == nil || subject == nil || resource == nil) {
		return nil, fmt.Errorf("%w: New needs an issuer, a subject callback and a resource callback, or GuardianOptions.Verifier to only verify", ErrConfig)
	}
	g := &Guardian[U]{issuer: issuer, subject: subject, resource: resource, realm: "api", scheme: "Bearer"}
	if issuer != nil {
		g.verifier, g.maxSize = issuer, issuer.maxSize
	}
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
		if opts.Verifier != nil {
			g.verifier = opts.Verifier
			g.maxSize = DefaultMaxTokenSize
			if m, ok := opts.Verifier.(interface{ MaxTokenSize() int }); ok {
				g.maxSize = m.MaxTokenSize()
			}
		}
		if opts.VerifierFor != nil {
			g.verifierFor = opts.VerifierFor
			g.maxSize = max(g.maxSize, DefaultMaxTokenSize)
		}
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
		return nil, fmt.Errorf("%w: scheme %q is not an HTTP token", ErrConfig, g.scheme)
	}
	if !authheader.IsQuotable(g.realm) {
		return nil, fmt.Errorf("%w: realm %q cannot be sent in a WWW-Authenticate header", ErrConfig, g.realm)
	}
	if g.onError == nil {
		g.onError = g.DefaultErrorHandler
	}
	return g, nil
}

// NewResourceServer returns a Guardian that only verifies, with v: the
// front of a resource server that accepts the access tokens of other
// issuers (a [*Verifier], or one [NewRemoteIssuer]). Handlers read the
// token's claims with [CurrentClaims]; there is no user type to load.
// It is New[*Claims](nil, nil, nil, opts) with opts.Verifier set to v; v
// may be nil when opts.VerifierFor picks one per request.
func NewResourceServer(v TokenVerifier, opts *GuardianOptions[*Claims]) (*Guardian[*Claims], error) {
	o := GuardianOptions[*Claims]{}
	if opts != nil {
		o = *opts
	}
	if v != nil {
		o.Verifier = v
	}
	if o.Verifier == nil && o.VerifierFor == nil {
		return nil, fmt.Errorf("%w: NewResourceServer needs a verifier", ErrConfig)
	}
	return New[*Claims](nil, nil, nil, &o)
}

// errVerifyOnly is what a Guardian without an issuer answers when asked to
// issue or revoke.
var errVerifyOnly = fmt.Errorf("%w: this Guardian only verifies (New was given no issuer)", ErrConfig)

// verifierOf returns the verifier of r's tokens, or nil when VerifierFor
// has none for it.
func (g *Guardian[U]) verifierOf(r *http.Request) TokenVerifier {
	if g.verifierFor != nil {
		return g.verifierFor(r)
	}
	return g.verifier
}

// Issuer returns the Guardian's issuer, for refresh, exchange and
// revocation; nil for a Guardian that only verifies.
func (g *Guardian[U]) Issuer() *Issuer { return g.issuer }

// issue signs a token for user; opts as for [Issuer.Issue]. When
// opts.Custom is nil, the GuardianOptions.Claims callback provides the
// custom claims.
func (g *Guardian[U]) issue(ctx context.Context, user U, opts *IssueOptions) (Token, error) {
	if g.issuer == nil {
		return Token{}, errVerifyOnly
	}
	sub, err := g.subject(user)
	if err != nil {
		return Token{}, fmt.Errorf("guardian: subject for user: %w", err)
	}
	if sub == "" {
		return Token{}, fmt.Errorf("%w: the subject callback returned an empty subject", ErrInvalidID)
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

// SignIn starts a login for user, who has just proven who they are: it
// issues an access token and a refresh token of a new family, hands them
// out (see below), and returns them with a request whose context carries
// the access token, its claims and user, so [CurrentToken], [CurrentClaims]
// and [Guardian.CurrentResource] see them. Write the body yourself (the
// tokens, for API clients).
//
// On w it sets "Authorization: <scheme> <access token>", "X-Expires: <its
// exp in Unix seconds>" and "Cache-Control: no-store" (RFC 6749 §5.1), and
// with GuardianOptions.Cookies, the two cookies. Browsers let scripts of
// other origins read neither header unless the app's CORS answer lists
// them in Access-Control-Expose-Headers; guardian never sets it.
func (g *Guardian[U]) SignIn(w http.ResponseWriter, r *http.Request, user U) (TokenPair, *http.Request, error) {
	access, err := g.issue(r.Context(), user, nil)
	if err != nil {
		return TokenPair{}, r, err
	}
	refresh, err := g.issue(r.Context(), user, &IssueOptions{Type: RefreshToken, Family: access.Claims.Family})
	if err != nil {
		return TokenPair{}, r, err
	}
	pair := TokenPair{Access: access, Refresh: refresh}
	ctx, _ := withState(r.Context(), authState{token: access.Raw, claims: access.Claims, resource: user, loaded: true})
	g.handOut(w, pair)
	return pair, r.WithContext(ctx), nil
}

// handOut sets the headers, and the cookies when configured, of a
// response that hands out pair.
func (g *Guardian[U]) handOut(w http.ResponseWriter, pair TokenPair) {
	h := w.Header()
	h.Set("Authorization", g.scheme+" "+pair.Access.Raw)
	h.Set("X-Expires", strconv.FormatInt(pair.Access.Claims.ExpiresAt.Unix(), 10))
	h.Set("Cache-Control", "no-store")
	if g.cookies != nil {
		now := g.issuer.now()
		g.cookies.set(w, g.cookies.AccessName, g.cookies.Path, pair.Access, now)
		g.cookies.set(w, g.cookies.RefreshName, g.cookies.RefreshPath, pair.Refresh, now)
	}
}

// Refresh rotates the request's refresh token into a new pair, in one
// operation ([Issuer.Refresh]: the old token is consumed last, and a retry
// after a lost answer gets the same pair), and hands the pair out as
// SignIn does. The user is loaded again through the resource callback, so
// a user who is gone gets ErrResourceNotFound (401) instead of new tokens,
// and the custom claims are computed again through GuardianOptions.Claims,
// so a role withdrawn since the login is gone from the new tokens.
//
// The refresh token is taken from the refresh cookie (with
// GuardianOptions.Cookies), else from the body's "refresh_token" member (a
// JSON object, or a form as in RFC 6749 §6), else from the Authorization
// header. None at all: ErrMissingToken (401); a body that cannot be read,
// or a body without refresh_token: ErrMalformedRequest (400
// invalid_request, as RFC 6749 §5.2 answers a missing parameter).
//
// Like the middleware, Refresh answers a failure itself, through the
// Guardian's error handler (after OnRefused), and returns the error for
// the caller's logs: on error, write nothing more.
func (g *Guardian[U]) Refresh(w http.ResponseWriter, r *http.Request) (TokenPair, error) {
	if g.issuer == nil {
		g.refuse(w, r, nil, errVerifyOnly)
		return TokenPair{}, errVerifyOnly
	}
	raw, err := g.presentedRefreshToken(w, r)
	if err == nil {
		var pair TokenPair
		if pair, err = g.issuer.Refresh(r.Context(), raw, &SuccessorOptions{Custom: g.successorClaims}); err == nil {
			g.handOut(w, pair)
			return pair, nil
		}
	}
	g.refuse(w, r, nil, err)
	return TokenPair{}, err
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
// the Revoker accepts them again, and clears the cookies when
// GuardianOptions.Cookies is set. Write the answer yourself (204, say).
//
// A failure is answered through the Guardian's error handler, like the
// middleware's refusals, and returned for the caller's logs:
// ErrMissingToken when the request is not authenticated, ErrUnavailable
// when the store cannot answer, ErrNoRevoker without a Revoker.
func (g *Guardian[U]) SignOut(w http.ResponseWriter, r *http.Request) error {
	if err := g.signOut(w, r); err != nil {
		g.refuse(w, r, nil, err)
		return err
	}
	return nil
}

func (g *Guardian[U]) signOut(w http.ResponseWriter, r *http.Request) error {
	if g.issuer == nil {
		return errVerifyOnly
	}
	c, ok := CurrentClaims(r.Context())
	if !ok {
		return ErrMissingToken
	}
	if err := g.issuer.revokeClaims(r.Context(), c); err != nil {
		return err
	}
	if c.Family != "" {
		if err := g.issuer.RevokeFamily(r.Context(), c.Family); err != nil {
			return err
		}
	}
	if g.cookies != nil {
		g.cookies.clear(w)
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
