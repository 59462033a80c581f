package guardian

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Verify checks a token and returns its claims: size, header, key and
// algorithm, signature, exp (required), nbf, iat, iss, aud, typ, then the
// Revoker and the OnVerify hook. types lists the token types accepted;
// none means access tokens only.
//
// Every error wraps a sentinel of this package: ErrInvalidToken and a more
// specific one for a bad token, ErrUnavailable when the Revoker could not
// answer.
func (i *Issuer) Verify(ctx context.Context, raw string, types ...TokenType) (*Claims, error) {
	c, err := i.verify(ctx, raw, types)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// verify is Verify; it also returns the claims of a correctly signed token
// that failed a later check, for Refresh's reuse detection.
func (i *Issuer) verify(ctx context.Context, raw string, types []TokenType) (*Claims, error) {
	ks := i.currentKeys()
	c, cached := ks.cache.get(raw)
	if cached {
		c = c.clone() // the cache's copy stays as it was verified
	} else {
		var err error
		if c, err = i.authenticate(ctx, ks.keys, raw); err != nil {
			return nil, err
		}
		if err := i.types.resolve(c); err != nil {
			return nil, err
		}
	}
	if err := i.validate(c, types, true); err != nil {
		return nil, err
	}
	c.by = i
	if !cached && ks.cache != nil {
		ks.cache.put(strings.Clone(raw), c.clone(), i.now())
	}
	if err := i.checkRevoked(ctx, c); err != nil {
		return c, err
	}
	if i.hooks.OnVerify != nil {
		if err := i.hooks.OnVerify(ctx, c); err != nil {
			return nil, fmt.Errorf("guardian: OnVerify: %w", err)
		}
	}
	return c, nil
}

// authenticate parses raw and checks its signature with the key its kid
// names, pinned to that key's algorithm. The payload is decoded only once
// the signature holds. For a remote issuer, a kid missing from keys may
// cause a fetch of its keys (see RemoteKeys.missed).
func (i *Issuer) authenticate(ctx context.Context, keys *KeySet, raw string) (*Claims, error) {
	if len(raw) > i.maxSize {
		return nil, invalidf(ErrMalformedToken, "token longer than %d bytes", i.maxSize)
	}
	hSeg, pSeg, sSeg, err := splitToken(raw)
	if err != nil {
		return nil, err
	}
	key, ok := keys.bySegment[hSeg] // the headers we write: known good
	typ := headerJWT
	if !ok {
		h, err := decodeHeader(hSeg)
		if err != nil {
			return nil, err
		}
		if key, err = keyFor(keys, h); err != nil && i.remote != nil && errors.Is(err, ErrUnknownKey) {
			if keys, err = i.remote.missed(ctx, keys); err == nil {
				key, err = keyFor(keys, h)
			}
		}
		if err != nil {
			return nil, err
		}
		typ, _ = parseHeaderType(h.Typ) // screened by decodeHeader
	}
	sc := getScratch()
	defer putScratch(sc)
	sig, err := sc.decode(sSeg)
	if err != nil {
		return nil, invalid(ErrMalformedToken, "signature is not base64url")
	}
	if err := key.verifyWith(raw[:len(hSeg)+1+len(pSeg)], sig, sc); err != nil {
		return nil, err
	}
	payload, err := sc.decode(pSeg)
	if err != nil {
		return nil, invalid(ErrMalformedToken, "payload is not base64url")
	}
	c := &Claims{payload: string(payload), header: typ}
	if decodeClaimsFast(c.payload, c) {
		return c, nil
	}
	if c, err = decodePayload(c.payload); err != nil {
		return nil, err
	}
	c.header = typ
	return c, nil
}

// keyFor returns the key a screened header names.
func keyFor(keys *KeySet, h joseHeader) (*Key, error) {
	key, ok := keys.lookup(h.Kid)
	if !ok {
		return nil, invalidf(ErrUnknownKey, "kid %s", strconv.QuoteToASCII(truncate(h.Kid, 64)))
	}
	if h.Alg != string(key.alg) {
		return nil, invalidf(ErrAlgorithm, "token says %s, key %q is pinned to %s", strconv.QuoteToASCII(truncate(h.Alg, 16)), key.id, key.alg)
	}
	return key, nil
}

// validate checks the claims of an authenticated token. Without checkTimes
// (for Revoke) exp, nbf and iat are not compared with the clock: a token
// that is not valid yet, because of clock skew between servers, can still
// be revoked.
func (i *Issuer) validate(c *Claims, types []TokenType, checkTimes bool) error {
	now := i.now()
	if c.ExpiresAt.IsZero() {
		return invalid(ErrMissingClaim, "exp")
	}
	if checkTimes {
		if i.expired(c, now) {
			return invalid(ErrExpired, "")
		}
		if !c.NotBefore.IsZero() && now.Add(i.leeway).Before(c.NotBefore) {
			return invalid(ErrNotYetValid, "")
		}
		if !c.IssuedAt.IsZero() && now.Add(i.leeway).Before(c.IssuedAt) {
			return invalid(ErrIssuedInFuture, "")
		}
	}
	if i.iss != "" && c.Issuer != i.iss {
		return invalid(ErrIssuer, "")
	}
	if err := i.checkAudience(c); err != nil {
		return err
	}
	if err := checkType(c, types); err != nil {
		return err
	}
	if i.revoker != nil {
		if c.ID == "" {
			return invalid(ErrMissingClaim, "jti (needed for revocation)")
		}
		if c.IssuedAt.IsZero() {
			return invalid(ErrMissingClaim, "iat (needed for revocation)")
		}
	}
	return nil
}

// checkType reports whether c's type is one of types (none: access only).
func checkType(c *Claims, types []TokenType) error {
	if len(types) == 0 {
		if c.Type != AccessToken {
			return invalidf(ErrTokenType, "want %s", AccessToken)
		}
	} else if !slices.Contains(types, c.Type) {
		return invalidf(ErrTokenType, "want one of %v", types)
	}
	return nil
}

func (i *Issuer) checkAudience(c *Claims) error {
	if len(i.aud) == 0 {
		if len(c.Audience) > 0 {
			return invalid(ErrAudience, "token names an audience and none is configured")
		}
		return nil
	}
	for _, a := range i.aud {
		if c.HasAudience(a) {
			return nil
		}
	}
	return invalid(ErrAudience, "")
}

// checkRevoked asks the Revoker, failing closed unless configured otherwise.
func (i *Issuer) checkRevoked(ctx context.Context, c *Claims) error {
	if i.revoker == nil {
		return nil
	}
	revoked, err := i.askRevoker(ctx, c)
	if err != nil {
		if i.failOpen {
			return nil
		}
		return err
	}
	if revoked {
		return invalid(ErrRevoked, "")
	}
	return nil
}

// askRevoker asks the Revoker about c, within the Revoker timeout unless
// the Revoker answers from memory. A failure is ErrUnavailable.
func (i *Issuer) askRevoker(ctx context.Context, c *Claims) (bool, error) {
	if i.memoryFirst != nil {
		revoked, ok, err := i.memoryFirst.revokedFromMemory(ctx, c)
		if ok {
			if err != nil {
				return false, unavailable(err)
			}
			return revoked, nil
		}
	}
	if !i.localRevoker {
		var cancel context.CancelFunc
		ctx, cancel = i.bound(ctx)
		defer cancel()
	}
	revoked, err := i.revoker.Revoked(ctx, c)
	if err != nil {
		return false, unavailable(err)
	}
	return revoked, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// expired reports whether c's exp has passed, leeway included.
func (i *Issuer) expired(c *Claims, now time.Time) bool {
	return !now.Before(c.ExpiresAt.Add(i.leeway))
}

// localRevoker is a Revoker that answers Revoked from memory, without I/O:
// the Issuer does not bound it in time.
type localRevoker interface{ answersLocally() }

// memoryFirst is a Revoker that answers from memory when it can (a
// [FeedMirror] that is current), and from its store, bounded, otherwise.
type memoryFirst interface {
	revokedFromMemory(ctx context.Context, c *Claims) (revoked, answered bool, err error)
}

// unavailable marks a Revoker failure as ErrUnavailable and
// ErrRevokerUnavailable, once.
func unavailable(err error) error {
	switch {
	case errors.Is(err, ErrRevokerUnavailable):
		return err
	case errors.Is(err, ErrUnavailable):
		return fmt.Errorf("%w: %w", ErrRevokerUnavailable, err)
	}
	return fmt.Errorf("%w: %w: %w", ErrUnavailable, ErrRevokerUnavailable, err)
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

// scratch holds the buffers one verification needs, reused across requests
// so that the hot path does not allocate them.
type scratch struct {
	in  []byte // a base64 segment, copied from the token
	out []byte // decoded bytes; valid until the next decode
	mac []byte // HMAC input and output, or the signing input
	sum []byte // a digest
	der []byte // an ASN.1 ECDSA signature
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{
		in: make([]byte, 0, 1024), out: make([]byte, 0, 1024), mac: make([]byte, 0, 1024),
		sum: make([]byte, 0, 64), der: make([]byte, 0, 160),
	}
}}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

// putScratch returns sc to the pool, unless a huge token grew it.
func putScratch(sc *scratch) {
	if cap(sc.in) <= 16<<10 && cap(sc.out) <= 16<<10 && cap(sc.mac) <= 16<<10 {
		scratchPool.Put(sc)
	}
}

// decode decodes a strict base64url segment into sc.out and returns it; the
// result is overwritten by the next decode.
func (sc *scratch) decode(seg string) ([]byte, error) {
	sc.in = append(sc.in[:0], seg...)
	n := b64.DecodedLen(len(sc.in))
	if cap(sc.out) < n {
		sc.out = make([]byte, n)
	}
	m, err := b64.Decode(sc.out[:n], sc.in)
	if err != nil {
		return nil, err
	}
	return sc.out[:m], nil
}
