package main

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/guardian-go/guardian"
)

func TestReasonLabels(t *testing.T) {
	seen := map[string]error{}
	for sentinel, label := range reasonLabels {
		if other, dup := seen[label]; dup {
			t.Errorf("label %q names both %v and %v", label, other, sentinel)
		}
		seen[label] = sentinel
		if got := reasonLabel(guardian.Reason(fmt.Errorf("wrapped: %w", sentinel))); got != label {
			t.Errorf("reasonLabel(Reason(wrapped %v)) = %q, want %q", sentinel, got, label)
		}
	}
	for _, err := range []error{nil, guardian.ErrKey, guardian.ErrNoRevoker, errors.New("boom")} {
		if got := reasonLabel(guardian.Reason(err)); got != reasonOther {
			t.Errorf("reasonLabel(Reason(%v)) = %q, want %q", err, got, reasonOther)
		}
	}
	// The most specific reason, not the class.
	expired := guardian.Reason(fmt.Errorf("%w: %w", guardian.ErrInvalidToken, guardian.ErrExpired))
	if got := reasonLabel(expired); got != "expired" {
		t.Errorf("label of an expired token = %q, want expired", got)
	}
}

// storeSamples returns the sample count of the store histogram by
// "operation/outcome".
func storeSamples(t *testing.T, m *metrics) map[string]uint64 {
	t.Helper()
	families, err := m.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, f := range families {
		if f.GetName() != "guardian_revocation_store_duration_seconds" {
			continue
		}
		for _, s := range f.GetMetric() {
			counts[labelOf(s, "operation")+"/"+labelOf(s, "outcome")] = s.GetHistogram().GetSampleCount()
		}
	}
	return counts
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// revokerOnly is a Revoker and nothing else.
type revokerOnly struct{ guardian.Revoker }

// listerOnly is a Lister that is not a TokenConsumer.
type listerOnly struct{ guardian.Lister }

// consumerOnly is a TokenConsumer that is not a Lister.
type consumerOnly struct{ guardian.TokenConsumer }

func TestTimeRevokerKeepsTheInterfaces(t *testing.T) {
	m := newMetrics()
	mem := guardian.NewMemoryRevoker(nil)
	t.Cleanup(func() { mem.Close() })
	for _, tc := range []struct {
		name             string
		inner            guardian.Revoker
		consumer, lister bool
	}{
		{"memory revoker", mem, true, true},
		{"revoker only", revokerOnly{mem}, false, false},
		{"lister only", listerOnly{mem}, false, true},
		{"consumer only", consumerOnly{mem}, true, false},
	} {
		r := m.timeRevoker(tc.inner)
		if _, ok := r.(guardian.TokenConsumer); ok != tc.consumer {
			t.Errorf("%s: timed TokenConsumer = %v, want %v", tc.name, ok, tc.consumer)
		}
		if _, ok := r.(guardian.Lister); ok != tc.lister {
			t.Errorf("%s: timed Lister = %v, want %v", tc.name, ok, tc.lister)
		}
	}
}

// failing fails every call.
type failing struct{}

var errFailing = errors.New("store down")

func (failing) Revoke(context.Context, guardian.Revocation) error { return errFailing }
func (failing) Revoked(context.Context, *guardian.Claims) (bool, error) {
	return false, errFailing
}
func (failing) Consume(context.Context, guardian.Revocation) (bool, error) { return false, errFailing }

func TestTimeRevokerObserves(t *testing.T) {
	m := newMetrics()
	mem := guardian.NewMemoryRevoker(nil)
	t.Cleanup(func() { mem.Close() })
	ctx := context.Background()
	r := m.timeRevoker(mem).(guardian.TokenConsumer)
	rev := guardian.Revocation{Kind: guardian.ByToken, ID: "jti-1", At: time.Now(), TTL: time.Hour}
	if err := r.Revoke(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if revoked, err := r.Revoked(ctx, &guardian.Claims{ID: "jti-1"}); err != nil || !revoked {
		t.Fatalf("Revoked = %v, %v; want true through the wrapper", revoked, err)
	}
	rev.ID = "jti-2"
	if first, err := r.Consume(ctx, rev); err != nil || !first {
		t.Fatalf("Consume = %v, %v; want first", first, err)
	}
	if first, err := r.Consume(ctx, rev); err != nil || first {
		t.Fatalf("second Consume = %v, %v; want not first, no error", first, err)
	}
	down := m.timeRevoker(failing{}).(guardian.TokenConsumer)
	if err := down.Revoke(ctx, rev); !errors.Is(err, errFailing) {
		t.Fatalf("Revoke of a failing store = %v, want its error", err)
	}
	down.Revoked(ctx, &guardian.Claims{ID: "x"})
	down.Revoked(ctx, &guardian.Claims{ID: "y"})
	down.Consume(ctx, rev)

	want := map[string]uint64{
		"revoke/ok": 1, "revoked/ok": 1, "consume/ok": 2,
		"revoke/error": 1, "revoked/error": 2, "consume/error": 1,
		"use/ok": 0, "use/error": 0, // the replay cache's, timed apart (timeReplay)
	}
	if got := storeSamples(t, m); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("store histogram counts = %v, want %v", got, want)
	}
}

// The server times the store behind a Mirror: the Mirror still answers
// from memory (no store call per check), and its writes are timed.
func TestTimedStoreBehindAMirror(t *testing.T) {
	m := newMetrics()
	ctx := context.Background()
	store := guardian.NewMemoryRevoker(nil) // stands in for the SQLite store
	t.Cleanup(func() { store.Close() })
	mirror, err := guardian.NewMirror(ctx, m.timeRevoker(store).(guardian.Lister), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mirror.Close() })
	rev := guardian.Revocation{Kind: guardian.ByToken, ID: "jti-1", At: time.Now(), TTL: time.Hour}
	if err := mirror.Revoke(ctx, rev); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if revoked, err := mirror.Revoked(ctx, &guardian.Claims{ID: "jti-1"}); err != nil || !revoked {
			t.Fatalf("Revoked = %v, %v", revoked, err)
		}
	}
	rev.ID = "jti-2"
	if _, err := mirror.Consume(ctx, rev); err != nil {
		t.Fatal(err)
	}
	got := storeSamples(t, m)
	if got["revoke/ok"] != 2 || got["revoked/ok"] != 0 || got["consume/ok"] != 0 {
		t.Errorf("store histogram counts = %v; want revoke/ok 2 (the Mirror's Revoke and Consume), no revoked, no consume", got)
	}
}

// allowListed is a store in allow-list mode.
type allowListed struct{ guardian.Lister }

func (allowListed) AllowList() bool { return true }

// The wrapper does not hide an allow-list store from the checks that
// refuse it (NewMirror) or adapt to it (the Issuer).
func TestTimeRevokerReportsAllowList(t *testing.T) {
	m := newMetrics()
	mem := guardian.NewMemoryRevoker(nil)
	t.Cleanup(func() { mem.Close() })
	timed := m.timeRevoker(allowListed{mem})
	if al, ok := timed.(interface{ AllowList() bool }); !ok || !al.AllowList() {
		t.Fatal("the timed allow-list store does not report AllowList")
	}
	if _, err := guardian.NewMirror(context.Background(), timed.(guardian.Lister), nil); err == nil {
		t.Fatal("NewMirror accepted a timed allow-list store")
	}
	if al := m.timeRevoker(mem).(interface{ AllowList() bool }); al.AllowList() {
		t.Fatal("a timed memory revoker reports AllowList")
	}
}
