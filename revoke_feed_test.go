package guardian_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/revokertest"
)

// fakeStore is a shared store with a change feed, in memory: the tests'
// stand-in for PostgreSQL or Redis. Its handles (fakeFeed) are the
// instances' clients.
type fakeStore struct {
	mem *guardian.MemoryRevoker

	mu   sync.Mutex
	subs map[chan guardian.Revocation]struct{}
	down bool          // every call fails
	hang chan struct{} // non-nil: Follow stops confirming until closed
}

func newFakeStore() *fakeStore {
	return &fakeStore{mem: guardian.NewMemoryRevoker(nil), subs: map[chan guardian.Revocation]struct{}{}}
}

var errFakeDown = errors.New("fake store: down")

func (s *fakeStore) isDown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}

func (s *fakeStore) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
	if down {
		for ch := range s.subs {
			close(ch) // the feed's connections break
			delete(s.subs, ch)
		}
	}
}

// publish records r and sends it to every subscriber, atomically with the
// write, like a NOTIFY in the write's transaction.
func (s *fakeStore) publish(r guardian.Revocation) {
	for ch := range s.subs {
		select {
		case ch <- r:
		default: // a subscriber that cannot keep up is cut off, like Redis does
			close(ch)
			delete(s.subs, ch)
		}
	}
}

type fakeFeed struct{ s *fakeStore }

func (f fakeFeed) Revoke(ctx context.Context, r guardian.Revocation) error {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	if f.s.down {
		return errFakeDown
	}
	if err := f.s.mem.Revoke(ctx, r); err != nil {
		return err
	}
	f.s.publish(r)
	return nil
}

func (f fakeFeed) Consume(ctx context.Context, r guardian.Revocation) (bool, error) {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	if f.s.down {
		return false, errFakeDown
	}
	first, err := f.s.mem.Consume(ctx, r)
	if err == nil && first {
		f.s.publish(r)
	}
	return first, err
}

func (f fakeFeed) Revoked(ctx context.Context, c *guardian.Claims) (bool, error) {
	if f.s.isDown() {
		return false, errFakeDown
	}
	f.s.mu.Lock()
	hang := f.s.hang
	f.s.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	return f.s.mem.Revoked(ctx, c)
}

// Follow subscribes, lists, and confirms every 5 ms that it has all.
func (f fakeFeed) Follow(ctx context.Context, sink guardian.FeedSink) error {
	ch := make(chan guardian.Revocation, 4096)
	f.s.mu.Lock()
	if f.s.down {
		f.s.mu.Unlock()
		return errFakeDown
	}
	f.s.subs[ch] = struct{}{}
	t0 := sink.Now()
	f.s.mu.Unlock()
	if err := f.s.mem.Live(ctx, func(r guardian.Revocation) error { sink.Apply(r); return nil }); err != nil {
		return err
	}
	sink.Current(t0)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			f.s.mu.Lock()
			delete(f.s.subs, ch)
			f.s.mu.Unlock()
			return ctx.Err()
		case r, ok := <-ch:
			if !ok {
				return errFakeDown
			}
			sink.Apply(r)
		case <-tick.C:
			// A heartbeat: everything published before t has been read
			// from ch once the channel is drained.
			t := sink.Now()
			f.s.mu.Lock()
			hang := f.s.hang
			f.s.mu.Unlock()
			if hang != nil {
				continue // the store does not answer: no confirmation
			}
			drained := true
			for drained {
				select {
				case r, ok := <-ch:
					if !ok {
						return errFakeDown
					}
					sink.Apply(r)
				default:
					drained = false
				}
			}
			sink.Current(t)
		}
	}
}

func TestFeedMirrorConformance(t *testing.T) {
	store := newFakeStore()
	m := revokertest.NewFeedMirror(t, fakeFeed{store}, nil)
	revokertest.Run(t, func(t *testing.T) guardian.Revoker { return m })
}

