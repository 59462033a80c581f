// Package revokertest is the conformance suite for implementations of
// [guardian.Revoker]. Every store in this repository runs it against a real
// server, and third-party stores can run it too:
//
//	func TestConformance(t *testing.T) {
//		revokertest.Run(t, func(t *testing.T) guardian.Revoker {
//			return mystore.New(db) // may be shared by every subtest
//		})
//	}
//
// The suite uses fresh random IDs in every subtest, so one store (and one
// database) may serve them all; subtests run in parallel. What a Revoker
// need not implement is skipped, with the reason, rather than passed: the
// ConsumeOnce subtest for a Revoker that is not a [guardian.TokenConsumer],
// and the IssuerClock subtests for an allow-list store without a
// Record(ctx, *guardian.Claims) method.
//
// The helpers the suite is written with serve a store's own tests too:
// [NewID], [Token] and [TokenAt] make fixtures, [MustRevoke] and
// [WantRevoked] check a Revoker's answers.
package revokertest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/guardiantest"
	"github.com/guardian-go/guardian/internal/testclock"
)

// Run runs every conformance test against Revokers made by newRevoker.
// newRevoker is called once per subtest, with that subtest's t; it may
// return the same store each time. Stores that implement
// [guardian.TokenConsumer] have Consume tested too; for other Revokers the
// ConsumeOnce subtest is skipped.
func Run(t *testing.T, newRevoker func(t *testing.T) guardian.Revoker) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, r guardian.Revoker)
	}{
		{"TokenRevokedByID", testToken},
		{"FamilyRevoked", testFamily},
		{"SubjectCutoff", testSubjectCutoff},
		{"SubjectCutoffOnlyMovesForward", testSubjectCutoffMonotonic},
		{"KindsDoNotMix", testKindsDoNotMix},
		{"UnusualIDs", testUnusualIDs},
		{"RevokeIsIdempotent", testIdempotent},
		{"InvalidRevocationRefused", testInvalid},
		{"RecordForgottenAfterTTL", testExpiry},
		{"IssuerClockYearAheadOfStore", testIssuerClockOffset(366 * 24 * time.Hour)},
		{"IssuerClockYearBehindStore", testIssuerClockOffset(-366 * 24 * time.Hour)},
		{"ConcurrentUse", testConcurrent},
		{"CanceledContext", testCanceled},
		{"ConsumeOnce", testConsume},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newRevoker(t))
		})
	}
}

// NewID returns a random identifier, unique across runs, for tests that
// share a store.
func NewID(prefix string) string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return prefix + "-" + base64.RawURLEncoding.EncodeToString(b[:])
}

// Token returns the claims of a fresh access token of subject, issued now
// and valid for an hour, with an ID and a family of its own (from [NewID]).
// "Now" is the test clock of this repository, the machine's time shifted by
// GUARDIAN_TEST_CLOCK_OFFSET when that is set, so that a store's tests can
// prove that no store compares a token's instants with its own clock.
func Token(subject string) *guardian.Claims {
	return TokenAt(subject, testclock.Now())
}

// TokenAt is [Token] for a token issued at iat: iat and exp (an hour later)
// are truncated to whole seconds, as in a JWT.
func TokenAt(subject string, iat time.Time) *guardian.Claims {
	return &guardian.Claims{
		Subject:   subject,
		Type:      guardian.AccessToken,
		ID:        NewID("jti"),
		Family:    NewID("fam"),
		IssuedAt:  iat.Truncate(time.Second),
		ExpiresAt: iat.Add(time.Hour).Truncate(time.Second),
	}
}

// MustRevoke records rev in r, and fails the test at once when Revoke
// returns an error.
func MustRevoke(tb testing.TB, r guardian.Revoker, rev guardian.Revocation) {
	tb.Helper()
	if err := r.Revoke(context.Background(), rev); err != nil {
		tb.Fatalf("Revoke(%s %q) = %v, want nil", rev.Kind, rev.ID, err)
	}
}

