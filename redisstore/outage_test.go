package redisstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/internal/faultproxy"
	"github.com/guardian-go/guardian/redisstore"
	"github.com/redis/go-redis/v9"
)

// deadline is the request deadline of the outage tests, and slack what a
// check may take beyond it (scheduling, -race, a loaded machine). The
// client's own timeouts are far longer (clientTimeout), so a check that
// ends within deadline+slack was ended by the deadline.
const (
	deadline      = 300 * time.Millisecond
	slack         = time.Second
	clientTimeout = 10 * time.Second
)

// proxiedOptions returns options for a client that reaches Redis through
// proxy, whose own timeouts never end a check first.
func proxiedOptions(opts *redis.Options, proxy *faultproxy.Proxy) *redis.Options {
	o := *opts
	o.Addr = proxy.Addr()
	o.DialTimeout = clientTimeout
	o.ReadTimeout = clientTimeout
	o.WriteTimeout = clientTimeout
	return &o
}

// TestOutage puts a proxy between the Store and Redis, cuts and stalls it,
// and checks that the Store fails closed within the request deadline, never
// answers "not revoked" while Redis is away, and recovers by itself.
func TestOutage(t *testing.T) {
	opts := redisOptions(t)
	direct := newClient(t, opts)
	proxy := faultproxy.New(t, opts.Addr)
	client := newClient(t, proxiedOptions(opts, proxy))

	for _, tt := range []struct {
		name   string
		client redis.UniversalClient
	}{
		{name: "MGET", client: client},
		{name: "Pipeline", client: pipelineOnly{client}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Keys are deleted through the direct client, which the proxy
			// cannot cut off.
			s, _ := newStoreOn(t, tt.client, &redisstore.Options{KeyPrefix: testPrefix(t, direct)})
			revoked, fresh := claims(), claims()
			mustRevoke(t, s, guardian.Revocation{Kind: guardian.RevokeToken, ID: revoked.ID, At: testclock.Now(), TTL: time.Hour})
			wantRevoked(t, s, revoked, true, "a revoked token, before the outage")

			for _, mode := range []struct {
				name string
				mode faultproxy.Mode
			}{
				{"Cut", faultproxy.Cut},
				{"Stall", faultproxy.Stall},
			} {
				proxy.Set(mode.mode)
				var slowest time.Duration
				for i := range 3 {
					for _, c := range []*guardian.Claims{revoked, fresh} {
						got, took, err := timedRevoked(s, c)
						if err == nil {
							t.Fatalf("%s #%d: Revoked = %v, nil; want an error while Redis is unreachable", mode.name, i, got)
						}
						if got {
							t.Errorf("%s #%d: Revoked = true with error %v; want false with the error", mode.name, i, err)
						}
						if !errors.Is(err, guardian.ErrUnavailable) {
							t.Errorf("%s #%d: Revoked error %v does not wrap guardian.ErrUnavailable", mode.name, i, err)
						}
						if took > deadline+slack {
							t.Errorf("%s #%d: Revoked took %v with a %v deadline, want about the deadline", mode.name, i, took, deadline)
						}
						slowest = max(slowest, took)
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				start := time.Now()
				err := s.Revoke(ctx, guardian.Revocation{Kind: guardian.RevokeToken, ID: newID("jti"), At: testclock.Now(), TTL: time.Hour})
				cancel()
				if err == nil {
					t.Errorf("%s: Revoke = nil while Redis is unreachable, want an error", mode.name)
				}
				if took := time.Since(start); took > deadline+slack {
					t.Errorf("%s: Revoke took %v with a %v deadline", mode.name, took, deadline)
				}
				ctx, cancel = context.WithTimeout(context.Background(), deadline)
				start = time.Now()
				first, err := s.Consume(ctx, guardian.Revocation{Kind: guardian.RevokeToken, ID: newID("jti"), At: testclock.Now(), TTL: time.Hour})
				cancel()
				if err == nil || first {
					t.Errorf("%s: Consume = %v, %v while Redis is unreachable, want false and an error", mode.name, first, err)
				}
				if took := time.Since(start); took > deadline+slack {
					t.Errorf("%s: Consume took %v with a %v deadline", mode.name, took, deadline)
				}

				proxy.Set(faultproxy.Pass)
				recovery := waitRecovered(t, s, revoked)
				t.Logf("%s: slowest failed check %v (deadline %v); answering again %v after Pass", mode.name, slowest, deadline, recovery)
				// Replies held by the stall must not reach later commands: the
				// answers after recovery are each token's own.
				for range 5 {
					wantRevoked(t, s, revoked, true, "a revoked token, after "+mode.name)
					wantRevoked(t, s, fresh, false, "a fresh token, after "+mode.name)
				}
			}
		})
	}
}

// TestStallUnderLoad checks that many checks in flight when Redis hangs all
// end at their deadline, pool included, and that the Store recovers.
func TestStallUnderLoad(t *testing.T) {
	opts := redisOptions(t)
	proxy := faultproxy.New(t, opts.Addr)
	viaProxy := proxiedOptions(opts, proxy)
	viaProxy.PoolSize = 4 // fewer connections than callers: some wait for the pool
	client := newClient(t, viaProxy)
	s, _ := newStoreOn(t, client, &redisstore.Options{KeyPrefix: testPrefix(t, newClient(t, opts))})
	revoked := claims()
	mustRevoke(t, s, guardian.Revocation{Kind: guardian.RevokeToken, ID: revoked.ID, At: testclock.Now(), TTL: time.Hour})

	proxy.Set(faultproxy.Stall)
	const callers = 32
	var wg sync.WaitGroup
	var mu sync.Mutex
	var slowest time.Duration
	failures := 0
	for range callers {
		wg.Go(func() {
			got, took, err := timedRevoked(s, claims())
			mu.Lock()
			defer mu.Unlock()
			slowest = max(slowest, took)
			if err == nil || got {
				failures++
			}
		})
	}
	wg.Wait()
	if failures > 0 {
		t.Errorf("%d of %d checks during a stall did not fail closed", failures, callers)
	}
	if slowest > deadline+slack {
		t.Errorf("slowest check during a stall took %v with a %v deadline", slowest, deadline)
	}
	proxy.Set(faultproxy.Pass)
	recovery := waitRecovered(t, s, revoked)
	t.Logf("slowest of %d checks during a stall: %v (deadline %v); answering again %v after Pass", callers, slowest, deadline, recovery)
}

// timedRevoked runs Revoked with the test deadline and says how long it took.
func timedRevoked(s guardian.Revoker, c *guardian.Claims) (bool, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	got, err := s.Revoked(ctx, c)
	return got, time.Since(start), err
}

// waitRecovered retries a check of a revoked token until the Store answers
// again, as the traffic of a recovering service would, and returns how long
// that took.
func waitRecovered(t *testing.T, s guardian.Revoker, revoked *guardian.Claims) time.Duration {
	t.Helper()
	start := time.Now()
	stop := start.Add(5 * time.Second)
	for {
		got, _, err := timedRevoked(s, revoked)
		if err == nil {
			if !got {
				t.Fatal("Revoked = false, nil for a revoked token after the outage")
			}
			return time.Since(start)
		}
		if time.Now().After(stop) {
			t.Fatalf("the Store did not recover within 5s of Redis coming back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
