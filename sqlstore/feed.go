package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/guardian-go/guardian"
)

var _ guardian.Feed = (*Store)(nil)

// ErrFeedGap is wrapped by the error [Store.Follow] returns when the change
// log is not the unbroken sequence it must be: a change the follower had
// not read yet is gone (swept after [ChangeRetention], or deleted by hand),
// or the counter went back (the tables were dropped and created again).
// The follower cannot know what it missed; a [guardian.FeedMirror] calls
// Follow again, which lists the revocations table afresh.
var ErrFeedGap = errors.New("sqlstore: gap in the revocation feed")

// A Listener waits for PostgreSQL notifications, which database/sql cannot
// do, so that [Store.Follow] reads the change log as soon as a write is
// committed: set it as [Options].Listener. Package
// github.com/guardian-go/guardian/sqlstore/pgxlisten has one for pgx.
type Listener interface {
	// Listen subscribes to channel (LISTEN, on a connection of its own
	// that it never returns to a pool), calls ready once the
	// subscription is in place and notify at each notification on it,
	// until ctx is done or the connection breaks, and returns why; never
	// nil. Follow starts it, waits for ready before it reads anything,
	// and starts over when it returns. notify must not block.
	Listen(ctx context.Context, channel string, ready func(), notify func()) error
}

// feedBatch is how many changes one read of the log returns at most.
const feedBatch = 1000

// Follow makes the Store a [guardian.Feed]: it passes the store's
// revocations, written by any instance, to sink, so that a
// [guardian.FeedMirror] on every instance answers checks from memory. It
// returns only when ctx is done (with ctx's error), when the store is
// closed ([ErrClosed]), or when it can no longer vouch for sink: a
// database failure or a query slower than its bound (wrapping
// [guardian.ErrUnavailable]), a hole in the change log ([ErrFeedGap]), a
// missing counter row ([ErrNoFeedCounter]), the Listener's end. The mirror
// then calls it again, which starts over.
//
// Every Revoke, and every Consume that records its token, writes its
// change to a change log in the transaction that writes the revocation,
// numbered by a counter that it increments in that transaction: the
// counter's row lock makes the numbers follow the commit order without
// holes, so every reader sees the changes up to some number, all of them.
// The price is that the writes of one store take turns on that row: each
// holds it until it commits (in PostgreSQL one statement, in MySQL and
// SQLite a transaction of four statements); the README gives the
// measured cost.
//
// Follow starts the Listener if there is one and waits until it listens.
// Then it takes the time t0 of sink's clock, reads the counter and lists
// every live revocation (as [Store.Live] does), applies each and tells
// sink it is current as of t0. From then on it reads the log every
// [Options].FeedInterval, or at once when notified: the counter and the
// changes after the last one it read, in one statement, so from one
// snapshot. Every change up to the counter must be there, in order; it
// applies them (a TTL counted from now, from the change's ttl_ms) and, once
// a read reached the counter, tells sink it is current as of the time
// taken before that read. Nothing depends on a notification arriving: the
// reads prove what sink has, notifications only make them early.
//
// Every read is bounded by max(1 s, 4 FeedInterval), the listing at start
// by at least a minute. A store in allow-list mode has no feed (its answers
// depend on the recorded tokens too) and returns an error wrapping
// [guardian.ErrConfig].
func (s *Store) Follow(ctx context.Context, sink guardian.FeedSink) error {
	if sink == nil {
		return errors.New("sqlstore: Follow with a nil sink")
	}
	if s.closed.Load() {
		return ErrClosed
	}
	if s.allowList {
		return fmt.Errorf("%w: sqlstore: a store in allow-list mode has no revocation feed", guardian.ErrConfig)
	}
	var wake <-chan struct{}
	var broke <-chan error
	if s.listener != nil {
		l := s.listen(ctx)
		defer l.stop()
		if err := s.waitListening(ctx, l); err != nil {
			return err
		}
		wake, broke = l.wake, l.errc
	}
	f := &follower{s: s, sink: sink}
	if err := f.start(ctx); err != nil {
		return err
	}
	tick := time.NewTicker(s.feedInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("sqlstore: follow: %w", ctx.Err())
		case err := <-broke:
			return s.fail(ctx, "follow: listen", err)
		case <-tick.C:
		case <-wake:
		}
		if s.closed.Load() {
			return ErrClosed
		}
		if err := f.catchUp(ctx); err != nil {
			return err
		}
	}
}

