package guardian

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"
)

// A Token is a signed token and its claims.
type Token struct {
	// Raw is the compact JWS, what goes after "Bearer ".
	Raw string
	// Claims are the token's registered claims; custom claims are read with
	// Claims.Custom.
	Claims *Claims
}

// IssueOptions are the optional settings of [Issuer.Issue]; nil means
// defaults.
type IssueOptions struct {
	// Type is the typ claim. Default: Access.
	Type TokenType
	// TTL overrides the type's lifetime for this token. It may not exceed
	// the longest TTL of any type, which bounds how long subject and
	// family revocations are kept.
	TTL time.Duration
	// Family ties the token to an earlier one (an access and a refresh
	// token of one login). Default: a new random family.
	Family string
	// Scope lists the scopes the token grants, written as the
	// space-separated scope claim and read back as Claims.Scope (see
	// [Guardian.RequireScopes]). Each must be a scope token of RFC 6749
	// §3.3. Default: none.
	Scope []string
	// Permissions lists the permissions the token grants, as "group.name"
	// or "group.*" (all of a group, present and future), encoded into the
	// pem claim through IssuerOptions.Permissions. Default: none.
	Permissions []string
	// ACR is the acr claim: the authentication context class the user
	// satisfied (e.g. "mfa"), for [ACR] requirements. Default: none.
	ACR string
	// AMR is the amr claim: the authentication methods used (RFC 8176,
	// e.g. "pwd", "otp"). Default: none.
	AMR []string
	// Confirmation binds the token to a key (the cnf claim, RFC 7800): a
	// DPoP key's thumbprint (RFC 9449 §6.1), from [DPoPProof].JKT, makes a
	// token that only works with a proof of that key. Refresh keeps it.
	// Default: none (a bearer token).
	Confirmation Confirmation
	// Actor is the act claim (RFC 8693 §4.1): who acts on behalf of
	// subject. [Guardian.Impersonate] sets it. Default: none.
	Actor *Actor
	// Custom holds app-defined claims: any value that encodes to a JSON
	// object (a struct, a map, a json.RawMessage). Its names must not be
	// registered claims. Read them back with Claims.Custom.
	Custom any
}

// maxTypeLength is the longest token type, in bytes.
const maxTypeLength = 255

// Issue signs a new token for subject: iss and aud from the IssuerOptions, a
// random jti of 128 bits, iat and nbf now, exp after the type's TTL. The
// AfterIssue hook runs before it returns.
func (i *Issuer) Issue(ctx context.Context, subject string, opts *IssueOptions) (Token, error) {
	if opts == nil {
		opts = &IssueOptions{}
	}
	if err := CheckID(subject); err != nil {
		return Token{}, fmt.Errorf("guardian: Issue: subject %w", err)
	}
	if opts.Family != "" {
		if err := CheckID(opts.Family); err != nil {
			return Token{}, fmt.Errorf("guardian: Issue: family %w", err)
		}
	}
	c := &Claims{Subject: subject, Type: opts.Type, Family: opts.Family, Audience: i.aud}
	if c.Type == "" {
		c.Type = AccessToken
	}
	if len(c.Type) > maxTypeLength || CheckID(string(c.Type)) != nil {
		return Token{}, fmt.Errorf("guardian: Issue: token type %.40q: %w: at most %d bytes of UTF-8 without NUL", c.Type, ErrInvalidID, maxTypeLength)
	}
	ttl := opts.TTL
	if ttl < 0 {
		return Token{}, fmt.Errorf("%w: negative TTL %v", ErrInvalidArgument, ttl)
	}
	// Subject and family revocations are kept for the longest type TTL
	// (see BySubject): a longer-lived token would outlive them.
	if ttl > i.maxTTL {
		return Token{}, fmt.Errorf("%w: TTL %v is longer than the longest token type TTL %v; add a type to IssuerOptions.TTL", ErrInvalidArgument, ttl, i.maxTTL)
	}
	var err error
	for _, s := range opts.Scope {
		if !isScopeToken(s) {
			return Token{}, fmt.Errorf("%w: %.40q is not a scope token (RFC 6749 §3.3)", ErrInvalidArgument, s)
		}
	}
	c.Scope = mergeScopes(nil, opts.Scope)
	if c.Permissions, err = i.encodePermissions(opts.Permissions); err != nil {
		return Token{}, err
	}
	if opts.Actor != nil && CheckID(opts.Actor.Subject) != nil {
		return Token{}, fmt.Errorf("%w: the actor needs a subject (%w)", ErrInvalidArgument, CheckID(opts.Actor.Subject))
	}
	c.ACR, c.AMR, c.Actor = opts.ACR, cloneStrings(opts.AMR), opts.Actor.clone()
	c.Confirmation = opts.Confirmation
	custom, err := encodeCustom(opts.Custom)
	if err != nil {
		return Token{}, err
	}
	return i.issue(ctx, c, ttl, custom)
}

// encodePermissions encodes grants into a pem claim with the issuer's
// declaration.
func (i *Issuer) encodePermissions(grants []string) ([]PermissionBits, error) {
	if len(grants) == 0 {
		return nil, nil
	}
	if i.perms == nil {
		return nil, fmt.Errorf("%w: permissions granted, but IssuerOptions.Permissions declares none", ErrInvalidArgument)
	}
	return i.perms.encode(grants)
}

// issue completes c (iss, jti, family, dates) and signs it. A zero ttl means
// the type's TTL.
func (i *Issuer) issue(ctx context.Context, c *Claims, ttl time.Duration, custom json.RawMessage) (Token, error) {
	if ttl == 0 {
		var ok bool
		if ttl, ok = i.ttl[c.Type]; !ok {
			return Token{}, fmt.Errorf("%w: token type %q has no TTL; add it to IssuerOptions.TTL", ErrInvalidArgument, c.Type)
		}
	}
	now := time.Unix(i.now().Unix(), 0)
	if c.AuthTime.IsZero() {
		c.AuthTime = now // a new login
	}
	c.Issuer, c.by = i.iss, i
	if c.ID == "" {
		c.ID = randomID()
	}
	if c.Family == "" {
		c.Family = randomID()
	}
	c.IssuedAt, c.NotBefore = now, now
	c.ExpiresAt = now.Add(ttl)
	payload, err := encodePayload(c, custom)
	if err != nil {
		return Token{}, err
	}
	c.payload = string(payload)
	raw, err := i.sign(payload)
	if err != nil {
		return Token{}, err
	}
	if i.hooks.AfterIssue != nil {
		if err := i.hooks.AfterIssue(ctx, c); err != nil {
			return Token{}, fmt.Errorf("guardian: AfterIssue: %w", err)
		}
	}
	return Token{Raw: raw, Claims: c}, nil
}

// sign returns the compact JWS of payload under the signing key.
func (i *Issuer) sign(payload []byte) (string, error) {
	ks := i.keys.Load()
	if ks.keys.signing == nil {
		return "", fmt.Errorf("%w: this Issuer only verifies: its key set has no signing key", ErrKey)
	}
	n := len(ks.header) + 1 + b64.EncodedLen(len(payload))
	buf := make([]byte, 0, n+1+b64.EncodedLen(128))
	buf = append(buf, ks.header...)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, payload)
	sig, err := ks.keys.signing.sign(string(buf))
	if err != nil {
		return "", fmt.Errorf("guardian: sign: %w", err)
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	return string(buf), nil
}

// randomID returns 128 random bits, base64url encoded.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return b64.EncodeToString(b[:])
}
