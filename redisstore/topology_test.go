package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/redisstore"
	"github.com/guardian-go/guardian/revokertest"
)

// topologyEnv returns the variable name's value, or skips the test without
// it (and fails it with CI=true: scripts/test.sh starts the topologies, so
// CI must run their tests). what names the topology in the message.
func topologyEnv(tb testing.TB, name, what string) string {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not set; CI must run the %s tests (scripts/test.sh starts one with scripts/redis-topologies.sh)", name, what)
		}
		tb.Skipf("%s is not set; run eval \"$(scripts/redis-topologies.sh start)\" (or set it) to run the %s tests", name, what)
	}
	return v
}

// skipIfShort skips the load tests with -short (the clock-offset runs of
// scripts/test.sh): they take seconds each and involve no dates.
func skipIfShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("a topology change under load; skipped with -short")
	}
}

// load runs workers that revoke, check and consume through one Store while
// a test changes the topology under them, and records every call that
// failed and every broken promise:
//   - a token whose Revoke returned nil reads as not revoked (with a nil
//     error), ever after;
//   - a fresh token reads as revoked;
//   - of the Consume calls for one token, more than one reports true, or
//     none does though every call answered without an error;
//   - an error that does not wrap guardian.ErrUnavailable (or, with
//     WaitReplicas, redisstore.ErrNotReplicated).
type load struct {
	store   *redisstore.Store
	id      func(kind string) string // a new ID of kind "jti", "sub" or "fam"
	timeout time.Duration            // each call's deadline

	calls atomic.Int64

	mu         sync.Mutex
	revoked    []*guardian.Claims // Revoke returned nil for these
	consumeIDs []string           // shared by the workers' Consume calls
	firsts     map[string]int     // Consume calls that reported true, per jti
	answered   map[string]int     // Consume calls without an error, per jti
	erred      map[string]bool    // a Consume call of this jti failed
	failures   []failure          // calls that returned an error
	broken     []string           // broken promises
}

// failure is one call that returned an error.
type failure struct {
	at  time.Time
	op  string
	err error
}

// startLoad starts workers on s until the returned stop is called, which
// waits for them. id makes the IDs of every token (nil: random ones).
func startLoad(t *testing.T, s *redisstore.Store, workers int, timeout time.Duration, id func(kind string) string) (*load, func()) {
	t.Helper()
	if id == nil {
		id = revokertest.NewID
	}
	l := &load{store: s, id: id, timeout: timeout, firsts: map[string]int{}, answered: map[string]int{}, erred: map[string]bool{}}
	for range 4 {
		l.consumeIDs = append(l.consumeIDs, id("jti"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				l.step(w, i)
			}
		})
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			wg.Wait()
		})
	}
	t.Cleanup(stop)
	return l, stop
}

// step is one call of worker w.
func (l *load) step(w, i int) {
	l.calls.Add(1)
	switch i % 4 {
	case 0: // revoke a new token by one of its IDs, then check it at once
		c := l.claims()
		kind := []guardian.RevocationKind{guardian.ByToken, guardian.BySubject, guardian.ByFamily}[(w+i/4)%3]
		id := map[guardian.RevocationKind]string{guardian.ByToken: c.ID, guardian.BySubject: c.Subject, guardian.ByFamily: c.Family}[kind]
		ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
		err := l.store.Revoke(ctx, guardian.Revocation{Kind: kind, ID: id, At: c.IssuedAt, TTL: time.Hour})
		cancel()
		if err != nil {
			l.fail("Revoke", err)
			return
		}
		l.mu.Lock()
		l.revoked = append(l.revoked, c)
		l.mu.Unlock()
		l.check(c, true, "a token just revoked by "+kind.String())
	case 1: // check a token revoked earlier, by any worker
		l.mu.Lock()
		var c *guardian.Claims
		if len(l.revoked) > 0 {
			c = l.revoked[rand.IntN(len(l.revoked))]
		}
		l.mu.Unlock()
		if c != nil {
			l.check(c, true, "a token revoked earlier")
		}
	case 2: // a fresh token
		l.check(l.claims(), false, "a fresh token")
	case 3: // consume one of the shared tokens; now and then a new one
		l.mu.Lock()
		if rand.IntN(8) == 0 {
			l.consumeIDs = append(l.consumeIDs, l.id("jti"))
		}
		n := len(l.consumeIDs)
		jti := l.consumeIDs[n-1-rand.IntN(min(n, 4))]
		l.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
		first, err := l.store.Consume(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: jti, At: testclock.Now(), TTL: time.Hour})
		cancel()
		l.mu.Lock()
		if err != nil {
			l.erred[jti] = true
		} else {
			l.answered[jti]++
			if first {
				l.firsts[jti]++
			}
		}
		l.mu.Unlock()
		if err != nil {
			l.fail("Consume", err)
		}
	}
}

