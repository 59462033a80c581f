package guardian

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

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
	// perms is GuardianOptions.Permissions.
	perms func(context.Context, U) ([]string, error)
	// slot is where the middleware keeps what it learns (see Slot), and
	// header where Authenticated and Optional find the slot's token.
	slot   *slotKey
	header string
	// dpop checks DPoP proofs (GuardianOptions.DPoP); nil: DPoP off.
	dpop        *DPoPVerifier
	requireDPoP bool
	requestURL  func(*http.Request) *url.URL
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
	// Permissions returns the permissions a user's tokens grant, as
	// "group.name" (or "group.*" for all of a group), encoded into the pem
	// claim through IssuerOptions.Permissions: by SignIn and Impersonate,
	// and again on every Refresh, so a permission withdrawn since the
	// login is gone from the new tokens. Default: none.
	Permissions func(ctx context.Context, user U) ([]string, error)
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
	// DPoP, when set, accepts DPoP-bound tokens (RFC 9449): presented as
	// "Authorization: DPoP <token>" with a proof in the DPoP header, which
	// this verifier checks against the request and the token's cnf.jkt.
	// Whether DPoP is on or not, a DPoP-bound token presented as Bearer is
	// refused (RFC 9449 §7.2). Default: nil (DPoP off).
	DPoP *DPoPVerifier
	// RequireDPoP refuses every token that is not DPoP-bound, on every
	// route (VerifyOptions.RequireDPoP does it per route). Default: false,
	// tokens that are not bound may come as Bearer.
	RequireDPoP bool
	// RequestURL returns the URL a client used for a request, which a DPoP
	// proof's htu must name. Behind a proxy: [PublicURL] for a service
	// with one public URL, or [ForwardedURL] for the forwarded headers
	// of the proxies you trust. Default: https (http without TLS), r.Host
	// and r.URL's path.
	RequestURL func(r *http.Request) *url.URL
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
	g := &Guardian[U]{issuer: issuer, subject: subject, resource: resource, realm: "api", scheme: "Bearer",
		slot: defaultSlot, header: "Authorization"}
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
		g.perms = opts.Permissions
		g.dpop, g.requireDPoP, g.requestURL = opts.DPoP, opts.RequireDPoP, opts.RequestURL
		if g.requireDPoP && g.dpop == nil {
			return nil, fmt.Errorf("%w: RequireDPoP needs GuardianOptions.DPoP", ErrConfig)
		}
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
