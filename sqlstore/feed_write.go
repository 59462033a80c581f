package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrNoFeedCounter is wrapped by the errors of writes and of
// [Store.Follow] when the change log's counter row (in the table
// <revocations table>_seq) is missing: the schema predates the feed, or the
// row was deleted. [Store.CreateSchema] creates it (or run the INSERT of
// [Store.Schema]). Nothing is written without it. Such an error wraps
// [guardian.ErrUnavailable] too: the store cannot record revocations.
var ErrNoFeedCounter = errors.New("sqlstore: the revocation feed's counter row is missing (run CreateSchema, or the INSERT of Schema())")

// change is what the change log records of one write, besides the
// revocation's own row: its kind, ID and cut-off, its TTL in whole
// milliseconds (rounded up), and when the log's row may be swept.
type change struct {
	kind   int64
	id     string
	cutoff int64
	ttlMS  int64
	keep   int64
}

// newChange describes the write of a revocation at now.
func newChange(kind int64, id string, cutoff int64, ttl time.Duration, now time.Time) change {
	return change{
		kind:   kind,
		id:     id,
		cutoff: cutoff,
		ttlMS:  int64((ttl + time.Millisecond - 1) / time.Millisecond),
		keep:   ceilMilli(now.Add(ChangeRetention)),
	}
}

// writeRevocation records a revocation (the upsert's arguments: kind, id,
// cutoff, until) and its change, atomically: the change is in the log,
// numbered, if and only if the record was committed.
func (s *Store) writeRevocation(ctx context.Context, op string, until int64, ch change) error {
	if s.dialect == Postgres {
		var seq int64
		err := s.stmts.revokeFeed.queryRow(ctx, s, &seq, s.fq.revoke.args(ch.kind, ch.id, ch.cutoff, until, ch.ttlMS, ch.keep, s.channel)...)
		if err != nil {
			return s.failWrite(ctx, op, err)
		}
		return nil
	}
	_, err := s.inFeedTx(ctx, op, ch, []*lazyStmt{&s.upsert}, func(t *feedTx) (bool, error) {
		if _, err := t.exec(0, s.q.upsert.args(ch.kind, ch.id, ch.cutoff, until)...); err != nil {
			return false, s.fail(ctx, op, err)
		}
		return true, nil
	})
	return err
}

// failWrite is s.fail for a PostgreSQL write, which reports a missing
// counter row only as a NOT NULL violation: it looks the row up to say so.
func (s *Store) failWrite(ctx context.Context, op string, err error) error {
	if ctx.Err() == nil && !s.closed.Load() {
		var n int64
		if qerr := s.db.QueryRowContext(ctx, s.fq.hasCount.text).Scan(&n); qerr == nil && n == 0 {
			err = fmt.Errorf("%w: %w", ErrNoFeedCounter, err)
		}
	}
	return s.fail(ctx, op, err)
}

// feedTx is a transaction of a MySQL or SQLite write, with the statements
// it was given, prepared on the pool (or nil: run unprepared).
type feedTx struct {
	ctx   context.Context
	tx    *sql.Tx
	lazy  []*lazyStmt
	stmts []*sql.Stmt
}

// exec runs the i-th statement given to inFeedTx.
func (t *feedTx) exec(i int, args ...any) (sql.Result, error) {
	if st := t.stmts[i]; st != nil {
		return t.tx.StmtContext(t.ctx, st).ExecContext(t.ctx, args...)
	}
	return t.tx.ExecContext(t.ctx, t.lazy[i].query, args...)
}

// queryRow runs the i-th statement given to inFeedTx and scans its row.
func (t *feedTx) queryRow(i int, dest any, args ...any) error {
	if st := t.stmts[i]; st != nil {
		return t.tx.StmtContext(t.ctx, st).QueryRowContext(t.ctx, args...).Scan(dest)
	}
	return t.tx.QueryRowContext(t.ctx, t.lazy[i].query, args...).Scan(dest)
}

// inFeedTx runs a MySQL or SQLite write in one transaction: it increments
// the counter first (so writers queue there, holding nothing else), then
// runs write with the statements stmts, and, if write reports that it
// changed a record, logs ch under the counter's new value and commits;
// otherwise it rolls back, counter included, so that the sequence has no
// hole. It reports what write reported.
//
// Every statement is prepared on the pool before the transaction begins,
// never while it holds a connection: a pool of one connection (SQLite's)
// would wait for itself.
func (s *Store) inFeedTx(ctx context.Context, op string, ch change, stmts []*lazyStmt, write func(*feedTx) (bool, error)) (changed bool, err error) {
	lazy := append([]*lazyStmt{&s.stmts.bump, &s.stmts.change}, stmts...)
	prepared := make([]*sql.Stmt, len(lazy))
	for i, l := range lazy {
		if prepared[i], err = l.get(ctx, s); err != nil {
			return false, s.fail(ctx, op, err)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, s.fail(ctx, op, err)
	}
	defer func() {
		if !changed || err != nil {
			if rerr := ignoreDone(tx.Rollback()); rerr != nil && err != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()
	bump := &feedTx{ctx: ctx, tx: tx, lazy: lazy, stmts: prepared}
	res, err := bump.exec(0)
	if err != nil {
		return false, s.fail(ctx, op, err)
	}
	// The update always changes the row (seq + 1), so RowsAffected is 1
	// whether or not a MySQL DSN sets clientFoundRows.
	if n, err := res.RowsAffected(); err != nil {
		return false, s.fail(ctx, op, err)
	} else if n != 1 {
		return false, s.fail(ctx, op, fmt.Errorf("%w: %d rows in %s", ErrNoFeedCounter, n, seqTableOf(s.rev)))
	}
	w := &feedTx{ctx: ctx, tx: tx, lazy: lazy[2:], stmts: prepared[2:]}
	// write's errors are already wrapped by s.fail.
	if changed, err = write(w); err != nil || !changed {
		return false, err
	}
	if _, err := bump.exec(1, ch.kind, ch.id, ch.cutoff, ch.ttlMS, ch.keep); err != nil {
		return false, s.fail(ctx, op+": log the change", err)
	}
	if err := tx.Commit(); err != nil {
		return false, s.fail(ctx, op+": commit", err)
	}
	return true, nil
}

// feedStmts are the statements of the feed's writes and reads, prepared
// on first use like the store's others. Each dialect uses some of them.
type feedStmts struct {
	revokeFeed, consumeFeed                    lazyStmt // PostgreSQL
	bump, change                               lazyStmt // MySQL, SQLite
	consume                                    lazyStmt // SQLite
	consumeUpdate, consumeInsert, tokenRevoked lazyStmt // MySQL
	poll                                       lazyStmt
}

func (f *feedStmts) init(s *Store) {
	f.revokeFeed.init(s.fq.revoke.text)
	f.consumeFeed.init(s.fq.consume.text)
	f.bump.init(s.fq.bump.text)
	f.change.init(s.fq.change.text)
	f.consume.init(s.q.consume.text)
	f.consumeUpdate.init(s.q.consumeUpdate.text)
	f.consumeInsert.init(s.q.consumeInsert.text)
	f.tokenRevoked.init(s.q.tokenRevoked.text)
	f.poll.init(s.fq.poll.text)
}

func (f *feedStmts) close() {
	for _, l := range []*lazyStmt{&f.revokeFeed, &f.consumeFeed, &f.bump, &f.change, &f.consume, &f.consumeUpdate, &f.consumeInsert, &f.tokenRevoked, &f.poll} {
		l.close()
	}
}
