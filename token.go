package guardian

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
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
	// Custom holds app-defined claims: any value that encodes to a JSON
	// object (a struct, a map, a json.RawMessage). Its names must not be
	// registered claims. Read them back with Claims.Custom.
	Custom any
}

// maxTypeLength is the longest token type, in bytes.
const maxTypeLength = 255

// Issue signs a new token for subject: iss and aud from the Options, a
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
		c.Type = Access
	}
	if len(c.Type) > maxTypeLength || CheckID(string(c.Type)) != nil {
		return Token{}, fmt.Errorf("guardian: Issue: token type %.40q: %w: at most %d bytes of UTF-8 without NUL", c.Type, ErrInvalidID, maxTypeLength)
	}
	ttl := opts.TTL
	if ttl < 0 {
		return Token{}, fmt.Errorf("guardian: negative TTL %v", ttl)
	}
	// Subject and family revocations are kept for the longest type TTL
	// (see RevokeSubject): a longer-lived token would outlive them.
	if ttl > i.maxTTL {
		return Token{}, fmt.Errorf("guardian: TTL %v is longer than the longest token type TTL %v; add a type to Options.TTL", ttl, i.maxTTL)
	}
	custom, err := encodeCustom(opts.Custom)
	if err != nil {
		return Token{}, err
	}
	return i.issue(ctx, c, ttl, custom)
}

// issue completes c (iss, jti, family, dates) and signs it. A zero ttl means
// the type's TTL.
func (i *Issuer) issue(ctx context.Context, c *Claims, ttl time.Duration, custom json.RawMessage) (Token, error) {
	if ttl == 0 {
		var ok bool
		if ttl, ok = i.ttl[c.Type]; !ok {
			return Token{}, fmt.Errorf("guardian: token type %q has no TTL; add it to Options.TTL", c.Type)
		}
	}
	now := time.Unix(i.now().Unix(), 0)
	if c.AuthTime.IsZero() {
		c.AuthTime = now // a new login
	}
	c.Issuer = i.iss
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

// Revoke revokes a token given raw: its signature, issuer and audience are
// checked, its expiry is not. A token that no issuer within the leeway of
// this one's clock can accept any more needs no record, and Revoke returns
// nil for it.
func (i *Issuer) Revoke(ctx context.Context, raw string) error {
	c, err := i.authenticate(i.keys.Load().keys, raw)
	if err != nil {
		return err
	}
	// Any type: a token of a type no longer issued can still be revoked.
	if err := i.validate(c, []TokenType{c.Type}, false); err != nil {
		return err
	}
	return i.RevokeClaims(ctx, c)
}

// RevokeClaims revokes the token c describes (by jti) for as long as it
// could be accepted, after the OnRevoke hook.
func (i *Issuer) RevokeClaims(ctx context.Context, c *Claims) error {
	_, err := i.revokeToken(ctx, c, nil)
	return err
}

// revokeToken revokes c by jti for as long as any issuer sharing the store
// could accept it, after the OnRevoke hook. With a consumer it revokes
// atomically and reports whether this call did; otherwise first is always
// true. A token that no issuer within the leeway of this one's clock can
// accept any more needs no record.
func (i *Issuer) revokeToken(ctx context.Context, c *Claims, consumer TokenConsumer) (first bool, err error) {
	if c == nil || c.ID == "" {
		return false, invalid(ErrMissingClaim, "jti (needed for revocation)")
	}
	if i.hooks.OnRevoke != nil {
		if err := i.hooks.OnRevoke(ctx, c); err != nil {
			return false, fmt.Errorf("guardian: OnRevoke: %w", err)
		}
	}
	now := i.now()
	// This issuer accepts c until exp+leeway on its clock; another issuer
	// whose clock is up to leeway behind accepts it a leeway longer.
	ttl := c.ExpiresAt.Add(2 * i.leeway).Sub(now)
	if ttl <= 0 {
		return true, nil
	}
	r := Revocation{Kind: RevokeToken, ID: c.ID, At: now, TTL: ttl}
	if consumer == nil {
		return true, i.record(ctx, r)
	}
	if err := r.Validate(); err != nil {
		return false, err
	}
	ctx, cancel := i.bound(ctx)
	defer cancel()
	first, err = consumer.Consume(ctx, r)
	if err != nil {
		return false, storeFailure(err)
	}
	return first, nil
}

// RevokeSubject revokes every token of subject issued until now, including
// this very second ("log out everywhere", after a password change). The
// cut-off lies one leeway ahead: a token issued by a server whose clock runs
// up to that much ahead of this one's is revoked too, and so, for that
// moment, is a token issued right after the call.
func (i *Issuer) RevokeSubject(ctx context.Context, subject string) error {
	now := i.now()
	cutoff := now.Add(i.leeway)
	// The latest token covered is issued at the cut-off (in whole seconds,
	// hence the second) and accepted until its exp plus a leeway, by a
	// clock up to a leeway behind.
	ttl := i.maxTTL + 3*i.leeway + time.Second
	return i.record(ctx, Revocation{Kind: RevokeSubject, ID: subject, At: cutoff, TTL: ttl})
}

// RevokeFamily revokes every token of a family: all the tokens issued from
// one login, refreshed or exchanged.
func (i *Issuer) RevokeFamily(ctx context.Context, family string) error {
	return i.record(ctx, Revocation{Kind: RevokeFamily, ID: family, At: i.now(), TTL: i.maxTTL + 2*i.leeway})
}

// record hands r to the Revoker, within the Revoker timeout.
func (i *Issuer) record(ctx context.Context, r Revocation) error {
	if i.revoker == nil {
		return ErrNoRevoker
	}
	if err := r.Validate(); err != nil {
		return err
	}
	ctx, cancel := i.bound(ctx)
	defer cancel()
	if err := i.revoker.Revoke(ctx, r); err != nil {
		return storeFailure(err)
	}
	return nil
}

// bound limits a Revoker call to the Revoker timeout.
func (i *Issuer) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if i.revokerTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, i.revokerTimeout)
}

// storeFailure classifies an error of the Revoker: the caller's mistake
// (an invalid revocation) stays as it is; anything else is an outage,
// ErrUnavailable.
func storeFailure(err error) error {
	if errors.Is(err, ErrInvalidRevocation) {
		return err
	}
	return unavailable(err)
}

// Peek decodes a token WITHOUT verifying it: the signature, the dates and
// everything else are unchecked, so nothing it returns may be trusted. Use
// it to route or log a token (its kid, its sub), never to authorize. Only
// the size bound and the token's syntax are checked.
func (i *Issuer) Peek(ctx context.Context, raw string) (Header, *Claims, error) {
	if err := ctx.Err(); err != nil {
		return Header{}, nil, err
	}
	if len(raw) > i.maxSize {
		return Header{}, nil, invalidf(ErrMalformedToken, "token longer than %d bytes", i.maxSize)
	}
	hSeg, pSeg, _, err := splitToken(raw)
	if err != nil {
		return Header{}, nil, err
	}
	hb, err := b64.DecodeString(hSeg)
	if err != nil {
		return Header{}, nil, invalid(ErrMalformedToken, "header is not base64url")
	}
	var h joseHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return Header{}, nil, invalid(ErrMalformedToken, "header is not a JSON object")
	}
	payload, err := b64.DecodeString(pSeg)
	if err != nil {
		return Header{}, nil, invalid(ErrMalformedToken, "payload is not base64url")
	}
	c, err := decodePayload(string(payload))
	if err != nil {
		return Header{}, nil, err
	}
	return Header{Algorithm: Algorithm(h.Alg), KeyID: h.Kid, Type: h.Typ}, c, nil
}
