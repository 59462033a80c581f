package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/faultproxy"
	"github.com/guardian-go/guardian/redisstore"
	"github.com/guardian-go/guardian/replaytest"
	"github.com/redis/go-redis/v9"
)

// TestReplayConformance runs the ReplayCache conformance suite against a
// Store on the test server.
func TestReplayConformance(t *testing.T) {
	client := newClient(t, redisOptions(t))
	for _, tt := range []struct {
		name   string
		client redis.UniversalClient
	}{
		{name: "Client", client: client},
		// An unknown client type, as a wrapper would be.
		{name: "Wrapped", client: pipelineOnly{client}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newStoreOn(t, tt.client, nil)
			replaytest.Run(t, func(*testing.T) guardian.ReplayCache { return s })
		})
	}
}

// TestReplayAcrossInstances: a key used through one Store is a replay
// through a second Store with a client and connection pool of its own, on
// the same Redis and prefix, as two instances of a service would have.
func TestReplayAcrossInstances(t *testing.T) {
	opts := redisOptions(t)
	a, _, prefix := newStore(t, nil)
	b, _ := newStoreOn(t, newClient(t, opts), &redisstore.Options{KeyPrefix: prefix})
	replaytest.RunAcrossInstances(t, a, b)
}

// TestReplayKeyLayout checks where Use keeps a key (prefix + "rpl:" +
// key), for how long (the ttl rounded up to the millisecond, on Redis's
// clock), that a replay leaves the expiry alone, and that replay keys and
// revocations never meet.
func TestReplayKeyLayout(t *testing.T) {
	s, client, prefix := newStore(t, nil)
	ctx := context.Background()
	key := replaytest.NewKey()
	replaytest.WantUse(t, s, key, 90*time.Second+500*time.Microsecond, true, "a fresh key")
	stored := prefix + "rpl:" + key
	pttl, err := client.PTTL(ctx, stored).Result()
	if err != nil {
		t.Fatal(err)
	}
	if pttl <= 89*time.Second || pttl > 90*time.Second+time.Millisecond {
		t.Fatalf("PTTL %s = %v, want just under 90.001s (the ttl rounded up to the millisecond)", stored, pttl)
	}
	replaytest.WantUse(t, s, key, time.Hour, false, "the key again, with a longer ttl")
	if again, _ := client.PTTL(ctx, stored).Result(); again > pttl {
		t.Fatalf("PTTL after a replay = %v, was %v: a replay must not extend the key", again, pttl)
	}

	// A ttl under a millisecond is kept for one, not refused as PX 0.
	tiny := replaytest.NewKey()
	replaytest.WantUse(t, s, tiny, time.Microsecond, true, "a key with a 1µs ttl")

	// A revoked token whose jti equals a replay key leaves the key fresh,
	// and the other way round.
	c := claims()
	c.ID = replaytest.NewKey()
	if err := s.Revoke(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: time.Now(), TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	replaytest.WantUse(t, s, c.ID, time.Hour, true, "a key equal to a revoked jti")
	other := claims()
	other.ID = key
	if revoked, err := s.Revoked(ctx, other); err != nil || revoked {
		t.Fatalf("Revoked(a token whose jti equals a used replay key) = %v, %v; want false, nil", revoked, err)
	}
}

// TestReplayRefusals: what Use refuses, and that it never answers true
// when it cannot answer.
func TestReplayRefusals(t *testing.T) {
	s, client, prefix := newStore(t, nil)
	ctx := context.Background()
	for _, ttl := range []time.Duration{0, -time.Second} {
		if first, err := s.Use(ctx, replaytest.NewKey(), ttl); err == nil || first {
			t.Errorf("Use(ttl %v) = %v, %v; want false and an error", ttl, first, err)
		}
	}
	// A key of another type under the prefix is an error, not a replay nor
	// a first use.
	odd := replaytest.NewKey()
	if err := client.LPush(ctx, prefix+"rpl:"+odd, "x").Err(); err != nil {
		t.Fatal(err)
	}
	if first, err := s.Use(ctx, odd, time.Hour); err == nil || first || !errors.Is(err, guardian.ErrUnavailable) {
		t.Errorf("Use(a key holding a list) = %v, %v; want false and an error wrapping ErrUnavailable", first, err)
	}
	// WAIT for more replicas than there are: a first use is an error
	// wrapping ErrNotReplicated (the key is recorded on the primary all the
	// same), and its replay an ordinary false.
	w, _ := newStoreOn(t, client, &redisstore.Options{KeyPrefix: prefix, WaitReplicas: 100, WaitTimeout: 50 * time.Millisecond})
	k := replaytest.NewKey()
	if first, err := w.Use(ctx, k, time.Hour); !errors.Is(err, redisstore.ErrNotReplicated) || first {
		t.Errorf("Use waiting for 100 replicas = %v, %v; want false, ErrNotReplicated", first, err)
	}
	replaytest.WantUse(t, w, k, time.Hour, false, "the key whose first use was not replicated")
}

// TestReplayOutage: while Redis is cut off or hangs, Use fails closed
// within the request deadline, with a client that honours deadlines and
// one that does not, and works again once Redis is back.
func TestReplayOutage(t *testing.T) {
	opts := redisOptions(t)
	direct := newClient(t, opts)
	proxy := faultproxy.New(t, opts.Addr)
	noCtxOpts := proxiedOptions(opts, proxy)
	noCtxOpts.ContextTimeoutEnabled = false
	for _, tt := range []struct {
		name   string
		client *redis.Client
	}{
		{"ContextTimeout", newClient(t, proxiedOptions(opts, proxy))},
		{"NoContextTimeout", newClient(t, noCtxOpts)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStoreOn(t, tt.client, &redisstore.Options{KeyPrefix: testPrefix(t, direct)})
			used := replaytest.NewKey()
			replaytest.WantUse(t, s, used, time.Hour, true, "a key, before the outage")
			for _, mode := range []struct {
				name string
				mode faultproxy.Mode
			}{{"Cut", faultproxy.Cut}, {"Stall", faultproxy.Stall}} {
				proxy.Set(mode.mode)
				for _, k := range []string{used, replaytest.NewKey()} {
					ctx, cancel := context.WithTimeout(context.Background(), deadline)
					start := time.Now()
					first, err := s.Use(ctx, k, time.Hour)
					took := time.Since(start)
					cancel()
					if err == nil || first {
						t.Fatalf("%s: Use = %v, %v; want false and an error while Redis is unreachable", mode.name, first, err)
					}
					if !errors.Is(err, guardian.ErrUnavailable) {
						t.Errorf("%s: Use error %v does not wrap guardian.ErrUnavailable", mode.name, err)
					}
					if took > deadline+hangSlack {
						t.Errorf("%s: Use took %v with a %v deadline, want about the deadline", mode.name, took, deadline)
					}
				}
				proxy.Set(faultproxy.Pass)
			}
			until := time.Now().Add(10 * time.Second)
			for {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				first, err := s.Use(ctx, used, time.Hour)
				cancel()
				if err == nil {
					if first {
						t.Fatal("Use of a key used before the outage = true after it; want false")
					}
					break
				}
				if time.Now().After(until) {
					t.Fatalf("Use still failing 10s after Redis came back: %v", err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
