// Package replaytest is the conformance suite for implementations of
// [guardian.ReplayCache]. Every replay cache in this repository runs it,
// the shared stores against a real server, and third-party caches can run
// it too:
//
//	func TestReplayConformance(t *testing.T) {
//		replaytest.Run(t, func(t *testing.T) guardian.ReplayCache {
//			return mystore.New(db) // may be shared by every subtest
//		})
//	}
//
// # What the contract means
//
// Use(ctx, key, ttl) records key for ttl and answers whether this call is
// its first use within that time. The suite holds a cache to this:
//
//   - The first Use of a key answers true; every later Use within the ttl
//     answers false. Keys are independent: using one never makes another
//     look used.
//   - Racing calls are no exception: of 64 goroutines using one key at
//     once, exactly one is told true. (For a cache shared by several
//     instances of a service, [RunAcrossInstances] checks the same through
//     two handles on one store.)
//   - The ttl is real time, measured by the cache (a store counts it on its
//     own clock from when it receives the write): a key is held for at
//     least its ttl and forgotten soon after, and then its next Use is a
//     first use again, which records it anew. A ttl under a second (such
//     as 1.5 s) is neither rounded to zero nor truncated to whole seconds;
//     a store may round it up, to the millisecond for instance.
//   - A key is any non-empty string of valid UTF-8 without NUL bytes, up
//     to 256 bytes (guardian's [guardian.DPoPVerifier] uses "dpop." and 22
//     base64url characters), compared byte for byte: no case folding, no
//     trimming of trailing spaces, no pattern matching, no escaping
//     trouble with quotes.
//   - A cache that cannot answer returns an error, never true: the caller
//     then refuses (fail closed) and must not assume the key was recorded.
//     A canceled or expired ctx is such a case, and the call returns
//     promptly rather than hang.
//
// The suite uses fresh random keys in every subtest, so one cache (and one
// database) may serve them all; subtests run in parallel, and the whole
// suite takes about 2.2 s of real time, the wait for a 1 s ttl to pass.
package replaytest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
)

// expiryWait is how long the expiry subtests wait for a 1 s ttl to pass:
// more than twice the ttl, so that a store whose expiry runs a little late
// (Redis expires keys lazily or by sampling, but never reports one past its
// ttl) still passes.
const expiryWait = 2200 * time.Millisecond

// promptly bounds a call with a canceled or expired ctx.
const promptly = 2 * time.Second

// long is a ttl no subtest outlives.
const long = time.Hour

// Run runs every conformance test against ReplayCaches made by newCache.
// newCache is called once per subtest, with that subtest's t; it may
// return the same cache each time.
func Run(t *testing.T, newCache func(t *testing.T) guardian.ReplayCache) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, c guardian.ReplayCache)
	}{
		{"FirstUseThenReplay", testFirstUse},
		{"DistinctKeysIndependent", testDistinct},
		{"ConcurrentUseOfOneKey", testRace},
		{"ConcurrentDistinctKeys", testConcurrentDistinct},
		{"ForgottenAfterTTL", testExpiry},
		{"FirstAgainAfterExpiry", testReuseAfterExpiry},
		{"SubSecondTTL", testSubSecond},
		{"UnusualKeys", testUnusualKeys},
		{"CanceledContext", testCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newCache(t))
		})
	}
}

// RunAcrossInstances checks that a and b, two handles on one shared store
// (two clients, two connection pools, as two instances of a service would
// have), answer as one cache: a key used through one is a replay through
// the other, and of calls racing through both exactly one is first.
func RunAcrossInstances(t *testing.T, a, b guardian.ReplayCache) {
	t.Helper()
	k := NewKey()
	WantUse(t, a, k, long, true, "the first use, through the first instance")
	WantUse(t, b, k, long, false, "a replay through the second instance")
	WantUse(t, a, k, long, false, "a replay through the first instance")

	k2 := NewKey()
	WantUse(t, b, k2, long, true, "the first use of another key, through the second instance")
	WantUse(t, a, k2, long, false, "that key's replay through the first instance")

	const racers = 32
	k3 := NewKey()
	if n := race(t, racers, k3, func(i int) guardian.ReplayCache {
		if i%2 == 0 {
			return a
		}
		return b
	}); n != 1 {
		t.Fatalf("%d of %d concurrent uses of one key through two instances reported first; want exactly 1", n, racers)
	}
}

