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
// not read yet is gone (swept after [ChangeRetention] and 1,000 later
// changes, or deleted by hand), a change below the counter stays missing
// for the bound of a read, or the counter went back (the tables were
// dropped and created again).
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
// counter's row lock gives the numbers out in turn, without holes. In
// PostgreSQL and SQLite every reader then sees the changes up to some
// number, all of them. InnoDB (MySQL, MariaDB) releases a write's row
// locks a moment before its commit is visible, so a reader can see change
// n+1 while n is not visible yet (measured on MariaDB 10.11: 5 of
// 55,869 reads under 12 writers); Follow then reads again until it is,
// after 1 ms, 2, 4… The price is that the writes of one store take turns
// on that row: each holds it until it commits (in PostgreSQL one
// statement, in MySQL and SQLite a transaction of four statements); the
// README gives the measured cost.
//
// Follow starts the Listener if there is one and waits until it listens.
// Then it takes the time t0 of sink's clock, reads the counter and lists
// every live revocation (as [Store.Live] does), applies each and tells
// sink it is current as of t0. From then on it reads the log every
// [Options].FeedInterval, or at once when notified: the counter and the
// changes after the last one it read, in one statement, so from one
// snapshot; the first read starts 1,000 changes before the counter read
// at t0, for the writes that took the counter but were not visible to the
// listing yet. It applies the changes in order (a TTL counted from now,
// from the change's ttl_ms) and, once a read found every one up to the
// counter, tells sink it is current as of the time taken before that
// read. Nothing depends on a notification arriving: the reads prove what
// sink has, notifications only make them early.
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
	s    *Store
	sink guardian.FeedSink
	// last is the number of the last change applied, or of the change
	// before those that the first read reads again.
	last int64
	// listed is the counter read before the listing: the listing holds
	// every change up to it that was committed by then. counter is the
	// highest counter read, which a later read never finds lower.
	listed, counter int64
	batch           []guardian.Revocation
	// missing is a change below the counter that the last read did not
	// see (0 if none), missingSince when a read first missed it.
	missing      int64
	missingSince time.Time
}

// start reads the counter, then lists the live revocations: all those
// whose changes are numbered up to the counter and were committed when it
// was read, and perhaps some after. Its first read of the log reads the
// last [keptChanges] before the counter again: a write may commit in
// InnoDB after the next write had taken the counter and committed, so
// the counter read may count a change that was not visible yet, and so
// not listed; those are the changes the log still holds.
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
	f.last, f.listed, f.counter = max(0, seq-keptChanges), seq, seq
	f.sink.Current(t0)
	return nil
}

// readOutcome is what a read of the log found.
type readOutcome int

const (
	// caughtUp: every change up to the counter is applied.
	caughtUp readOutcome = iota
	// moreToRead: a full batch was applied; more may follow.
	moreToRead
	// notVisibleYet: a change below the counter was not there. In
	// InnoDB, a write's commit can become visible after that of the
	// next write, which took the counter once the first had released
	// it: the change shows up a moment later.
	notVisibleYet
)

// catchUp reads the log until it has read every change up to the counter,
// then tells sink it is current as of when that last read began. A change
// below the counter that a read does not see is waited for, reading again
// after 1 ms, then 2, 4… up to FeedInterval; if it is still missing after
// [Store.feedTimeout], it is lost ([ErrFeedGap]).
func (f *follower) catchUp(ctx context.Context) error {
	pause := time.Millisecond
	for {
		t := f.sink.Now()
		out, err := f.read(ctx)
		if err != nil {
			return err
		}
		switch out {
		case caughtUp:
			f.missing = 0
			f.sink.Current(t)
			return nil
		case moreToRead:
			continue
		}
		if f.missing != f.last+1 {
			f.missing, f.missingSince = f.last+1, time.Now()
		} else if waited := time.Since(f.missingSince); waited >= f.s.feedTimeout() {
			return fmt.Errorf("%w: %s lacks change %d (the counter is at %d) after %v", ErrFeedGap, changesTableOf(f.s.rev), f.missing, f.counter, waited.Round(time.Millisecond))
		}
		timer := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("sqlstore: follow: %w", ctx.Err())
		case <-timer.C:
		}
		if f.s.closed.Load() {
			return ErrClosed
		}
		pause = min(2*pause, f.s.feedInterval)
	}
}

