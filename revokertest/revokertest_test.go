package revokertest_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/revokertest"
)

// revokerOnly hides every method of its Revoker but Revoke and Revoked: a
// store that is not a guardian.TokenConsumer.
type revokerOnly struct{ guardian.Revoker }

// runSuite runs revokertest.Run against r in a subtest of t, and reports
// whether that passed and, by the name of each conformance subtest, whether
// it was skipped. Run calls newRevoker with each subtest's own t, so a
// cleanup registered there sees how that subtest ended; t.Run returns once
// every parallel subtest has.
func runSuite(t *testing.T, r guardian.Revoker) (passed bool, skipped map[string]bool) {
	t.Helper()
	var mu sync.Mutex
	skipped = map[string]bool{}
	passed = t.Run("Run", func(t *testing.T) {
		revokertest.Run(t, func(sub *testing.T) guardian.Revoker {
			sub.Cleanup(func() {
				mu.Lock()
				defer mu.Unlock()
				skipped[sub.Name()[strings.LastIndex(sub.Name(), "/")+1:]] = sub.Skipped()
			})
			return r
		})
	})
	if len(skipped) == 0 {
		t.Fatal("Run ran no subtests")
	}
	if _, ok := skipped["ConsumeOnce"]; !ok {
		t.Fatalf("Run has no ConsumeOnce subtest; subtests: %v", skipped)
	}
	return passed, skipped
}

// TestRunSkipsConsumeOfARevoker checks that a Revoker that is not a
// TokenConsumer passes the suite with ConsumeOnce skipped, not passed, and
// every other subtest run.
func TestRunSkipsConsumeOfARevoker(t *testing.T) {
	var r guardian.Revoker = revokerOnly{guardian.NewMemoryRevoker(nil)}
	if _, ok := r.(guardian.TokenConsumer); ok {
		t.Fatal("revokerOnly is a TokenConsumer; the test would test nothing")
	}
	passed, skipped := runSuite(t, r)
	if !passed {
		t.Fatal("a MemoryRevoker seen as a plain Revoker failed the suite")
	}
	for name, skip := range skipped {
		if want := name == "ConsumeOnce"; skip != want {
			t.Errorf("subtest %s skipped = %v, want %v", name, skip, want)
		}
	}
}

// TestRunTestsConsumeOfATokenConsumer checks the other side: a
// TokenConsumer has ConsumeOnce run, and nothing skipped.
func TestRunTestsConsumeOfATokenConsumer(t *testing.T) {
	passed, skipped := runSuite(t, guardian.NewMemoryRevoker(nil))
	if !passed {
		t.Fatal("a MemoryRevoker failed the suite")
	}
	for name, skip := range skipped {
		if skip {
			t.Errorf("subtest %s was skipped for a TokenConsumer", name)
		}
	}
}

func TestToken(t *testing.T) {
	a, b := revokertest.Token("alice"), revokertest.Token("alice")
	if a.Subject != "alice" || a.Type != guardian.AccessToken {
		t.Errorf("Token(alice) = subject %q, type %v; want alice, an access token", a.Subject, a.Type)
	}
	if a.ID == b.ID || a.Family == b.Family || a.ID == "" || a.Family == "" {
		t.Errorf("two Tokens share IDs or have none: %q/%q and %q/%q", a.ID, a.Family, b.ID, b.Family)
	}
	if a.IssuedAt.IsZero() || a.ExpiresAt.Sub(a.IssuedAt) != time.Hour {
		t.Errorf("Token(alice) iat %v, exp %v; want exp an hour after iat", a.IssuedAt, a.ExpiresAt)
	}

	iat := time.Date(2001, 2, 3, 4, 5, 6, 789, time.UTC)
	c := revokertest.TokenAt("bob", iat)
	if want := iat.Truncate(time.Second); !c.IssuedAt.Equal(want) || !c.ExpiresAt.Equal(want.Add(time.Hour)) {
		t.Errorf("TokenAt(bob, %v) iat %v, exp %v; want %v and an hour later", iat, c.IssuedAt, c.ExpiresAt, want)
	}
}

func TestMustRevokeAndWantRevoked(t *testing.T) {
	r := guardian.NewMemoryRevoker(nil)
	c, other := revokertest.Token(revokertest.NewID("sub")), revokertest.Token(revokertest.NewID("sub"))
	revokertest.WantRevoked(t, r, c, false, "a fresh token")
	revokertest.MustRevoke(t, r, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: c.IssuedAt, TTL: time.Hour})
	revokertest.WantRevoked(t, r, c, true, "the revoked token")
	revokertest.WantRevoked(t, r, other, false, "another token")
}
