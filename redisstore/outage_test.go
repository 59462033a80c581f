package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/guardiantest"
	"github.com/guardian-go/guardian/internal/faultproxy"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/redisstore"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/redis/go-redis/v9"
)

// deadline is the request deadline of the outage tests, and slack what a
// check may take beyond it (scheduling, -race, a loaded machine). The
// client's own timeouts are far longer (clientTimeout), so a check that
// ends within deadline+slack was ended by the deadline. hangSlack is the
// tighter bound of the hung-server tests, where the Store, not the client,
// must end each call at its deadline.
const (
	deadline      = 300 * time.Millisecond
	slack         = time.Second
	hangSlack     = 200 * time.Millisecond
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
// answers "not revoked" while Redis is away, and recovers by itself: with a
// client that honours deadlines (ContextTimeoutEnabled), and with one that
// does not, whose calls the Store itself must end at the deadline.
func TestOutage(t *testing.T) {
	opts := redisOptions(t)
	direct := newClient(t, opts)
	proxy := faultproxy.New(t, opts.Addr)
	client := newClient(t, proxiedOptions(opts, proxy))
	noCtxOpts := proxiedOptions(opts, proxy)
	noCtxOpts.ContextTimeoutEnabled = false
	noCtx := newClient(t, noCtxOpts)

	for _, tt := range []struct {
		name   string
		client redis.UniversalClient
	}{
		{name: "MGET", client: client},
		{name: "Pipeline", client: pipelineOnly{client}},
		{name: "MGET,NoContextTimeout", client: noCtx},
		{name: "Pipeline,NoContextTimeout", client: pipelineOnly{noCtx}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Keys are deleted through the direct client, which the proxy
			// cannot cut off.
			s, _ := newStoreOn(t, tt.client, &redisstore.Options{KeyPrefix: testPrefix(t, direct)})
			revoked, fresh := claims(), claims()
			revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByToken, ID: revoked.ID, At: testclock.Now(), TTL: time.Hour})
			revokertest.WantRevoked(t, s, revoked, true, "a revoked token, before the outage")

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
				err := s.Revoke(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: testclock.Now(), TTL: time.Hour})
				cancel()
				if err == nil {
					t.Errorf("%s: Revoke = nil while Redis is unreachable, want an error", mode.name)
				}
				if took := time.Since(start); took > deadline+slack {
					t.Errorf("%s: Revoke took %v with a %v deadline", mode.name, took, deadline)
				}
				ctx, cancel = context.WithTimeout(context.Background(), deadline)
				start = time.Now()
				first, err := s.Consume(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: testclock.Now(), TTL: time.Hour})
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
					revokertest.WantRevoked(t, s, revoked, true, "a revoked token, after "+mode.name)
					revokertest.WantRevoked(t, s, fresh, false, "a fresh token, after "+mode.name)
				}
			}
		})
	}
}

// TestStallUnderLoad checks that many checks in flight when Redis hangs all
// end at their deadline, pool included, and that the Store recovers, with
// and without ContextTimeoutEnabled on the client.
func TestStallUnderLoad(t *testing.T) {
	for _, contextTimeout := range []bool{true, false} {
		t.Run("ContextTimeoutEnabled="+strconv.FormatBool(contextTimeout), func(t *testing.T) {
			opts := redisOptions(t)
			proxy := faultproxy.New(t, opts.Addr)
			viaProxy := proxiedOptions(opts, proxy)
			viaProxy.ContextTimeoutEnabled = contextTimeout
			viaProxy.PoolSize = 4 // fewer connections than callers: some wait for the pool
			client := newClient(t, viaProxy)
			s, _ := newStoreOn(t, client, &redisstore.Options{KeyPrefix: testPrefix(t, newClient(t, opts))})
			revoked := claims()
			revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByToken, ID: revoked.ID, At: testclock.Now(), TTL: time.Hour})

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
		})
	}
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

