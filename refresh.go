package guardian

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// A TokenPair is an access token and the refresh token that renews it,
// of one family.
type TokenPair struct {
	Access  Token
	Refresh Token
}

// MarshalJSON writes the pair as an OAuth 2.0 token response (RFC 6749
// §5.1): {"access_token", "token_type": "Bearer" (or "DPoP" for a
// DPoP-bound token), "expires_in" (seconds of
// the access token's life), "refresh_token"}. A handler can answer a login
// or a refresh with it as it is.
func (p TokenPair) MarshalJSON() ([]byte, error) {
	var expiresIn int64
	if c := p.Access.Claims; c != nil {
		expiresIn = int64(c.ExpiresAt.Sub(c.IssuedAt) / time.Second)
	}
	return json.Marshal(struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		ExpiresIn    int64  `json:"expires_in"`
		RefreshToken string `json:"refresh_token,omitempty"`
	}{p.Access.Raw, p.TokenType(), expiresIn, p.Refresh.Raw})
}

// TokenType is the token_type of the pair (RFC 6749 §5.1), for a body of
// the app's own: "DPoP" for a DPoP-bound access token (RFC 9449 §5),
// "Bearer" otherwise.
func (p TokenPair) TokenType() string {
	if c := p.Access.Claims; c != nil && c.Confirmation.JWKThumbprint != "" {
		return "DPoP"
	}
	return "Bearer"
}

// SuccessorOptions are the optional settings of [Issuer.Refresh] and
// [Issuer.Exchange]; nil means defaults.
type SuccessorOptions struct {
	// Custom computes the custom claims of the new tokens from the
	// verified claims of the presented one: look the user up and derive
	// roles afresh. An error refuses the operation and is returned as it
	// is (wrap ErrResourceNotFound for a user who is gone: 401). Custom
	// claims are never copied from the presented token, so a role
	// withdrawn after login does not survive a refresh. Default: none.
	Custom func(ctx context.Context, old *Claims) (any, error)
	// Permissions, when set, computes the permissions of the new tokens
	// afresh (as IssueOptions.Permissions), after Custom; when nil, they
	// grant the permissions of the presented token. Default: nil.
	Permissions func(ctx context.Context, old *Claims) ([]string, error)
	// Confirmation, when set, binds the new tokens to that key (cnf) if
	// the presented token is not bound; a token bound to another key is
	// refused. Default: the new tokens keep the presented token's binding.
	Confirmation *Confirmation
}

// Refresh rotates a refresh token into a new pair: it verifies raw (a
// refresh token), computes the new custom claims (opts.Custom), signs a new
// access token and a new refresh token of the same subject, family and
// auth_time, and only then consumes raw. So an error before, a store outage
// included, leaves raw usable for a retry; once Refresh returns the pair,
// raw is spent. Before the consume it asks once more whether the login
// (the family or the subject) was revoked meanwhile, so that a logout
// racing the refresh cannot be outlived by the new pair.
//
// A retry is safe even when the failure came after the store had consumed
// raw (its answer lost, or the pair lost on its way to the client): within
// IssuerOptions.RefreshRetryWindow of the first attempt, and as long as the new
// refresh token has not been used, Refresh hands out the same pair again:
// tokens with the same jti, which are revoked, consumed and detected
// together. Concurrent refreshes of one token get that same pair too.
//
// A family lives IssuerOptions.FamilyLifetime from its auth_time: the new tokens
// expire by then, and past it Refresh refuses with ErrExpired.
//
// Any other refresh token presented again after it was consumed or revoked
// is taken as stolen (RFC 9700 §4.14.2): its whole family, every token
// rotated from the same login, is revoked, and Refresh returns ErrRevoked.
// With a [TokenConsumer] (every store of this repository) that holds even
// for concurrent requests.
func (i *Issuer) Refresh(ctx context.Context, raw string, opts *SuccessorOptions) (TokenPair, error) {
	old, err := i.verify(ctx, raw, []TokenType{RefreshToken})
	if err != nil {
		if errors.Is(err, ErrRevoked) && old != nil {
			return i.retry(ctx, old, opts, err)
		}
		return TokenPair{}, err
	}
	if opts != nil && opts.Confirmation != nil {
		switch {
		case old.Confirmation.IsZero():
			bound := *old
			bound.Confirmation = *opts.Confirmation
			old = &bound
		case old.Confirmation != *opts.Confirmation:
			return TokenPair{}, invalid(ErrTokenBinding, "the refresh token is bound to another key")
		}
	}
	pair, err := i.successors(ctx, old, opts)
	if err != nil {
		return TokenPair{}, err
	}
	if i.revoker == nil {
		return pair, nil
	}
	// A logout of the family, or of the subject, may have landed while the
	// pair was made: its records would not cover tokens signed after them.
	// Asked once the pair is signed and before anything is spent, so that a
	// revocation after this answer covers the pair, and a failure here
	// leaves raw usable.
	if err := i.loginStillValid(ctx, old, pair.Refresh.Claims); err != nil {
		return TokenPair{}, err
	}
	// The retry marker goes first: a consume that lands is always
	// preceded by one, so its retry is recognized.
	if i.retryWindow > 0 {
		if err := i.record(ctx, Revocation{Kind: ByToken, ID: retryMarker(old.ID), At: i.now(), TTL: i.retryWindow}); err != nil {
			return TokenPair{}, err
		}
	}
	consumer, _ := i.revoker.(TokenConsumer)
	first, err := i.revokeToken(ctx, old, consumer)
	if err != nil {
		return TokenPair{}, err
	}
	if !first {
		// Another request consumed the same token first.
		return i.retry(ctx, old, opts, invalid(ErrRevoked, "already refreshed"))
	}
	return pair, nil
}

