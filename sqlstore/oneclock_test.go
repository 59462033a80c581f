package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/guardiantest"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/guardian-go/guardian/sqlstore"
)

// year is how far the issuers of the one-clock tests are from the store.
const year = 366 * 24 * time.Hour

// TestRevocationTTLOnStoreClock checks the one-clock contract in deny-list
// mode with a store clock far from every fixture: a record is kept for its
// TTL, rounded up to the millisecond, from when the store received it on
// its own clock, whatever At and the token's dates say; Live reports what
// is left of it.
func TestRevocationTTLOnStoreClock(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		// The store's clock: five years before the machine's. The
		// fixtures are on testclock.Now, the issuers' clock.
		clock := newFakeClock(time.Now().Add(-5 * 365 * 24 * time.Hour))
		s := newStore(t, b, b.open(t), &sqlstore.Options{SweepInterval: -1, Clock: clock.Now})
		ctx := context.Background()
		for _, offset := range []time.Duration{0, year, -year} {
			t.Run(fmt.Sprintf("At%+v", offset), func(t *testing.T) {
				at := testclock.Now().Add(offset)
				c := revokertest.TokenAt(revokertest.NewID("sub"), at)
				bySubject := revokertest.TokenAt(revokertest.NewID("sub"), at)
				// 1.5 ms: the store keeps the record 1h and 2 ms.
				ttl := time.Hour + 1500*time.Microsecond
				received := clock.Now()
				revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: at, TTL: ttl})
				revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByFamily, ID: c.Family, At: at, TTL: ttl})
				revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.BySubject, ID: bySubject.Subject, At: at, TTL: ttl})
				byFamily := revokertest.TokenAt(revokertest.NewID("sub"), at)
				byFamily.Family = c.Family
				for _, tok := range []*guardian.Claims{c, byFamily, bySubject} {
					revokertest.WantRevoked(t, s, tok, true, "a token just revoked, its dates a long way from the store's clock")
				}
				later := revokertest.TokenAt(bySubject.Subject, at.Add(2*time.Second))
				revokertest.WantRevoked(t, s, later, false, "a token of the subject issued after the cut-off")

				clock.Advance(10 * time.Minute)
				left := received.Add(ttl + 500*time.Microsecond).Sub(clock.Now()) // 50m0.002s
				seen := map[guardian.RevocationKind]guardian.Revocation{}
				if err := s.Live(ctx, func(r guardian.Revocation) error {
					if r.ID == c.ID || r.ID == c.Family || r.ID == bySubject.Subject {
						seen[r.Kind] = r
					}
					return nil
				}); err != nil {
					t.Fatalf("Live() = %v", err)
				}
				for _, kind := range []guardian.RevocationKind{guardian.ByToken, guardian.ByFamily, guardian.BySubject} {
					r, ok := seen[kind]
					switch {
					case !ok:
						t.Errorf("Live() did not list the %s revocation", kind)
						continue
					case r.TTL != left:
						t.Errorf("Live() %s revocation TTL = %v, want %v (what is left on the store's clock)", kind, r.TTL, left)
					case kind == guardian.BySubject && !r.At.Equal(time.Unix(at.Unix(), 0)):
						t.Errorf("Live() subject revocation At = %v, want the cut-off %v", r.At, time.Unix(at.Unix(), 0))
					case kind != guardian.BySubject && !r.At.Equal(clock.Now()):
						t.Errorf("Live() %s revocation At = %v, want the store's now %v", kind, r.At, clock.Now())
					}
					if err := r.Validate(); err != nil {
						t.Errorf("Live() %s revocation does not validate: %v", kind, err)
					}
				}

				clock.Advance(ttl - 10*time.Minute) // to 1h0m0.001s after it was received: the fake clock moves in whole ms
				for _, tok := range []*guardian.Claims{c, byFamily, bySubject} {
					revokertest.WantRevoked(t, s, tok, true, "a token whose record has a millisecond left")
				}
				clock.Advance(time.Millisecond)
				for _, tok := range []*guardian.Claims{c, byFamily, bySubject} {
					revokertest.WantRevoked(t, s, tok, false, "a token whose record has been held for its TTL")
				}
			})
		}
	})
}