// feedTimeout bounds each read of the feed.
func (s *Store) feedTimeout() time.Duration { return max(time.Second, 4*s.feedInterval) }

// listTimeout bounds the listing at the start of Follow, which reads the
// whole revocations table.
func (s *Store) listTimeout() time.Duration { return max(time.Minute, s.feedTimeout()) }

// follower is one run of Follow.
type follower struct {
	s     *Store
	sink  guardian.FeedSink
	last  int64 // the number of the last change applied
	batch []guardian.Revocation
}

// start reads the counter, then lists the live revocations: all those
// whose changes are numbered up to the counter, and perhaps some after.
func (f *follower) start(ctx context.Context) error {
	s := f.s
	t0 := f.sink.Now()
	qctx, cancel := context.WithTimeout(ctx, s.feedTimeout())
	var seq int64
	err := s.db.QueryRowContext(qctx, s.fq.counter.text).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("%w: %s is empty", ErrNoFeedCounter, seqTableOf(s.rev))
	}
	if err != nil {
		err = s.fail(qctx, "follow: read the counter", err)
	}
	cancel()
	if err != nil {
		return err
	}
	lctx, cancel := context.WithTimeout(ctx, s.listTimeout())
	defer cancel()
	if err := s.Live(lctx, func(r guardian.Revocation) error {
		f.sink.Apply(r)
		return nil
	}); err != nil {
		return fmt.Errorf("sqlstore: follow: list the revocations: %w", err)
	}
	f.last = seq
	f.sink.Current(t0)
	return nil
}

// catchUp reads the log until it has read every change up to the counter,
// then tells sink it is current as of when that last read began.
func (f *follower) catchUp(ctx context.Context) error {
	for {
		t := f.sink.Now()
		full, err := f.read(ctx)
		if err != nil {
			return err
		}
		if !full {
			f.sink.Current(t)
			return nil
		}
	}
}

// read reads the counter and the next changes, checks that they are
// exactly the ones after f.last, applies them, and reports whether it read
// a full batch (so that more may follow).
func (f *follower) read(ctx context.Context) (full bool, err error) {
	s := f.s
	const op = "follow: read the change log"
	ctx, cancel := context.WithTimeout(ctx, s.feedTimeout())
	defer cancel()
	rows, err := s.stmts.poll.rows(ctx, s, s.fq.poll.args(f.last, int64(feedBatch))...)
	if err != nil {
		return false, s.fail(ctx, op, err)
	}
	defer rows.Close()
	f.batch = f.batch[:0]
	var counter int64
	hasCounter, next := false, f.last
	for rows.Next() {
		var seq, kind, cutoff, ttl sql.NullInt64
		var id []byte
		if err := rows.Scan(&counter, &seq, &kind, &id, &cutoff, &ttl); err != nil {
			return false, s.fail(ctx, op, err)
		}
		hasCounter = true
		if !seq.Valid {
			continue // no change after f.last: the one row has NULLs
		}
		if seq.Int64 != next+1 {
			return false, fmt.Errorf("%w: %s: after change %d came %d", ErrFeedGap, changesTableOf(s.rev), next, seq.Int64)
		}
		r, err := s.changeRevocation(seq.Int64, kind.Int64, id, cutoff.Int64, ttl.Int64)
		if err != nil {
			return false, err
		}
		f.batch = append(f.batch, r)
		next = seq.Int64
	}
	if err := rows.Err(); err != nil {
		return false, s.fail(ctx, op, err)
	}
	rows.Close()
	switch {
	case !hasCounter:
		return false, s.fail(ctx, op, fmt.Errorf("%w: %s is empty", ErrNoFeedCounter, seqTableOf(s.rev)))
	case counter < f.last:
		return false, fmt.Errorf("%w: %s went back from %d to %d (were the tables created again?)", ErrFeedGap, seqTableOf(s.rev), f.last, counter)
	case next > counter:
		return false, fmt.Errorf("%w: %s holds change %d, past the counter's %d", ErrFeedGap, changesTableOf(s.rev), next, counter)
	case len(f.batch) < feedBatch && next != counter:
		return false, fmt.Errorf("%w: %s lacks changes %d to %d", ErrFeedGap, changesTableOf(s.rev), next+1, counter)
	}
	for _, r := range f.batch {
		f.sink.Apply(r)
	}
	f.last = next
	return len(f.batch) == feedBatch, nil
}

