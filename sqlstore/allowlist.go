package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/guardian-go/guardian"
)

// TokenInfo describes a recorded, active token: one session of a subject in
// allow-list mode.
type TokenInfo struct {
	// ID is the token's jti; revoke the token with a [guardian.ByToken]
	// revocation of this ID.
	ID string
	// Subject is the token's sub.
	Subject string
	// Type is the token's typ (access, refresh, ...).
	Type guardian.TokenType
	// Family is the login the token descends from; empty if none.
	Family string
	// IssuedAt is the token's iat, in whole seconds, UTC.
	IssuedAt time.Time
	// ExpiresAt is the token's exp, UTC, on its issuer's clock (the row is
	// kept by the store's, see [Store.Record]).
	ExpiresAt time.Time
}

// Record records the token c as issued, so that it passes Revoked in
// allow-list mode. Its signature is that of the issuer's after-issue hook:
// wire it there so that every issued token is recorded before it is handed
// out. Recording the same jti again is a no-op.
//
// One clock: the row is kept for the token's lifetime, exp - iat, plus
// [Options].TokenMargin, from when Record runs, on the store's clock;
// c's dates are never compared with that clock. So a token recorded by an
// issuer whose clock is a year off the store's passes Revoked for as long
// as that issuer accepts it (the issuer refuses it past its exp itself),
// and is swept afterwards. [Store.ActiveTokens] lists a token until then,
// up to the margin past its exp.
//
// c must have a jti, an iat and an exp after iat, at most
// [guardian.MaxRevocationTTL] apart; a subject, a family if any, and a
// type that can be stored (see [ErrInvalidID]; the type may be empty and
// have up to 255 bytes). Every token guardian issues qualifies. Claims
// that cannot be recorded are refused with an error wrapping
// [ErrInvalidID] (an ID or the type) or [guardian.ErrInvalidRevocation]
// (the dates; missing claims also wrap [guardian.ErrMissingClaim]), never
// [guardian.ErrUnavailable]: the caller's mistake is not an outage.
//
// Record returns [ErrNotAllowList] on a deny-list store: recording there
// would be pointless, and a hook wired to the wrong store should be loud.
func (s *Store) Record(ctx context.Context, c *guardian.Claims) error {
	if !s.allowList {
		return ErrNotAllowList
	}
	lifetime, err := recordable(c)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return s.fail(ctx, "record token", err)
	}
	if s.closed.Load() {
		return ErrClosed
	}
	args := s.q.record.args(c.ID, c.Subject, string(c.Type), c.Family, c.IssuedAt.Unix(), c.ExpiresAt.UnixMilli(), s.expiry(lifetime+s.margin))
	if _, err := s.record.exec(ctx, s, args...); err != nil {
		return s.fail(ctx, "record token", err)
	}
	return nil
}