// TestHungServer stops a redis-server of the test's own with SIGSTOP: its
// socket stays open and accepts bytes, and no reply ever comes, as with a
// server stuck on a slow disk or a swapped-out host. The client has
// go-redis's defaults: no ContextTimeoutEnabled (so go-redis sets its socket
// deadlines from ReadTimeout, 5s, not from the context) and MaxRetries 3.
// Every Store call must still end at its deadline with an error wrapping
// guardian.ErrUnavailable, and the Store must answer again once the server
// resumes.
func TestHungServer(t *testing.T) {
	srv := startRedis(t)
	client := redis.NewClient(&redis.Options{Addr: srv.addr}) // go-redis defaults
	t.Cleanup(func() { client.Close() })
	s, err := redisstore.New(client, nil)
	if err != nil {
		t.Fatal(err)
	}
	revoked, fresh := claims(), claims()
	revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByToken, ID: revoked.ID, At: testclock.Now(), TTL: time.Hour})
	revokertest.WantRevoked(t, s, revoked, true, "a revoked token, before the hang")
	revokertest.WantRevoked(t, s, fresh, false, "a fresh token, before the hang")

	srv.stop(t)
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Revoked of a revoked token", func(ctx context.Context) error {
			got, err := s.Revoked(ctx, revoked)
			if got {
				t.Errorf("Revoked of a revoked token = true, %v during the hang; want false with an error", err)
			}
			return err
		}},
		{"Revoked of a fresh token", func(ctx context.Context) error {
			got, err := s.Revoked(ctx, fresh)
			if got {
				t.Errorf("Revoked of a fresh token = true, %v during the hang; want false with an error", err)
			}
			return err
		}},
		{"Revoke", func(ctx context.Context) error {
			return s.Revoke(ctx, guardian.Revocation{Kind: guardian.BySubject, ID: revokertest.NewID("sub"), At: testclock.Now(), TTL: time.Hour})
		}},
		{"Consume", func(ctx context.Context) error {
			// A Consume abandoned at its deadline may still land once the
			// server resumes: it must report an error (fail closed), never
			// true, and never false with a nil error (a replay).
			first, err := s.Consume(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: testclock.Now(), TTL: time.Hour})
			if first || err == nil {
				t.Errorf("Consume during the hang = %v, %v; want false and an error", first, err)
			}
			return err
		}},
	}
	slowest := map[string]time.Duration{}
	// Several rounds: the first finds idle connections in the pool, later
	// ones find them held by abandoned calls and dial new ones.
	for round := range 3 {
		for _, c := range calls {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			start := time.Now()
			err := c.call(ctx)
			took := time.Since(start)
			cancel()
			slowest[c.name] = max(slowest[c.name], took)
			if !errors.Is(err, guardian.ErrUnavailable) {
				t.Errorf("round %d: %s during the hang = %v, want an error wrapping guardian.ErrUnavailable", round, c.name, err)
			}
			if took > deadline+hangSlack {
				t.Errorf("round %d: %s took %v with a %v deadline, want at most %v", round, c.name, took, deadline, deadline+hangSlack)
			}
		}
	}
	for _, c := range calls {
		t.Logf("hung server: slowest %s: %v (deadline %v)", c.name, slowest[c.name], deadline)
	}

	srv.resume(t)
	recovery := waitRecovered(t, s, revoked)
	t.Logf("answering again %v after SIGCONT", recovery)
	for range 5 {
		revokertest.WantRevoked(t, s, revoked, true, "a revoked token, after the hang")
		revokertest.WantRevoked(t, s, fresh, false, "a fresh token, after the hang")
	}
}

