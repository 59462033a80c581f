package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"time"
)

// Sweep deletes the rows that no longer matter: revocation records held
// for their TTL, replay keys held for theirs (see [Store.Use]), rows of
// the change log [ChangeRetention] after they were written, except the
// last 1,000 changes (a follower that had not read one yet finds it gone
// and starts over, see [Store.Follow]) and, in allow-list mode, recorded
// tokens held for their lifetime and margin (see [Store.Record]), all on
// the store's clock. It
// deletes in batches, so that a large backlog never holds locks for long,
// until none is left or ctx is done, and returns how many rows it deleted
// (also when it returns an error). Neither Revoked nor Use ever reports an
// expired row, swept or not, so sweeping only reclaims space. The
// background sweeper calls it every [Options].SweepInterval.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	now := s.now().UnixMilli()
	total, err := s.sweep(ctx, &s.q.sweepRev, now)
	if err != nil {
		return total, err
	}
	n, err := s.sweep(ctx, &s.rq.sweep, now)
	total += n
	if err != nil {
		return total, err
	}
	n, err = s.sweepChanges(ctx, now)
	total += n
	if err != nil || !s.allowList {
		return total, err
	}
	n, err = s.sweep(ctx, &s.q.sweepTok, now)
	return total + n, err
}

// sweepChanges sweeps the change log, keeping the last keptChanges
// changes: those after the counter, read first, less keptChanges. Without
// a counter row there is nothing to keep numbers for, and nothing is
// swept.
func (s *Store) sweepChanges(ctx context.Context, now int64) (int64, error) {
	var counter int64
	err := s.db.QueryRowContext(ctx, s.fq.counter.text).Scan(&counter)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, s.fail(ctx, "sweep", err)
	}
	return s.sweep(ctx, &s.fq.sweep, now, counter-keptChanges)
}

// sweep runs the delete q, with now, the arguments between, and the batch
// size, until a batch deletes fewer rows than the batch size.
func (s *Store) sweep(ctx context.Context, q *query, now int64, between ...any) (int64, error) {
	args := append(append([]any{now}, between...), s.sweepBatch)
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, q.text, q.args(args...)...)
		if err != nil {
			return total, s.fail(ctx, "sweep", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, s.fail(ctx, "sweep", err)
		}
		total += n
		if n < s.sweepBatch {
			return total, nil
		}
	}
}

// sweepLoop runs Sweep every interval until ctx is done.
func (s *Store) sweepLoop(ctx context.Context, interval time.Duration) {
	defer close(s.done)
	// A sweep may take as long as the interval, and at least a minute,
	// before it is abandoned; Close abandons it at once.
	timeout := max(interval, time.Minute)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		sctx, cancel := context.WithTimeout(ctx, timeout)
		n, err := s.Sweep(sctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			s.logger.LogAttrs(context.Background(), slog.LevelWarn, "sqlstore: sweep failed",
				slog.String("table", s.rev.String()), slog.Int64("deleted", n), slog.Any("error", err))
		}
	}
}
