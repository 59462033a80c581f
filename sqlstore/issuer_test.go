package sqlstore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/guardiantest"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/guardian-go/guardian/sqlstore"
)

// TestWithIssuer wires the store into a real guardian.Issuer, in both
// modes: logout, refresh rotation (once, even under concurrent refreshes),
// reuse detection revoking the family, and "log out everywhere".
func TestWithIssuer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		db := b.open(t)
		for _, allowList := range []bool{false, true} {
			name := "DenyList"
			if allowList {
				name = "AllowList"
			}
			t.Run(name, func(t *testing.T) {
				store := newStore(t, b, db, &sqlstore.Options{AllowList: allowList, SweepInterval: -1})
				opts := &guardian.Options{Revoker: store}
				if allowList {
					opts.Hooks.AfterIssue = store.Record
				}
				issuer := guardiantest.NewIssuer(t, opts)
				ctx := context.Background()
				user := revokertest.NewID("user")
				login := func(t *testing.T) (access, refresh guardian.Token) {
					t.Helper()
					access, err := issuer.Issue(ctx, user, nil)
					if err != nil {
						t.Fatalf("Issue(access) = %v", err)
					}
					refresh, err = issuer.Issue(ctx, user, &guardian.IssueOptions{Type: guardian.Refresh, Family: access.Claims.Family})
					if err != nil {
						t.Fatalf("Issue(refresh) = %v", err)
					}
					return access, refresh
				}
				verify := func(t *testing.T, raw string, want error, why string) {
					t.Helper()
					_, err := issuer.Verify(ctx, raw, guardian.Access, guardian.Refresh)
					if (want == nil && err != nil) || (want != nil && !errors.Is(err, want)) {
						t.Fatalf("Verify(%s) = %v, want %v", why, err, want)
					}
				}

				access, refresh := login(t)
				verify(t, access.Raw, nil, "a fresh access token")
				if allowList {
					list, err := store.ActiveTokens(ctx, user)
					if err != nil || len(list) != 2 {
						t.Fatalf("ActiveTokens() after a login = %d tokens, %v; want 2 (recorded by AfterIssue)", len(list), err)
					}
				}

				// Refresh rotates once; the second use is reuse, which
				// revokes the family, the new tokens included.
				next, err := issuer.Refresh(ctx, refresh.Raw)
				if err != nil {
					t.Fatalf("Refresh() = %v, want nil", err)
				}
				verify(t, next.Raw, nil, "the rotated refresh token")
				if _, err := issuer.Refresh(ctx, refresh.Raw); !errors.Is(err, guardian.ErrRevoked) {
					t.Fatalf("Refresh(used token) = %v, want ErrRevoked", err)
				}
				verify(t, next.Raw, guardian.ErrRevoked, "a token of a family revoked for reuse")
				verify(t, access.Raw, guardian.ErrRevoked, "an access token of that family")

				// Concurrent refreshes of one token: exactly one wins.
				_, refresh = login(t)
				var wins atomic.Int32
				var wg sync.WaitGroup
				for range 8 {
					wg.Go(func() {
						_, err := issuer.Refresh(ctx, refresh.Raw)
						switch {
						case err == nil:
							wins.Add(1)
						case !errors.Is(err, guardian.ErrRevoked):
							t.Errorf("concurrent Refresh() = %v, want nil or ErrRevoked", err)
						}
					})
				}
				wg.Wait()
				if got := wins.Load(); got != 1 {
					t.Fatalf("%d of 8 concurrent Refresh calls with one token succeeded, want 1", got)
				}

				// Logout, then log out everywhere.
				access, _ = login(t)
				if err := issuer.Revoke(ctx, access.Raw); err != nil {
					t.Fatalf("Revoke() = %v", err)
				}
				verify(t, access.Raw, guardian.ErrRevoked, "a logged-out token")
				a1, r1 := login(t)
				if err := issuer.RevokeSubject(ctx, user); err != nil {
					t.Fatalf("RevokeSubject() = %v", err)
				}
				verify(t, a1.Raw, guardian.ErrRevoked, "an access token after logout everywhere")
				verify(t, r1.Raw, guardian.ErrRevoked, "a refresh token after logout everywhere")
				if allowList {
					list, err := store.ActiveTokens(ctx, user)
					if err != nil || len(list) != 0 {
						t.Fatalf("ActiveTokens() after logout everywhere = %+v, %v; want none", list, err)
					}
					// A token the store never recorded is refused.
					stranger := guardiantest.NewIssuer(t, &guardian.Options{Revoker: store})
					tok, err := stranger.Issue(ctx, revokertest.NewID("user"), nil)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := stranger.Verify(ctx, tok.Raw); !errors.Is(err, guardian.ErrRevoked) {
						t.Fatalf("Verify(unrecorded token) = %v, want ErrRevoked", err)
					}
				}
			})
		}
	})
}