// TestAllowListOneClock checks that allow-list mode obeys the one-clock
// contract: a token recorded by an issuer whose clock is a year off the
// store's passes Revoked, for its lifetime plus the margin measured on the
// store's clock, and no longer.
func TestAllowListOneClock(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		clock := newFakeClock(time.Now()) // the store's clock
		s := newStore(t, b, b.open(t), &sqlstore.Options{AllowList: true, SweepInterval: -1, Clock: clock.Now})
		ctx := context.Background()
		for _, offset := range []time.Duration{0, year, -year} {
			t.Run(fmt.Sprintf("Issuer%+v", offset), func(t *testing.T) {
				issuerNow := testclock.Now().Add(offset) // the issuer's clock stands still
				issuer := guardiantest.NewIssuer(t, &guardian.IssuerOptions{
					Revoker:        s,
					RevokerTimeout: 10 * time.Second, // semantics here, not speed
					Clock:          func() time.Time { return issuerNow },
					Hooks:          guardian.Hooks{AfterIssue: s.Record},
				})
				sub := revokertest.NewID("user")
				tok, err := issuer.Issue(ctx, sub, nil)
				if err != nil {
					t.Fatalf("Issue() = %v", err)
				}
				other, err := issuer.Issue(ctx, sub, nil)
				if err != nil {
					t.Fatalf("Issue() = %v", err)
				}
				verify := func(raw string, want error, why string) {
					t.Helper()
					_, err := issuer.Verify(ctx, raw)
					if (want == nil && err != nil) || (want != nil && !errors.Is(err, want)) {
						t.Fatalf("Verify(%s) with the issuer %v from the store = %v, want %v", why, offset, err, want)
					}
				}
				verify(tok.Raw, nil, "a token just issued and recorded")
				list, err := s.ActiveTokens(ctx, sub)
				if err != nil || len(list) != 2 {
					t.Fatalf("ActiveTokens() = %+v, %v; want the 2 tokens", list, err)
				}
				for _, ti := range list {
					if ti.ID == tok.Claims.ID && (!ti.ExpiresAt.Equal(tok.Claims.ExpiresAt) || !ti.IssuedAt.Equal(tok.Claims.IssuedAt)) {
						t.Errorf("ActiveTokens() lists iat %v, exp %v; want the token's own %v, %v", ti.IssuedAt, ti.ExpiresAt, tok.Claims.IssuedAt, tok.Claims.ExpiresAt)
					}
				}

				if err := issuer.Revoke(ctx, other.Raw); err != nil {
					t.Fatalf("Revoke() = %v", err)
				}
				verify(other.Raw, guardian.ErrRevoked, "a revoked token")
				verify(tok.Raw, nil, "its sibling")

				lifetime := tok.Claims.ExpiresAt.Sub(tok.Claims.IssuedAt)
				clock.Advance(lifetime)
				verify(tok.Raw, nil, "a recorded token, its lifetime later on the store's clock (within the margin)")
				verify(other.Raw, guardian.ErrRevoked, "a revoked token, its lifetime later on the store's clock")
				clock.Advance(sqlstore.DefaultTokenMargin + time.Second)
				verify(tok.Raw, guardian.ErrRevoked, "a recorded token held for its lifetime and the margin on the store's clock")
				if list, err := s.ActiveTokens(ctx, sub); err != nil || len(list) != 0 {
					t.Fatalf("ActiveTokens() after the row's time = %+v, %v; want none", list, err)
				}
			})
		}
	})
}

