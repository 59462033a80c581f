package guardian

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// A Feed is a store shared by several instances that can stream the
// revocations written to it, by any instance, so that a [FeedMirror] on
// each instance holds them all in memory. sqlstore and redisstore stores
// are Feeds.
type Feed interface {
	TokenConsumer
	// Follow passes the store's revocations to sink until ctx is done or
	// the feed breaks, and returns why; it never returns nil.
	//
	// It first subscribes to the store's changes, then lists every
	// revocation the store holds and passes each to sink.Apply, then
	// passes each one recorded afterwards, in any order, duplicates
	// allowed. Each time it knows that every revocation the store had
	// acknowledged (a Revoke or Consume that returned nil) before an
	// instant t of sink.Now has been passed to Apply, it calls
	// sink.Current(t). It returns as soon as it can no longer know that:
	// a lost connection, a gap in the feed's sequence, a change of the
	// store's topology. The mirror then calls Follow again, which starts
	// over: subscribe, list, follow.
	Follow(ctx context.Context, sink FeedSink) error
}

// A FeedSink receives what a [Feed] follows. [FeedMirror] is the sink of
// its feed; tests may write their own.
type FeedSink interface {
	// Now is the clock of Current's instants.
	Now() time.Time
	// Apply records r, its TTL counted from now.
	Apply(r Revocation)
	// Current says that every revocation acknowledged by the store before
	// asOf has been passed to Apply.
	Current(asOf time.Time)
}

// DefaultFeedMaxLag is [FeedMirrorOptions].MaxLag when zero.
const DefaultFeedMaxLag = time.Second

// FeedMirrorOptions configures a [FeedMirror]; nil means defaults.
type FeedMirrorOptions struct {
	// MaxLag is the bound: the mirror answers "not revoked" from memory
	// only while its feed has confirmed, less than MaxLag ago, that it
	// had every revocation acknowledged by then. So a token revoked on
	// any instance is refused everywhere at most MaxLag after that
	// instance's Revoke returned. It must exceed the feed's heartbeat
	// interval plus a round trip to the store, or the mirror keeps
	// asking the store. Default: [DefaultFeedMaxLag], one second.
	MaxLag time.Duration
	// Memory configures the memory side (its clock, which measures how
	// long records are held, and its sweeps).
	Memory *MemoryRevokerOptions
	// Clock measures the lag. Default: time.Now, whose monotonic reading
	// makes the bound immune to changes of the wall clock.
	Clock func() time.Time
	// Logger receives the feed's breaks, at level Warn. Default:
	// slog.Default().
	Logger *slog.Logger
}

// FeedMirror answers [Revoker.Revoked] from memory on every instance of
// a fleet that shares a store, while the store's change feed keeps the
// memory current: a check costs what a [MemoryRevoker] check costs, and a
// logout on one instance still holds on all of them within a stated bound,
// [FeedMirrorOptions].MaxLag.
//
// It knows whether it is current. At start, after the feed broke, and
// whenever the feed's last confirmation is older than MaxLag, it answers
// from the store itself, within the Issuer's RevokerTimeout, and a store
// that cannot answer refuses the token ([ErrUnavailable], 503): it never
// passes a token on stale memory. A token found revoked in memory is
// refused at once, current or not: revocations only accumulate.
//
// Every write goes to the store first: Revoke, and Consume, which stays
// atomic in the store (refresh rotation and reuse detection never trust
// memory). Once the store has the record, the writing instance holds it in
// memory too, without waiting for the feed.
type FeedMirror struct {
	feed   Feed
	mem    *MemoryRevoker
	maxLag time.Duration
	clock  func() time.Time
	mono   bool      // clock is time.Now: read the monotonic clock alone
	start  time.Time // origin of the monotonic instants below
	logger *slog.Logger

	// fresh is the last confirmed instant, in nanoseconds since start,
	// plus one; 0 means not current.
	fresh atomic.Int64
	// lastConfirmed is the same, never reset: for Stats and backoff.
	lastConfirmed atomic.Int64

	resyncs, breaks, storeChecks atomic.Uint64
	lastErr                      atomic.Pointer[error]

	currentOnce sync.Once
	currentCh   chan struct{} // closed at the first confirmation
	stop        context.CancelFunc
	done        chan struct{}
}

