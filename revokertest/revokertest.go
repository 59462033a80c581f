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
// database) may serve them all; subtests run in parallel.
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
	"github.com/guardian-go/guardian/internal/testclock"
)

// Run runs every conformance test against Revokers made by newRevoker.
// newRevoker is called once per subtest; it may return the same store each
// time. Stores that implement [guardian.TokenConsumer] have Consume tested
// too.
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

// token describes a token issued now, in a family of its own.
func token(subject string) *guardian.Claims {
	now := testclock.Now()
	return &guardian.Claims{
		Subject:   subject,
		Type:      guardian.AccessToken,
		ID:        NewID("jti"),
		Family:    NewID("fam"),
		IssuedAt:  now.Truncate(time.Second),
		ExpiresAt: now.Add(time.Hour).Truncate(time.Second),
	}
}

func revoke(t *testing.T, r guardian.Revoker, rev guardian.Revocation) {
	t.Helper()
	if err := r.Revoke(context.Background(), rev); err != nil {
		t.Fatalf("Revoke(%s %q) = %v, want nil", rev.Kind, rev.ID, err)
	}
}

func wantRevoked(t *testing.T, r guardian.Revoker, c *guardian.Claims, want bool, why string) {
	t.Helper()
	got, err := r.Revoked(context.Background(), c)
	if err != nil {
		t.Fatalf("Revoked(%s) error = %v, want nil", why, err)
	}
	if got != want {
		t.Fatalf("Revoked(%s) = %v, want %v", why, got, want)
	}
}

func testToken(t *testing.T, r guardian.Revoker) {
	c, other := token(NewID("sub")), token(NewID("sub"))
	wantRevoked(t, r, c, false, "a fresh token")
	revoke(t, r, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour})
	wantRevoked(t, r, c, true, "the revoked token")
	wantRevoked(t, r, other, false, "another token")
	sibling := token(c.Subject)
	sibling.Family = c.Family
	wantRevoked(t, r, sibling, false, "another token of the same subject and family")
}

func testFamily(t *testing.T, r guardian.Revoker) {
	c := token(NewID("sub"))
	rotated := token(c.Subject)
	rotated.Family = c.Family
	other := token(c.Subject)
	revoke(t, r, guardian.Revocation{Kind: guardian.ByFamily, ID: c.Family, At: testclock.Now(), TTL: time.Hour})
	wantRevoked(t, r, c, true, "a token of the revoked family")
	wantRevoked(t, r, rotated, true, "a later token of the revoked family")
	wantRevoked(t, r, other, false, "a token of another family")
	noFamily := token(c.Subject)
	noFamily.Family = ""
	wantRevoked(t, r, noFamily, false, "a token without a family")
}

func testSubjectCutoff(t *testing.T, r guardian.Revoker) {
	sub := NewID("sub")
	cutoff := testclock.Now().Truncate(time.Second).Add(-10 * time.Second)
	at := func(d time.Duration) *guardian.Claims {
		c := token(sub)
		c.IssuedAt = cutoff.Add(d)
		return c
	}
	revoke(t, r, guardian.Revocation{Kind: guardian.BySubject, ID: sub, At: cutoff.Add(500 * time.Millisecond), TTL: time.Hour})
	wantRevoked(t, r, at(-time.Hour), true, "a token issued an hour before the cut-off")
	wantRevoked(t, r, at(0), true, "a token issued in the cut-off's second")
	wantRevoked(t, r, at(time.Second), false, "a token issued the second after the cut-off")
	wantRevoked(t, r, at(5*time.Second), false, "a token issued after the cut-off")
	wantRevoked(t, r, token(NewID("sub")), false, "another subject's token")
}

func testSubjectCutoffMonotonic(t *testing.T, r guardian.Revoker) {
	sub := NewID("sub")
	now := testclock.Now().Truncate(time.Second)
	revoke(t, r, guardian.Revocation{Kind: guardian.BySubject, ID: sub, At: now.Add(-time.Minute), TTL: time.Hour})
	revoke(t, r, guardian.Revocation{Kind: guardian.BySubject, ID: sub, At: now.Add(-2 * time.Hour), TTL: time.Minute})
	c := token(sub)
	c.IssuedAt = now.Add(-2 * time.Minute)
	wantRevoked(t, r, c, true, "a token before the later cut-off, after an older revocation was recorded")
	c.IssuedAt = now.Add(-30 * time.Second)
	wantRevoked(t, r, c, false, "a token after both cut-offs")
}

