package sqlstore_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/guardian-go/guardian/sqlstore"
)

// TestAllowList walks through allow-list mode on every backend: only
// recorded tokens pass, sessions can be listed and revoked one by one or
// all at once, and family and subject revocations still apply.
func TestAllowList(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		db := b.open(t)
		opts := &sqlstore.Options{AllowList: true, SweepInterval: -1}
		uniqueTables(t, b, opts)
		s := openStore(t, b, db, opts)
		ctx := context.Background()
		now := testclock.Now().Truncate(time.Second)
		record := func(t *testing.T, c *guardian.Claims) {
			t.Helper()
			if err := s.Record(ctx, c); err != nil {
				t.Fatalf("Record(%s) = %v, want nil", c.ID, err)
			}
		}
		active := func(t *testing.T, sub string) []string {
			t.Helper()
			list, err := s.ActiveTokens(ctx, sub)
			if err != nil {
				t.Fatalf("ActiveTokens() = %v, want nil", err)
			}
			ids := make([]string, len(list))
			for i, ti := range list {
				ids[i] = ti.ID
			}
			return ids
		}

		t.Run("UnrecordedTokenRefused", func(t *testing.T) {
			revokertest.WantRevoked(t, s, revokertest.TokenAt(revokertest.NewID("sub"), now), true, "a token never recorded")
			revokertest.WantRevoked(t, s, &guardian.Claims{}, true, "empty claims")
			bad := revokertest.TokenAt(revokertest.NewID("sub"), now)
			bad.ID = "jti-\xff"
			revokertest.WantRevoked(t, s, bad, true, "a token whose jti could never be recorded")
		})

		t.Run("RecordListRevokeOne", func(t *testing.T) {
			sub := revokertest.NewID("sub")
			older, newer := revokertest.TokenAt(sub, now.Add(-time.Minute)), revokertest.TokenAt(sub, now)
			newer.Type, newer.Family = guardian.RefreshToken, older.Family
			other := revokertest.TokenAt(revokertest.NewID("sub"), now)
			for _, c := range []*guardian.Claims{newer, older, other, older} { // older twice: idempotent
				record(t, c)
			}
			revokertest.WantRevoked(t, s, older, false, "a recorded token")
			revokertest.WantRevoked(t, s, newer, false, "another recorded token")

			list, err := s.ActiveTokens(ctx, sub)
			if err != nil {
				t.Fatal(err)
			}
			want := []sqlstore.TokenInfo{
				{ID: older.ID, Subject: sub, Type: guardian.AccessToken, Family: older.Family, IssuedAt: older.IssuedAt.UTC(), ExpiresAt: older.ExpiresAt.UTC()},
				{ID: newer.ID, Subject: sub, Type: guardian.RefreshToken, Family: older.Family, IssuedAt: newer.IssuedAt.UTC(), ExpiresAt: newer.ExpiresAt.UTC()},
			}
			if !slices.Equal(list, want) {
				t.Fatalf("ActiveTokens() = %+v, want %+v (oldest first, other subjects left out)", list, want)
			}

			revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByToken, ID: older.ID, At: testclock.Now(), TTL: time.Hour})
			revokertest.WantRevoked(t, s, older, true, "a recorded token after its revocation")
			revokertest.WantRevoked(t, s, newer, false, "its sibling")
			if got, want := active(t, sub), []string{newer.ID}; !slices.Equal(got, want) {
				t.Fatalf("ActiveTokens() after revoking one = %v, want %v", got, want)
			}
			// Recording the revoked token again (a retried hook) does not
			// bring it back.
			record(t, older)
			revokertest.WantRevoked(t, s, older, true, "a revoked token recorded again")
		})

		t.Run("RevokedTokenRowDeleted", func(t *testing.T) {
			sub := revokertest.NewID("sub")
			c := revokertest.TokenAt(sub, now)
			record(t, c)
			var n int
			q := "SELECT COUNT(*) FROM " + opts.TokensTable + " WHERE subject = " + placeholder(b)
			if err := db.QueryRowContext(ctx, q, sub).Scan(&n); err != nil || n != 1 {
				t.Fatalf("rows of the subject after Record = %d, %v; want 1", n, err)
			}
			revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour})
			if err := db.QueryRowContext(ctx, q, sub).Scan(&n); err != nil || n != 0 {
				t.Fatalf("rows of the subject after Revoke = %d, %v; want 0", n, err)
			}
		})

		t.Run("FamilyRevocation", func(t *testing.T) {
			sub := revokertest.NewID("sub")
			first, rotated, otherLogin := revokertest.TokenAt(sub, now.Add(-time.Minute)), revokertest.TokenAt(sub, now), revokertest.TokenAt(sub, now)
			rotated.Family = first.Family
			for _, c := range []*guardian.Claims{first, rotated, otherLogin} {
				record(t, c)
			}
			revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByFamily, ID: first.Family, At: testclock.Now(), TTL: time.Hour})
			revokertest.WantRevoked(t, s, first, true, "a token of the revoked family")
			revokertest.WantRevoked(t, s, rotated, true, "a rotated token of the revoked family")
			revokertest.WantRevoked(t, s, otherLogin, false, "a token of another login")
			if got, want := active(t, sub), []string{otherLogin.ID}; !slices.Equal(got, want) {
				t.Fatalf("ActiveTokens() after a family revocation = %v, want %v", got, want)
			}
		})

		t.Run("SubjectCutoff", func(t *testing.T) {
			sub := revokertest.NewID("sub")
			cutoff := now.Add(-10 * time.Second)
			before, atCutoff, after := revokertest.TokenAt(sub, cutoff.Add(-time.Hour)), revokertest.TokenAt(sub, cutoff), revokertest.TokenAt(sub, cutoff.Add(time.Second))
			for _, c := range []*guardian.Claims{before, atCutoff, after} {
				record(t, c)
			}
			revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.BySubject, ID: sub, At: cutoff.Add(500 * time.Millisecond), TTL: time.Hour})
			revokertest.WantRevoked(t, s, before, true, "a token issued before the cut-off")
			revokertest.WantRevoked(t, s, atCutoff, true, "a token issued in the cut-off's second")
			revokertest.WantRevoked(t, s, after, false, "a token issued after the cut-off")
			if got, want := active(t, sub), []string{after.ID}; !slices.Equal(got, want) {
				t.Fatalf("ActiveTokens() after a subject cut-off = %v, want %v", got, want)
			}
			// A token recorded after the revocation, but issued before its
			// cut-off, is still refused: the cut-off is a record, not only a
			// deletion.
			late := revokertest.TokenAt(sub, cutoff.Add(-time.Minute))
			record(t, late)
			revokertest.WantRevoked(t, s, late, true, "a token issued before the cut-off, recorded after it")
		})

		t.Run("RevokeAll", func(t *testing.T) {
			sub, bystander := revokertest.NewID("sub"), revokertest.TokenAt(revokertest.NewID("sub"), now)
			tokens := []*guardian.Claims{revokertest.TokenAt(sub, now), revokertest.TokenAt(sub, now), revokertest.TokenAt(sub, now.Add(-30*time.Minute))}
			for _, c := range append(tokens, bystander) {
				record(t, c)
			}
			n, err := s.RevokeAll(ctx, sub)
			if err != nil || n != 3 {
				t.Fatalf("RevokeAll() = %d, %v; want 3, nil", n, err)
			}
			for _, c := range tokens {
				revokertest.WantRevoked(t, s, c, true, "a token after RevokeAll")
			}
			revokertest.WantRevoked(t, s, bystander, false, "another subject's token after RevokeAll")
			if got := active(t, sub); len(got) != 0 {
				t.Fatalf("ActiveTokens() after RevokeAll = %v, want none", got)
			}
			next := revokertest.Token(sub)
			record(t, next)
			revokertest.WantRevoked(t, s, next, false, "a token issued after RevokeAll")
			if n, err := s.RevokeAll(ctx, revokertest.NewID("nobody")); err != nil || n != 0 {
				t.Fatalf("RevokeAll(subject without tokens) = %d, %v; want 0, nil", n, err)
			}
		})

		t.Run("ConcurrentIssueAndCheck", func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for range 8 {
				wg.Go(func() {
					for range 8 {
						c := revokertest.Token(revokertest.NewID("sub"))
						if err := s.Record(ctx, c); err != nil {
							errs <- err
							return
						}
						if got, err := s.Revoked(ctx, c); err != nil || got {
							errs <- errors.New("Revoked(just recorded) = true or error: " + errString(err))
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})

		t.Run("InvalidRecord", func(t *testing.T) {
			base := func(f func(c *guardian.Claims)) *guardian.Claims {
				c := revokertest.TokenAt(revokertest.NewID("sub"), now)
				f(c)
				return c
			}
			tests := []struct {
				name    string
				c       *guardian.Claims
				wantErr error
			}{
				{name: "nil claims", c: nil},
				{name: "no jti", c: base(func(c *guardian.Claims) { c.ID = "" }), wantErr: guardian.ErrMissingClaim},
				{name: "no exp", c: base(func(c *guardian.Claims) { c.ExpiresAt = time.Time{} }), wantErr: guardian.ErrMissingClaim},
				{name: "subject too long", c: base(func(c *guardian.Claims) { c.Subject = strings.Repeat("s", sqlstore.MaxIDLength+1) }), wantErr: sqlstore.ErrInvalidID},
				{name: "family with NUL", c: base(func(c *guardian.Claims) { c.Family = "f\x00" }), wantErr: sqlstore.ErrInvalidID},
				{name: "type too long", c: base(func(c *guardian.Claims) { c.Type = guardian.TokenType(strings.Repeat("t", 256)) }), wantErr: sqlstore.ErrInvalidID},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					err := s.Record(ctx, tt.c)
					if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
						t.Fatalf("Record(%s) = %v, want an error wrapping %v", tt.name, err, tt.wantErr)
					}
				})
			}
		})
	})
}