// NewKey returns a fresh random key shaped like those of guardian's
// DPoPVerifier: "dpop." and 22 base64url characters.
func NewKey() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return "dpop." + base64.RawURLEncoding.EncodeToString(b[:])
}

// WantUse fails the test at once unless c.Use(key, ttl) answers want with
// a nil error. why describes the call in the failure message.
func WantUse(tb testing.TB, c guardian.ReplayCache, key string, ttl time.Duration, want bool, why string) {
	tb.Helper()
	got, err := c.Use(context.Background(), key, ttl)
	if err != nil {
		tb.Fatalf("Use(%s: %.60q, %v) error = %v, want nil", why, key, ttl, err)
	}
	if got != want {
		tb.Fatalf("Use(%s: %.60q, %v) = %v, want %v", why, key, ttl, got, want)
	}
}

func testFirstUse(t *testing.T, c guardian.ReplayCache) {
	k := NewKey()
	WantUse(t, c, k, long, true, "a fresh key")
	WantUse(t, c, k, long, false, "the same key again")
	WantUse(t, c, k, long, false, "the same key a third time")
	WantUse(t, c, k, time.Second, false, "the same key with a shorter ttl")
}

func testDistinct(t *testing.T, c guardian.ReplayCache) {
	a, b := NewKey(), NewKey()
	WantUse(t, c, a, long, true, "a fresh key")
	WantUse(t, c, b, long, true, "another fresh key, after the first was used")
	WantUse(t, c, a, long, false, "the first key again")
	WantUse(t, c, b, long, false, "the second key again")
	WantUse(t, c, a[:len(a)-1], long, true, "a prefix of a used key")
	WantUse(t, c, a+"x", long, true, "a used key with a character appended")
}

// race has n goroutines use key at once, the i-th through cacheFor(i), and
// returns how many were told first. Errors fail the test.
func race(t *testing.T, n int, key string, cacheFor func(i int) guardian.ReplayCache) int {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	firsts := make(chan bool, n)
	for i := range n {
		c := cacheFor(i)
		wg.Go(func() {
			<-start
			first, err := c.Use(context.Background(), key, long)
			if err != nil {
				t.Errorf("concurrent Use = %v, want nil", err)
				return
			}
			firsts <- first
		})
	}
	close(start)
	wg.Wait()
	close(firsts)
	count := 0
	for f := range firsts {
		if f {
			count++
		}
	}
	return count
}

func testRace(t *testing.T, c guardian.ReplayCache) {
	const racers = 64
	for round := range 3 {
		k := NewKey()
		if n := race(t, racers, k, func(int) guardian.ReplayCache { return c }); n != 1 {
			t.Fatalf("round %d: %d of %d concurrent uses of one key reported first; want exactly 1", round+1, n, racers)
		}
		WantUse(t, c, k, long, false, "a key after the race for it")
	}
}

