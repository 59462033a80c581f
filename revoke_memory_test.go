package guardian_test

import (
	"context"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/revokertest"
)

func TestMemoryRevokerConformance(t *testing.T) {
	shared := guardian.NewMemoryRevoker(nil)
	revokertest.Run(t, func(t *testing.T) guardian.Revoker { return shared })
}

func TestMemoryRevokerSweepsExpiredRecords(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	m := guardian.NewMemoryRevoker(&guardian.MemoryRevokerOptions{Clock: clock, SweepInterval: time.Minute})
	ctx := context.Background()
	for i, kind := range []guardian.RevocationKind{guardian.RevokeToken, guardian.RevokeFamily, guardian.RevokeSubject} {
		if err := m.Revoke(ctx, guardian.Revocation{Kind: kind, ID: "id", At: now, Until: now.Add(time.Duration(i+1) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Len(); got != 3 {
		t.Fatalf("Len() = %d, want 3", got)
	}
	now = now.Add(2*time.Minute + time.Second)
	// The next write sweeps: the token and family records have expired.
	if err := m.Revoke(ctx, guardian.Revocation{Kind: guardian.RevokeToken, ID: "new", At: now, Until: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got := m.Len(); got != 2 {
		t.Fatalf("Len() after sweep = %d, want 2 (subject record and the new token)", got)
	}
	now = now.Add(2 * time.Hour)
	m.Sweep()
	if got := m.Len(); got != 0 {
		t.Fatalf("Len() after Sweep past every Until = %d, want 0", got)
	}
}
