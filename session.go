package guardian

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// SignInOptions are the optional settings of [Guardian.SignInWith] and
// [Guardian.Reauthenticate]; nil means defaults.
type SignInOptions struct {
	// ACR is the acr claim of the new tokens: the authentication context
	// class the user just satisfied (e.g. "mfa"), for [ACR] requirements.
	// Refresh keeps it. Default: none.
	ACR string
	// AMR is the amr claim: the methods the user just authenticated with
	// (RFC 8176: "pwd", "otp", "hwk", ...). Refresh keeps it. Default: none.
	AMR []string
	// Scope lists the OAuth scopes the tokens grant. Default: none.
	Scope []string
}

// subjectOf runs the subject callback.
func (g *Guardian[U]) subjectOf(user U) (string, error) {
	sub, err := g.subject(user)
	if err != nil {
		return "", fmt.Errorf("guardian: subject for user: %w", err)
	}
	if sub == "" {
		return "", fmt.Errorf("%w: the subject callback returned an empty subject", ErrInvalidID)
	}
	return sub, nil
}

// grants fills in, from the Guardian's callbacks, the custom claims and
// permissions a caller left unset.
func (g *Guardian[U]) grants(ctx context.Context, user U, custom any, perms []string) (any, []string, error) {
	var err error
	if custom == nil && g.claims != nil {
		if custom, err = g.claims(ctx, user); err != nil {
			return nil, nil, fmt.Errorf("guardian: claims for user: %w", err)
		}
	}
	if perms == nil && g.perms != nil {
		if perms, err = g.perms(ctx, user); err != nil {
			return nil, nil, fmt.Errorf("guardian: permissions for user: %w", err)
		}
	}
	return custom, perms, nil
}

// SignIn starts a login for user, who has just proven who they are: it
// issues an access token and a refresh token of a new family, with
// auth_time now (bound to the client's key when the request carries a
// DPoP proof and GuardianOptions.DPoP is set, see RFC 9449 §5), hands them out (see below), and returns them with a
// request whose context carries the access token, its claims and user, so
// [CurrentToken], [CurrentClaims] and [Guardian.CurrentResource] see them.
// Write the body yourself (the tokens, for API clients). It is
// SignInWith(w, r, user, nil).
//
// On w it sets "Authorization: <scheme> <access token>", "X-Expires: <its
// exp in Unix seconds>" and "Cache-Control: no-store" (RFC 6749 §5.1), and
// with GuardianOptions.Cookies, the two cookies. Browsers let scripts of
// other origins read neither header unless the app's CORS answer lists
// them in Access-Control-Expose-Headers; guardian never sets it.
func (g *Guardian[U]) SignIn(w http.ResponseWriter, r *http.Request, user U) (TokenPair, *http.Request, error) {
	return g.signIn(w, r, user, noSignInOptions, "", nil)
}

// noSignInOptions is the SignInOptions of SignIn.
var noSignInOptions = &SignInOptions{}

// SignInWith is SignIn with the settings of opts: how the user
// authenticated (acr, amr) and the scopes granted.
func (g *Guardian[U]) SignInWith(w http.ResponseWriter, r *http.Request, user U, opts *SignInOptions) (TokenPair, *http.Request, error) {
	if opts == nil {
		opts = noSignInOptions
	}
	return g.signIn(w, r, user, opts, "", nil)
}

// Reauthenticate is SignInWith for a user who is signed in and has just
// proven who they are again (their password, a second factor): the step-up
// of RFC 9470 that a [MaxAge] or [ACR] requirement asks for. It issues a
// new pair with auth_time now in the family of the request's token (in g's
// slot), so that signing out either pair signs out the login, and hands it
// out as SignIn does. The request's token must be an access token of g's
// issuer for user: otherwise ErrMissingToken (no token) or why the token
// was refused (ErrExpired, ...), a [ClaimError]
// for "act" (an impersonation token: the impersonator cannot step up as
// the user) or ErrInvalidArgument. The tokens already out keep their
// auth_time. The login's lifetime (IssuerOptions.FamilyLifetime) counts
// from the newest auth_time, so a step-up also extends it.
//
// Put [NotImpersonated] on the route, so that an impersonation token is
// refused before the app checks the user's password: otherwise an
// impersonator could tell a right password (this refusal) from a wrong
// one (the app's).
func (g *Guardian[U]) Reauthenticate(w http.ResponseWriter, r *http.Request, user U, opts *SignInOptions) (TokenPair, *http.Request, error) {
	if g.issuer == nil {
		return TokenPair{}, r, errVerifyOnly
	}
	if opts == nil {
		opts = noSignInOptions
	}
	c, ok := g.CurrentClaims(r.Context())
	switch {
	case !ok:
		if err := g.FailureReason(r.Context()); err != nil {
			return TokenPair{}, r, err
		}
		return TokenPair{}, r, ErrMissingToken
	case c.Actor != nil:
		return TokenPair{}, r, &ClaimError{Claim: "act"}
	case c.by != g.issuer || c.Type != AccessToken || c.Family == "":
		return TokenPair{}, r, fmt.Errorf("%w: Reauthenticate needs an access token of the Guardian's issuer", ErrInvalidArgument)
	}
	sub, err := g.subjectOf(user)
	if err != nil {
		return TokenPair{}, r, err
	}
	if sub != c.Subject {
		return TokenPair{}, r, fmt.Errorf("%w: Reauthenticate for subject %q, but the request's token is for %q", ErrInvalidArgument, sub, c.Subject)
	}
	// The new pair stays bound to the key of the login, if it is bound:
	// the request's proof was spent on verifying its token.
	return g.signIn(w, r, user, opts, c.Family, &c.Confirmation)
}