// recordable checks that c can be recorded, and returns its lifetime.
func recordable(c *guardian.Claims) (time.Duration, error) {
	switch {
	case c == nil:
		return 0, fmt.Errorf("%w: sqlstore: Record with nil claims", guardian.ErrInvalidRevocation)
	case c.ID == "":
		return 0, fmt.Errorf("%w: %w: sqlstore: cannot record a token without jti", guardian.ErrMissingClaim, ErrInvalidID)
	case c.IssuedAt.IsZero():
		return 0, fmt.Errorf("%w: %w: sqlstore: cannot record a token without iat", guardian.ErrMissingClaim, guardian.ErrInvalidRevocation)
	case c.ExpiresAt.IsZero():
		return 0, fmt.Errorf("%w: %w: sqlstore: cannot record a token without exp", guardian.ErrMissingClaim, guardian.ErrInvalidRevocation)
	}
	if err := guardian.CheckID(c.ID); err != nil {
		return 0, fmt.Errorf("sqlstore: cannot record jti: %w", err)
	}
	if err := guardian.CheckID(c.Subject); err != nil {
		return 0, fmt.Errorf("sqlstore: cannot record subject: %w", err)
	}
	if c.Family != "" {
		if err := guardian.CheckID(c.Family); err != nil {
			return 0, fmt.Errorf("sqlstore: cannot record family: %w", err)
		}
	}
	if len(c.Type) > maxTypeLength {
		return 0, fmt.Errorf("sqlstore: cannot record token type: %w: %d bytes long, more than %d", ErrInvalidID, len(c.Type), maxTypeLength)
	}
	if c.Type != "" {
		if err := guardian.CheckID(string(c.Type)); err != nil {
			return 0, fmt.Errorf("sqlstore: cannot record token type: %w", err)
		}
	}
	lifetime := c.ExpiresAt.Sub(c.IssuedAt)
	switch {
	case lifetime <= 0:
		return 0, fmt.Errorf("%w: sqlstore: cannot record a token whose exp is not after its iat (lifetime %v)", guardian.ErrInvalidRevocation, lifetime)
	case lifetime > guardian.MaxRevocationTTL:
		return 0, fmt.Errorf("%w: sqlstore: cannot record a token with a lifetime of %v, more than %v", guardian.ErrInvalidRevocation, lifetime, guardian.MaxRevocationTTL)
	}
	return lifetime, nil
}

// ActiveTokens lists the subject's active tokens in allow-list mode, oldest
// first: recorded, their rows still held (see [Store.Record]), and not
// revoked by jti, family or subject cut-off. Every token it lists passes
// Revoked; every other token of the subject does not. A subject that
// cannot be stored is refused with [ErrInvalidID]. It returns
// [ErrNotAllowList] on a deny-list store.
func (s *Store) ActiveTokens(ctx context.Context, subject string) ([]TokenInfo, error) {
	if !s.allowList {
		return nil, ErrNotAllowList
	}
	if err := guardian.CheckID(subject); err != nil {
		return nil, fmt.Errorf("sqlstore: ActiveTokens: subject: %w", err)
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	rows, err := s.db.QueryContext(ctx, s.q.active.text, s.q.active.args(subject, s.now().UnixMilli())...)
	if err != nil {
		return nil, s.fail(ctx, "list active tokens", err)
	}
	defer rows.Close()
	var out []TokenInfo
	for rows.Next() {
		var (
			t            TokenInfo
			typ          string
			issued, exps int64
		)
		if err := rows.Scan(&t.ID, &typ, &t.Family, &issued, &exps); err != nil {
			return nil, s.fail(ctx, "list active tokens", err)
		}
		t.Subject = subject
		t.Type = guardian.TokenType(typ)
		t.IssuedAt = time.Unix(issued, 0).UTC()
		t.ExpiresAt = time.UnixMilli(exps).UTC()
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "list active tokens", err)
	}
	return out, nil
}

// RevokeAll revokes every active recorded token of subject in allow-list
// mode by deleting their rows, in one statement, and returns how many it
// deleted. Once it returns, none of them passes Revoked, and tokens issued
// (and recorded) afterwards do. It leaves no record behind: to also refuse
// tokens whose recording races with it, or to keep the revocation should
// the store later leave allow-list mode, revoke the subject with a
// [guardian.BySubject] revocation instead. A subject that cannot be
// stored (the empty one included) is refused with [ErrInvalidID]. It
// returns [ErrNotAllowList] on a deny-list store.
func (s *Store) RevokeAll(ctx context.Context, subject string) (int64, error) {
	if !s.allowList {
		return 0, ErrNotAllowList
	}
	if err := guardian.CheckID(subject); err != nil {
		return 0, fmt.Errorf("sqlstore: RevokeAll: subject: %w", err)
	}
	if s.closed.Load() {
		return 0, ErrClosed
	}
	res, err := s.db.ExecContext(ctx, s.q.revokeAll.text, s.q.revokeAll.args(subject, s.now().UnixMilli())...)
	if err != nil {
		return 0, s.fail(ctx, "revoke all", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail(ctx, "revoke all", err)
	}
	return n, nil
}