// TestHungServerIssuer checks the same through guardian: an Issuer with
// the default RevokerTimeout, on a Store whose client has go-redis's
// defaults, answers ErrUnavailable (503) within about that timeout while
// Redis hangs, for Verify, Revoke and Refresh.
func TestHungServerIssuer(t *testing.T) {
	srv := startRedis(t)
	client := redis.NewClient(&redis.Options{Addr: srv.addr}) // go-redis defaults
	t.Cleanup(func() { client.Close() })
	s, err := redisstore.New(client, nil)
	if err != nil {
		t.Fatal(err)
	}
	issuer := guardiantest.NewIssuer(t, &guardian.IssuerOptions{Clock: testclock.Now, Revoker: s})
	ctx := context.Background()
	access, err := issuer.Issue(ctx, revokertest.NewID("sub"), nil)
	if err != nil {
		t.Fatal(err)
	}
	refresh, err := issuer.Issue(ctx, access.Claims.Subject, &guardian.IssueOptions{Type: guardian.RefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := issuer.Verify(ctx, access.Raw, guardian.AccessToken); err != nil {
		t.Fatalf("Verify before the hang = %v, want nil", err)
	}

	srv.stop(t)
	bound := guardian.DefaultRevokerTimeout + hangSlack
	for _, c := range []struct {
		name string
		call func() error
	}{
		{"Verify", func() error { _, err := issuer.Verify(ctx, access.Raw, guardian.AccessToken); return err }},
		{"Verify again", func() error { _, err := issuer.Verify(ctx, access.Raw, guardian.AccessToken); return err }},
		{"Revoke", func() error { return issuer.Revoke(ctx, access.Raw) }},
		{"RevokeSubject", func() error { return issuer.RevokeSubject(ctx, access.Claims.Subject) }},
		{"Refresh", func() error { _, err := issuer.Refresh(ctx, refresh.Raw, nil); return err }},
	} {
		start := time.Now()
		err := c.call()
		took := time.Since(start)
		t.Logf("hung server: Issuer.%s: %v in %v", c.name, err, took)
		if !errors.Is(err, guardian.ErrUnavailable) {
			t.Errorf("Issuer.%s during the hang = %v, want ErrUnavailable", c.name, err)
		}
		if took > bound {
			t.Errorf("Issuer.%s took %v with RevokerTimeout %v, want at most %v", c.name, took, guardian.DefaultRevokerTimeout, bound)
		}
	}
	srv.resume(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := issuer.Verify(ctx, access.Raw, guardian.AccessToken)
		if !errors.Is(err, guardian.ErrUnavailable) {
			// The Revoke abandoned during the hang may have landed since.
			if err != nil && !errors.Is(err, guardian.ErrRevoked) {
				t.Fatalf("Verify after the hang = %v, want nil or ErrRevoked", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Verify still %v 5s after SIGCONT", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHungServerAbandonedCalls shows why the README asks for
// ContextTimeoutEnabled even though the Store bounds every call itself:
// with it, a command the Store abandoned at its deadline ends then too;
// without it, its goroutine and pooled connection stay busy until the
// client's ReadTimeout. Only the first is asserted; the second is logged.
func TestHungServerAbandonedCalls(t *testing.T) {
	for _, contextTimeout := range []bool{true, false} {
		t.Run("ContextTimeoutEnabled="+strconv.FormatBool(contextTimeout), func(t *testing.T) {
			srv := startRedis(t)
			client := redis.NewClient(&redis.Options{Addr: srv.addr, ContextTimeoutEnabled: contextTimeout})
			t.Cleanup(func() { client.Close() })
			s, err := redisstore.New(client, nil)
			if err != nil {
				t.Fatal(err)
			}
			revokertest.WantRevoked(t, s, claims(), false, "a fresh token, before the hang")
			srv.stop(t)
			defer srv.resume(t)
			const calls = 10
			before := runtime.NumGoroutine()
			var wg sync.WaitGroup
			for range calls {
				wg.Go(func() {
					if got, _, err := timedRevoked(s, claims()); err == nil || got {
						t.Errorf("Revoked during the hang = %v, %v; want false and an error", got, err)
					}
				})
			}
			wg.Wait()
			ended := time.Now()
			for {
				left := runtime.NumGoroutine() - before
				if left <= 0 {
					t.Logf("abandoned commands all ended %v after the calls returned", time.Since(ended))
					return
				}
				if time.Since(ended) > time.Second {
					if contextTimeout {
						t.Errorf("%d goroutines still busy 1s after %d abandoned calls, with ContextTimeoutEnabled", left, calls)
					} else {
						t.Logf("%d goroutines still busy 1s after %d abandoned calls, without ContextTimeoutEnabled (until ReadTimeout)", left, calls)
					}
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// testRedis is a redis-server process of one test, which the test may hang
// (SIGSTOP) and resume: never the shared server, which other tests use.
type testRedis struct {
	addr string
	cmd  *exec.Cmd
}

// startRedis starts a redis-server on a free loopback port, without
// persistence, and kills it when the test ends (resuming it first, should
// the test have left it stopped). The test skips when redis-server is not
// installed, except in CI.
func startRedis(t *testing.T) *testRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server not found (%v); CI must run the hung-server tests", err)
		}
		t.Skipf("redis-server not found (%v); install it to run the hung-server tests", err)
	}
	var failures []string
	for range 5 { // another process may take the free port first
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", t.TempDir())
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		r := &testRedis{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGCONT)
			cmd.Process.Kill()
			<-exited
		})
		if r.ready(exited) {
			return r
		}
		cmd.Process.Kill()
		<-exited
		failures = append(failures, out.String())
	}
	t.Fatalf("redis-server did not start on a free port: %q", failures)
	return nil
}

// ready waits until the server answers PING, for up to 5s, or exits.
func (r *testRedis) ready(exited <-chan struct{}) bool {
	client := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer client.Close()
	stop := time.Now().Add(5 * time.Second)
	for time.Now().Before(stop) {
		select {
		case <-exited:
			return false
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := client.Ping(ctx).Err()
		cancel()
		if err == nil {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// stop hangs the server (SIGSTOP).
func (r *testRedis) stop(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(r.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP redis-server: %v", err)
	}
}

// resume lets a stopped server run again (SIGCONT).
func (r *testRedis) resume(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(r.cmd.Process.Pid, syscall.SIGCONT); err != nil {
		t.Fatalf("SIGCONT redis-server: %v", err)
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