func testKindsDoNotMix(t *testing.T, r guardian.Revoker) {
	id := NewID("shared")
	revoke(t, r, guardian.Revocation{Kind: guardian.ByToken, ID: id, At: testclock.Now(), TTL: time.Hour})
	c := token(id)
	c.Family = id
	wantRevoked(t, r, c, false, "a token whose subject and family equal a revoked jti")
	c2 := token(NewID("sub"))
	c2.ID = id + "x"
	c2.Family = id
	revoke(t, r, guardian.Revocation{Kind: guardian.BySubject, ID: id, At: testclock.Now(), TTL: time.Hour})
	wantRevoked(t, r, c2, false, "a token whose family equals a revoked jti and subject")
}

func testUnusualIDs(t *testing.T, r guardian.Revoker) {
	for _, suffix := range []string{
		`'; DROP TABLE x; --`, `"quoted"`, "with:colons:and*glob?[x]", "unicode-é-漢字-🙂",
		"percent%_underscore", "back\\slash", strings.Repeat("long", 60),
	} {
		c := token(NewID("sub") + suffix)
		c.ID = NewID("jti") + suffix
		c.Family = NewID("fam") + suffix
		near := token(c.Subject)
		near.ID = c.ID[:len(c.ID)-1]
		wantRevoked(t, r, c, false, "a fresh token with ID "+fmt.Sprintf("%q", c.ID))
		revoke(t, r, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour})
		wantRevoked(t, r, c, true, fmt.Sprintf("the token %q", c.ID))
		wantRevoked(t, r, near, false, fmt.Sprintf("a token whose ID is a prefix of %q", c.ID))
	}
}

func testIdempotent(t *testing.T, r guardian.Revoker) {
	c := token(NewID("sub"))
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
	wantRevoked(t, r, c, true, "a token revoked three times over")
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
	wantRevoked(t, r, &guardian.Claims{}, false, "empty claims")
	odd := token("sub\xff\x00")
	odd.ID, odd.Family = "jti\xff", "fam\x00"
	wantRevoked(t, r, odd, false, "a token with IDs no revocation can name")
}

func testExpiry(t *testing.T, r guardian.Revoker) {
	c := token(NewID("sub"))
	ttl := 1200 * time.Millisecond
	revoke(t, r, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: ttl})
	revoke(t, r, guardian.Revocation{Kind: guardian.ByFamily, ID: c.Family, At: testclock.Now(), TTL: ttl})
	revoke(t, r, guardian.Revocation{Kind: guardian.BySubject, ID: c.Subject, At: testclock.Now(), TTL: ttl})
	wantRevoked(t, r, c, true, "a token within its record's TTL")
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
		secret := make([]byte, 32)
		rand.Read(secret)
		key, err := guardian.NewHMACKey("k", guardian.HS256, secret)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := guardian.NewKeySet(key)
		if err != nil {
			t.Fatal(err)
		}
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
		issuer, err := guardian.NewIssuer(keys, opts)
		if err != nil {
			t.Fatal(err)
		}
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
				c := token(NewID("sub"))
				if err := r.Revoke(context.Background(), guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour}); err != nil {
					errs <- err
					continue
				}
				revoked <- c
				if got, err := r.Revoked(context.Background(), token(c.Subject)); err != nil || got {
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
		wantRevoked(t, r, c, true, "a token revoked concurrently")
	}
}

func testCanceled(t *testing.T, r guardian.Revoker) {
	c := token(NewID("sub"))
	revoke(t, r, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fresh := token(NewID("sub"))
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
	wantRevoked(t, r, c, true, "a token revoked before the canceled calls")
}

func testConsume(t *testing.T, r guardian.Revoker) {
	consumer, ok := r.(guardian.TokenConsumer)
	if !ok {
		t.Log("the Revoker is not a guardian.TokenConsumer: refresh rotation cannot be made race-free with it")
		return
	}
	c := token(NewID("sub"))
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
	wantRevoked(t, r, c, true, "a consumed token")

	revoked := token(NewID("sub"))
	revoke(t, r, guardian.Revocation{Kind: guardian.ByToken, ID: revoked.ID, At: testclock.Now(), TTL: time.Hour})
	if first, err := consumer.Consume(context.Background(), guardian.Revocation{Kind: guardian.ByToken, ID: revoked.ID, At: testclock.Now(), TTL: time.Hour}); err != nil || first {
		t.Fatalf("Consume of a token revoked by Revoke = %v, %v; want false, nil", first, err)
	}
	if _, err := consumer.Consume(context.Background(), guardian.Revocation{Kind: guardian.ByFamily, ID: NewID("fam"), At: testclock.Now(), TTL: time.Hour}); err == nil {
		t.Fatal("Consume of a family revocation = nil error; want an error (Consume takes token revocations)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fresh := token(NewID("sub"))
	if first, err := consumer.Consume(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: fresh.ID, At: testclock.Now(), TTL: time.Hour}); err == nil {
		t.Fatalf("Consume(canceled ctx) = %v, nil; want an error", first)
	}
}