// loginStillValid asks the Revoker whether old's family or subject has
// been revoked: about the new refresh token (a jti no revocation names yet,
// and one an allow-list store has recorded), with old's iat for the
// subject's cut-off.
func (i *Issuer) loginStillValid(ctx context.Context, old, next *Claims) error {
	revoked, err := i.askRevoker(ctx, &Claims{ID: next.ID, Subject: old.Subject, Family: old.Family, Type: next.Type, IssuedAt: old.IssuedAt, ExpiresAt: next.ExpiresAt})
	if err != nil {
		return err
	}
	if revoked {
		return invalid(ErrRevoked, "the login was revoked during the refresh")
	}
	return nil
}

// successors signs the pair that carries on old, with deterministic jtis,
// after the OnRefresh hook.
func (i *Issuer) successors(ctx context.Context, old *Claims, opts *SuccessorOptions) (TokenPair, error) {
	custom, err := i.successorClaims(ctx, old, opts)
	if err != nil {
		return TokenPair{}, err
	}
	access, err := i.successor(ctx, old, AccessToken, successorID(old.ID, AccessToken), custom)
	if err != nil {
		return TokenPair{}, err
	}
	refresh, err := i.successor(ctx, old, RefreshToken, successorID(old.ID, RefreshToken), custom)
	if err != nil {
		return TokenPair{}, err
	}
	if i.hooks.OnRefresh != nil {
		if err := i.hooks.OnRefresh(ctx, old, refresh.Claims); err != nil {
			return TokenPair{}, fmt.Errorf("guardian: OnRefresh: %w", err)
		}
	}
	return TokenPair{Access: access, Refresh: refresh}, nil
}

// retry answers a refresh token that is already revoked (cause). It is a
// retry, and gets the same pair again, when only its own jti is revoked
// (it was consumed, not logged out), its retry marker is still held, and
// its successor refresh token has not been used. Anything else is reuse:
// the family is revoked.
//
// The retry gets what a first refresh would: OnVerify runs on the old
// token first, and after the pair is signed the marker must still be held
// (so the copies expire at most a window after the first answer's, which
// the consume record covers) and the login must not have been revoked.
func (i *Issuer) retry(ctx context.Context, old *Claims, opts *SuccessorOptions, cause error) (TokenPair, error) {
	if i.retryWindow > 0 && old.Type == RefreshToken {
		ok, err := i.isRetry(ctx, old)
		if err != nil {
			return TokenPair{}, err
		}
		if ok {
			if i.hooks.OnVerify != nil {
				if err := i.hooks.OnVerify(ctx, old); err != nil {
					return TokenPair{}, fmt.Errorf("guardian: OnVerify: %w", err)
				}
			}
			pair, err := i.successors(ctx, old, opts)
			if err != nil {
				return TokenPair{}, err
			}
			if ok, err := i.isRetry(ctx, old); err != nil || !ok {
				if err == nil {
					err = invalid(ErrRevoked, "the retry window closed during the refresh")
				}
				return TokenPair{}, err
			}
			return pair, nil
		}
	}
	return TokenPair{}, i.reused(ctx, old, cause)
}

// isRetry asks the Revoker the three questions of retry.
func (i *Issuer) isRetry(ctx context.Context, old *Claims) (bool, error) {
	ask := func(c *Claims) (bool, error) { return i.askRevoker(ctx, c) }
	// The family and the subject, without the token's own jti: an ID no
	// record names.
	if revoked, err := ask(&Claims{ID: randomID(), Subject: old.Subject, Family: old.Family, IssuedAt: old.IssuedAt}); err != nil || revoked {
		return false, err
	}
	if marked, err := ask(&Claims{ID: retryMarker(old.ID), IssuedAt: old.IssuedAt}); err != nil || !marked {
		return false, err
	}
	used, err := ask(&Claims{ID: successorID(old.ID, RefreshToken), IssuedAt: old.IssuedAt})
	return !used, err
}

// successorID is the jti of old's successor of type typ: derived from old's
// jti (128 secret random bits), so that a retry issues the same token.
func successorID(oldID string, typ TokenType) string {
	return derivedID("guardian successor\x00" + string(typ) + "\x00" + oldID)
}

