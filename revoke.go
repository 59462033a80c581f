package guardian

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// A Revoker records revocations and answers, for each verified token,
// whether it was revoked. It is what makes logout real: once Revoke returns
// nil, every verifier sharing the Revoker refuses the token.
//
// The contract, which the conformance suite in package revokertest checks:
//
//   - Revoke records r durably before it returns nil; a revocation that
//     returned nil is never lost (until r.Until). It returns an error, never
//     a silent no-op, when it could not record r, and when r is invalid
//     (see [Revocation.Validate]).
//   - Revoked reports whether c is revoked: its ID (jti) was revoked with
//     [RevokeToken], its Family with [RevokeFamily], or its Subject with
//     [RevokeSubject] at an instant At such that c.IssuedAt is not after At
//     in whole seconds (c.IssuedAt.Unix() <= At.Unix()). Tokens issued in the
//     same second as a subject revocation are revoked too: iat has whole
//     seconds, and the safe side of the doubt is to refuse.
//   - A record may be forgotten once its Until has passed, and Revoked must
//     not report it then: every token it concerns has expired.
//   - When it cannot answer (the store is down, ctx is done), Revoked returns
//     a non-nil error, and the token is refused. It never answers false
//     because of a failure.
//   - Both methods are safe for concurrent use and honour ctx.
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

// Revocation is one record of a Revoker.
type Revocation struct {
	Kind RevocationKind
	// ID is a jti, a sub or a family, by Kind.
	ID string
	// At is when the revocation was made. For RevokeSubject it is the
	// cut-off: tokens with iat at or before At (in whole seconds) are revoked.
	At time.Time
	// Until is when the record may be forgotten: the token's exp, or, for a
	// subject or family, the latest exp any token it concerns can have.
	Until time.Time
}

// errInvalidRevocation is wrapped by Validate's errors.
var errInvalidRevocation = errors.New("guardian: invalid revocation")

// Validate reports whether r can be recorded: a known Kind, a non-empty ID,
// and a non-zero Until; At is required for RevokeSubject. Stores call it
// first in Revoke.
func (r Revocation) Validate() error {
	switch {
	case r.Kind < RevokeToken || r.Kind > RevokeFamily:
		return fmt.Errorf("%w: unknown kind %d", errInvalidRevocation, r.Kind)
	case r.ID == "":
		return fmt.Errorf("%w: empty %s ID", errInvalidRevocation, r.Kind)
	case r.Until.IsZero():
		return fmt.Errorf("%w: %s revocation without Until", errInvalidRevocation, r.Kind)
	case r.Kind == RevokeSubject && r.At.IsZero():
		return fmt.Errorf("%w: subject revocation without At", errInvalidRevocation)
	}
	return nil
}

// SubjectCutoffCovers reports whether a subject revocation made at cutoff
// revokes a token issued at iat: iat is at or before cutoff, in whole
// seconds. Stores use it so that all of them draw the line the same way.
func SubjectCutoffCovers(cutoff, iat time.Time) bool {
	return iat.Unix() <= cutoff.Unix()
}