// signIn issues and hands out a pair for user, in family (empty: a new
// one), bound to cnf (nil: to the key of the request's DPoP proof, if
// any).
func (g *Guardian[U]) signIn(w http.ResponseWriter, r *http.Request, user U, opts *SignInOptions, family string, cnf *Confirmation) (TokenPair, *http.Request, error) {
	if g.issuer == nil {
		return TokenPair{}, r, errVerifyOnly
	}
	ctx := r.Context()
	sub, err := g.subjectOf(user)
	if err != nil {
		return TokenPair{}, r, err
	}
	custom, perms, err := g.grants(ctx, user, nil, nil)
	if err != nil {
		return TokenPair{}, r, err
	}
	if cnf == nil {
		bound, err := g.signInBinding(w, r)
		if err != nil {
			return TokenPair{}, r, err
		}
		cnf = &bound
	}
	io := IssueOptions{Family: family, ACR: opts.ACR, AMR: opts.AMR, Scope: opts.Scope, Custom: custom, Permissions: perms, Confirmation: *cnf}
	access, err := g.issuer.Issue(ctx, sub, &io)
	if err != nil {
		return TokenPair{}, r, err
	}
	io.Type, io.Family = RefreshToken, access.Claims.Family
	refresh, err := g.issuer.Issue(ctx, sub, &io)
	if err != nil {
		return TokenPair{}, r, err
	}
	pair := TokenPair{Access: access, Refresh: refresh}
	ctx, _ = withState(ctx, g.slot, authState{token: access.Raw, claims: access.Claims, resource: user, loaded: true})
	g.handOut(w, pair)
	return pair, r.WithContext(ctx), nil
}

// handOut sets the headers, and the cookies when configured, of a
// response that hands out pair.
func (g *Guardian[U]) handOut(w http.ResponseWriter, pair TokenPair) {
	h := w.Header()
	scheme := g.scheme
	if pair.TokenType() == "DPoP" {
		scheme = "DPoP"
	}
	h.Set("Authorization", scheme+" "+pair.Access.Raw)
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
// and the custom claims and permissions are computed again through
// GuardianOptions.Claims and Permissions, so a role withdrawn since the
// login is gone from the new tokens.
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
		so := g.successorOptions()
		if so.Confirmation, err = g.refreshBinding(w, r, raw); err == nil {
			var pair TokenPair
			if pair, err = g.issuer.Refresh(r.Context(), raw, so); err == nil {
				g.handOut(w, pair)
				return pair, nil
			}
		}
	}
	g.refuse(w, r, nil, err)
	return TokenPair{}, err
}

// successorOptions loads the user of the presented token again and
// computes their custom claims and permissions afresh; the user is loaded
// once per pair.
func (g *Guardian[U]) successorOptions() *SuccessorOptions {
	var user U
	o := &SuccessorOptions{Custom: func(ctx context.Context, old *Claims) (any, error) {
		u, err := g.reload(ctx, old)
		if err != nil {
			return nil, err
		}
		user = u
		if g.claims == nil {
			return nil, nil
		}
		custom, err := g.claims(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("guardian: claims for user: %w", err)
		}
		return custom, nil
	}}
	if g.perms != nil {
		// Issuer.Refresh calls Permissions after Custom, for the same pair.
		o.Permissions = func(ctx context.Context, old *Claims) ([]string, error) {
			perms, err := g.perms(ctx, user)
			if err != nil {
				return nil, fmt.Errorf("guardian: permissions for user: %w", err)
			}
			if perms == nil {
				perms = []string{}
			}
			return perms, nil
		}
	}
	return o
}

// reload loads the user of old, who must still have old's subject.
func (g *Guardian[U]) reload(ctx context.Context, old *Claims) (U, error) {
	var zero U
	u, err := g.resource(ctx, old)
	if err != nil {
		if errors.Is(err, ErrResourceNotFound) {
			return zero, err
		}
		return zero, fmt.Errorf("guardian: load resource: %w", err)
	}
	if sub, err := g.subject(u); err != nil || sub != old.Subject {
		return zero, fmt.Errorf("%w: the user of subject %q now has another subject", ErrResourceNotFound, old.Subject)
	}
	return u, nil
}

// SignOut revokes the request's current token (in g's slot) and its
// family (every token of the same login, refresh tokens included), so that
// no verifier sharing the Revoker accepts them again, and clears the
// cookies when GuardianOptions.Cookies is set. An impersonation token (one
// with an act claim, see [Guardian.Impersonate]) is revoked alone: the
// family is the impersonator's login, which goes on. Write the answer
// yourself (204, say).
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
	c, ok := g.CurrentClaims(r.Context())
	if !ok {
		return ErrMissingToken
	}
	if err := g.issuer.revokeClaims(r.Context(), c); err != nil {
		return err
	}
	if c.Family != "" && c.Actor == nil {
		if err := g.issuer.RevokeFamily(r.Context(), c.Family); err != nil {
			return err
		}
	}
	if g.cookies != nil {
		g.cookies.clear(w)
	}
	return nil
}
