package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/guardian-go/guardian"
)

var _ guardian.Lister = (*Store)(nil)

// Live calls fn with every revocation still held, so that a
// [guardian.Mirror] can load them; it stops at fn's first error. Each has
// its TTL set to what is left of it on the store's clock, and At set to
// the cut-off for a subject (in whole seconds, as stored) and to the
// store's now for the other kinds. It reads the revocations table only: in
// allow-list mode the recorded tokens are not revocations (and such a
// store cannot be mirrored).
func (s *Store) Live(ctx context.Context, fn func(guardian.Revocation) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	now := s.now()
	rows, err := s.db.QueryContext(ctx, s.q.live.text, s.q.live.args(now.UnixMilli())...)
	if err != nil {
		return s.fail(ctx, "live", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			kind            int
			id              []byte
			cutoff, untilMS int64
		)
		if err := rows.Scan(&kind, &id, &cutoff, &untilMS); err != nil {
			return s.fail(ctx, "live", err)
		}
		// What is left is positive (until_ms > now in whole milliseconds)
		// and, unless the clock was set back, at most the TTL it was given.
		ttl := min(time.UnixMilli(untilMS).Sub(now), guardian.MaxRevocationTTL)
		r := guardian.Revocation{ID: string(id), At: now, TTL: ttl}
		switch kind {
		case kindToken:
			r.Kind = guardian.ByToken
		case kindFamily:
			r.Kind = guardian.ByFamily
		case kindSubject:
			r.Kind, r.At = guardian.BySubject, time.Unix(cutoff, 0)
		default:
			return fmt.Errorf("sqlstore: live: unknown kind %d in the revocations table", kind)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return s.fail(ctx, "live", err)
	}
	return nil
}
