package sqlstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/faultproxy"
	"github.com/guardian-go/guardian/replaytest"
	"github.com/guardian-go/guardian/sqlstore"
)

// replayOptions gives opts unique tables, and so a unique replay table
// named after the revocations table, dropped when the test ends.
func replayOptions(tb testing.TB, b *backend, opts *sqlstore.Options) *sqlstore.Options {
	tb.Helper()
	o := *opts
	uniqueTables(tb, b, &o)
	return &o
}

// TestReplayConformance runs the ReplayCache conformance suite against
// every backend, with the tables swept in the background beside it.
func TestReplayConformance(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		s := openStore(t, b, b.open(t), replayOptions(t, b, &sqlstore.Options{SweepInterval: 50 * time.Millisecond}))
		replaytest.Run(t, func(*testing.T) guardian.ReplayCache { return s })
	})
}

// TestReplayAcrossInstances: a key used through one Store is a replay
// through a second Store with a *sql.DB (a connection pool) of its own on
// the same database, as two instances of a service would have.
func TestReplayAcrossInstances(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		opts := replayOptions(t, b, &sqlstore.Options{SweepInterval: -1})
		a := openStore(t, b, b.open(t), opts)
		other := openStore(t, b, b.open(t), opts)
		replaytest.RunAcrossInstances(t, a, other)
	})
}

// TestReplayStoreClock: a key's ttl is counted on the store's clock
// ([Options].Clock), as revocations are, rounded up to the millisecond;
// an expired key is taken over by the next use, whichever instance makes it.
func TestReplayStoreClock(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		clock := newFakeClock(time.Now())
		opts := replayOptions(t, b, &sqlstore.Options{SweepInterval: -1, Clock: clock.Now})
		s := openStore(t, b, b.open(t), opts)
		other := openStore(t, b, b.open(t), opts)
		k := replaytest.NewKey()
		replaytest.WantUse(t, s, k, time.Minute+time.Microsecond, true, "a fresh key")
		clock.Advance(time.Minute)
		replaytest.WantUse(t, s, k, time.Hour, false, "the key a minute into its ttl of 1m0.000001s")
		clock.Advance(time.Millisecond)
		replaytest.WantUse(t, other, k, 10*time.Second, true, "the key once its ttl (rounded up to the millisecond) has passed, through another instance")
		replaytest.WantUse(t, s, k, time.Hour, false, "the key taken over")
		clock.Advance(10*time.Second - time.Millisecond)
		replaytest.WantUse(t, s, k, time.Hour, false, "the taken-over key, a millisecond before its new ttl ends")
		clock.Advance(time.Millisecond)
		replaytest.WantUse(t, s, k, time.Hour, true, "the taken-over key after its new ttl")
	})
}

// TestReplaySweep: Sweep deletes exactly the expired keys, in batches;
// expired keys are never reported, swept or not.
func TestReplaySweep(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		db := b.open(t)
		clock := newFakeClock(time.Now())
		s := openStore(t, b, db, replayOptions(t, b, &sqlstore.Options{SweepInterval: -1, Clock: clock.Now}))
		sqlstore.SetSweepBatch(s, 2) // force several batches
		ctx := context.Background()
		var short, kept []string
		for i := range 5 {
			k := replaytest.NewKey()
			short = append(short, k)
			replaytest.WantUse(t, s, k, time.Duration(i+1)*time.Second, true, "a fresh short-lived key")
		}
		for range 2 {
			k := replaytest.NewKey()
			kept = append(kept, k)
			replaytest.WantUse(t, s, k, time.Hour, true, "a fresh long-lived key")
		}
		table := quoteTable(b, sqlstore.ReplayTable(s))
		if n, err := s.Sweep(ctx); err != nil || n != 0 {
			t.Fatalf("Sweep with nothing expired = %d, %v; want 0, nil", n, err)
		}
		clock.Advance(time.Minute)
		if got := countRows(t, db, table); got != 7 {
			t.Fatalf("rows before the sweep = %d, want 7", got)
		}
		n, err := s.Sweep(ctx)
		if err != nil || n != 5 {
			t.Fatalf("Sweep = %d, %v; want 5, nil", n, err)
		}
		if got := countRows(t, db, table); got != 2 {
			t.Fatalf("rows after the sweep = %d, want the 2 held keys", got)
		}
		for _, k := range kept {
			replaytest.WantUse(t, s, k, time.Hour, false, "a held key after the sweep")
		}
		for _, k := range short {
			replaytest.WantUse(t, s, k, time.Hour, true, "a swept key, used again")
		}
	})
}