var _ TokenConsumer = (*FeedMirror)(nil)

// NewFeedMirror returns a FeedMirror over feed and starts following it in
// the background; stop it with [FeedMirror.Close]. It does no I/O itself
// and returns at once: until the feed has listed the store's revocations,
// checks go to the store. [FeedMirror.WaitCurrent] waits for that.
func NewFeedMirror(feed Feed, opts *FeedMirrorOptions) (*FeedMirror, error) {
	if feed == nil {
		return nil, fmt.Errorf("%w: NewFeedMirror needs a feed", ErrConfig)
	}
	if al, ok := feed.(interface{ AllowList() bool }); ok && al.AllowList() {
		return nil, fmt.Errorf("%w: a store in allow-list mode cannot be mirrored", ErrConfig)
	}
	var o FeedMirrorOptions
	if opts != nil {
		o = *opts
	}
	switch {
	case o.MaxLag == 0:
		o.MaxLag = DefaultFeedMaxLag
	case o.MaxLag < 0:
		return nil, fmt.Errorf("%w: FeedMirrorOptions.MaxLag is %v; it must be positive", ErrConfig, o.MaxLag)
	}
	mono := o.Clock == nil
	if mono {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ctx, stop := context.WithCancel(context.Background())
	m := &FeedMirror{
		feed:      feed,
		mem:       NewMemoryRevoker(o.Memory),
		maxLag:    o.MaxLag,
		clock:     o.Clock,
		mono:      mono,
		logger:    o.Logger,
		currentCh: make(chan struct{}),
		stop:      stop,
		done:      make(chan struct{}),
	}
	m.start = m.clock()
	go m.follow(ctx)
	return m, nil
}

// Feed backoff after a break: from the first retry, doubling, at most.
const (
	feedRetryFirst = 50 * time.Millisecond
	feedRetryMax   = 2 * time.Second
)

// follow runs the feed until ctx is done, starting over after each break.
func (m *FeedMirror) follow(ctx context.Context) {
	defer close(m.done)
	wait := feedRetryFirst
	for {
		m.resyncs.Add(1)
		before := m.fresh.Load()
		err := m.feed.Follow(ctx, (*feedSink)(m))
		m.fresh.Store(0) // not current until the next Follow says so
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = fmt.Errorf("%w: the revocation feed's Follow returned nil", ErrUnavailable)
		}
		m.breaks.Add(1)
		m.lastErr.Store(&err)
		m.logger.Warn("guardian: revocation feed broke; checks go to the store until it is current again", "err", err)
		if m.sinceEver(before) {
			wait = feedRetryFirst // it had been current: retry at once-ish
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, feedRetryMax)
	}
}

// sinceEver reports whether the Follow that just returned confirmed
// anything beyond what was confirmed before it started.
func (m *FeedMirror) sinceEver(before int64) bool {
	return m.lastConfirmed.Load() > before
}

// feedSink is the FeedMirror seen by its feed.
type feedSink FeedMirror

func (s *feedSink) Now() time.Time { return s.clock() }

func (s *feedSink) Apply(r Revocation) {
	m := (*FeedMirror)(s)
	if err := m.mem.Revoke(context.Background(), r); err != nil {
		// An invalid record from the store: it would have been refused
		// on the way in, so the feed is corrupt. Feeds validate what they
		// pass (redisstore and sqlstore skip or fail on such records);
		// this is the last line, and it only logs.
		m.logger.Warn("guardian: revocation feed delivered an invalid record", "err", err)
	}
}

func (s *feedSink) Current(asOf time.Time) {
	m := (*FeedMirror)(s)
	n := asOf.Sub(m.start).Nanoseconds() + 1
	if n <= 0 {
		return
	}
	for {
		old := m.fresh.Load()
		if n <= old || m.fresh.CompareAndSwap(old, n) {
			break
		}
	}
	for {
		old := m.lastConfirmed.Load()
		if n <= old || m.lastConfirmed.CompareAndSwap(old, n) {
			break
		}
	}
	m.currentOnce.Do(func() { close(m.currentCh) })
}

