package sqlstore_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/guardian-go/guardian/sqlstore"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ ms atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ms.Store(t.UnixMilli())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

// TestSweep checks that Sweep deletes exactly the expired rows of both
// tables, in batches, and that expired rows are never reported even before
// they are swept.
func TestSweep(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		db := b.open(t)
		clock := newFakeClock(time.Now()) // the store's clock
		opts := &sqlstore.Options{AllowList: true, SweepInterval: -1, Clock: clock.Now}
		uniqueTables(t, b, opts)
		s := openStore(t, b, db, opts)
		sqlstore.SetSweepBatch(s, 2) // force several batches
		ctx := context.Background()
		now := testclock.Now() // the issuer's clock, for the fixtures

		sub := revokertest.NewID("sub")
		for _, r := range []guardian.Revocation{
			{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: now, TTL: time.Minute},
			{Kind: guardian.ByFamily, ID: revokertest.NewID("fam"), At: now, TTL: time.Minute},
			{Kind: guardian.BySubject, ID: revokertest.NewID("sub"), At: now, TTL: time.Minute},
			{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: now, TTL: time.Minute},
			{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: now, TTL: 2 * time.Hour},
		} {
			revokertest.MustRevoke(t, s, r)
		}
		// Recorded rows live for the token's lifetime (exp - iat) plus a
		// margin of a few minutes, on the store's clock.
		short := revokertest.TokenAt(sub, now)
		short.ExpiresAt = short.IssuedAt.Add(time.Minute)
		long := revokertest.TokenAt(sub, now)
		long.ExpiresAt = long.IssuedAt.Add(time.Hour)
		for _, c := range []*guardian.Claims{short, long} {
			if err := s.Record(ctx, c); err != nil {
				t.Fatal(err)
			}
		}

		if n, err := s.Sweep(ctx); err != nil || n != 0 {
			t.Fatalf("Sweep() before anything expired = %d, %v; want 0, nil", n, err)
		}
		clock.Advance(30 * time.Minute)
		revokertest.WantRevoked(t, s, short, true, "a recorded token held past its lifetime and margin, not yet swept")
		revokertest.WantRevoked(t, s, long, false, "a recorded token within its lifetime")
		n, err := s.Sweep(ctx)
		// Each Revoke logged a change, kept sqlstore.ChangeRetention and
		// while it is one of the last KeptChanges.
		changes := quoteTable(b, opts.RevocationsTable+"_changes")
		if err != nil || n != 5 {
			t.Fatalf("Sweep() = %d, %v; want 5 (4 revocations, 1 token; the 5 changes are the last ones), nil", n, err)
		}
		if got := countRows(t, db, changes); got != 5 {
			t.Errorf("change log rows after Sweep = %d, want the 5 latest kept", got)
		}
		// As if KeptChanges more changes had been logged since.
		bumpCounter(t, b, db, *opts, sqlstore.KeptChanges-1)
		if n, err := s.Sweep(ctx); err != nil || n != 4 {
			t.Fatalf("Sweep() after %d more changes = %d, %v; want 4 (the changes older than %v and not among the last %d), nil", sqlstore.KeptChanges-1, n, err, sqlstore.ChangeRetention, sqlstore.KeptChanges)
		}
		bumpCounter(t, b, db, *opts, 1)
		if n, err := s.Sweep(ctx); err != nil || n != 1 {
			t.Fatalf("Sweep() after one more = %d, %v; want 1, nil", n, err)
		}
		if got := countRows(t, db, changes); got != 0 {
			t.Errorf("change log rows after Sweep = %d, want 0", got)
		}
		if got := countRows(t, db, opts.RevocationsTable); got != 1 {
			t.Errorf("revocation rows after Sweep = %d, want 1", got)
		}
		if got := countRows(t, db, opts.TokensTable); got != 1 {
			t.Errorf("token rows after Sweep = %d, want 1", got)
		}
		if n, err := s.Sweep(ctx); err != nil || n != 0 {
			t.Fatalf("second Sweep() = %d, %v; want 0, nil", n, err)
		}
		revokertest.WantRevoked(t, s, long, false, "a recorded token that survived the sweep")
	})
}

// TestSweeper checks that the background sweeper deletes expired rows on
// its own, and that Close stops it.
func TestSweeper(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		db := b.open(t)
		opts := &sqlstore.Options{SweepInterval: 20 * time.Millisecond}
		uniqueTables(t, b, opts)
		s := openStore(t, b, db, opts)
		now := testclock.Now()
		for range 3 {
			revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: now, TTL: 100 * time.Millisecond})
		}
		revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: now, TTL: time.Hour})
		deadline := time.Now().Add(10 * time.Second)
		for countRows(t, db, opts.RevocationsTable) != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("revocation rows = %d 10s after they expired, want 1: the sweeper did not run", countRows(t, db, opts.RevocationsTable))
			}
			time.Sleep(20 * time.Millisecond)
		}
		done := sqlstore.SweeperDone(s)
		if done == nil {
			t.Fatal("store has no sweeper")
		}
		s.Close()
		select {
		case <-done:
		default:
			t.Fatal("sweeper still running after Close returned")
		}
	})
}

// TestSweeperDisabled checks that a negative interval starts no goroutine.
func TestSweeperDisabled(t *testing.T) {
	b := newBackend(t, "sqlite")
	s := newStore(t, b, b.open(t), &sqlstore.Options{SweepInterval: -1})
	if done := sqlstore.SweeperDone(s); done != nil {
		t.Fatal("SweepInterval < 0 started a sweeper")
	}
}

// TestSweeperNoGoroutineLeak counts goroutines: after Close, as many run as
// before New. Not parallel, so that other tests do not move the count.
func TestSweeperNoGoroutineLeak(t *testing.T) {
	b := newBackend(t, "sqlite")
	db := b.open(t)
	opts := &sqlstore.Options{SweepInterval: time.Millisecond}
	uniqueTables(t, b, opts)
	warm, err := sqlstore.New(db, b.dialect, &sqlstore.Options{SweepInterval: -1, RevocationsTable: opts.RevocationsTable})
	if err != nil {
		t.Fatal(err)
	}
	if err := warm.CreateSchema(context.Background()); err != nil {
		t.Fatal(err)
	}
	warm.Close()

	before := runtime.NumGoroutine()
	for range 5 {
		s, err := sqlstore.New(db, b.dialect, opts)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // a few sweeps
		s.Close()
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		after := runtime.NumGoroutine()
		if after <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines after Close = %d, before New = %d; leaked:\n%s", after, before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
