package sqlstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/guardian-go/guardian/sqlstore"
)

func TestConsume(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		db := b.open(t)
		// The store's clock, moved by hand; fixtures (iat, At) are on the
		// issuer's clock, testclock.Now, which may be a year away from it.
		clock := newFakeClock(time.Now())
		opts := &sqlstore.Options{AllowList: true, SweepInterval: -1, Clock: clock.Now}
		uniqueTables(t, b, opts)
		s := openStore(t, b, db, opts)
		ctx := context.Background()
		consume := func(t *testing.T, s *sqlstore.Store, id string, ttl time.Duration, want bool, why string) {
			t.Helper()
			got, err := s.Consume(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: id, At: testclock.Now(), TTL: ttl})
			if err != nil || got != want {
				t.Fatalf("Consume(%s) = %v, %v; want %v, nil", why, got, err, want)
			}
		}

		t.Run("OnceThenRefused", func(t *testing.T) {
			c := revokertest.Token(revokertest.NewID("sub"))
			if err := s.Record(ctx, c); err != nil {
				t.Fatal(err)
			}
			consume(t, s, c.ID, time.Hour, true, "a fresh token")
			consume(t, s, c.ID, time.Hour, false, "the same token again")
			revokertest.WantRevoked(t, s, c, true, "a consumed token")
			if list, err := s.ActiveTokens(ctx, c.Subject); err != nil || len(list) != 0 {
				t.Fatalf("ActiveTokens() after Consume = %v, %v; want none: Consume deletes the recorded row", list, err)
			}
		})

		t.Run("RevokedByRevoke", func(t *testing.T) {
			c := revokertest.Token(revokertest.NewID("sub"))
			revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour})
			consume(t, s, c.ID, time.Hour, false, "a token revoked by Revoke")
		})

		t.Run("ExpiredRecordReplaced", func(t *testing.T) {
			id := revokertest.NewID("jti")
			consume(t, s, id, time.Minute, true, "a fresh token")
			clock.Advance(time.Minute - time.Millisecond)
			consume(t, s, id, time.Hour, false, "a token whose record has a millisecond left")
			clock.Advance(time.Millisecond)
			consume(t, s, id, time.Hour, true, "a token whose earlier record has been held for its TTL")
			consume(t, s, id, time.Hour, false, "the same token again")
		})

		t.Run("TTLRoundedUp", func(t *testing.T) {
			// The column holds milliseconds: a TTL of 1.5 ms must keep the
			// record for 2 ms, not 1.
			id := revokertest.NewID("jti")
			consume(t, s, id, 1500*time.Microsecond, true, "a fresh token, kept 1.5 ms")
			clock.Advance(time.Millisecond)
			consume(t, s, id, time.Hour, false, "the token 1 ms later, within its TTL")
			clock.Advance(time.Millisecond)
			consume(t, s, id, time.Hour, true, "the token 2 ms later, its TTL passed")
		})

		t.Run("Refusals", func(t *testing.T) {
			now := testclock.Now()
			tests := []struct {
				name string
				r    guardian.Revocation
			}{
				{name: "family", r: guardian.Revocation{Kind: guardian.ByFamily, ID: "f", At: now, TTL: time.Hour}},
				{name: "subject", r: guardian.Revocation{Kind: guardian.BySubject, ID: "s", At: now, TTL: time.Hour}},
				{name: "no TTL", r: guardian.Revocation{Kind: guardian.ByToken, ID: "t", At: now}},
				{name: "negative TTL", r: guardian.Revocation{Kind: guardian.ByToken, ID: "t", At: now, TTL: -time.Second}},
				{name: "TTL too long", r: guardian.Revocation{Kind: guardian.ByToken, ID: "t", At: now, TTL: guardian.MaxRevocationTTL + time.Millisecond}},
				{name: "empty ID", r: guardian.Revocation{Kind: guardian.ByToken, At: now, TTL: time.Hour}},
				{name: "ID too long", r: guardian.Revocation{Kind: guardian.ByToken, ID: strings.Repeat("t", sqlstore.MaxIDLength+1), At: now, TTL: time.Hour}},
				{name: "ID with NUL", r: guardian.Revocation{Kind: guardian.ByToken, ID: "t\x00", At: now, TTL: time.Hour}},
				{name: "ID not UTF-8", r: guardian.Revocation{Kind: guardian.ByToken, ID: "t\xff", At: now, TTL: time.Hour}},
			}
			for _, tt := range tests {
				got, err := s.Consume(ctx, tt.r)
				if err == nil || got {
					t.Errorf("Consume(%s) = %v, %v; want false and an error", tt.name, got, err)
				}
				if !errors.Is(err, guardian.ErrInvalidRevocation) {
					t.Errorf("Consume(%s) error = %v, want it to wrap guardian.ErrInvalidRevocation", tt.name, err)
				}
				if errors.Is(err, guardian.ErrUnavailable) {
					t.Errorf("Consume(%s) error = %v wraps guardian.ErrUnavailable: a caller's mistake is not an outage", tt.name, err)
				}
			}
		})

		t.Run("RaceAcrossInstances", func(t *testing.T) {
			// Several stores, each with its own pool, as several instances
			// of a service would be.
			var stores []*sqlstore.Store
			for range 3 {
				other, err := sqlstore.New(b.open(t), b.dialect, opts)
				if err != nil {
					t.Fatal(err)
				}
				defer other.Close()
				stores = append(stores, other)
			}
			for range 5 {
				id := revokertest.NewID("jti")
				var wins atomic.Int32
				var wg sync.WaitGroup
				for i := range 12 {
					wg.Go(func() {
						first, err := stores[i%len(stores)].Consume(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: id, At: testclock.Now(), TTL: time.Hour})
						if err != nil {
							t.Errorf("Consume() = %v", err)
						}
						if first {
							wins.Add(1)
						}
					})
				}
				wg.Wait()
				if got := wins.Load(); got != 1 {
					t.Fatalf("%d of 12 concurrent Consume calls across 3 stores reported first, want exactly 1", got)
				}
			}
		})
	})
}

// TestConsumeMySQLClientFoundRows checks that Consume does not depend on how
// the MySQL driver counts affected rows.
func TestConsumeMySQLClientFoundRows(t *testing.T) {
	b := newBackend(t, "mysql")
	sep := "?"
	if strings.Contains(b.dsn, "?") {
		sep = "&"
	}
	b.dsn += sep + "clientFoundRows=true"
	s := newStore(t, b, b.open(t), nil)
	ctx := context.Background()
	now := testclock.Now()
	id := revokertest.NewID("jti")
	for i, want := range []bool{true, false, false} {
		got, err := s.Consume(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: id, At: now, TTL: time.Hour})
		if err != nil || got != want {
			t.Fatalf("Consume() #%d with clientFoundRows = %v, %v; want %v, nil", i+1, got, err, want)
		}
	}
}
