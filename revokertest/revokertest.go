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
		{"AlreadyExpiredRecordAccepted", testAlreadyExpired},
		{"RecordForgottenAfterUntil", testExpiry},
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
	now := time.Now()
	return &guardian.Claims{
		Subject:   subject,
		Type:      guardian.Access,
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
	revoke(t, r, guardian.Revocation{Kind: guardian.RevokeToken, ID: c.ID, At: time.Now(), Until: c.ExpiresAt})
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
	revoke(t, r, guardian.Revocation{Kind: guardian.RevokeFamily, ID: c.Family, At: time.Now(), Until: time.Now().Add(time.Hour)})
	wantRevoked(t, r, c, true, "a token of the revoked family")
	wantRevoked(t, r, rotated, true, "a later token of the revoked family")
	wantRevoked(t, r, other, false, "a token of another family")
	noFamily := token(c.Subject)
	noFamily.Family = ""
	wantRevoked(t, r, noFamily, false, "a token without a family")
}

func testSubjectCutoff(t *testing.T, r guardian.Revoker) {
	sub := NewID("sub")
	cutoff := time.Now().Truncate(time.Second).Add(-10 * time.Second)
	at := func(d time.Duration) *guardian.Claims {
		c := token(sub)
		c.IssuedAt = cutoff.Add(d)
		return c
	}
	revoke(t, r, guardian.Revocation{Kind: guardian.RevokeSubject, ID: sub, At: cutoff.Add(500 * time.Millisecond), Until: time.Now().Add(time.Hour)})
	wantRevoked(t, r, at(-time.Hour), true, "a token issued an hour before the cut-off")
	wantRevoked(t, r, at(0), true, "a token issued in the cut-off's second")
	wantRevoked(t, r, at(time.Second), false, "a token issued the second after the cut-off")
	wantRevoked(t, r, at(5*time.Second), false, "a token issued after the cut-off")
	wantRevoked(t, r, token(NewID("sub")), false, "another subject's token")
}

func testSubjectCutoffMonotonic(t *testing.T, r guardian.Revoker) {
	sub := NewID("sub")
	now := time.Now().Truncate(time.Second)
	revoke(t, r, guardian.Revocation{Kind: guardian.RevokeSubject, ID: sub, At: now.Add(-time.Minute), Until: now.Add(time.Hour)})
	revoke(t, r, guardian.Revocation{Kind: guardian.RevokeSubject, ID: sub, At: now.Add(-2 * time.Hour), Until: now.Add(time.Minute)})
	c := token(sub)
	c.IssuedAt = now.Add(-2 * time.Minute)
	wantRevoked(t, r, c, true, "a token before the later cut-off, after an older revocation was recorded")
	c.IssuedAt = now.Add(-30 * time.Second)
	wantRevoked(t, r, c, false, "a token after both cut-offs")
}

func testKindsDoNotMix(t *testing.T, r guardian.Revoker) {
	id := NewID("shared")
	revoke(t, r, guardian.Revocation{Kind: guardian.RevokeToken, ID: id, At: time.Now(), Until: time.Now().Add(time.Hour)})
	c := token(id)
	c.Family = id
	wantRevoked(t, r, c, false, "a token whose subject and family equal a revoked jti")
	c2 := token(NewID("sub"))
	c2.ID = id + "x"
	c2.Family = id
	revoke(t, r, guardian.Revocation{Kind: guardian.RevokeSubject, ID: id, At: time.Now(), Until: time.Now().Add(time.Hour)})
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
		revoke(t, r, guardian.Revocation{Kind: guardian.RevokeToken, ID: c.ID, At: time.Now(), Until: c.ExpiresAt})
		wantRevoked(t, r, c, true, fmt.Sprintf("the token %q", c.ID))
		wantRevoked(t, r, near, false, fmt.Sprintf("a token whose ID is a prefix of %q", c.ID))
	}
}

func testIdempotent(t *testing.T, r guardian.Revoker) {
	c := token(NewID("sub"))
	for i := range 3 {
		for _, rev := range []guardian.Revocation{
			{Kind: guardian.RevokeToken, ID: c.ID, At: time.Now(), Until: c.ExpiresAt},
			{Kind: guardian.RevokeFamily, ID: c.Family, At: time.Now(), Until: c.ExpiresAt},
			{Kind: guardian.RevokeSubject, ID: c.Subject, At: time.Now(), Until: c.ExpiresAt},
		} {
			if err := r.Revoke(context.Background(), rev); err != nil {
				t.Fatalf("Revoke #%d of %s = %v, want nil", i+1, rev.Kind, err)
			}
		}
	}
	wantRevoked(t, r, c, true, "a token revoked three times over")
}