// changeRevocation is the revocation a change describes, its TTL counted
// from now and At, as in Live, the cut-off of a subject and the store's now
// for the other kinds. A change that no write could have logged is an
// error: the log is corrupt.
func (s *Store) changeRevocation(seq, kind int64, id []byte, cutoff, ttlMS int64) (guardian.Revocation, error) {
	if ttlMS <= 0 || ttlMS > guardian.MaxRevocationTTL.Milliseconds()+1 {
		return guardian.Revocation{}, fmt.Errorf("sqlstore: follow: change %d of %s has ttl_ms %d", seq, changesTableOf(s.rev), ttlMS)
	}
	r := guardian.Revocation{ID: string(id), At: s.now(), TTL: min(time.Duration(ttlMS)*time.Millisecond, guardian.MaxRevocationTTL)}
	switch kind {
	case kindToken:
		r.Kind = guardian.ByToken
	case kindFamily:
		r.Kind = guardian.ByFamily
	case kindSubject:
		r.Kind, r.At = guardian.BySubject, time.Unix(cutoff, 0)
	default:
		return guardian.Revocation{}, fmt.Errorf("sqlstore: follow: change %d of %s has unknown kind %d", seq, changesTableOf(s.rev), kind)
	}
	if err := r.Validate(); err != nil {
		return guardian.Revocation{}, fmt.Errorf("sqlstore: follow: change %d of %s: %w", seq, changesTableOf(s.rev), err)
	}
	return r, nil
}

// listening is a Listener running for one Follow.
type listening struct {
	cancel context.CancelFunc
	ready  chan struct{} // closed by the first ready
	wake   chan struct{} // a notification came since the last read
	errc   chan error    // why Listen returned
	done   chan struct{} // closed once Listen has returned
}

// listen starts s's Listener.
func (s *Store) listen(ctx context.Context) *listening {
	ctx, cancel := context.WithCancel(ctx)
	l := &listening{
		cancel: cancel,
		ready:  make(chan struct{}),
		wake:   make(chan struct{}, 1),
		errc:   make(chan error, 1),
		done:   make(chan struct{}),
	}
	var once sync.Once
	ready := func() { once.Do(func() { close(l.ready) }) }
	notify := func() {
		select {
		case l.wake <- struct{}{}:
		default: // a read is due already
		}
	}
	go func() {
		defer close(l.done)
		err := s.listener.Listen(ctx, s.channel, ready, notify)
		if err == nil {
			err = errors.New("the Listener returned nil")
		}
		l.errc <- err
	}()
	return l
}

// stop stops the Listener and waits until it has returned.
func (l *listening) stop() {
	l.cancel()
	<-l.done
}

// waitListening waits until l listens, within the bound of a read.
func (s *Store) waitListening(ctx context.Context, l *listening) error {
	ctx, cancel := context.WithTimeout(ctx, s.feedTimeout())
	defer cancel()
	select {
	case <-l.ready:
		return nil
	case err := <-l.errc:
		return s.fail(ctx, "follow: listen", err)
	case <-ctx.Done():
		return s.fail(ctx, "follow: listen", fmt.Errorf("not listening after %v", s.feedTimeout()))
	}
}
