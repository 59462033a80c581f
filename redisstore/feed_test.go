package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/faultproxy"
	"github.com/guardian-go/guardian/redisstore"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/redis/go-redis/v9"
)

// feedOpts makes feeds probe often, so the tests' bound is short.
var feedOpts = &redisstore.Options{FeedInterval: 20 * time.Millisecond}

// TestFeed runs the Feed conformance suite: each instance has a client of
// its own on one server and one prefix.
func TestFeed(t *testing.T) {
	opts := redisOptions(t)
	first := newClient(t, opts)
	_, prefix := newStoreOn(t, first, feedOpts)
	revokertest.RunFeed(t, func(t *testing.T) guardian.Feed {
		o := *feedOpts
		o.KeyPrefix = prefix
		s, _ := newStoreOn(t, newClient(t, opts), &o)
		return s
	})
}

func TestFeedMirrorConformance(t *testing.T) {
	s, _, _ := newStore(t, feedOpts)
	m := revokertest.NewFeedMirror(t, s, nil)
	revokertest.Run(t, func(t *testing.T) guardian.Revoker { return m })
}

func TestClusterFeed(t *testing.T) {
	first := newClusterClient(t)
	_, prefix := newStoreOn(t, first, feedOpts)
	revokertest.RunFeed(t, func(t *testing.T) guardian.Feed {
		o := *feedOpts
		o.KeyPrefix = prefix
		s, _ := newStoreOn(t, newClusterClient(t), &o)
		return s
	})
}

// TestFeedListsEveryKind: a mirror started after revocations of each kind,
// some made by Consume, holds them all, and ignores other keys under the
// prefix (replay keys, a hash).
func TestFeedListsEveryKind(t *testing.T) {
	s, client, prefix := newStore(t, feedOpts)
	ctx := context.Background()
	c := claims()
	revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByFamily, ID: c.Family, At: c.IssuedAt, TTL: time.Hour})
	sub := claims()
	revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.BySubject, ID: sub.Subject, At: sub.IssuedAt, TTL: time.Hour})
	consumed := claims()
	if first, err := s.Consume(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: consumed.ID, At: consumed.IssuedAt, TTL: time.Hour}); err != nil || !first {
		t.Fatalf("Consume = %v, %v", first, err)
	}
	if _, err := s.Use(ctx, "proof-1", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := client.HSet(ctx, prefix+"other", "a", "b").Err(); err != nil {
		t.Fatal(err)
	}
	m := revokertest.NewFeedMirror(t, s, nil)
	revokertest.WantRevoked(t, m, c, true, "a token of a revoked family")
	revokertest.WantRevoked(t, m, sub, true, "a token of a revoked subject")
	revokertest.WantRevoked(t, m, consumed, true, "a consumed token")
	later := revokertest.TokenAt(sub.Subject, sub.IssuedAt.Add(2*time.Second))
	later.Subject = sub.Subject
	revokertest.WantRevoked(t, m, later, false, "a token issued after the cut-off")
	if st := m.Stats(); st.StoreChecks != 0 || !st.Current {
		t.Errorf("stats: %+v", st)
	}
}

// TestFeedCut puts a proxy between one instance and Redis and cuts it:
// that instance's mirror stops answering from memory within its bound,
// refuses (503) while Redis is out of reach, never passes a token revoked
// on another instance during the cut, and recovers by itself.
func TestFeedCut(t *testing.T) {
	opts := redisOptions(t)
	direct := newClient(t, opts)
	writer, prefix := newStoreOn(t, direct, feedOpts)
	proxy := faultproxy.New(t, opts.Addr)
	o := *feedOpts
	o.KeyPrefix = prefix
	popts := proxiedOptions(opts, proxy)
	popts.ReadTimeout, popts.WriteTimeout, popts.DialTimeout = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
	cutStore, _ := newStoreOn(t, newClient(t, popts), &o)
	const maxLag = 500 * time.Millisecond
	m := revokertest.NewFeedMirror(t, cutStore, &guardian.FeedMirrorOptions{MaxLag: maxLag})
	for _, mode := range []faultproxy.Mode{faultproxy.Cut, faultproxy.Stall} {
		t.Run(fmt.Sprint(map[faultproxy.Mode]string{faultproxy.Cut: "Cut", faultproxy.Stall: "Stall"}[mode]), func(t *testing.T) {
			c := claims()
			proxy.Set(mode)
			cutAt := time.Now()
			revokertest.MustRevoke(t, writer, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: c.IssuedAt, TTL: time.Hour})
			// From the bound on, the mirror must not pass c.
			for time.Since(cutAt) < maxLag+50*time.Millisecond {
				time.Sleep(10 * time.Millisecond)
			}
			for range 20 {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				revoked, err := m.Revoked(ctx, c)
				cancel()
				if err == nil && !revoked {
					t.Fatalf("the mirror passed a token revoked %v ago, during a %v of its feed (bound %v): %+v", time.Since(cutAt), mode, maxLag, m.Stats())
				}
				if err != nil && !errors.Is(err, guardian.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Revoked during the cut: %v", err)
				}
			}
			if st := m.Stats(); st.Current {
				t.Fatalf("current during a %v: %+v", mode, st)
			}
			proxy.Set(faultproxy.Pass)
			deadline := time.Now().Add(15 * time.Second)
			for !m.Stats().Current {
				if time.Now().After(deadline) {
					t.Fatalf("not current 15s after the proxy passes again: %+v", m.Stats())
				}
				time.Sleep(10 * time.Millisecond)
			}
			before := m.Stats().StoreChecks
			revokertest.WantRevoked(t, m, c, true, "a token revoked during the cut, after recovery")
			if got := m.Stats().StoreChecks; got != before {
				t.Errorf("a recovered mirror asked Redis")
			}
		})
	}
}

// BenchmarkFeedMirrorRevoked measures a current FeedMirror's check over
// Redis: memory only.
func BenchmarkFeedMirrorRevoked(b *testing.B) {
	s, _, _ := newStore(b, feedOpts)
	ctx := context.Background()
	now := time.Now()
	for n := range 1000 {
		revokertest.MustRevoke(b, s, guardian.Revocation{Kind: guardian.ByToken, ID: fmt.Sprint("jti-", n), At: now, TTL: time.Hour})
	}
	m := revokertest.NewFeedMirror(b, s, &guardian.FeedMirrorOptions{MaxLag: time.Hour})
	c := claims()
	b.ReportAllocs()
	for b.Loop() {
		if revoked, err := m.Revoked(ctx, c); revoked || err != nil {
			b.Fatal(revoked, err)
		}
	}
	if st := m.Stats(); st.StoreChecks != 0 {
		b.Fatalf("asked Redis %d times", st.StoreChecks)
	}
}

var _ redis.UniversalClient = (*redis.Client)(nil)