func testInvalid(t *testing.T, r guardian.Revoker) {
	now := time.Now()
	for _, rev := range []guardian.Revocation{
		{Kind: 0, ID: NewID("x"), At: now, Until: now.Add(time.Hour)},
		{Kind: 99, ID: NewID("x"), At: now, Until: now.Add(time.Hour)},
		{Kind: guardian.RevokeToken, ID: "", At: now, Until: now.Add(time.Hour)},
		{Kind: guardian.RevokeFamily, ID: NewID("x"), At: now},
		{Kind: guardian.RevokeSubject, ID: NewID("x"), Until: now.Add(time.Hour)},
	} {
		if err := r.Revoke(context.Background(), rev); err == nil {
			t.Errorf("Revoke(%+v) = nil, want an error", rev)
		}
	}
	wantRevoked(t, r, &guardian.Claims{}, false, "empty claims")
}

func testAlreadyExpired(t *testing.T, r guardian.Revoker) {
	c := token(NewID("sub"))
	past := time.Now().Add(-time.Minute)
	if err := r.Revoke(context.Background(), guardian.Revocation{Kind: guardian.RevokeToken, ID: c.ID, At: past, Until: past}); err != nil {
		t.Fatalf("Revoke with Until in the past = %v, want nil (nothing to keep)", err)
	}
}

func testExpiry(t *testing.T, r guardian.Revoker) {
	c := token(NewID("sub"))
	until := time.Now().Add(1200 * time.Millisecond)
	revoke(t, r, guardian.Revocation{Kind: guardian.RevokeToken, ID: c.ID, At: time.Now(), Until: until})
	revoke(t, r, guardian.Revocation{Kind: guardian.RevokeFamily, ID: c.Family, At: time.Now(), Until: until})
	revoke(t, r, guardian.Revocation{Kind: guardian.RevokeSubject, ID: c.Subject, At: time.Now(), Until: until})
	wantRevoked(t, r, c, true, "a token before its record's Until")
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := r.Revoked(context.Background(), c)
		if err != nil {
			t.Fatalf("Revoked after Until: %v", err)
		}
		if !got {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Revoked still true 15s after every record's Until; records must be forgotten once Until passes")
		}
		time.Sleep(200 * time.Millisecond)
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
				if err := r.Revoke(context.Background(), guardian.Revocation{Kind: guardian.RevokeToken, ID: c.ID, At: time.Now(), Until: c.ExpiresAt}); err != nil {
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
	revoke(t, r, guardian.Revocation{Kind: guardian.RevokeToken, ID: c.ID, At: time.Now(), Until: c.ExpiresAt})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fresh := token(NewID("sub"))
	if got, err := r.Revoked(ctx, fresh); err == nil {
		t.Errorf("Revoked(canceled ctx) = %v, nil; want an error (a store that cannot answer must not say 'not revoked')", got)
	}
	if err := r.Revoke(ctx, guardian.Revocation{Kind: guardian.RevokeToken, ID: fresh.ID, At: time.Now(), Until: fresh.ExpiresAt}); err == nil {
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
	rev := guardian.Revocation{Kind: guardian.RevokeToken, ID: c.ID, At: time.Now(), Until: c.ExpiresAt}
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
	revoke(t, r, guardian.Revocation{Kind: guardian.RevokeToken, ID: revoked.ID, At: time.Now(), Until: revoked.ExpiresAt})
	if first, err := consumer.Consume(context.Background(), guardian.Revocation{Kind: guardian.RevokeToken, ID: revoked.ID, At: time.Now(), Until: revoked.ExpiresAt}); err != nil || first {
		t.Fatalf("Consume of a token revoked by Revoke = %v, %v; want false, nil", first, err)
	}
	if _, err := consumer.Consume(context.Background(), guardian.Revocation{Kind: guardian.RevokeFamily, ID: NewID("fam"), At: time.Now(), Until: time.Now().Add(time.Hour)}); err == nil {
		t.Fatal("Consume of a family revocation = nil error; want an error (Consume takes token revocations)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fresh := token(NewID("sub"))
	if first, err := consumer.Consume(ctx, guardian.Revocation{Kind: guardian.RevokeToken, ID: fresh.ID, At: time.Now(), Until: fresh.ExpiresAt}); err == nil {
		t.Fatalf("Consume(canceled ctx) = %v, nil; want an error", first)
	}
}
