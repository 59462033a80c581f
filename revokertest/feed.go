package revokertest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
)

// FeedMaxLag is the bound of the mirrors [RunFeed] makes.
const FeedMaxLag = 2 * time.Second

// RunFeed runs the conformance tests of a [guardian.Feed]: [FeedMirror]s
// on several instances of one shared store, each made by newFeed (a new
// client or pool on the same database each call, as separate instances of
// a service would have), see each other's revocations within
// [FeedMaxLag], list what was revoked before they started, and keep
// Consume exact. newFeed is called several times per subtest.
//
// [FeedMirror]: guardian.FeedMirror
func RunFeed(t *testing.T, newFeed func(t *testing.T) guardian.Feed) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, newFeed func(t *testing.T) guardian.Feed)
	}{
		{"RevocationsReachOtherInstances", testFeedPropagates},
		{"StartListsEarlierRevocations", testFeedListsAtStart},
		{"ConsumeStaysInTheStore", testFeedConsume},
		{"ManyWritersNoneLost", testFeedManyWriters},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newFeed)
		})
	}
}

// NewFeedMirror returns a current FeedMirror over feed with bound
// [FeedMaxLag], closed at the end of the test.
func NewFeedMirror(tb testing.TB, feed guardian.Feed, opts *guardian.FeedMirrorOptions) *guardian.FeedMirror {
	tb.Helper()
	var o guardian.FeedMirrorOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxLag == 0 {
		o.MaxLag = FeedMaxLag
	}
	m, err := guardian.NewFeedMirror(feed, &o)
	if err != nil {
		tb.Fatalf("NewFeedMirror: %v", err)
	}
	tb.Cleanup(func() { m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := m.WaitCurrent(ctx); err != nil {
		tb.Fatalf("WaitCurrent: %v", err)
	}
	return m
}

// EventuallyRevoked waits, up to within, until m refuses c, answering from
// memory, and returns how long that took. It fails the test if m never
// does, or answers with an error.
func EventuallyRevoked(tb testing.TB, m *guardian.FeedMirror, c *guardian.Claims, within time.Duration) time.Duration {
	tb.Helper()
	start := time.Now()
	for {
		revoked, err := m.Revoked(context.Background(), c)
		if err != nil {
			tb.Fatalf("Revoked: %v", err)
		}
		if revoked {
			return time.Since(start)
		}
		if time.Since(start) > within {
			tb.Fatalf("the mirror still passes token %q %v after its revocation on another instance (bound %v; stats %+v)", c.ID, time.Since(start), within, m.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

func testFeedPropagates(t *testing.T, newFeed func(t *testing.T) guardian.Feed) {
	a := NewFeedMirror(t, newFeed(t), nil)
	b := NewFeedMirror(t, newFeed(t), nil)
	tok, fam, sub := Token("feed-token"), Token("feed-family"), Token("feed-subject")
	for _, c := range []*guardian.Claims{tok, fam, sub} {
		WantRevoked(t, b, c, false, "a fresh token")
	}
	MustRevoke(t, a, guardian.Revocation{Kind: guardian.ByToken, ID: tok.ID, At: tok.IssuedAt, TTL: time.Hour})
	MustRevoke(t, a, guardian.Revocation{Kind: guardian.ByFamily, ID: fam.Family, At: fam.IssuedAt, TTL: time.Hour})
	MustRevoke(t, a, guardian.Revocation{Kind: guardian.BySubject, ID: sub.Subject, At: sub.IssuedAt, TTL: time.Hour})
	// The writer knows at once, the other instance within the bound.
	for _, c := range []*guardian.Claims{tok, fam, sub} {
		WantRevoked(t, a, c, true, "a token revoked on this instance")
		EventuallyRevoked(t, b, c, FeedMaxLag)
	}
	// A token of the subject issued after the cut-off passes everywhere.
	later := TokenAt(sub.Subject, sub.IssuedAt.Add(2*time.Second))
	later.Subject = sub.Subject
	WantRevoked(t, b, later, false, "a token issued after the subject's cut-off")
	// Other subtests share the store: a break of b's feed meanwhile is
	// allowed, as long as b is current again within a few bounds.
	deadline := time.Now().Add(5 * FeedMaxLag)
	for !b.Stats().Current {
		if time.Now().After(deadline) {
			t.Fatalf("b is not current %v after the test: %+v", 5*FeedMaxLag, b.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testFeedListsAtStart(t *testing.T, newFeed func(t *testing.T) guardian.Feed) {
	store := newFeed(t)
	tok := Token("feed-early")
	MustRevoke(t, store, guardian.Revocation{Kind: guardian.ByToken, ID: tok.ID, At: tok.IssuedAt, TTL: time.Hour})
	b := NewFeedMirror(t, newFeed(t), nil)
	WantRevoked(t, b, tok, true, "a token revoked before the mirror started")
	if st := b.Stats(); st.StoreChecks != 0 {
		t.Errorf("a current mirror asked the store %d times", st.StoreChecks)
	}
}

func testFeedConsume(t *testing.T, newFeed func(t *testing.T) guardian.Feed) {
	a := NewFeedMirror(t, newFeed(t), nil)
	b := NewFeedMirror(t, newFeed(t), nil)
	ctx := context.Background()
	id := NewID("feed-consume")
	r := guardian.Revocation{Kind: guardian.ByToken, ID: id, At: time.Now(), TTL: time.Hour}
	first, err := a.Consume(ctx, r)
	if err != nil || !first {
		t.Fatalf("a.Consume = %v, %v; want true, nil", first, err)
	}
	// Right away, before any feed could deliver it: the store decides.
	first, err = b.Consume(ctx, r)
	if err != nil || first {
		t.Fatalf("b.Consume of a consumed token = %v, %v; want false, nil", first, err)
	}
	// Racing consumers on both instances: exactly one wins.
	id2 := NewID("feed-race")
	r2 := guardian.Revocation{Kind: guardian.ByToken, ID: id2, At: time.Now(), TTL: time.Hour}
	var wg sync.WaitGroup
	wins := make(chan bool, 16)
	for i := range 16 {
		m := a
		if i%2 == 1 {
			m = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			first, err := m.Consume(ctx, r2)
			if err != nil {
				t.Errorf("Consume: %v", err)
			}
			wins <- first
		}()
	}
	wg.Wait()
	close(wins)
	n := 0
	for w := range wins {
		if w {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d of 16 concurrent Consume calls across two instances won; want exactly 1", n)
	}
	EventuallyRevoked(t, b, &guardian.Claims{ID: id2}, FeedMaxLag)
}

func testFeedManyWriters(t *testing.T, newFeed func(t *testing.T) guardian.Feed) {
	writers := []*guardian.FeedMirror{NewFeedMirror(t, newFeed(t), nil), NewFeedMirror(t, newFeed(t), nil)}
	reader := NewFeedMirror(t, newFeed(t), nil)
	const n = 100
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		ids[i] = NewID("feed-many")
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := writers[i%len(writers)]
			if err := w.Revoke(context.Background(), guardian.Revocation{Kind: guardian.ByToken, ID: ids[i], At: time.Now(), TTL: time.Hour}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Revoke: %v", err)
	}
	deadline := time.Now().Add(FeedMaxLag)
	for _, id := range ids {
		EventuallyRevoked(t, reader, &guardian.Claims{ID: id}, time.Until(deadline)+10*time.Millisecond)
	}
}