// claims returns a fresh token's claims with IDs from l.id.
func (l *load) claims() *guardian.Claims {
	c := revokertest.Token(l.id("sub"))
	c.ID, c.Family = l.id("jti"), l.id("fam")
	return c
}

// check checks c and records a wrong answer.
func (l *load) check(c *guardian.Claims, want bool, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	got, err := l.store.Revoked(ctx, c)
	cancel()
	switch {
	case err != nil:
		if got {
			l.breaks(fmt.Sprintf("Revoked(%s) = true with error %v", why, err))
		}
		l.fail("Revoked", err)
	case got != want:
		l.breaks(fmt.Sprintf("Revoked(%s) = %v, nil; want %v (jti %q)", why, got, want, c.ID))
	}
}

func (l *load) fail(op string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, failure{at: time.Now(), op: op, err: err})
	if !errors.Is(err, guardian.ErrUnavailable) && !errors.Is(err, redisstore.ErrNotReplicated) {
		l.broken = append(l.broken, fmt.Sprintf("%s failed with %v, which wraps neither guardian.ErrUnavailable nor redisstore.ErrNotReplicated", op, err))
	}
}

func (l *load) breaks(what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.broken = append(l.broken, what)
}

// failuresBetween returns the failures in [from, to) and those outside.
func (l *load) failuresBetween(from, to time.Time) (in, out []failure) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.failures {
		if !f.at.Before(from) && f.at.Before(to) {
			in = append(in, f)
		} else {
			out = append(out, f)
		}
	}
	return in, out
}

// verify reports every broken promise, then checks once more, after the
// load, that every token revoked during it reads as revoked, and logs what
// the workers did. Call it after stop.
func (l *load) verify(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, b := range l.broken {
		if i == 20 {
			t.Errorf("... and %d more", len(l.broken)-i)
			break
		}
		t.Error(b)
	}
	for jti, n := range l.firsts {
		if n > 1 {
			t.Errorf("Consume(%q) reported true %d times, want once", jti, n)
		}
	}
	consumed := 0
	for _, jti := range l.consumeIDs {
		if l.answered[jti] > 0 && !l.erred[jti] && l.firsts[jti] != 1 {
			t.Errorf("Consume(%q): %d calls answered without an error, %d reported true; want exactly one", jti, l.answered[jti], l.firsts[jti])
		}
		consumed += l.firsts[jti]
	}
	for _, c := range l.revoked {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got, err := l.store.Revoked(ctx, c)
		cancel()
		if err != nil || !got {
			t.Errorf("after the load: Revoked(a token revoked during it, jti %q) = %v, %v; want true, nil", c.ID, got, err)
		}
	}
	t.Logf("load: %d calls, %d revocations, %d tokens consumed, %d failed calls", l.calls.Load(), len(l.revoked), consumed, len(l.failures))
}

// addrPattern matches the addresses in errors, which summarize merges.
var addrPattern = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+:\d+`)

// summarize describes failures for a log or a failure message.
func summarize(fs []failure) string {
	if len(fs) == 0 {
		return "none"
	}
	counts := map[string]int{}
	var order []string
	for _, f := range fs {
		k := f.op + ": " + addrPattern.ReplaceAllString(f.err.Error(), "ADDR")
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d, from %s to %s:", len(fs), fs[0].at.Format("15:04:05.000"), fs[len(fs)-1].at.Format("15:04:05.000"))
	for i, k := range order {
		if i == 5 {
			fmt.Fprintf(&b, "\n\t... %d other kinds", len(order)-i)
			break
		}
		fmt.Fprintf(&b, "\n\t%d× %s", counts[k], k)
	}
	return b.String()
}

// eventually calls f every 100ms until it returns nil, for up to within,
// and fails the test with f's last error otherwise.
func eventually(t *testing.T, within time.Duration, what string, f func() error) {
	t.Helper()
	stop := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(stop) {
			t.Fatalf("%s: not within %v: %v", what, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