// TestInvalidInput checks that input a store cannot take is refused as the
// caller's mistake: the error wraps guardian.ErrInvalidID (for IDs and
// token types) or guardian.ErrInvalidRevocation, never
// guardian.ErrUnavailable, which guardian answers with 503.
func TestInvalidInput(t *testing.T) {
	if sqlstore.ErrInvalidID != guardian.ErrInvalidID {
		t.Errorf("sqlstore.ErrInvalidID = %v, want the value of guardian.ErrInvalidID", sqlstore.ErrInvalidID)
	}
	forEachBackend(t, func(t *testing.T, b *backend) {
		s := newStore(t, b, b.open(t), &sqlstore.Options{AllowList: true, SweepInterval: -1})
		ctx := context.Background()
		now := testclock.Now()
		long := strings.Repeat("x", guardian.MaxIDLength+1)
		badIDs := map[string]string{"empty": "", "too long": long, "NUL": "a\x00b", "not UTF-8": "a\xffb"}
		check := func(t *testing.T, call string, err error, wantID bool) {
			t.Helper()
			switch {
			case err == nil:
				t.Errorf("%s = nil, want an error", call)
			case errors.Is(err, guardian.ErrUnavailable):
				t.Errorf("%s = %v: it wraps guardian.ErrUnavailable, but the input is the caller's mistake, not an outage", call, err)
			case wantID && !errors.Is(err, guardian.ErrInvalidID):
				t.Errorf("%s = %v, want an error wrapping guardian.ErrInvalidID", call, err)
			case !errors.Is(err, guardian.ErrInvalidID) && !errors.Is(err, guardian.ErrInvalidRevocation):
				t.Errorf("%s = %v, want an error wrapping guardian.ErrInvalidID or guardian.ErrInvalidRevocation", call, err)
			}
		}
		for name, id := range badIDs {
			for _, kind := range []guardian.RevocationKind{guardian.ByToken, guardian.ByFamily, guardian.BySubject} {
				err := s.Revoke(ctx, guardian.Revocation{Kind: kind, ID: id, At: now, TTL: time.Hour})
				check(t, fmt.Sprintf("Revoke(%s ID %s)", kind, name), err, true)
				if !errors.Is(err, guardian.ErrInvalidRevocation) {
					t.Errorf("Revoke(%s ID %s) = %v, want it to wrap guardian.ErrInvalidRevocation too", kind, name, err)
				}
			}
			_, err := s.Consume(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: id, At: now, TTL: time.Hour})
			check(t, "Consume(ID "+name+")", err, true)
			_, err = s.ActiveTokens(ctx, id)
			check(t, "ActiveTokens(subject "+name+")", err, true)
			_, err = s.RevokeAll(ctx, id)
			check(t, "RevokeAll(subject "+name+")", err, true)
			for _, field := range []string{"jti", "subject", "family"} {
				if field == "family" && id == "" {
					continue // a token may have no family
				}
				c := revokertest.TokenAt(revokertest.NewID("sub"), now)
				switch field {
				case "jti":
					c.ID = id
				case "subject":
					c.Subject = id
				case "family":
					c.Family = id
				}
				check(t, fmt.Sprintf("Record(%s %s)", field, name), s.Record(ctx, c), true)
			}
		}
		for name, typ := range map[string]string{"too long": strings.Repeat("t", 256), "NUL": "a\x00", "not UTF-8": "\xff"} {
			c := revokertest.TokenAt(revokertest.NewID("sub"), now)
			c.Type = guardian.TokenType(typ)
			check(t, "Record(token type "+name+")", s.Record(ctx, c), true)
		}
		_, err := s.Consume(ctx, guardian.Revocation{Kind: guardian.ByFamily, ID: "f", At: now, TTL: time.Hour})
		check(t, "Consume(a family revocation)", err, false)
		check(t, "Record(nil)", s.Record(ctx, nil), false)
		for name, edit := range map[string]func(c *guardian.Claims){
			"no iat":         func(c *guardian.Claims) { c.IssuedAt = time.Time{} },
			"no exp":         func(c *guardian.Claims) { c.ExpiresAt = time.Time{} },
			"exp at iat":     func(c *guardian.Claims) { c.ExpiresAt = c.IssuedAt },
			"exp before iat": func(c *guardian.Claims) { c.ExpiresAt = c.IssuedAt.Add(-time.Hour) },
			"lifetime too long": func(c *guardian.Claims) {
				c.ExpiresAt = c.IssuedAt.Add(guardian.MaxRevocationTTL + time.Second)
			},
		} {
			c := revokertest.TokenAt(revokertest.NewID("sub"), now)
			edit(c)
			check(t, "Record("+name+")", s.Record(ctx, c), false)
		}
	})
}