// TestReplayBackgroundSweep: the background sweeper sweeps the replay
// table; a Store without one keeps every key.
func TestReplayBackgroundSweep(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		for _, tt := range []struct {
			name  string
			every time.Duration
			swept bool
		}{{"WithSweeper", 100 * time.Millisecond, true}, {"WithoutSweeper", -1, false}} {
			t.Run(tt.name, func(t *testing.T) {
				db := b.open(t)
				clock := newFakeClock(time.Now())
				s := openStore(t, b, db, replayOptions(t, b, &sqlstore.Options{SweepInterval: tt.every, Clock: clock.Now}))
				table := quoteTable(b, sqlstore.ReplayTable(s))
				for range 3 {
					replaytest.WantUse(t, s, replaytest.NewKey(), time.Second, true, "a fresh short-lived key")
				}
				clock.Advance(time.Minute)
				// The sweeper runs every 100 ms; each round leaves one
				// long-lived key.
				wait := 3 * time.Second // for the sweep; without a sweeper, for none
				if !tt.swept {
					wait = time.Second
				}
				deadline := time.Now().Add(wait)
				for held := 1; ; held++ {
					time.Sleep(150 * time.Millisecond)
					replaytest.WantUse(t, s, replaytest.NewKey(), time.Hour, true, "a fresh long-lived key")
					n := countRows(t, db, table)
					if tt.swept && n == held {
						break // the 3 expired keys are gone, every held one is there
					}
					if !tt.swept && n != held+3 {
						t.Fatalf("%d rows on a store without a sweeper, want %d: every key kept", n, held+3)
					}
					if time.Now().After(deadline) {
						if tt.swept {
							t.Fatalf("%d rows 3s after 3 of %d keys expired; want the expired ones swept in the background", n, held+3)
						}
						break
					}
				}
			})
		}
	})
}

// TestReplayRefusals: what Use refuses, with which error, and that it
// never answers true when it cannot answer.
func TestReplayRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		s := openStore(t, b, b.open(t), replayOptions(t, b, &sqlstore.Options{SweepInterval: -1}))
		ctx := context.Background()
		for _, key := range []string{"", "nul\x00", "bad\xff", strings.Repeat("k", sqlstore.MaxIDLength+1)} {
			first, err := s.Use(ctx, key, time.Hour)
			if first || !errors.Is(err, sqlstore.ErrInvalidID) || errors.Is(err, guardian.ErrUnavailable) {
				t.Errorf("Use(%.20q) = %v, %v; want false and an error wrapping ErrInvalidID, not ErrUnavailable", key, first, err)
			}
		}
		longest := replaytest.NewKey() + strings.Repeat("漢", (sqlstore.MaxIDLength-27)/3)
		replaytest.WantUse(t, s, longest, time.Hour, true, "a fresh key of nearly MaxIDLength bytes")
		replaytest.WantUse(t, s, longest, time.Hour, false, "that key again")
		for _, ttl := range []time.Duration{0, -time.Second} {
			if first, err := s.Use(ctx, replaytest.NewKey(), ttl); err == nil || first {
				t.Errorf("Use(ttl %v) = %v, %v; want false and an error", ttl, first, err)
			}
		}

		// A store whose schema was never created fails closed.
		bare, err := sqlstore.New(b.open(t), b.dialect, replayOptions(t, b, &sqlstore.Options{SweepInterval: -1}))
		if err != nil {
			t.Fatal(err)
		}
		defer bare.Close()
		if first, err := bare.Use(ctx, replaytest.NewKey(), time.Hour); first || !errors.Is(err, guardian.ErrUnavailable) {
			t.Errorf("Use without the replay table = %v, %v; want false and an error wrapping ErrUnavailable", first, err)
		}
		s.Close()
		if first, err := s.Use(ctx, replaytest.NewKey(), time.Hour); first || !errors.Is(err, sqlstore.ErrClosed) {
			t.Errorf("Use after Close = %v, %v; want false, ErrClosed", first, err)
		}
		if _, err := s.Sweep(ctx); !errors.Is(err, sqlstore.ErrClosed) {
			t.Errorf("Sweep after Close = %v, want ErrClosed", err)
		}
	})
}