// WantRevoked fails the test at once unless r.Revoked(c) answers want with a
// nil error. why describes c in the failure message ("a fresh token").
func WantRevoked(tb testing.TB, r guardian.Revoker, c *guardian.Claims, want bool, why string) {
	tb.Helper()
	got, err := r.Revoked(context.Background(), c)
	if err != nil {
		tb.Fatalf("Revoked(%s) error = %v, want nil", why, err)
	}
	if got != want {
		tb.Fatalf("Revoked(%s) = %v, want %v", why, got, want)
	}
}

func testToken(t *testing.T, r guardian.Revoker) {
	c, other := Token(NewID("sub")), Token(NewID("sub"))
	WantRevoked(t, r, c, false, "a fresh token")
	MustRevoke(t, r, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour})
	WantRevoked(t, r, c, true, "the revoked token")
	WantRevoked(t, r, other, false, "another token")
	sibling := Token(c.Subject)
	sibling.Family = c.Family
	WantRevoked(t, r, sibling, false, "another token of the same subject and family")
}

func testFamily(t *testing.T, r guardian.Revoker) {
	c := Token(NewID("sub"))
	rotated := Token(c.Subject)
	rotated.Family = c.Family
	other := Token(c.Subject)
	MustRevoke(t, r, guardian.Revocation{Kind: guardian.ByFamily, ID: c.Family, At: testclock.Now(), TTL: time.Hour})
	WantRevoked(t, r, c, true, "a token of the revoked family")
	WantRevoked(t, r, rotated, true, "a later token of the revoked family")
	WantRevoked(t, r, other, false, "a token of another family")
	noFamily := Token(c.Subject)
	noFamily.Family = ""
	WantRevoked(t, r, noFamily, false, "a token without a family")
}

func testSubjectCutoff(t *testing.T, r guardian.Revoker) {
	sub := NewID("sub")
	cutoff := testclock.Now().Truncate(time.Second).Add(-10 * time.Second)
	at := func(d time.Duration) *guardian.Claims {
		c := Token(sub)
		c.IssuedAt = cutoff.Add(d)
		return c
	}
	MustRevoke(t, r, guardian.Revocation{Kind: guardian.BySubject, ID: sub, At: cutoff.Add(500 * time.Millisecond), TTL: time.Hour})
	WantRevoked(t, r, at(-time.Hour), true, "a token issued an hour before the cut-off")
	WantRevoked(t, r, at(0), true, "a token issued in the cut-off's second")
	WantRevoked(t, r, at(time.Second), false, "a token issued the second after the cut-off")
	WantRevoked(t, r, at(5*time.Second), false, "a token issued after the cut-off")
	WantRevoked(t, r, Token(NewID("sub")), false, "another subject's token")
}

func testSubjectCutoffMonotonic(t *testing.T, r guardian.Revoker) {
	sub := NewID("sub")
	now := testclock.Now().Truncate(time.Second)
	MustRevoke(t, r, guardian.Revocation{Kind: guardian.BySubject, ID: sub, At: now.Add(-time.Minute), TTL: time.Hour})
	MustRevoke(t, r, guardian.Revocation{Kind: guardian.BySubject, ID: sub, At: now.Add(-2 * time.Hour), TTL: time.Minute})
	c := Token(sub)
	c.IssuedAt = now.Add(-2 * time.Minute)
	WantRevoked(t, r, c, true, "a token before the later cut-off, after an older revocation was recorded")
	c.IssuedAt = now.Add(-30 * time.Second)
	WantRevoked(t, r, c, false, "a token after both cut-offs")
}

