package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/guardian-go/guardian/sqlstore"
)

// TestMirrorConformance runs the suite on a guardian.Mirror over the store.
func TestMirrorConformance(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		s := newStore(t, b, b.open(t), &sqlstore.Options{SweepInterval: -1})
		m, err := guardian.NewMirror(context.Background(), s, nil)
		if err != nil {
			t.Fatal(err)
		}
		revokertest.Run(t, func(*testing.T) guardian.Revoker { return m })
	})
}

// TestLiveReloadsAfterRestart revokes through a mirror, closes everything,
// and checks that a mirror over a new store on the same database sees every
// kind of revocation, and none that has expired.
func TestLiveReloadsAfterRestart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		opts := &sqlstore.Options{SweepInterval: -1}
		uniqueTables(t, b, opts)
		now := testclock.Now()
		token := revokertest.TokenAt(revokertest.NewID("sub"), now)
		family := revokertest.TokenAt(revokertest.NewID("sub"), now)
		subject := revokertest.TokenAt(revokertest.NewID("sub"), now.Add(-time.Minute))
		later := revokertest.TokenAt(subject.Subject, now.Add(time.Minute))
		expired := revokertest.TokenAt(revokertest.NewID("sub"), now)

		db1 := b.open(t)
		s1 := openStore(t, b, db1, opts)
		m1, err := guardian.NewMirror(ctx, s1, nil)
		if err != nil {
			t.Fatal(err)
		}
		revokertest.MustRevoke(t, m1, guardian.Revocation{Kind: guardian.ByToken, ID: token.ID, At: now, TTL: time.Hour})
		revokertest.MustRevoke(t, m1, guardian.Revocation{Kind: guardian.ByFamily, ID: family.Family, At: now, TTL: time.Hour})
		revokertest.MustRevoke(t, m1, guardian.Revocation{Kind: guardian.BySubject, ID: subject.Subject, At: now, TTL: time.Hour})
		revokertest.MustRevoke(t, m1, guardian.Revocation{Kind: guardian.ByToken, ID: expired.ID, At: now, TTL: 300 * time.Millisecond})
		if err := s1.Close(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(400 * time.Millisecond)

		s2 := newStore(t, b, b.open(t), opts)
		var n int
		if err := s2.Live(ctx, func(r guardian.Revocation) error {
			if r.ID == expired.ID {
				t.Errorf("Live listed a revocation held past its TTL")
			}
			n++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			t.Errorf("Live listed %d revocations, want 3", n)
		}
		m2, err := guardian.NewMirror(ctx, s2, nil)
		if err != nil {
			t.Fatal(err)
		}
		revokertest.WantRevoked(t, m2, token, true, "a token revoked before the restart")
		revokertest.WantRevoked(t, m2, family, true, "a family revoked before the restart")
		revokertest.WantRevoked(t, m2, subject, true, "a subject's token from before its cut-off")
		revokertest.WantRevoked(t, m2, later, false, "a subject's token from after its cut-off")
	})
}

func TestMirrorRefusesAllowListStore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		s := newStore(t, b, b.open(t), &sqlstore.Options{AllowList: true, SweepInterval: -1})
		if _, err := guardian.NewMirror(context.Background(), s, nil); err == nil {
			t.Fatal("NewMirror accepted an allow-list store")
		}
	})
}