// read reads the counter and the next changes, in one statement, so from
// one snapshot; applies, in order, those after f.last without a missing
// number, up to the counter; and reports what it found.
//
// A missing change is one of three things. A change no later than the
// counter less [keptChanges] may have been swept: if it is no later than
// the counter read before the listing, the listing had it, and the read
// goes on; otherwise the follower missed it ([ErrFeedGap]). A later one
// is not visible yet (notVisibleYet): the sweep keeps it.
func (f *follower) read(ctx context.Context) (readOutcome, error) {
	s := f.s
	const op = "follow: read the change log"
	ctx, cancel := context.WithTimeout(ctx, s.feedTimeout())
	defer cancel()
	rows, err := s.stmts.poll.rows(ctx, s, s.fq.poll.args(f.last, int64(feedBatch))...)
	if err != nil {
		return 0, s.fail(ctx, op, err)
	}
	defer rows.Close()
	f.batch = f.batch[:0]
	var counter int64
	hasCounter, stopped, rowsRead, next := false, false, 0, f.last
	for rows.Next() {
		var seq, kind, cutoff, ttl sql.NullInt64
		var id []byte
		if err := rows.Scan(&counter, &seq, &kind, &id, &cutoff, &ttl); err != nil {
			return 0, s.fail(ctx, op, err)
		}
		hasCounter = true
		if !seq.Valid {
			continue // no change after f.last: the one row has NULLs
		}
		rowsRead++
		if stopped || seq.Int64 > counter {
			continue // read again once the missing one is visible
		}
		if seq.Int64 > next+1 {
			ok, err := f.bridge(&next, seq.Int64-1, counter)
			if err != nil {
				return 0, err
			}
			if !ok {
				stopped = true
				continue
			}
		}
		r, err := s.changeRevocation(seq.Int64, kind.Int64, id, cutoff.Int64, ttl.Int64)
		if err != nil {
			return 0, err
		}
		f.batch = append(f.batch, r)
		next = seq.Int64
	}
	if err := rows.Err(); err != nil {
		return 0, s.fail(ctx, op, err)
	}
	rows.Close()
	switch {
	case !hasCounter:
		return 0, s.fail(ctx, op, fmt.Errorf("%w: %s is empty", ErrNoFeedCounter, seqTableOf(s.rev)))
	case counter < f.counter:
		return 0, fmt.Errorf("%w: %s went back from %d to %d (were the tables created again?)", ErrFeedGap, seqTableOf(s.rev), f.counter, counter)
	}
	f.counter = counter
	// A full batch that got closer to the counter: more may follow.
	full := rowsRead == feedBatch && next > f.last && next < counter
	if !stopped && !full && next < counter {
		ok, err := f.bridge(&next, counter, counter)
		if err != nil {
			return 0, err
		}
		stopped = !ok
	}
	for _, r := range f.batch {
		f.sink.Apply(r)
	}
	f.last = next
	switch {
	case stopped:
		return notVisibleYet, nil
	case full:
		return moreToRead, nil
	}
	return caughtUp, nil
}

// bridge moves *next over the missing changes after it, up to upTo, that
// the listing had (see read), and reports whether it reached upTo. A
// missing change that may have been swept and that the listing may not
// have had is an error wrapping [ErrFeedGap].
func (f *follower) bridge(next *int64, upTo, counter int64) (bool, error) {
	sweepable := counter - keptChanges
	if listed := min(f.listed, sweepable); *next < listed {
		*next = min(upTo, listed)
	}
	switch {
	case *next == upTo:
		return true, nil
	case *next+1 <= sweepable:
		return false, fmt.Errorf("%w: %s: change %d is gone (swept?) before it was read; the counter is at %d", ErrFeedGap, changesTableOf(f.s.rev), *next+1, counter)
	}
	return false, nil
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