func testKindsDoNotMix(t *testing.T, r guardian.Revoker) {
	id := NewID("shared")
	MustRevoke(t, r, guardian.Revocation{Kind: guardian.ByToken, ID: id, At: testclock.Now(), TTL: time.Hour})
	c := Token(id)
	c.Family = id
	WantRevoked(t, r, c, false, "a token whose subject and family equal a revoked jti")
	c2 := Token(NewID("sub"))
	c2.ID = id + "x"
	c2.Family = id
	MustRevoke(t, r, guardian.Revocation{Kind: guardian.BySubject, ID: id, At: testclock.Now(), TTL: time.Hour})
	WantRevoked(t, r, c2, false, "a token whose family equals a revoked jti and subject")
}

func testUnusualIDs(t *testing.T, r guardian.Revoker) {
	for _, suffix := range []string{
		`'; DROP TABLE x; --`, `"quoted"`, "with:colons:and*glob?[x]", "unicode-é-漢字-🙂",
		"percent%_underscore", "back\\slash", strings.Repeat("long", 60),
	} {
		c := Token(NewID("sub") + suffix)
		c.ID = NewID("jti") + suffix
		c.Family = NewID("fam") + suffix
		near := Token(c.Subject)
		near.ID = c.ID[:len(c.ID)-1]
		WantRevoked(t, r, c, false, "a fresh token with ID "+fmt.Sprintf("%q", c.ID))
		MustRevoke(t, r, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour})
		WantRevoked(t, r, c, true, fmt.Sprintf("the token %q", c.ID))
		WantRevoked(t, r, near, false, fmt.Sprintf("a token whose ID is a prefix of %q", c.ID))
	}
}

func testIdempotent(t *testing.T, r guardian.Revoker) {
	c := Token(NewID("sub"))
	for i := range 3 {
		for _, rev := range []guardian.Revocation{
			{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour},
			{Kind: guardian.ByFamily, ID: c.Family, At: testclock.Now(), TTL: time.Hour},
			{Kind: guardian.BySubject, ID: c.Subject, At: testclock.Now(), TTL: time.Hour},
		} {
			if err := r.Revoke(context.Background(), rev); err != nil {
				t.Fatalf("Revoke #%d of %s = %v, want nil", i+1, rev.Kind, err)
			}
		}
	}
	WantRevoked(t, r, c, true, "a token revoked three times over")
}

func testInvalid(t *testing.T, r guardian.Revoker) {
	now := testclock.Now()
	for _, rev := range []guardian.Revocation{
		{Kind: 0, ID: NewID("x"), At: now, TTL: time.Hour},
		{Kind: 99, ID: NewID("x"), At: now, TTL: time.Hour},
		{Kind: guardian.ByToken, ID: "", At: now, TTL: time.Hour},
		{Kind: guardian.ByToken, ID: NewID("x") + "\xff", At: now, TTL: time.Hour},
		{Kind: guardian.ByFamily, ID: NewID("x") + "\x00", At: now, TTL: time.Hour},
		{Kind: guardian.BySubject, ID: strings.Repeat("s", guardian.MaxIDLength+1), At: now, TTL: time.Hour},
		{Kind: guardian.ByFamily, ID: NewID("x"), At: now},
		{Kind: guardian.ByToken, ID: NewID("x"), At: now, TTL: -time.Second},
		{Kind: guardian.ByToken, ID: NewID("x"), At: now, TTL: guardian.MaxRevocationTTL + time.Hour},
		{Kind: guardian.BySubject, ID: NewID("x"), TTL: time.Hour},
	} {
		err := r.Revoke(context.Background(), rev)
		if !errors.Is(err, guardian.ErrInvalidRevocation) {
			t.Errorf("Revoke(%s %.40q TTL %v) = %v, want an error wrapping ErrInvalidRevocation", rev.Kind, rev.ID, rev.TTL, err)
		}
		if errors.Is(err, guardian.ErrUnavailable) {
			t.Errorf("Revoke(%s %.40q) = %v: an invalid revocation is the caller's mistake, not an outage (ErrUnavailable)", rev.Kind, rev.ID, err)
		}
	}
	WantRevoked(t, r, &guardian.Claims{}, false, "empty claims")
	odd := Token("sub\xff\x00")
	odd.ID, odd.Family = "jti\xff", "fam\x00"
	WantRevoked(t, r, odd, false, "a token with IDs no revocation can name")
}

