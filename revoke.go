package guardian

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// A Revoker records revocations and answers, for each verified token,
// whether it was revoked. It is what makes logout real: once Revoke returns
// nil, every verifier sharing the Revoker refuses the token.
//
// The contract, which the conformance suite in package revokertest checks:
//
//   - Revoke records r durably before it returns nil, and keeps the record
//     for at least r.TTL from the moment it received it, measured on the
//     store's own clock. It returns an error, never a silent no-op, when it
//     could not record r or could not keep it that long, and when r is
//     invalid (see [Revocation.Validate]; such errors wrap
//     [ErrInvalidRevocation], which callers treat as their own mistake, not
//     as an outage).
//   - One clock: a store never compares the instants of a token or of a
//     Revocation (exp, iat, At) with its own clock. Its clock only measures
//     how long it has held a record. So a store whose clock is a year off
//     from the issuers' still keeps every record exactly as long as the
//     issuers need it. [Issuer] computes TTL on its own clock and adds its
//     leeway twice, so issuers sharing a store need only agree with each
//     other within their Leeway.
//   - Revoked reports whether c is revoked: its ID (jti) was revoked with
//     [ByToken], its Family with [ByFamily], or its Subject with
//     [BySubject] at a cut-off At such that c.IssuedAt is not after At
//     in whole seconds (see [SubjectCutoffCovers]). Tokens issued in the
//     same second as a subject revocation are revoked too: iat has whole
//     seconds, and the safe side of the doubt is to refuse.
//   - A record may be forgotten once it has been held for its TTL; Revoked
//     must not report it then.
//   - When it cannot answer (the store is down, ctx is done), Revoked returns
//     a non-nil error, and the token is refused. It never answers false
//     because of a failure.
//   - Both methods are safe for concurrent use and return once ctx is done:
//     the Issuer bounds every call (IssuerOptions.RevokerTimeout), and a store
//     that outlives the bound only delays the answer it cannot give.
//
// Stores may refuse tokens they never saw (an allow-list): Revoked may
// report true for any token not recorded as issued.
type Revoker interface {
	// Revoke records r. See the interface doc for the contract.
	Revoke(ctx context.Context, r Revocation) error
	// Revoked reports whether the token described by c is revoked.
	Revoked(ctx context.Context, c *Claims) (bool, error)
}

// A TokenConsumer is a Revoker that can also revoke a token atomically,
// telling whether it was already revoked. Refresh uses it to consume a
// refresh token exactly once, so that two concurrent refreshes with the same
// token cannot both succeed (RFC 9700 §4.14.2). Without it, Refresh checks
// and then revokes, and two requests racing within one store round trip can
// both pass. Every store of this repository implements it.
type TokenConsumer interface {
	Revoker
	// Consume records r, which is of kind ByToken, and reports whether
	// this call recorded it: false, with a nil error, when the token was
	// already revoked. Like Revoke, a nil error means r is durable.
	Consume(ctx context.Context, r Revocation) (first bool, err error)
}

// RevocationKind says what a [Revocation] names.
type RevocationKind uint8

const (
	// ByToken revokes the one token whose jti is the Revocation's ID.
	ByToken RevocationKind = iota + 1
	// BySubject revokes every token of the subject ID issued at or
	// before At ("log out everywhere", a password change).
	BySubject
	// ByFamily revokes every token of the family ID: all tokens rotated
	// from one login.
	ByFamily
)

// String returns "token", "subject" or "family".
func (k RevocationKind) String() string {
	switch k {
	case ByToken:
		return "token"
	case BySubject:
		return "subject"
	case ByFamily:
		return "family"
	}
	return fmt.Sprintf("RevocationKind(%d)", uint8(k))
}

// Bounds of a [Revocation], checked by [Revocation.Validate].
const (
	// MaxIDLength is the longest jti, subject or family, in bytes, that a
	// token may carry and a Revoker must be able to store. Issue refuses
	// longer ones.
	MaxIDLength = 1024
	// MaxRevocationTTL is the longest a record may be kept: far beyond any
	// token lifetime, and small enough for every store's arithmetic.
	MaxRevocationTTL = 100 * 365 * 24 * time.Hour
)

// Revocation is one record of a Revoker.
type Revocation struct {
	Kind RevocationKind
	// ID is a jti, a sub or a family, by Kind. See [CheckID].
	ID string
	// At is when the revocation takes effect, on the revoking issuer's
	// clock. For BySubject it is the cut-off: tokens with iat at or
	// before At (in whole seconds) are revoked; stores compare it with iat
	// only, never with their own clock. Other kinds carry it for logs.
	At time.Time
	// TTL is how long the store must keep the record, counted from when it
	// receives it on its own clock: as long as any token the record
	// concerns can still be accepted, with margins for clock skew. Stores
	// round it up to their precision.
	TTL time.Duration
}

