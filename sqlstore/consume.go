package sqlstore

import (
	"context"
	"database/sql"
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
// Like Revoke, a Consume that records the token logs the change in the
// same transaction (see [Store.Follow]); one that finds the token held
// writes nothing. In PostgreSQL, Consume is one statement: an upsert that
// replaces an expired record and leaves a held one alone, and, only if it
// wrote, the counter, the change and the notification. In SQLite it is a
// transaction: the counter, the same upsert and, only if it wrote, the
// change; otherwise it rolls back. In MySQL the transaction's upsert is an
// update of an expired record or else an insert, whose duplicate-key
// failure means that another call came first. In allow-list mode it also
// deletes the token's recorded row, as Revoke does.
func (s *Store) Consume(ctx context.Context, r guardian.Revocation) (first bool, err error) {
	if err := r.Validate(); err != nil {
		return false, err
	}
	if r.Kind != guardian.ByToken {
		return false, fmt.Errorf("%w: sqlstore: Consume takes token revocations, got a %s revocation", guardian.ErrInvalidRevocation, r.Kind)
	}
	const op = "consume token"
	if err := ctx.Err(); err != nil {
		return false, s.fail(ctx, op, err)
	}
	if s.closed.Load() {
		return false, ErrClosed
	}
	// One reading of the clock: the new expiry, rounded up, is after now
	// in whole milliseconds, so it is always after an expired record's.
	now := s.now()
	nowMS, until := now.UnixMilli(), ceilMilli(now.Add(r.TTL))
	ch := newChange(kindToken, r.ID, 0, r.TTL, now)
	switch s.dialect {
	case Postgres:
		var seq int64
		err := s.stmts.consumeFeed.queryRow(ctx, s, &seq, s.fq.consume.args(r.ID, until, nowMS, ch.ttlMS, ch.keep, s.channel)...)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			first = false // held: nothing was written
		case err != nil:
			return false, s.failWrite(ctx, op, err)
		default:
			first = true
		}
	case MySQL:
		stmts := []*lazyStmt{&s.stmts.consumeUpdate, &s.stmts.consumeInsert, &s.stmts.tokenRevoked}
		first, err = s.inFeedTx(ctx, op, ch, stmts, func(t *feedTx) (bool, error) {
			return s.consumeMySQL(ctx, t, r.ID, until, nowMS)
		})
	default:
		first, err = s.inFeedTx(ctx, op, ch, []*lazyStmt{&s.stmts.consume}, func(t *feedTx) (bool, error) {
			res, err := t.exec(0, s.q.consume.args(r.ID, until, nowMS)...)
			if err != nil {
				return false, s.fail(ctx, op, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return false, s.fail(ctx, op, err)
			}
			return n > 0, nil
		})
	}
	if err != nil {
		return false, err
	}
	if s.allowList {
		if _, err := s.db.ExecContext(ctx, s.q.deleteToken.text, s.q.deleteToken.args(r.ID)...); err != nil {
			return false, s.fail(ctx, op+": delete recorded token", err)
		}
	}
	return first, nil
}

// consumeMySQL replaces an expired record of the token, or inserts one, in
// t, whose statements are consumeUpdate, consumeInsert and tokenRevoked.
// An insert that fails because the token is held is told apart from other
// failures by looking the record up: the package imports no driver, so it
// cannot read the error's code. (The transaction holds the counter, so no
// other write of this store runs meanwhile.)
func (s *Store) consumeMySQL(ctx context.Context, t *feedTx, id string, until, now int64) (bool, error) {
	const op = "consume token"
	// until > now >= the old until_ms: a matched row always changes, so
	// RowsAffected is right whether or not the DSN sets clientFoundRows.
	res, err := t.exec(0, s.q.consumeUpdate.args(id, until, now)...)
	if err != nil {
		return false, s.fail(ctx, op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, s.fail(ctx, op, err)
	} else if n > 0 {
		return true, nil
	}
	_, insertErr := t.exec(1, s.q.consumeInsert.args(id, until)...)
	if insertErr == nil {
		return true, nil
	}
	var n int64
	if err := t.queryRow(2, &n, s.q.tokenRevoked.args(id, now)...); err != nil {
		return false, s.fail(ctx, op, errors.Join(insertErr, err))
	}
	if n > 0 {
		return false, nil // another call recorded it first
	}
	return false, s.fail(ctx, op, insertErr)
}
