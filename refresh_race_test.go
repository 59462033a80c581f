package guardian_test

// Races and retries of Refresh found by an adversarial review: each test
// failed before its fix.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/guardiantest"
)

// A retry copy of a successor outlives the ByToken record of the copy that
// was consumed: its exp is later by up to RefreshRetryWindow.
func TestRetryCopyDoesNotOutliveItsRecord(t *testing.T) {
	ctx := context.Background()
	clock := guardiantest.NewClock(t0)
	rev := guardiantest.NewRevoker(clock)
	f := newFixture(t, &guardian.IssuerOptions{
		Revoker:        rev,
		Clock:          clock.Now,
		TTL:            map[guardian.TokenType]time.Duration{guardian.RefreshToken: 7 * 24 * time.Hour},
		FamilyLifetime: 90 * 24 * time.Hour,
	})
	f.clock = clock
	r0 := f.issue(t, "u1", &guardian.IssueOptions{Type: guardian.RefreshToken})

	p1, err := f.issuer.Refresh(ctx, r0.Raw, nil) // the client
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(25 * time.Second)
	p1b, err := f.issuer.Refresh(ctx, r0.Raw, nil) // a thief, inside the window
	if err != nil {
		t.Fatal(err)
	}
	if p1b.Refresh.Claims.ID != p1.Refresh.Claims.ID {
		t.Fatal("not the same jti")
	}
	t.Logf("R1 exp %v, copy exp %v", p1.Refresh.Claims.ExpiresAt, p1b.Refresh.Claims.ExpiresAt)

	f.clock.Advance(time.Hour)
	p2, err := f.issuer.Refresh(ctx, p1.Refresh.Raw, nil) // the client rotates on
	if err != nil {
		t.Fatal(err)
	}
	// Just after the first copy expired; the thief's copy is still valid.
	f.clock.Set(p1.Refresh.Claims.ExpiresAt.Add(time.Second))
	if _, err := f.issuer.Refresh(ctx, p1b.Refresh.Raw, nil); !errors.Is(err, guardian.ErrRevoked) {
		t.Errorf("thief's copy of a consumed refresh token: err = %v, want ErrRevoked (reuse)", err)
	}
	if _, err := f.issuer.Verify(ctx, p2.Refresh.Raw, guardian.RefreshToken); err == nil {
		t.Errorf("family not revoked: the client's R2 is still accepted, the family has forked")
	}
}

// A refresh that verified its token before a logout (RevokeFamily) and signs
// after it returns a pair whose refresh token outlives the family record.
func TestRefreshRacingRevokeFamily(t *testing.T) {
	ctx := context.Background()
	clock := guardiantest.NewClock(t0)
	f := newFixture(t, &guardian.IssuerOptions{
		Revoker:        guardiantest.NewRevoker(clock),
		Clock:          clock.Now,
		TTL:            map[guardian.TokenType]time.Duration{guardian.RefreshToken: 7 * 24 * time.Hour},
		FamilyLifetime: 90 * 24 * time.Hour,
	})
	f.clock = clock
	r0 := f.issue(t, "u1", &guardian.IssueOptions{Type: guardian.RefreshToken})
	clock.Advance(time.Hour)
	pair, err := f.issuer.Refresh(ctx, r0.Raw, &guardian.SuccessorOptions{Custom: func(ctx context.Context, old *guardian.Claims) (any, error) {
		// Concurrently: the user logs out (SignOut revokes the family)...
		if err := f.issuer.RevokeFamily(ctx, old.Family); err != nil {
			return nil, err
		}
		clock.Advance(2 * time.Second) // ...while the user lookup takes 2 s.
		return nil, nil
	}})
	if !errors.Is(err, guardian.ErrRevoked) || pair.Refresh.Raw != "" {
		t.Fatalf("Refresh racing RevokeFamily = %v; want ErrRevoked and no pair (its tokens would outlive the family record)", err)
	}
}

// TestFamilyRecordOutlivesEveryMember: a family revocation is kept as long
// as any token of the family can live: FamilyLifetime, when it is longer
// than every token type's TTL.
func TestFamilyRecordOutlivesEveryMember(t *testing.T) {
	ctx := context.Background()
	clock := guardiantest.NewClock(t0)
	rev := guardiantest.NewRevoker(clock)
	f := newFixture(t, &guardian.IssuerOptions{
		Revoker: rev, Clock: clock.Now,
		TTL:            map[guardian.TokenType]time.Duration{guardian.RefreshToken: 7 * 24 * time.Hour},
		FamilyLifetime: 90 * 24 * time.Hour,
	})
	r0 := f.issue(t, "u1", &guardian.IssueOptions{Type: guardian.RefreshToken})
	if err := f.issuer.RevokeFamily(ctx, r0.Claims.Family); err != nil {
		t.Fatal(err)
	}
	clock.Advance(89 * 24 * time.Hour)
	rev.Sweep()
	if got, _ := rev.Revoked(ctx, &guardian.Claims{ID: "x", Family: r0.Claims.Family}); !got {
		t.Fatal("the family record was forgotten before the family's lifetime ended")
	}
}

type thiefKey struct{}

// The retry path issues a pair for a token that OnVerify never saw.
func TestRetryRunsOnVerify(t *testing.T) {
	clock := guardiantest.NewClock(t0)
	veto := errors.New("not this client")
	f := newFixture(t, &guardian.IssuerOptions{
		Revoker: guardiantest.NewRevoker(clock),
		Clock:   clock.Now,
		Hooks: guardian.Hooks{OnVerify: func(ctx context.Context, c *guardian.Claims) error {
			if ctx.Value(thiefKey{}) != nil { // e.g. a device/IP/DPoP binding check
				return veto
			}
			return nil
		}},
	})
	r0 := f.issue(t, "u1", &guardian.IssueOptions{Type: guardian.RefreshToken})
	thief := context.WithValue(context.Background(), thiefKey{}, true)
	if _, err := f.issuer.Refresh(thief, r0.Raw, nil); !errors.Is(err, veto) {
		t.Fatalf("fresh token, thief: %v, want veto", err)
	}
	if _, err := f.issuer.Refresh(context.Background(), r0.Raw, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.issuer.Refresh(thief, r0.Raw, nil); err == nil {
		t.Errorf("thief got a pair through the retry window although OnVerify vetoes it")
	}
}

// TestRefreshRacingRevokeSubject: a refresh that verified its token before
// a "log out everywhere" and signs after its cut-off must not hand out a
// pair: the new tokens' iat would lie past the cut-off.
func TestRefreshRacingRevokeSubject(t *testing.T) {
	ctx := context.Background()
	clock := guardiantest.NewClock(t0)
	f := newFixture(t, &guardian.IssuerOptions{Revoker: guardiantest.NewRevoker(clock), Clock: clock.Now})
	f.clock = clock
	r0 := f.issue(t, "u1", &guardian.IssueOptions{Type: guardian.RefreshToken})
	clock.Advance(time.Hour)
	pair, err := f.issuer.Refresh(ctx, r0.Raw, &guardian.SuccessorOptions{Custom: func(ctx context.Context, old *guardian.Claims) (any, error) {
		if err := f.issuer.RevokeSubject(ctx, old.Subject); err != nil { // concurrently: a password change
			return nil, err
		}
		clock.Advance(2 * time.Second) // while the user lookup takes 2 s
		return nil, nil
	}})
	if !errors.Is(err, guardian.ErrRevoked) || pair.Refresh.Raw != "" {
		t.Fatalf("Refresh racing RevokeSubject = %v; want ErrRevoked and no pair", err)
	}
}