func testConcurrentDistinct(t *testing.T, c guardian.ReplayCache) {
	const workers, each = 16, 8
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				k := NewKey()
				for i, want := range []bool{true, false} {
					got, err := c.Use(context.Background(), k, long)
					if err != nil {
						t.Errorf("Use #%d of a key of its own, concurrently = %v", i+1, err)
						return
					}
					if got != want {
						t.Errorf("Use #%d of a key of its own, while other goroutines use theirs = %v, want %v", i+1, got, want)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// testExpiry: a key used with a ttl of 1 s is forgotten 2.2 s later, while
// a key used at the same moment with a long ttl is still held. Elapsed
// time, not dates: measured on the machine's monotonic clock.
func testExpiry(t *testing.T, c guardian.ReplayCache) {
	short, kept := NewKey(), NewKey()
	WantUse(t, c, short, time.Second, true, "a fresh key with a 1s ttl")
	WantUse(t, c, kept, long, true, "a fresh key with a long ttl")
	start := time.Now()
	WantUse(t, c, short, time.Second, false, "the 1s key again, at once")
	time.Sleep(expiryWait - time.Since(start))
	WantUse(t, c, short, time.Second, true, fmt.Sprintf("the 1s key, %v after its first use: its ttl has passed, so it must be forgotten", expiryWait))
	WantUse(t, c, kept, long, false, fmt.Sprintf("the key with a long ttl, %v after its first use", expiryWait))
}

// testReuseAfterExpiry: a key first again after its ttl is recorded again:
// its next use is a replay, for the new ttl.
func testReuseAfterExpiry(t *testing.T, c guardian.ReplayCache) {
	k := NewKey()
	WantUse(t, c, k, time.Second, true, "a fresh key with a 1s ttl")
	time.Sleep(expiryWait)
	WantUse(t, c, k, long, true, "the key after its ttl, now with a long ttl")
	WantUse(t, c, k, long, false, "the key right after it was used again after its expiry")
	WantUse(t, c, k, long, false, "the key once more")
}

// testSubSecond: a ttl of 1.5 s is not rounded to zero, nor down to a
// whole second.
func testSubSecond(t *testing.T, c guardian.ReplayCache) {
	k := NewKey()
	WantUse(t, c, k, 1500*time.Millisecond, true, "a fresh key with a 1.5s ttl")
	start := time.Now()
	WantUse(t, c, k, 1500*time.Millisecond, false, "the 1.5s key right after (a ttl under 2s must not become 0)")
	time.Sleep(time.Second - time.Since(start))
	WantUse(t, c, k, 1500*time.Millisecond, false, "the 1.5s key, about 1s in (its ttl must not be cut to a whole second)")
}

func testUnusualKeys(t *testing.T, c guardian.ReplayCache) {
	base := NewKey()
	long256 := base + strings.Repeat("x", 256-len(base))
	wide := base + strings.Repeat("漢", (256-len(base))/3) // 3 bytes each
	emoji := base + strings.Repeat("🙂", (256-len(base))/4)
	keys := []string{
		base + `'; DROP TABLE x; --`,
		base + `"quoted" and 'single'`,
		base + `with:colons:and*glob?[x]{braces}`,
		base + "percent%_underscore\\back\\slash",
		base + "unicode-é-漢字-🙂",
		base + "tab\tnewline\nreturn\r",
		base + "CaseSensitive",
		base + "casesensitive",
		base + "trailing",
		base + "trailing ",
		base + "trailing  ",
		base + "e\u0301", // e and a combining accent: not é
		base + "é",
		long256, wide, emoji,
	}
	for _, k := range keys {
		if len(k) > 256 {
			t.Fatalf("test key of %d bytes, more than 256", len(k))
		}
	}
	for _, k := range keys {
		WantUse(t, c, k, long, true, fmt.Sprintf("a fresh key of %d bytes", len(k)))
	}
	for _, k := range keys {
		WantUse(t, c, k, long, false, fmt.Sprintf("the key of %d bytes again", len(k)))
	}
	WantUse(t, c, long256[:255], long, true, "a 255-byte prefix of a used 256-byte key")
}

func testCanceled(t *testing.T, c guardian.ReplayCache) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	for _, tc := range []struct {
		name string
		ctx  context.Context
	}{{"a canceled ctx", canceled}, {"a ctx past its deadline", expired}} {
		k := NewKey()
		start := time.Now()
		first, err := c.Use(tc.ctx, k, long)
		if elapsed := time.Since(start); elapsed > promptly {
			t.Errorf("Use(%s) took %v, want at most %v", tc.name, elapsed, promptly)
		}
		if err == nil {
			t.Errorf("Use(%s) = %v, nil; want an error (a cache that cannot answer must not say either way)", tc.name, first)
			continue
		}
		if first {
			t.Errorf("Use(%s) = true, %v; want false with the error", tc.name, err)
		}
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			t.Logf("Use(%s) = %v (does not wrap the context error; allowed, but wrapping helps callers)", tc.name, err)
		}
	}
	// The cache still answers afterwards.
	WantUse(t, c, NewKey(), long, true, "a fresh key after the canceled calls")
}
