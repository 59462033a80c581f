package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/guardian-go/guardian"
)

var _ guardian.TokenConsumer = (*Store)(nil)

// Consume revokes the token r names, as Revoke does, and reports whether
// this call revoked it: false, with a nil error, when a revocation of the
// token was still held. Of several concurrent Consume calls for one token,
// on any number of instances, exactly one reports true. guardian's Refresh
// uses it to let a refresh token be used once. It makes Store a
// [guardian.TokenConsumer]; r must be a [guardian.ByToken] revocation,
// and is kept for r.TTL from now on the store's clock, rounded up to the
// millisecond. An invalid r, or one of another kind, is refused with an
// error wrapping [guardian.ErrInvalidRevocation], never
// [guardian.ErrUnavailable].
//
// In PostgreSQL and SQLite, Consume is one upsert that replaces an expired
// record and leaves a held one alone. In MySQL it is an update of an
// expired record or else an insert, whose duplicate-key failure means that
// another call came first. In allow-list mode it also deletes the token's
// recorded row, as Revoke does.
func (s *Store) Consume(ctx context.Context, r guardian.Revocation) (first bool, err error) {
	if err := r.Validate(); err != nil {
		return false, err
	}
	if r.Kind != guardian.ByToken {
		return false, fmt.Errorf("%w: sqlstore: Consume takes token revocations, got a %s revocation", guardian.ErrInvalidRevocation, r.Kind)
	}
	if err := ctx.Err(); err != nil {
		return false, s.fail(ctx, "consume token", err)
	}
	if s.closed.Load() {
		return false, ErrClosed
	}
	// One reading of the clock: the new expiry, rounded up, is after now
	// in whole milliseconds, so it is always after an expired record's.
	now := s.now()
	nowMS, until := now.UnixMilli(), ceilMilli(now.Add(r.TTL))
	if s.dialect == MySQL {
		if first, err = s.consumeMySQL(ctx, r.ID, until, nowMS); err != nil {
			return false, err
		}
	} else {
		res, err := s.db.ExecContext(ctx, s.q.consume.text, s.q.consume.args(r.ID, until, nowMS)...)
		if err != nil {
			return false, s.fail(ctx, "consume token", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return false, s.fail(ctx, "consume token", err)
		}
		first = n > 0
	}
	if s.allowList {
		if _, err := s.db.ExecContext(ctx, s.q.deleteToken.text, s.q.deleteToken.args(r.ID)...); err != nil {
			return false, s.fail(ctx, "consume token: delete recorded token", err)
		}
	}
	return first, nil
}

// consumeMySQL replaces an expired record of the token, or inserts one. An
// insert that fails because a racing call inserted first is told apart
// from other failures by looking the record up: the package imports no
// driver, so it cannot read the error's code.
func (s *Store) consumeMySQL(ctx context.Context, id string, until, now int64) (bool, error) {
	// until > now >= the old until_ms: a matched row always changes, so
	// RowsAffected is right whether or not the DSN sets clientFoundRows.
	res, err := s.db.ExecContext(ctx, s.q.consumeUpdate.text, s.q.consumeUpdate.args(id, until, now)...)
	if err != nil {
		return false, s.fail(ctx, "consume token", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, s.fail(ctx, "consume token", err)
	} else if n > 0 {
		return true, nil
	}
	_, insertErr := s.db.ExecContext(ctx, s.q.consumeInsert.text, s.q.consumeInsert.args(id, until)...)
	if insertErr == nil {
		return true, nil
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, s.q.tokenRevoked.text, s.q.tokenRevoked.args(id, now)...).Scan(&n); err != nil {
		return false, s.fail(ctx, "consume token", errors.Join(insertErr, err))
	}
	if n > 0 {
		return false, nil // another call recorded it first
	}
	return false, s.fail(ctx, "consume token", insertErr)
}
