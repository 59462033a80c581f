package sqlstore

import (
	"context"
	"log/slog"
	"time"
)

// Sweep deletes the rows that no longer matter: revocation records held
// for their TTL, replay keys held for theirs (see [Store.Use]), rows of
// the change log [ChangeRetention] after they were written (a follower
// that had not read one yet finds a hole and starts over, see
// [Store.Follow]) and, in allow-list mode, recorded tokens held for their
// lifetime and margin (see [Store.Record]), all on the store's clock. It
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
	n, err = s.sweep(ctx, &s.fq.sweep, now)
	total += n
	if err != nil || !s.allowList {
		return total, err
	}
	n, err = s.sweep(ctx, &s.q.sweepTok, now)
	return total + n, err
}

func (s *Store) sweep(ctx context.Context, q *query, now int64) (int64, error) {
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, q.text, q.args(now, s.sweepBatch)...)
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