// current reports whether the feed confirmed less than maxLag ago.
func (m *FeedMirror) current() bool {
	f := m.fresh.Load()
	return f != 0 && m.elapsed()+1-f < m.maxLag.Nanoseconds()
}

// elapsed is the time since start on the lag clock, in nanoseconds. With
// the default clock it reads the monotonic clock alone (time.Since), at
// half the cost of time.Now.
func (m *FeedMirror) elapsed() int64 {
	if m.mono {
		return int64(time.Since(m.start))
	}
	return m.clock().Sub(m.start).Nanoseconds()
}

// revokedFromMemory answers from memory when memory can: a record found,
// or none while the mirror is current.
func (m *FeedMirror) revokedFromMemory(ctx context.Context, c *Claims) (revoked, answered bool, err error) {
	revoked, err = m.mem.Revoked(ctx, c)
	if err != nil {
		return false, true, err
	}
	if revoked || m.current() {
		return revoked, true, nil
	}
	return false, false, nil
}

// Revoked answers from memory while the mirror is current, and from the
// store otherwise.
func (m *FeedMirror) Revoked(ctx context.Context, c *Claims) (bool, error) {
	if revoked, ok, err := m.revokedFromMemory(ctx, c); ok {
		return revoked, err
	}
	m.storeChecks.Add(1)
	return m.feed.Revoked(ctx, c)
}

// Revoke records r in the store, then in this instance's memory.
func (m *FeedMirror) Revoke(ctx context.Context, r Revocation) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if err := m.feed.Revoke(ctx, r); err != nil {
		return err
	}
	return m.mem.Revoke(context.WithoutCancel(ctx), r)
}

// Consume consumes r in the store, atomically across the fleet, and then
// holds it in memory too. Memory is never asked.
func (m *FeedMirror) Consume(ctx context.Context, r Revocation) (bool, error) {
	first, err := m.feed.Consume(ctx, r)
	if err != nil {
		return false, err
	}
	return first, m.mem.Revoke(context.WithoutCancel(ctx), r)
}

// WaitCurrent waits until the feed has listed the store once and
// confirmed it is current, or until ctx is done.
func (m *FeedMirror) WaitCurrent(ctx context.Context) error {
	select {
	case <-m.currentCh:
		return nil
	case <-ctx.Done():
		msg := "not current yet"
		if e := m.lastErr.Load(); e != nil {
			return fmt.Errorf("guardian: revocation feed %s: %w (last break: %w)", msg, ctx.Err(), *e)
		}
		return fmt.Errorf("guardian: revocation feed %s: %w", msg, ctx.Err())
	}
}

// FeedMirrorStats describes a [FeedMirror], for metrics and health checks.
type FeedMirrorStats struct {
	// Current: checks are answered from memory.
	Current bool
	// Lag is how long ago the feed last confirmed; meaningless until it
	// has.
	Lag time.Duration
	// Records is how many records memory holds, expired ones not yet
	// swept included.
	Records int
	// Follows counts the feed's starts (each one lists the store), and
	// Breaks its breaks.
	Follows, Breaks uint64
	// StoreChecks counts the checks that went to the store because the
	// mirror was not current.
	StoreChecks uint64
	// LastBreak is the error of the last break, or nil.
	LastBreak error
}

// Stats returns the mirror's state now.
func (m *FeedMirror) Stats() FeedMirrorStats {
	s := FeedMirrorStats{
		Current:     m.current(),
		Records:     m.mem.Len(),
		Follows:     m.resyncs.Load(),
		Breaks:      m.breaks.Load(),
		StoreChecks: m.storeChecks.Load(),
	}
	if f := m.lastConfirmed.Load(); f != 0 {
		s.Lag = time.Duration(m.elapsed() - (f - 1))
	}
	if e := m.lastErr.Load(); e != nil {
		s.LastBreak = *e
	}
	return s
}

// MaxLag returns the mirror's bound.
func (m *FeedMirror) MaxLag() time.Duration { return m.maxLag }

// Close stops following the feed and waits for it, and stops the memory's
// sweeps. It does not close the store, which belongs to the caller, and
// always returns nil. After Close every check goes to the store.
func (m *FeedMirror) Close() error {
	m.stop()
	<-m.done
	return m.mem.Close()
}
