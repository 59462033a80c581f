package guardian_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
)

// benchChain builds the full chain (VerifyHeader → LoadResource →
// EnsureAuthenticated → a handler reading the claims) with the memory
// Revoker on, and a request carrying a valid access token.
func benchChain(b *testing.B, key *guardian.Key, cacheSize int) (http.Handler, *http.Request) {
	b.Helper()
	keys, err := guardian.NewKeySet(key)
	if err != nil {
		b.Fatal(err)
	}
	issuer, err := guardian.NewIssuer(keys, &guardian.IssuerOptions{
		Issuer: "https://api.example.com", Audience: []string{"bench"},
		Revoker:   guardian.NewMemoryRevoker(nil),
		CacheSize: cacheSize,
	})
	if err != nil {
		b.Fatal(err)
	}
	type user struct{ id string }
	g, err := guardian.New(issuer,
		func(u *user) (string, error) { return u.id, nil },
		func(_ context.Context, c *guardian.Claims) (*user, error) { return &user{id: c.Subject}, nil },
		nil)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := issuer.Issue(context.Background(), "u1", nil)
	if err != nil {
		b.Fatal(err)
	}
	h := g.VerifyHeader(nil)(g.LoadResource(nil)(g.EnsureAuthenticated(nil)(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			if c, ok := guardian.CurrentClaims(r.Context()); !ok || c.Subject != "u1" {
				b.Fatal("no claims")
			}
			w.WriteHeader(http.StatusOK)
		}))))
	r := httptest.NewRequest(http.MethodGet, "/api/me", nil)
	r.Header.Set("Authorization", "Bearer "+tok.Raw)
	return h, r
}

func runChain(b *testing.B, h http.Handler, r *http.Request) {
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkChain measures a request through the whole middleware chain,
// with and without the verified-token cache; "none" is the same handler
// without middleware.
func BenchmarkChain(b *testing.B) {
	hs256, err := guardian.NewHMACKey("k1", guardian.HS256, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		b.Fatal(err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	es256, err := guardian.NewSigningKey("k1", guardian.ES256, priv)
	if err != nil {
		b.Fatal(err)
	}
	for _, key := range []*guardian.Key{hs256, es256} {
		for _, cache := range []int{0, 1000} {
			name := string(key.Algorithm())
			if cache > 0 {
				name += "/cached"
			}
			b.Run(name, func(b *testing.B) {
				h, r := benchChain(b, key, cache)
				runChain(b, h, r)
			})
		}
	}
	b.Run("none", func(b *testing.B) {
		r := httptest.NewRequest(http.MethodGet, "/api/me", nil)
		runChain(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }), r)
	})
}

// BenchmarkMemoryRevoked measures the memory Revoker's check of a token
// that is not revoked, while the store holds 10,000 token, 1,000 family
// and 1,000 subject revocations.
func BenchmarkMemoryRevoked(b *testing.B) {
	m := guardian.NewMemoryRevoker(nil)
	ctx := context.Background()
	now := time.Now()
	for n := range 10_000 {
		rev := guardian.Revocation{Kind: guardian.ByToken, ID: fmt.Sprint("jti-", n), At: now, TTL: time.Hour}
		if n < 1000 {
			for _, kind := range []guardian.RevocationKind{guardian.ByFamily, guardian.BySubject} {
				r := rev
				r.Kind, r.ID = kind, fmt.Sprint(kind, "-", n)
				if err := m.Revoke(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := m.Revoke(ctx, rev); err != nil {
			b.Fatal(err)
		}
	}
	c := &guardian.Claims{ID: "Yp6cL1t0n9e3qBv8kD2xWg", Subject: "user-42", Family: "fV0x3mQ9tLr2cB7nH1kJdA", IssuedAt: now}
	b.ReportAllocs()
	for b.Loop() {
		if revoked, err := m.Revoked(ctx, c); revoked || err != nil {
			b.Fatal(revoked, err)
		}
	}
}
