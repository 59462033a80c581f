package main

import (
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/faultproxy"
)

// The fleet: two instances on one shared store, each with its revocations
// in memory (-mirror, the default), fed by the store's change feed.

// fleetBound is what the example promises: a logout on one instance is
// refused on every other one within the mirror's MaxLag.
const fleetBound = guardian.DefaultFeedMaxLag

// fleetLogouts is how many logouts the propagation test measures.
const fleetLogouts = 1000

// fleetClient keeps enough connections for the load.
var fleetClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}

// status sends GET path with token and returns the status, or 0 when
// the request failed.
func status(base, path, token string) int {
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := fleetClient.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func logout(base, token string) int {
	req, _ := http.NewRequest(http.MethodPost, base+"/api/logout", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := fleetClient.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// loadOn keeps workers sending /api/me with a valid token to base until
// the test ends, and counts the answers by status.
func loadOn(t *testing.T, base, token string, workers int) *loadCounts {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	c := &loadCounts{}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c.add(status(base, "/api/me", token))
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return c
}

type loadCounts struct{ ok, other atomic.Int64 }

func (c *loadCounts) add(code int) {
	if code == http.StatusOK {
		c.ok.Add(1)
	} else {
		c.other.Add(1)
	}
}

// propagation is one logout on A seen from B: how long after A's 204 B
// first refused, and whether B passed the token on a request that started
// after the bound.
type propagation struct {
	delay      time.Duration
	latePasses int
	retries    int // logouts answered 503 before the 204
}

// measureLogout logs a fresh token out on a, then asks b until b refuses
// it, for at most twice the bound.
func measureLogout(t *testing.T, a, b *apiServer) propagation {
	token, _ := mintAccess(t, time.Now())
	if got := status(b.base, "/api/me", token); got != http.StatusOK {
		t.Errorf("B answered %d for a fresh token, want 200", got)
		return propagation{}
	}
	// A logout may meet the store's deadline (503, the token stays
	// valid) on this shared, loaded machine: the client retries, and the
	// retries are counted.
	var p propagation
	got := logout(a.base, token)
	for got == http.StatusServiceUnavailable && p.retries < 10 {
		p.retries++
		got = logout(a.base, token)
	}
	// After a 503, the write may have landed all the same: the retry
	// then finds the token revoked (401).
	if got != http.StatusNoContent && (p.retries == 0 || got != http.StatusUnauthorized) {
		t.Errorf("logout on A answered %d, want 204", got)
		return p
	}
	done := time.Now()
	for {
		start := time.Now()
		code := status(b.base, "/api/me", token)
		switch code {
		case http.StatusOK:
			if start.Sub(done) > fleetBound {
				p.latePasses++
			}
		case http.StatusUnauthorized:
			p.delay = time.Since(done)
			return p
		default:
			t.Errorf("B answered %d for a logged-out token, want 401 (or 200 within the bound)", code)
			return p
		}
		if time.Since(done) > 2*fleetBound {
			t.Errorf("B still passes a token logged out on A %v ago", time.Since(done))
			p.delay = time.Since(done)
			return p
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// TestFleetPropagation logs out on A while B serves under load, on each
// shared store: B refuses within the bound, never passes a token on a
// request that started after it, and its mirror answers from memory.
func TestFleetPropagation(t *testing.T) {
	if testing.Short() {
		t.Skip("the fleet tests load two servers for seconds")
	}
	for name, spec := range networkStores(t) {
		t.Run(name, func(t *testing.T) {
			a := startServer(t, "-store", spec)
			b := startServer(t, "-store", spec)
			valid, _ := mintAccess(t, time.Now())
			load := loadOn(t, b.base, valid, 4)
			var delays []time.Duration
			late, retries := 0, 0
			var mu sync.Mutex
			var wg sync.WaitGroup
			next := atomic.Int64{}
			for range 4 { // four logouts in flight at a time
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= fleetLogouts && !t.Failed() {
						p := measureLogout(t, a, b)
						mu.Lock()
						delays = append(delays, p.delay)
						late += p.latePasses
						retries += p.retries
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			slices.Sort(delays)
			q := func(f float64) time.Duration { return delays[int(f*float64(len(delays)-1))] }
			t.Logf("%s: %d logouts on A, time until B refuses: p50 %v, p99 %v, max %v; B served %d requests of load meanwhile (%d not 200); passes after the %v bound: %d; logouts retried after a 503: %d",
				name, len(delays), q(0.5), q(0.99), delays[len(delays)-1], load.ok.Load(), load.other.Load(), fleetBound, late, retries)

			if late != 0 {
				t.Errorf("B passed logged-out tokens %d times after the bound", late)
			}
			if n := load.other.Load(); n != 0 {
				t.Errorf("B refused a valid token %d times under load", n)
			}
			if max := delays[len(delays)-1]; max > fleetBound+500*time.Millisecond {
				t.Errorf("slowest propagation %v, beyond the %v bound", max, fleetBound)
			}
		})
	}
}

// TestFleetFeedCut puts a proxy between B and the store and cuts it: B
// must refuse (401) or answer 503 for a token logged out on A during the
// cut, from the bound on, and recover by itself once the proxy passes.
func TestFleetFeedCut(t *testing.T) {
	if testing.Short() {
		t.Skip("the fleet tests take seconds")
	}
	for name, spec := range networkStores(t) {
		t.Run(name, func(t *testing.T) {
			proxy, proxied := throughProxy(t, spec)
			a := startServer(t, "-store", spec)
			b := startServer(t, "-store", proxied)
			valid, _ := mintAccess(t, time.Now())
			if got := status(b.base, "/api/me", valid); got != http.StatusOK {
				t.Fatalf("B answered %d before the cut", got)
			}
			for _, mode := range []faultproxy.Mode{faultproxy.Cut, faultproxy.Stall} {
				token, _ := mintAccess(t, time.Now())
				proxy.Set(mode)
				if got := logout(a.base, token); got != http.StatusNoContent {
					t.Fatalf("logout on A during the cut: %d", got)
				}
				done := time.Now()
				time.Sleep(fleetBound)
				codes := map[int]int{}
				for time.Since(done) < fleetBound+time.Second {
					codes[status(b.base, "/api/me", token)]++
				}
				if codes[http.StatusOK] != 0 {
					t.Fatalf("mode %d: B passed a token logged out during the cut after the bound: %v", mode, codes)
				}
				for code := range codes {
					if code != http.StatusUnauthorized && code != http.StatusServiceUnavailable {
						t.Errorf("mode %d: B answered %d; want 401 or 503 (answers %v)", mode, code, codes)
					}
				}
				proxy.Set(faultproxy.Pass)
				deadline := time.Now().Add(20 * time.Second)
				for status(b.base, "/api/me", valid) != http.StatusOK || status(b.base, "/api/me", token) != http.StatusUnauthorized {
					if time.Now().After(deadline) {
						t.Fatalf("mode %d: B did not recover within 20s of the proxy passing again\n%s", mode, b.logs)
					}
					time.Sleep(20 * time.Millisecond)
				}
				t.Logf("%s, mode %d: during the cut B answered %v; recovered", name, mode, codes)
			}
		})
	}
}