// TestDenyListRefusesAllowListCalls checks that the allow-list methods are
// loud on a deny-list store rather than silently doing nothing.
func TestDenyListRefusesAllowListCalls(t *testing.T) {
	b := newBackend(t, "sqlite")
	s := newStore(t, b, b.open(t), nil)
	ctx := context.Background()
	if err := s.Record(ctx, revokertest.Token("sub")); !errors.Is(err, sqlstore.ErrNotAllowList) {
		t.Errorf("Record() on a deny-list store = %v, want ErrNotAllowList", err)
	}
	if _, err := s.ActiveTokens(ctx, "sub"); !errors.Is(err, sqlstore.ErrNotAllowList) {
		t.Errorf("ActiveTokens() on a deny-list store = %v, want ErrNotAllowList", err)
	}
	if _, err := s.RevokeAll(ctx, "sub"); !errors.Is(err, sqlstore.ErrNotAllowList) {
		t.Errorf("RevokeAll() on a deny-list store = %v, want ErrNotAllowList", err)
	}
	if s.AllowList() {
		t.Error("AllowList() = true on a deny-list store")
	}
}

// placeholder is the backend's first bind parameter.
func placeholder(b *backend) string {
	if b.dialect == sqlstore.Postgres {
		return "$1"
	}
	return "?"
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