func TestFeedMirrorFeedConformance(t *testing.T) {
	store := newFakeStore()
	revokertest.RunFeed(t, func(t *testing.T) guardian.Feed { return fakeFeed{store} })
}

// A mirror that has not listed the store yet asks the store, and a store
// that cannot answer refuses the token: never a pass on empty memory.
func TestFeedMirrorNotCurrentAsksTheStore(t *testing.T) {
	store := newFakeStore()
	c := revokertest.Token("before-current")
	revokertest.MustRevoke(t, fakeFeed{store}, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: c.IssuedAt, TTL: time.Hour})
	store.setDown(true)
	m, err := guardian.NewFeedMirror(fakeFeed{store}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if revoked, err := m.Revoked(context.Background(), c); err == nil {
		t.Fatalf("Revoked on a mirror that never listed a store that is down = %v, nil; want an error", revoked)
	}
	store.setDown(false)
	// Still not current at first (the feed retries with backoff); the
	// store answers.
	if revoked, err := m.Revoked(context.Background(), c); err != nil || !revoked {
		t.Fatalf("Revoked = %v, %v; want true from the store", revoked, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.WaitCurrent(ctx); err != nil {
		t.Fatal(err)
	}
	checks := m.Stats().StoreChecks
	if checks == 0 {
		t.Errorf("StoreChecks = 0; the mirror asked the store before it was current")
	}
	revokertest.WantRevoked(t, m, c, true, "a token revoked before the mirror started")
	revokertest.WantRevoked(t, m, revokertest.Token("fresh"), false, "a fresh token")
	if got := m.Stats().StoreChecks; got != checks {
		t.Errorf("a current mirror asked the store %d more times", got-checks)
	}
}

// manualClock is a FeedMirror lag clock the test moves.
type manualClock struct{ ns atomic.Int64 }

func (c *manualClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *manualClock) add(d time.Duration) { c.ns.Add(int64(d)) }

// A feed that stops confirming (the store hangs, the network stalls)
// makes the mirror stale after exactly MaxLag: it then asks the store,
// which is bounded by the Issuer's RevokerTimeout and refuses the token
// with ErrUnavailable while the store hangs.
func TestFeedMirrorStaleAfterMaxLag(t *testing.T) {
	store := newFakeStore()
	clock := &manualClock{}
	clock.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	const maxLag = time.Second
	var mu sync.Mutex
	var confirmed []time.Time
	feed := &recordingFeed{fakeFeed: fakeFeed{store}, onCurrent: func(t time.Time) { mu.Lock(); confirmed = append(confirmed, t); mu.Unlock() }}
	m, err := guardian.NewFeedMirror(feed, &guardian.FeedMirrorOptions{MaxLag: maxLag, Clock: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.WaitCurrent(ctx); err != nil {
		t.Fatal(err)
	}
	// Stop confirmations, then let the last one be seen.
	hang := make(chan struct{})
	store.mu.Lock()
	store.hang = hang
	store.mu.Unlock()
	time.Sleep(30 * time.Millisecond)
	if !m.Stats().Current {
		t.Fatal("not current right after a confirmation")
	}
	clock.add(maxLag - time.Nanosecond)
	if st := m.Stats(); !st.Current {
		t.Fatalf("stale before MaxLag passed: %+v", st)
	}
	clock.add(time.Nanosecond)
	if st := m.Stats(); st.Current {
		t.Fatalf("still current MaxLag after the last confirmation: %+v", st)
	}
	// A stale mirror asks the store; the Issuer bounds the hanging call.
	iss := newFeedIssuer(t, m, 50*time.Millisecond)
	tok, err := iss.Issue(context.Background(), "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = iss.Verify(context.Background(), tok.Raw)
	if !errors.Is(err, guardian.ErrUnavailable) {
		t.Fatalf("Verify through a stale mirror over a hung store = %v; want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Verify took %v; the RevokerTimeout is 50ms", d)
	}
	close(hang)
	store.mu.Lock()
	store.hang = nil
	store.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for !m.Stats().Current {
		if time.Now().After(deadline) {
			t.Fatalf("never current again after the store came back: %+v", m.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recordingFeed reports each confirmation to the test.
type recordingFeed struct {
	fakeFeed
	onCurrent func(time.Time)
}

func (f *recordingFeed) Follow(ctx context.Context, sink guardian.FeedSink) error {
	return f.fakeFeed.Follow(ctx, recordingSink{sink, f.onCurrent})
}

type recordingSink struct {
	guardian.FeedSink
	onCurrent func(time.Time)
}

func (s recordingSink) Current(t time.Time) { s.onCurrent(t); s.FeedSink.Current(t) }

func newFeedIssuer(t *testing.T, r guardian.Revoker, timeout time.Duration) *guardian.Issuer {
	t.Helper()
	return mustIssuer(t, mustKeySet(t, mustHMACKey(t, testKID, guardian.HS256, testSecret)), &guardian.IssuerOptions{
		Revoker: r, RevokerTimeout: timeout, Clock: testclock.Now,
	})
}

// A break of the feed makes the mirror not current at once; a token
// revoked during the cut is refused by the store meanwhile, and from
// memory once the feed has listed the store again.
func TestFeedMirrorCutAndRecover(t *testing.T) {
	store := newFakeStore()
	writer := fakeFeed{store}
	m := revokertest.NewFeedMirror(t, fakeFeed{store}, &guardian.FeedMirrorOptions{MaxLag: time.Hour})
	c := revokertest.Token("cut")
	store.setDown(true) // the feed breaks
	deadline := time.Now().Add(5 * time.Second)
	for m.Stats().Current {
		if time.Now().After(deadline) {
			t.Fatal("still current after the feed broke")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := m.Revoked(context.Background(), c); err == nil {
		t.Fatal("Revoked with the feed and the store down answered; want an error (fail closed), even with MaxLag an hour")
	}
	// The store comes back before the feed does: the writer revokes c.
	store.mu.Lock()
	store.down = false
	if err := store.mem.Revoke(context.Background(), guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: c.IssuedAt, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	store.mu.Unlock()
	_ = writer
	if revoked, err := m.Revoked(context.Background(), c); err != nil || !revoked {
		t.Fatalf("Revoked of a token revoked while the feed was cut = %v, %v; want true", revoked, err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for !m.Stats().Current {
		if time.Now().After(deadline) {
			t.Fatalf("never current again: %+v", m.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	before := m.Stats().StoreChecks
	revokertest.WantRevoked(t, m, c, true, "a token revoked during the cut, after the resync")
	if st := m.Stats(); st.StoreChecks != before || st.Breaks == 0 || st.Follows < 2 || st.LastBreak == nil {
		t.Errorf("stats after a cut and a resync: %+v", st)
	}
}

// A token revoked in memory is refused even while the mirror is not
// current and the store is down: revocations only accumulate.
func TestFeedMirrorMemoryRefusesWhileStale(t *testing.T) {
	store := newFakeStore()
	m := revokertest.NewFeedMirror(t, fakeFeed{store}, nil)
	c := revokertest.Token("stale")
	revokertest.MustRevoke(t, m, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: c.IssuedAt, TTL: time.Hour})
	store.setDown(true)
	for m.Stats().Current {
		time.Sleep(time.Millisecond)
	}
	revokertest.WantRevoked(t, m, c, true, "a token this mirror holds as revoked, store down")
}

// Consume is the store's: a token consumed by another instance a moment
// ago is not consumed again here, though this memory has not seen it.
func TestFeedMirrorConsumeAsksTheStore(t *testing.T) {
	store := newFakeStore()
	m := revokertest.NewFeedMirror(t, fakeFeed{store}, nil)
	r := guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("consume"), At: testclock.Now(), TTL: time.Hour}
	store.mu.Lock()
	if _, err := store.mem.Consume(context.Background(), r); err != nil { // behind the feed's back
		t.Fatal(err)
	}
	store.mu.Unlock()
	if first, err := m.Consume(context.Background(), r); err != nil || first {
		t.Fatalf("Consume of a token the store had consumed = %v, %v; want false", first, err)
	}
	store.setDown(true)
	if _, err := m.Consume(context.Background(), guardian.Revocation{Kind: guardian.ByToken, ID: "x", At: testclock.Now(), TTL: time.Hour}); err == nil {
		t.Fatal("Consume with the store down succeeded")
	}
	if err := m.Revoke(context.Background(), guardian.Revocation{Kind: guardian.ByToken, ID: "y", At: testclock.Now(), TTL: time.Hour}); err == nil {
		t.Fatal("Revoke with the store down succeeded")
	}
	// Memory holds a record only once the store has it: not this one.
	// (The store being down, the answer may also be an error.)
	if revoked, _ := m.Revoked(context.Background(), &guardian.Claims{ID: "y"}); revoked {
		t.Fatal("memory holds a revocation the store refused")
	}
}

func TestFeedMirrorOptions(t *testing.T) {
	if _, err := guardian.NewFeedMirror(nil, nil); !errors.Is(err, guardian.ErrConfig) {
		t.Errorf("NewFeedMirror(nil) = %v; want ErrConfig", err)
	}
	if _, err := guardian.NewFeedMirror(fakeFeed{newFakeStore()}, &guardian.FeedMirrorOptions{MaxLag: -1}); !errors.Is(err, guardian.ErrConfig) {
		t.Errorf("negative MaxLag = %v; want ErrConfig", err)
	}
	if _, err := guardian.NewFeedMirror(allowListFeed{fakeFeed{newFakeStore()}}, nil); !errors.Is(err, guardian.ErrConfig) {
		t.Errorf("allow-list feed = %v; want ErrConfig", err)
	}
	m, err := guardian.NewFeedMirror(fakeFeed{newFakeStore()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.MaxLag() != guardian.DefaultFeedMaxLag {
		t.Errorf("MaxLag = %v", m.MaxLag())
	}
	m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	m2, _ := guardian.NewFeedMirror(fakeFeed{newFakeStore()}, nil)
	defer m2.Close()
	_ = m2.WaitCurrent(ctx) // may or may not be current yet; must return
}

type allowListFeed struct{ fakeFeed }

func (allowListFeed) AllowList() bool { return true }

// BenchmarkFeedMirrorRevoked measures a current FeedMirror's check of a
// token that is not revoked, with the records of BenchmarkMemoryRevoked.
func BenchmarkFeedMirrorRevoked(b *testing.B) {
	store := newFakeStore()
	ctx := context.Background()
	now := time.Now()
	for n := range 10_000 {
		rev := guardian.Revocation{Kind: guardian.ByToken, ID: fmt.Sprint("jti-", n), At: now, TTL: time.Hour}
		if n < 1000 {
			for _, kind := range []guardian.RevocationKind{guardian.ByFamily, guardian.BySubject} {
				r := rev
				r.Kind, r.ID = kind, fmt.Sprint(kind, "-", n)
				revokertest.MustRevoke(b, fakeFeed{store}, r)
			}
		}
		revokertest.MustRevoke(b, fakeFeed{store}, rev)
	}
	m := revokertest.NewFeedMirror(b, fakeFeed{store}, &guardian.FeedMirrorOptions{MaxLag: time.Hour})
	c := &guardian.Claims{ID: "Yp6cL1t0n9e3qBv8kD2xWg", Subject: "user-42", Family: "fV0x3mQ9tLr2cB7nH1kJdA", IssuedAt: now}
	b.ReportAllocs()
	for b.Loop() {
		if revoked, err := m.Revoked(ctx, c); revoked || err != nil {
			b.Fatal(revoked, err)
		}
	}
	if st := m.Stats(); st.StoreChecks != 0 {
		b.Fatalf("the benchmark asked the store %d times", st.StoreChecks)
	}
}