// Validate reports whether r can be recorded: a known Kind, an ID that
// [CheckID] accepts, a TTL in (0, MaxRevocationTTL], and At for
// BySubject. Its errors wrap [ErrInvalidRevocation]. Stores call it
// first in Revoke and Consume.
func (r Revocation) Validate() error {
	switch {
	case r.Kind < ByToken || r.Kind > ByFamily:
		return fmt.Errorf("%w: unknown kind %d", ErrInvalidRevocation, r.Kind)
	case r.TTL <= 0:
		return fmt.Errorf("%w: %s revocation with TTL %v; it must be positive", ErrInvalidRevocation, r.Kind, r.TTL)
	case r.TTL > MaxRevocationTTL:
		return fmt.Errorf("%w: %s revocation with TTL %v, longer than %v", ErrInvalidRevocation, r.Kind, r.TTL, MaxRevocationTTL)
	case r.Kind == BySubject && r.At.IsZero():
		return fmt.Errorf("%w: subject revocation without At", ErrInvalidRevocation)
	}
	if err := CheckID(r.ID); err != nil {
		return fmt.Errorf("%w: %s %w", ErrInvalidRevocation, r.Kind, err)
	}
	return nil
}

// CheckID reports whether id can be a jti, subject or family: non-empty,
// at most [MaxIDLength] bytes, valid UTF-8 and free of NUL bytes. Two
// different invalid strings can decode to the same JSON string, and some
// stores cannot hold NUL, so such IDs could not be revoked exactly. The
// error wraps [ErrInvalidID].
func CheckID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrInvalidID)
	case len(id) > MaxIDLength:
		return fmt.Errorf("%w: %d bytes long, more than %d", ErrInvalidID, len(id), MaxIDLength)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidID)
	}
	for i := 0; i < len(id); i++ {
		if id[i] == 0 {
			return fmt.Errorf("%w: holds a NUL byte", ErrInvalidID)
		}
	}
	return nil
}

// SubjectCutoffCovers reports whether a subject revocation with cut-off
// cutoff revokes a token issued at iat: iat is at or before cutoff, in whole
// seconds. Stores use it so that all of them draw the line the same way.
func SubjectCutoffCovers(cutoff, iat time.Time) bool {
	return iat.Unix() <= cutoff.Unix()
}

// Revoke revokes a token given raw: its signature, issuer and audience are
// checked, its expiry is not. A token that no issuer within the leeway of
// this one's clock can accept any more needs no record, and Revoke returns
// nil for it.
func (i *Issuer) Revoke(ctx context.Context, raw string) error {
	c, err := i.authenticate(ctx, i.currentKeys().keys, raw)
	if err != nil {
		return err
	}
	if err := i.types.resolve(c); err != nil {
		return err
	}
	// Any type: a token of a type no longer issued can still be revoked.
	if err := i.validate(c, []TokenType{c.Type}, false); err != nil {
		return err
	}
	return i.revokeClaims(ctx, c)
}

// revokeClaims revokes the token c describes (by jti) for as long as it
// could be accepted, after the OnRevoke hook.
func (i *Issuer) revokeClaims(ctx context.Context, c *Claims) error {
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
	// whose clock is up to leeway behind accepts it a leeway longer. A
	// refresh retry may have handed out a copy with the same jti that
	// expires up to a retry window (plus iat's rounding) later.
	ttl := c.ExpiresAt.Add(2 * i.leeway).Sub(now)
	if i.retryWindow > 0 {
		ttl += i.retryWindow + time.Second
	}
	if ttl <= 0 {
		return true, nil
	}
	r := Revocation{Kind: ByToken, ID: c.ID, At: now, TTL: ttl}
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

// BySubject revokes every token of subject issued until now, including
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
	return i.record(ctx, Revocation{Kind: BySubject, ID: subject, At: cutoff, TTL: ttl})
}

// ByFamily revokes every token of a family: all the tokens issued from
// one login, refreshed or exchanged.
//
// The record lasts as long as any token of the family can: every one
// expires by its auth_time + FamilyLifetime, a refresh that raced the
// revocation included.
func (i *Issuer) RevokeFamily(ctx context.Context, family string) error {
	return i.record(ctx, Revocation{Kind: ByFamily, ID: family, At: i.now(), TTL: i.familyRecordTTL()})
}

// familyRecordTTL is how long a family revocation is kept.
func (i *Issuer) familyRecordTTL() time.Duration {
	return max(i.maxTTL, i.familyLifetime) + 2*i.leeway + time.Second
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
