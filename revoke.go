package guardian

import (
	"context"
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
//     [RevokeToken], its Family with [RevokeFamily], or its Subject with
//     [RevokeSubject] at a cut-off At such that c.IssuedAt is not after At
//     in whole seconds (see [SubjectCutoffCovers]). Tokens issued in the
//     same second as a subject revocation are revoked too: iat has whole
//     seconds, and the safe side of the doubt is to refuse.
//   - A record may be forgotten once it has been held for its TTL; Revoked
//     must not report it then.
//   - When it cannot answer (the store is down, ctx is done), Revoked returns
//     a non-nil error, and the token is refused. It never answers false
//     because of a failure.
//   - Both methods are safe for concurrent use and return once ctx is done:
//     the Issuer bounds every call (Options.RevokerTimeout), and a store
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
	// Consume records r, which is of kind RevokeToken, and reports whether
	// this call recorded it: false, with a nil error, when the token was
	// already revoked. Like Revoke, a nil error means r is durable.
	Consume(ctx context.Context, r Revocation) (first bool, err error)
}

// RevocationKind says what a [Revocation] names.
type RevocationKind uint8

const (
	// RevokeToken revokes the one token whose jti is the Revocation's ID.
	RevokeToken RevocationKind = iota + 1
	// RevokeSubject revokes every token of the subject ID issued at or
	// before At ("log out everywhere", a password change).
	RevokeSubject
	// RevokeFamily revokes every token of the family ID: all tokens rotated
	// from one login.
	RevokeFamily
)

// String returns "token", "subject" or "family".
func (k RevocationKind) String() string {
	switch k {
	case RevokeToken:
		return "token"
	case RevokeSubject:
		return "subject"
	case RevokeFamily:
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
	// clock. For RevokeSubject it is the cut-off: tokens with iat at or
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
// RevokeSubject. Its errors wrap [ErrInvalidRevocation]. Stores call it
// first in Revoke and Consume.
func (r Revocation) Validate() error {
	switch {
	case r.Kind < RevokeToken || r.Kind > RevokeFamily:
		return fmt.Errorf("%w: unknown kind %d", ErrInvalidRevocation, r.Kind)
	case r.TTL <= 0:
		return fmt.Errorf("%w: %s revocation with TTL %v; it must be positive", ErrInvalidRevocation, r.Kind, r.TTL)
	case r.TTL > MaxRevocationTTL:
		return fmt.Errorf("%w: %s revocation with TTL %v, longer than %v", ErrInvalidRevocation, r.Kind, r.TTL, MaxRevocationTTL)
	case r.Kind == RevokeSubject && r.At.IsZero():
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