// retryMarker is the ID of the record that marks old as being refreshed,
// for IssuerOptions.RefreshRetryWindow.
func retryMarker(oldID string) string {
	return "retry." + derivedID("guardian retry\x00"+oldID)
}

func derivedID(s string) string {
	sum := sha256.Sum256([]byte(s))
	return b64.EncodeToString(sum[:16])
}

// reused answers a refresh with a revoked token: a refresh token's family
// is revoked as a whole. It returns cause, joined with any failure to revoke.
func (i *Issuer) reused(ctx context.Context, old *Claims, cause error) error {
	if old.Type != RefreshToken || old.Family == "" {
		return cause
	}
	if err := i.RevokeFamily(ctx, old.Family); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// Exchange verifies a token whose type is one of from and issues a token of
// type to for the same subject, family and auth_time, with custom claims
// from opts.Custom (never copied), e.g. a short-lived token of an
// app-defined type for a refresh token. The presented token stays valid.
func (i *Issuer) Exchange(ctx context.Context, raw string, from []TokenType, to TokenType, opts *SuccessorOptions) (Token, error) {
	if len(from) == 0 {
		return Token{}, fmt.Errorf("%w: Exchange needs the token types it accepts", ErrInvalidArgument)
	}
	old, err := i.verify(ctx, raw, from)
	if err != nil {
		return Token{}, err
	}
	custom, err := i.successorClaims(ctx, old, opts)
	if err != nil {
		return Token{}, err
	}
	next, err := i.successor(ctx, old, to, "", custom)
	if err != nil {
		return Token{}, err
	}
	if i.hooks.OnExchange != nil {
		if err := i.hooks.OnExchange(ctx, old, next.Claims); err != nil {
			return Token{}, fmt.Errorf("guardian: OnExchange: %w", err)
		}
	}
	return next, nil
}

// grant is what a successor grants beyond what it carries on: its custom
// claims and its permissions.
type grant struct {
	custom json.RawMessage
	perms  []PermissionBits
}

// successorClaims runs opts.Custom, then opts.Permissions, for the claims
// of old's successors.
func (i *Issuer) successorClaims(ctx context.Context, old *Claims, opts *SuccessorOptions) (grant, error) {
	g := grant{perms: old.Permissions}
	if opts == nil {
		return g, nil
	}
	if opts.Custom != nil {
		v, err := opts.Custom(ctx, old)
		if err != nil {
			return grant{}, err
		}
		if g.custom, err = encodeCustom(v); err != nil {
			return grant{}, err
		}
	}
	if opts.Permissions != nil {
		list, err := opts.Permissions(ctx, old)
		if err != nil {
			return grant{}, err
		}
		if g.perms, err = i.encodePermissions(list); err != nil {
			return grant{}, err
		}
	}
	return g, nil
}

// successor issues a token of type typ that carries on old: its subject,
// family, auth_time, scopes, acr, amr, act and cnf (what was granted, how
// the user authenticated, who acts and the key it is bound to, which a
// refresh does not change), and
// the permissions of g, under the issuer's current audience, expiring by
// the end of the family's lifetime. An empty id means a random jti.
func (i *Issuer) successor(ctx context.Context, old *Claims, typ TokenType, id string, g grant) (Token, error) {
	authTime := old.AuthTime
	if authTime.IsZero() {
		authTime = old.IssuedAt
	}
	ttl, ok := i.ttl[typ]
	if !ok {
		return Token{}, fmt.Errorf("%w: token type %q has no TTL; add it to IssuerOptions.TTL", ErrInvalidArgument, typ)
	}
	now := time.Unix(i.now().Unix(), 0)
	left := authTime.Add(i.familyLifetime).Sub(now)
	if left < time.Second {
		return Token{}, invalid(ErrExpired, "the login's lifetime is over; sign in again")
	}
	if old.Actor != nil && old.Type != RefreshToken {
		// An impersonation lives no longer than the actor's token it was
		// capped to, and is never made refreshable (see Impersonate); a
		// refresh token the app issued with an actor rotates as usual.
		if typ == RefreshToken {
			return Token{}, fmt.Errorf("%w: an impersonation token is not exchanged for a refresh token", ErrInvalidArgument)
		}
		left = min(left, old.ExpiresAt.Sub(now))
		if left < time.Second {
			return Token{}, invalid(ErrExpired, "the impersonation is over")
		}
	}
	c := &Claims{Subject: old.Subject, Audience: i.aud, Type: typ, ID: id, Family: old.Family, AuthTime: authTime,
		Scope: cloneStrings(old.Scope), ACR: old.ACR, AMR: cloneStrings(old.AMR),
		Permissions: slices.Clone(g.perms), Actor: old.Actor.clone(), Confirmation: old.Confirmation}
	return i.issue(ctx, c, min(ttl, left), g.custom)
}
