package guardian_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/revokertest"
)

func TestMirrorConformance(t *testing.T) {
	m, err := guardian.NewMirror(context.Background(), guardian.NewMemoryRevoker(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	revokertest.Run(t, func(t *testing.T) guardian.Revoker { return m })
}

// failingStore is a Lister whose writes fail on demand.
type failingStore struct {
	*guardian.MemoryRevoker
	fail bool
}

func (s *failingStore) Revoke(ctx context.Context, r guardian.Revocation) error {
	if s.fail {
		return errors.New("store down")
	}
	return s.MemoryRevoker.Revoke(ctx, r)
}

func TestMirrorLoadsAndWritesThrough(t *testing.T) {
	ctx := context.Background()
	store := &failingStore{MemoryRevoker: guardian.NewMemoryRevoker(nil)}
	now := testclock.Now()
	before := guardian.Revocation{Kind: guardian.ByFamily, ID: "fam-before", At: now, TTL: time.Hour}
	if err := store.Revoke(ctx, before); err != nil {
		t.Fatal(err)
	}
	m, err := guardian.NewMirror(ctx, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Revoked(ctx, &guardian.Claims{ID: "j", Family: "fam-before"}); !got {
		t.Fatal("a revocation made before the mirror was built is not seen")
	}

	// A write goes to the store: a new mirror over it (a restart) sees it.
	if err := m.Revoke(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: "jti-1", At: now, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	restarted, err := guardian.NewMirror(ctx, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := restarted.Revoked(ctx, &guardian.Claims{ID: "jti-1"}); !got {
		t.Fatal("a revocation made through the mirror is lost on restart")
	}

	// A failed store write is not made visible in memory.
	store.fail = true
	if err := m.Revoke(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: "jti-2", At: now, TTL: time.Hour}); err == nil {
		t.Fatal("Revoke succeeded while the store failed")
	}
	if got, _ := m.Revoked(ctx, &guardian.Claims{ID: "jti-2"}); got {
		t.Fatal("a revocation the store refused is visible in memory, and would vanish on restart")
	}
	if first, err := m.Consume(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: "jti-3", At: now, TTL: time.Hour}); err == nil || first {
		t.Fatalf("Consume while the store fails = %v, %v; want an error", first, err)
	}
}

// allowListStore claims allow-list mode.
type allowListStore struct{ *guardian.MemoryRevoker }

func (allowListStore) AllowList() bool { return true }

func TestMirrorRefusesAllowList(t *testing.T) {
	if _, err := guardian.NewMirror(context.Background(), allowListStore{guardian.NewMemoryRevoker(nil)}, nil); err == nil {
		t.Fatal("NewMirror accepted a store in allow-list mode")
	}
}
