package guardian_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/revokertest"
)

func TestMemoryRevokerConformance(t *testing.T) {
	shared := guardian.NewMemoryRevoker(nil)
	t.Cleanup(func() { shared.Close() })
	revokertest.Run(t, func(t *testing.T) guardian.Revoker { return shared })
}

// settable is a clock for the revoker's side, independent of any issuer's.
type settable struct {
	mu  sync.Mutex
	now time.Time
}

func (c *settable) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *settable) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }
func newSettable(start time.Time) *settable { return &settable{now: start} }
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMemoryRevokerSweepsOnATimer: expired records go without any further
// Revoke (the old revoker swept only inside a later Revoke), and the timer
// stops by itself once nothing is left.
func TestMemoryRevokerSweepsOnATimer(t *testing.T) {
	clock := newSettable(t0)
	m := guardian.NewMemoryRevoker(&guardian.MemoryRevokerOptions{Clock: clock.Now, SweepInterval: 5 * time.Millisecond})
	defer m.Close()
	ctx := context.Background()
	for i, kind := range []guardian.RevocationKind{guardian.ByToken, guardian.ByFamily, guardian.BySubject} {
		if err := m.Revoke(ctx, guardian.Revocation{Kind: kind, ID: "id", At: t0, TTL: time.Duration(i+1) * time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Len(); got != 3 {
		t.Fatalf("Len() = %d, want 3", got)
	}
	clock.Advance(2*time.Minute + time.Second)
	waitFor(t, "the token and family records swept by the timer", func() bool { return m.Len() == 1 })
	clock.Advance(time.Hour)
	waitFor(t, "every record swept by the timer", func() bool { return m.Len() == 0 })
}

// TestMemoryRevokerGivesMemoryBack: after a million logouts have expired,
// the heap goes back to what it was (Go maps never shrink by themselves:
// the old revoker kept 192 MiB for 2 records).
func TestMemoryRevokerGivesMemoryBack(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a million records")
	}
	const n = 1_000_000
	clock := newSettable(t0)
	m := guardian.NewMemoryRevoker(&guardian.MemoryRevokerOptions{Clock: clock.Now, SweepInterval: 10 * time.Millisecond})
	defer m.Close()
	ctx := context.Background()
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	before := heap()
	for i := range n {
		if err := m.Revoke(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: fmt.Sprintf("jti-%07d", i), At: t0, TTL: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Revoke(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: "survivor", At: t0, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	full := heap()
	clock.Advance(2 * time.Minute)
	waitFor(t, "the expired million swept", func() bool { return m.Len() == 1 })
	after := heap()
	t.Logf("heap in use: %d MiB before, %d MiB with %d records, %d MiB after they expired", before>>20, full>>20, n+1, after>>20)
	if after > before+8<<20 {
		t.Fatalf("heap in use after every record but one expired = %d MiB, %d MiB before: the maps kept their memory", after>>20, before>>20)
	}
	if got, _ := m.Revoked(ctx, &guardian.Claims{ID: "survivor"}); !got {
		t.Fatal("the live record was lost when the map was rebuilt")
	}
}

// TestMemoryRevokerClose: after Close no timer runs; the revoker still
// answers, and Sweep still drops what has expired.
func TestMemoryRevokerClose(t *testing.T) {
	clock := newSettable(t0)
	m := guardian.NewMemoryRevoker(&guardian.MemoryRevokerOptions{Clock: clock.Now, SweepInterval: time.Millisecond})
	ctx := context.Background()
	if err := m.Revoke(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: "a", At: t0, TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	time.Sleep(20 * time.Millisecond)
	if got := m.Len(); got != 1 {
		t.Fatalf("Len() after Close = %d, want 1: the timer swept after Close", got)
	}
	m.Sweep()
	if got := m.Len(); got != 0 {
		t.Fatalf("Len() after Sweep = %d, want 0", got)
	}
	if err := m.Revoke(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: "b", At: t0, TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Revoked(ctx, &guardian.Claims{ID: "b"}); !got {
		t.Fatal("a revocation made after Close is not seen")
	}
}
