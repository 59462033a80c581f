package sqlstore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
				// A generous bound on store calls: this test is about what
				// the store answers, not how fast (TestOutage and the
				// deadline tests are), and runs beside every other test.
				opts := &guardian.IssuerOptions{Revoker: store, RevokerTimeout: 10 * time.Second}
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
					refresh, err = issuer.Issue(ctx, user, &guardian.IssueOptions{Type: guardian.RefreshToken, Family: access.Claims.Family})
					if err != nil {
						t.Fatalf("Issue(refresh) = %v", err)
					}
					return access, refresh
				}
				verify := func(t *testing.T, raw string, want error, why string) {
					t.Helper()
					_, err := issuer.Verify(ctx, raw, guardian.AccessToken, guardian.RefreshToken)
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

				// Refresh rotates into a new pair.
				next, err := issuer.Refresh(ctx, refresh.Raw, nil)
				if err != nil {
					t.Fatalf("Refresh() = %v, want nil", err)
				}
				verify(t, next.Refresh.Raw, nil, "the rotated refresh token")
				verify(t, next.Access.Raw, nil, "the new access token")
				if !allowList {
					// Presented again within the retry window, before the
					// new refresh token is used: a retry, which gets the
					// same pair again.
					again, err := issuer.Refresh(ctx, refresh.Raw, nil)
					if err != nil || again.Refresh.Claims.ID != next.Refresh.Claims.ID || again.Access.Claims.ID != next.Access.Claims.ID {
						t.Fatalf("Refresh(the same token again, a retry) = %v (jti %q), want the same pair (jti %q)", err, again.Refresh.Claims.ID, next.Refresh.Claims.ID)
					}
					// Once the new refresh token is used, the old one is
					// reuse.
					if _, err := issuer.Refresh(ctx, next.Refresh.Raw, nil); err != nil {
						t.Fatalf("Refresh(the rotated token) = %v, want nil", err)
					}
				}
				// Reuse (in allow-list mode, any second use: the store cannot
				// tell a consumed token from an unknown one, so there is no
				// retry window) revokes the family, the new tokens included.
				if _, err := issuer.Refresh(ctx, refresh.Raw, nil); !errors.Is(err, guardian.ErrRevoked) {
					t.Fatalf("Refresh(used token) = %v, want ErrRevoked", err)
				}
				verify(t, next.Refresh.Raw, guardian.ErrRevoked, "a token of a family revoked for reuse")
				verify(t, next.Access.Raw, guardian.ErrRevoked, "a new access token of that family")
				verify(t, access.Raw, guardian.ErrRevoked, "an access token of that family")

				// Concurrent refreshes of one token: one consumes it. In
				// deny-list mode the others are retries and get the same
				// pair; in allow-list mode they are reuse and fail.
				_, refresh = login(t)
				var wins atomic.Int32
				var mu sync.Mutex
				pairs := map[string]bool{}
				var wg sync.WaitGroup
				for range 8 {
					wg.Go(func() {
						pair, err := issuer.Refresh(ctx, refresh.Raw, nil)
						switch {
						case err == nil:
							wins.Add(1)
							mu.Lock()
							pairs[pair.Refresh.Claims.ID] = true
							mu.Unlock()
						case allowList && errors.Is(err, guardian.ErrRevoked):
						default:
							t.Errorf("concurrent Refresh() = %v, want nil (or ErrRevoked in allow-list mode)", err)
						}
					})
				}
				wg.Wait()
				switch got := wins.Load(); {
				case allowList && got > 1:
					t.Fatalf("%d of 8 concurrent Refresh calls with one token succeeded, want at most 1", got)
				case allowList:
					// The losers' reuse revokes the family: whatever the
					// winner (if any) was handed out is refused.
					for id := range pairs {
						if got, err := store.Revoked(ctx, &guardian.Claims{ID: id, Family: refresh.Claims.Family, Subject: refresh.Claims.Subject, IssuedAt: refresh.Claims.IssuedAt}); err != nil || !got {
							t.Fatalf("the winner's refresh token after a reuse race: revoked %v, %v; want revoked", got, err)
						}
					}
				case !allowList && len(pairs) != 1:
					t.Fatalf("8 concurrent Refresh calls with one token got %d different pairs (%d succeeded), want 1", len(pairs), got)
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
					stranger := guardiantest.NewIssuer(t, &guardian.IssuerOptions{Revoker: store, RevokerTimeout: 10 * time.Second})
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