func testExpiry(t *testing.T, r guardian.Revoker) {
	c := Token(NewID("sub"))
	ttl := 1200 * time.Millisecond
	MustRevoke(t, r, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: ttl})
	MustRevoke(t, r, guardian.Revocation{Kind: guardian.ByFamily, ID: c.Family, At: testclock.Now(), TTL: ttl})
	MustRevoke(t, r, guardian.Revocation{Kind: guardian.BySubject, ID: c.Subject, At: testclock.Now(), TTL: ttl})
	WantRevoked(t, r, c, true, "a token within its record's TTL")
	// Elapsed time, not dates: measured on the machine's monotonic clock.
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := r.Revoked(context.Background(), c)
		if err != nil {
			t.Fatalf("Revoked after the TTL: %v", err)
		}
		if !got {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Revoked still true 15s after every record's TTL ran out; records must be forgotten once their TTL has passed")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// testIssuerClockOffset revokes through Issuers whose clocks are far from
// the store's (and the machine's): the store must keep every record for as
// long as that issuer accepts the token, whatever its clock says.
func testIssuerClockOffset(offset time.Duration) func(t *testing.T, r guardian.Revoker) {
	return func(t *testing.T, r guardian.Revoker) {
		ctx := context.Background()
		var mu sync.Mutex
		now := testclock.Now().Add(offset)
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
		// The bound is generous: this case is about what the store keeps,
		// not how fast it answers under a loaded test run.
		opts := &guardian.IssuerOptions{Clock: clock, Revoker: r, Leeway: 5 * time.Second, RevokerTimeout: 10 * time.Second}
		if al, ok := r.(interface{ AllowList() bool }); ok && al.AllowList() {
			rec, ok := r.(interface {
				Record(context.Context, *guardian.Claims) error
			})
			if !ok {
				t.Skip("an allow-list store without Record(ctx, *guardian.Claims): the suite cannot record what it issues")
			}
			opts.Hooks.AfterIssue = rec.Record // an allow-list store records what is issued
		}
		issuer := guardiantest.NewIssuer(t, opts)
		issue := func(sub string, o *guardian.IssueOptions) guardian.Token {
			t.Helper()
			tok, err := issuer.Issue(ctx, sub, o)
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			if _, err := issuer.Verify(ctx, tok.Raw, tok.Claims.Type); err != nil {
				t.Fatalf("Verify of a fresh token = %v, want nil", err)
			}
			return tok
		}
		refused := func(tok guardian.Token, why string) {
			t.Helper()
			if _, err := issuer.Verify(ctx, tok.Raw, tok.Claims.Type); !errors.Is(err, guardian.ErrRevoked) {
				t.Fatalf("Verify(%s) with the issuer's clock %v from the machine's = %v, want ErrRevoked", why, offset, err)
			}
		}

		byToken := issue(NewID("sub"), nil)
		if err := issuer.Revoke(ctx, byToken.Raw); err != nil {
			t.Fatalf("Revoke = %v", err)
		}
		refused(byToken, "a revoked token")

		sub := NewID("sub")
		bySubject := issue(sub, nil)
		if err := issuer.RevokeSubject(ctx, sub); err != nil {
			t.Fatalf("RevokeSubject = %v", err)
		}
		refused(bySubject, "a token of a revoked subject")

		refresh := issue(NewID("sub"), &guardian.IssueOptions{Type: guardian.RefreshToken})
		if err := issuer.RevokeFamily(ctx, refresh.Claims.Family); err != nil {
			t.Fatalf("RevokeFamily = %v", err)
		}
		refused(refresh, "a refresh token of a revoked family")

		// Late in the token's life on the issuer's clock: still refused.
		advance(14 * time.Minute)
		refused(byToken, "a revoked token, a minute before its exp")
		refused(bySubject, "a token of a revoked subject, a minute before its exp")
	}
}

func testConcurrent(t *testing.T, r guardian.Revoker) {
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*2)
	revoked := make(chan *guardian.Claims, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				c := Token(NewID("sub"))
				if err := r.Revoke(context.Background(), guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour}); err != nil {
					errs <- err
					continue
				}
				revoked <- c
				if got, err := r.Revoked(context.Background(), Token(c.Subject)); err != nil || got {
					errs <- fmt.Errorf("Revoked(unrevoked token) = %v, %v; want false, nil", got, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	close(revoked)
	for err := range errs {
		t.Error(err)
	}
	for c := range revoked {
		WantRevoked(t, r, c, true, "a token revoked concurrently")
	}
}

func testCanceled(t *testing.T, r guardian.Revoker) {
	c := Token(NewID("sub"))
	MustRevoke(t, r, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fresh := Token(NewID("sub"))
	if got, err := r.Revoked(ctx, fresh); err == nil {
		t.Errorf("Revoked(canceled ctx) = %v, nil; want an error (a store that cannot answer must not say 'not revoked')", got)
	}
	if err := r.Revoke(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: fresh.ID, At: testclock.Now(), TTL: time.Hour}); err == nil {
		t.Error("Revoke(canceled ctx) = nil, want an error")
	}
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	if _, err := r.Revoked(expired, fresh); err == nil {
		t.Error("Revoked(ctx past its deadline) returned no error")
	} else if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		t.Logf("Revoked(ctx past its deadline) = %v (does not wrap the context error; allowed, but wrapping helps callers)", err)
	}
	WantRevoked(t, r, c, true, "a token revoked before the canceled calls")
}

func testConsume(t *testing.T, r guardian.Revoker) {
	consumer, ok := r.(guardian.TokenConsumer)
	if !ok {
		t.Skip("the Revoker is not a guardian.TokenConsumer, so there is no Consume to test (refresh rotation cannot be made race-free with it)")
	}
	c := Token(NewID("sub"))
	rev := guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour}
	const racers = 12
	var wg sync.WaitGroup
	firsts := make(chan bool, racers)
	for range racers {
		wg.Go(func() {
			first, err := consumer.Consume(context.Background(), rev)
			if err != nil {
				t.Errorf("Consume = %v", err)
				return
			}
			firsts <- first
		})
	}
	wg.Wait()
	close(firsts)
	n := 0
	for first := range firsts {
		if first {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d of %d concurrent Consume calls of one token reported first; want exactly 1", n, racers)
	}
	WantRevoked(t, r, c, true, "a consumed token")

	revoked := Token(NewID("sub"))
	MustRevoke(t, r, guardian.Revocation{Kind: guardian.ByToken, ID: revoked.ID, At: testclock.Now(), TTL: time.Hour})
	if first, err := consumer.Consume(context.Background(), guardian.Revocation{Kind: guardian.ByToken, ID: revoked.ID, At: testclock.Now(), TTL: time.Hour}); err != nil || first {
		t.Fatalf("Consume of a token revoked by Revoke = %v, %v; want false, nil", first, err)
	}
	if _, err := consumer.Consume(context.Background(), guardian.Revocation{Kind: guardian.ByFamily, ID: NewID("fam"), At: testclock.Now(), TTL: time.Hour}); err == nil {
		t.Fatal("Consume of a family revocation = nil error; want an error (Consume takes token revocations)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fresh := Token(NewID("sub"))
	if first, err := consumer.Consume(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: fresh.ID, At: testclock.Now(), TTL: time.Hour}); err == nil {
		t.Fatalf("Consume(canceled ctx) = %v, nil; want an error", first)
	}
}
