package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/faultproxy"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/guardian-go/guardian/sqlstore"
)

// Deadlines of the tests below: every call is given callTimeout and must
// return, with an error, within callTimeout+callSlack.
const (
	callTimeout = 300 * time.Millisecond
	callSlack   = 200 * time.Millisecond
)

// wantDeadlineFailure checks that a call given a callTimeout deadline
// returned in time, failing closed: an error wrapping guardian.ErrUnavailable
// and context.DeadlineExceeded.
func wantDeadlineFailure(t *testing.T, call string, took time.Duration, err error) {
	t.Helper()
	if took > callTimeout+callSlack {
		t.Errorf("%s took %v with a %v deadline, want at most %v", call, took.Round(time.Millisecond), callTimeout, callTimeout+callSlack)
	}
	switch {
	case err == nil:
		t.Errorf("%s = nil error while the server hangs, want an error", call)
	case !errors.Is(err, guardian.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded):
		t.Errorf("%s = %v, want an error wrapping guardian.ErrUnavailable and context.DeadlineExceeded", call, err)
	}
}

// storeCalls are one call of every method of s that uses the database, for
// tokens of a subject of their own.
func storeCalls(s *sqlstore.Store) []struct {
	name string
	call func(ctx context.Context) error
} {
	now := testclock.Now()
	c := revokertest.TokenAt(revokertest.NewID("sub"), now)
	return []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Revoked", func(ctx context.Context) error { _, err := s.Revoked(ctx, c); return err }},
		{"Record", func(ctx context.Context) error { return s.Record(ctx, revokertest.TokenAt(c.Subject, now)) }},
		{"Revoke(token)", func(ctx context.Context) error {
			return s.Revoke(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: now, TTL: time.Hour})
		}},
		{"Revoke(family)", func(ctx context.Context) error {
			return s.Revoke(ctx, guardian.Revocation{Kind: guardian.ByFamily, ID: revokertest.NewID("fam"), At: now, TTL: time.Hour})
		}},
		{"Revoke(subject)", func(ctx context.Context) error {
			return s.Revoke(ctx, guardian.Revocation{Kind: guardian.BySubject, ID: revokertest.NewID("sub"), At: now, TTL: time.Hour})
		}},
		{"Consume", func(ctx context.Context) error {
			_, err := s.Consume(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: now, TTL: time.Hour})
			return err
		}},
		{"Live", func(ctx context.Context) error { return s.Live(ctx, func(guardian.Revocation) error { return nil }) }},
		{"ActiveTokens", func(ctx context.Context) error { _, err := s.ActiveTokens(ctx, c.Subject); return err }},
		{"RevokeAll", func(ctx context.Context) error { _, err := s.RevokeAll(ctx, revokertest.NewID("sub")); return err }},
		{"Sweep", func(ctx context.Context) error { _, err := s.Sweep(ctx); return err }},
		{"CreateSchema", s.CreateSchema},
	}
}

// TestStuckPreparationHonoursDeadlines hangs the server while calls are
// preparing the store's statements, which it does on first use: a call
// with a long deadline stays stuck preparing, and calls with short
// deadlines that need the same statement must not wait for it, but return
// at their own deadline.
func TestStuckPreparationHonoursDeadlines(t *testing.T) {
	for _, name := range []string{"postgres", "mysql"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, name)
			opts := &sqlstore.Options{AllowList: true, SweepInterval: -1}
			uniqueTables(t, b, opts)
			openStore(t, b, b.open(t), opts) // the schema, created directly

			proxy := faultproxy.New(t, b.serverAddr(t))
			db := b.openVia(t, proxy.Addr())
			if err := db.PingContext(context.Background()); err != nil { // one idle connection
				t.Fatal(err)
			}
			s, err := sqlstore.New(db, b.dialect, opts) // nothing prepared yet
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			now := testclock.Now()
			c := revokertest.TokenAt(revokertest.NewID("sub"), now)
			// One call per prepared statement (Revoked, Revoke's upsert,
			// Record), each to be stuck preparing it.
			hot := []struct {
				name string
				call func(ctx context.Context) error
			}{
				{"Revoked", func(ctx context.Context) error { _, err := s.Revoked(ctx, c); return err }},
				{"Revoke", func(ctx context.Context) error {
					return s.Revoke(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: now, TTL: time.Hour})
				}},
				{"Record", func(ctx context.Context) error { return s.Record(ctx, revokertest.TokenAt(c.Subject, now)) }},
			}

			proxy.Set(faultproxy.Stall)
			const long = 5 * time.Second
			var stuck sync.WaitGroup
			stuckDone := make(chan string, len(hot))
			for _, h := range hot {
				stuck.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), long)
					defer cancel()
					h.call(ctx) // fails or succeeds once the proxy passes again
					stuckDone <- h.name
				})
			}
			time.Sleep(200 * time.Millisecond) // the long calls are preparing
			select {
			case name := <-stuckDone:
				t.Fatalf("%s with a %v deadline returned while the server hangs; want it stuck", name, long)
			default:
			}

			var wg sync.WaitGroup
			for _, h := range hot {
				for i := range 3 {
					wg.Go(func() {
						ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
						defer cancel()
						start := time.Now()
						err := h.call(ctx)
						wantDeadlineFailure(t, fmt.Sprintf("%s #%d, while another call is stuck preparing it", h.name, i+1), time.Since(start), err)
					})
				}
			}
			wg.Wait()

			proxy.Set(faultproxy.Pass)
			stuck.Wait()
			// The store works again by itself.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			fresh := revokertest.TokenAt(revokertest.NewID("sub"), now)
			if err := s.Record(ctx, fresh); err != nil {
				t.Fatalf("Record() after the server came back = %v", err)
			}
			if got, err := s.Revoked(ctx, fresh); err != nil || got {
				t.Fatalf("Revoked(a recorded token) after the server came back = %v, %v; want false, nil", got, err)
			}
		})
	}
}

// TestHungServerHonoursDeadlines hangs the server under a store whose
// statements are prepared and whose connections are open (the proxy stops
// forwarding mid-query), and checks that every method returns by its
// deadline, failing closed, with both drivers.
func TestHungServerHonoursDeadlines(t *testing.T) {
	for _, name := range []string{"postgres", "mysql"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, name)
			proxy := faultproxy.New(t, b.serverAddr(t))
			db := b.openVia(t, proxy.Addr())
			s := newStore(t, b, db, &sqlstore.Options{AllowList: true, SweepInterval: -1})
			ctx := context.Background()
			for _, c := range storeCalls(s) { // prepares and opens connections
				if err := c.call(ctx); err != nil {
					t.Fatalf("%s with the server up = %v", c.name, err)
				}
			}

			proxy.Set(faultproxy.Stall)
			for _, c := range storeCalls(s) {
				ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
				start := time.Now()
				err := c.call(ctx)
				took := time.Since(start)
				cancel()
				wantDeadlineFailure(t, c.name+" while the server hangs", took, err)
			}
			// Concurrently, as a busy server calls them.
			var wg sync.WaitGroup
			for _, c := range storeCalls(s) {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
					defer cancel()
					start := time.Now()
					err := c.call(ctx)
					wantDeadlineFailure(t, c.name+" while the server hangs, concurrently", time.Since(start), err)
				})
			}
			wg.Wait()

			proxy.Set(faultproxy.Pass)
			deadline := time.Now().Add(10 * time.Second)
			for _, c := range storeCalls(s) {
				for {
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					err := c.call(ctx)
					cancel()
					if err == nil {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s still failing 10s after the server came back: %v", c.name, err)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
}
