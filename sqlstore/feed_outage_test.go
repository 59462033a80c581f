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
	"github.com/guardian-go/guardian/sqlstore/pgxlisten"
)

// TestFeedMirrorCut puts a fault proxy between one instance's FeedMirror
// (its store, and on PostgreSQL its listener) and the server, while
// another instance reaches the server directly. Cut: within MaxLag the
// mirror stops answering from memory, and with its store unreachable its
// checks fail with guardian.ErrUnavailable, never "not revoked" for a
// token the other instance revokes meanwhile. Pass: the mirror is current
// again by itself and refuses that token.
func TestFeedMirrorCut(t *testing.T) {
	for _, name := range []string{"postgres", "mysql"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, name)
			opts := sqlstore.Options{SweepInterval: -1}
			uniqueTables(t, b, &opts)
			other := openFeed(t, b, opts, false)

			proxy := faultproxy.New(t, b.serverAddr(t))
			db := b.openVia(t, proxy.Addr())
			o := opts
			if b.dialect == sqlstore.Postgres {
				l, err := pgxlisten.New(db)
				if err != nil {
					t.Fatal(err)
				}
				o.Listener = l
			}
			const maxLag = time.Second
			m := revokertest.NewFeedMirror(t, openStore(t, b, db, &o), &guardian.FeedMirrorOptions{MaxLag: maxLag})
			now := testclock.Now()
			before := revokertest.TokenAt(revokertest.NewID("sub"), now)
			revokertest.MustRevoke(t, other, guardian.Revocation{Kind: guardian.ByToken, ID: before.ID, At: now, TTL: time.Hour})
			revokertest.EventuallyRevoked(t, m, before, revokertest.FeedMaxLag)

			proxy.Set(faultproxy.Cut)
			cut := time.Now()
			for m.Stats().Current {
				if time.Since(cut) > maxLag+500*time.Millisecond {
					t.Fatalf("the mirror still answers from memory %v after its store was cut off (MaxLag %v)", time.Since(cut), maxLag)
				}
				time.Sleep(time.Millisecond)
			}
			t.Logf("not current %v after the cut", time.Since(cut).Round(time.Millisecond))
			during := revokertest.TokenAt(revokertest.NewID("sub"), now)
			revokertest.MustRevoke(t, other, guardian.Revocation{Kind: guardian.ByToken, ID: during.ID, At: now, TTL: time.Hour})
			for i, c := range []*guardian.Claims{during, revokertest.TokenAt(revokertest.NewID("sub"), now), during} {
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				got, err := m.Revoked(ctx, c)
				cancel()
				if err == nil {
					t.Fatalf("Revoked #%d during the cut = %v, nil; want an error (the mirror is not current and its store is unreachable)", i+1, got)
				}
				if !errors.Is(err, guardian.ErrUnavailable) {
					t.Errorf("Revoked #%d during the cut = %v, want an error wrapping guardian.ErrUnavailable", i+1, err)
				}
			}
			// A token revoked before the cut is refused from memory still.
			revokertest.WantRevoked(t, m, before, true, "a token revoked before the cut, during it")

			proxy.Set(faultproxy.Pass)
			back := time.Now()
			for !m.Stats().Current {
				if time.Since(back) > 15*time.Second {
					t.Fatalf("the mirror is not current 15s after the server came back: %+v", m.Stats())
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Logf("current again %v after the server came back (%+v)", time.Since(back).Round(time.Millisecond), m.Stats())
			checks := m.Stats().StoreChecks
			revokertest.WantRevoked(t, m, during, true, "a token revoked by another instance during the cut")
			if got := m.Stats().StoreChecks; got != checks {
				t.Errorf("the check after recovery went to the store; want it answered from memory")
			}
		})
	}
}
