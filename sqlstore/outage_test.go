package sqlstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/faultproxy"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/guardian-go/guardian/sqlstore"
)

// TestOutage puts a fault proxy between the store and the server, makes the
// server unreachable (Cut) or hung (Stall) mid-test, and checks that the
// store fails closed within the request's deadline, without panicking, and
// recovers by itself when the server is back.
func TestOutage(t *testing.T) {
	for _, name := range []string{"postgres", "mysql"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, name)
			proxy := faultproxy.New(t, b.serverAddr(t))
			db := b.openVia(t, proxy.Addr())
			s := newStore(t, b, db, &sqlstore.Options{AllowList: true, SweepInterval: -1})
			ctx := context.Background()
			now := testclock.Now()
			revoked, live := revokertest.TokenAt(revokertest.NewID("sub"), now), revokertest.TokenAt(revokertest.NewID("sub"), now)
			for _, c := range []*guardian.Claims{revoked, live} {
				if err := s.Record(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByToken, ID: revoked.ID, At: now, TTL: time.Hour})
			revokertest.WantRevoked(t, s, revoked, true, "a revoked token, server up")
			revokertest.WantRevoked(t, s, live, false, "a live token, server up")

			for _, tt := range []struct {
				name string
				mode faultproxy.Mode
			}{
				{name: "Cut", mode: faultproxy.Cut},
				{name: "Stall", mode: faultproxy.Stall},
				{name: "CutAgain", mode: faultproxy.Cut},
			} {
				t.Run(tt.name, func(t *testing.T) {
					proxy.Set(tt.mode)
					const timeout = 300 * time.Millisecond
					const slack = 1500 * time.Millisecond
					for i, c := range []*guardian.Claims{live, revoked, live} {
						ctx, cancel := context.WithTimeout(context.Background(), timeout)
						start := time.Now()
						got, err := s.Revoked(ctx, c)
						took := time.Since(start)
						cancel()
						if err == nil {
							t.Fatalf("Revoked() #%d during %s = %v, nil; want an error (fail closed)", i+1, tt.name, got)
						}
						if got {
							t.Errorf("Revoked() #%d during %s = true with error %v; want false with the error", i+1, tt.name, err)
						}
						if !errors.Is(err, guardian.ErrUnavailable) {
							t.Errorf("Revoked() #%d during %s error = %v, want it to wrap guardian.ErrUnavailable", i+1, tt.name, err)
						}
						if took > timeout+slack {
							t.Errorf("Revoked() #%d during %s took %v, want about its %v deadline", i+1, tt.name, took, timeout)
						}
					}
					rctx, cancel := context.WithTimeout(context.Background(), timeout)
					extra := revokertest.TokenAt(revokertest.NewID("sub"), now)
					err := s.Revoke(rctx, guardian.Revocation{Kind: guardian.ByToken, ID: extra.ID, At: now, TTL: time.Hour})
					cancel()
					if err == nil {
						t.Errorf("Revoke() during %s = nil, want an error: the revocation could not be recorded", tt.name)
					}

					proxy.Set(faultproxy.Pass)
					start := time.Now()
					deadline := start.Add(10 * time.Second)
					for {
						ctx, cancel := context.WithTimeout(context.Background(), time.Second)
						got, err := s.Revoked(ctx, revoked)
						cancel()
						if err == nil {
							if !got {
								t.Fatalf("Revoked(revoked token) after recovery = false, want true")
							}
							break
						}
						if time.Now().After(deadline) {
							t.Fatalf("Revoked() still failing 10s after the server came back: %v", err)
						}
						time.Sleep(50 * time.Millisecond)
					}
					t.Logf("recovered %v after the server came back", time.Since(start).Round(time.Millisecond))
					revokertest.WantRevoked(t, s, live, false, "a live token after recovery")
					revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByToken, ID: extra.ID, At: now, TTL: time.Hour})
				})
			}
		})
	}
}