// TestReplaySchema: the replay table is named after the revocations table,
// in its schema, and is part of Schema in both modes; its DDL works with
// the longest names and qualified names, and CreateSchema stays idempotent,
// also from several instances at once.
func TestReplaySchema(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		for _, tt := range []struct {
			name, table string
			allowList   bool
		}{
			{"48 bytes", "gtest_rev_" + randomSuffix(t) + strings.Repeat("x", 48-22), false},
			{"qualified", b.schemaName(t) + ".gtest_rev_" + randomSuffix(t), false},
			{"allow-list", "", true},
		} {
			t.Run(tt.name, func(t *testing.T) {
				opts := replayOptions(t, b, &sqlstore.Options{SweepInterval: -1, RevocationsTable: tt.table, AllowList: tt.allowList})
				s := openStore(t, b, b.open(t), opts)
				if got, want := sqlstore.ReplayTable(s), opts.RevocationsTable+"_replay"; got != want {
					t.Fatalf("replay table = %q, want %q", got, want)
				}
				name := opts.RevocationsTable[strings.LastIndexByte(opts.RevocationsTable, '.')+1:] + "_replay"
				var found bool
				for _, stmt := range s.Schema() {
					found = found || strings.HasPrefix(stmt, "CREATE TABLE IF NOT EXISTS") && strings.Contains(stmt, name)
				}
				if !found {
					t.Fatalf("Schema() creates no table %s:\n%s", name, strings.Join(s.Schema(), ";\n"))
				}
				var wg sync.WaitGroup
				for range 4 {
					wg.Go(func() {
						if err := s.CreateSchema(context.Background()); err != nil {
							t.Errorf("CreateSchema again, concurrently = %v", err)
						}
					})
				}
				wg.Wait()
				replaytest.WantUse(t, s, replaytest.NewKey(), time.Hour, true, "a fresh key")
			})
		}
	})
}

// TestReplayHungServer: while the server hangs, Use returns by its
// deadline, failing closed, and works again once the server is back.
func TestReplayHungServer(t *testing.T) {
	for _, name := range []string{"postgres", "mysql"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, name)
			opts := replayOptions(t, b, &sqlstore.Options{SweepInterval: -1})
			openStore(t, b, b.open(t), opts) // the schema, created directly
			proxy := faultproxy.New(t, b.serverAddr(t))
			s := openStore(t, b, b.openVia(t, proxy.Addr()), opts)
			used := replaytest.NewKey()
			replaytest.WantUse(t, s, used, time.Hour, true, "a key, before the hang")
			replaytest.WantUse(t, s, used, time.Hour, false, "the key again, before the hang")

			proxy.Set(faultproxy.Stall)
			var wg sync.WaitGroup
			for _, k := range []string{used, replaytest.NewKey(), replaytest.NewKey()} {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
					defer cancel()
					start := time.Now()
					first, err := s.Use(ctx, k, time.Hour)
					if first {
						t.Errorf("Use while the server hangs = true, %v", err)
					}
					wantDeadlineFailure(t, "Use while the server hangs", time.Since(start), err)
				})
			}
			wg.Wait()

			proxy.Set(faultproxy.Pass)
			until := time.Now().Add(10 * time.Second)
			for {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				first, err := s.Use(ctx, used, time.Hour)
				cancel()
				if err == nil {
					if first {
						t.Fatal("Use of a key used before the hang = true after it; want false")
					}
					break
				}
				if time.Now().After(until) {
					t.Fatalf("Use still failing 10s after the server came back: %v", err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
