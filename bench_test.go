package guardian_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/guardian-go/guardian"
)

// benchChain builds the full chain (VerifyHeader → LoadResource →
// EnsureAuthenticated → a handler reading the claims) with the memory
// Revoker on, and a request carrying a valid access token.
func benchChain(b *testing.B, key *guardian.Key) (http.Handler, *http.Request) {
	b.Helper()
	keys, err := guardian.NewKeySet(key)
	if err != nil {
		b.Fatal(err)
	}
	issuer, err := guardian.NewIssuer(keys, &guardian.Options{
		Issuer: "https://api.example.com", Audience: []string{"bench"},
		Revoker: guardian.NewMemoryRevoker(nil),
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
	tok, err := g.Issue(context.Background(), &user{id: "u1"}, nil)
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

// BenchmarkChain measures a request through the whole middleware chain.
func BenchmarkChain(b *testing.B) {
	b.Run("HS256", func(b *testing.B) {
		key, err := guardian.NewHMACKey("k1", guardian.HS256, []byte("0123456789abcdef0123456789abcdef"))
		if err != nil {
			b.Fatal(err)
		}
		h, r := benchChain(b, key)
		runChain(b, h, r)
	})
	b.Run("ES256", func(b *testing.B) {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		key, err := guardian.NewSigningKey("k1", guardian.ES256, priv)
		if err != nil {
			b.Fatal(err)
		}
		h, r := benchChain(b, key)
		runChain(b, h, r)
	})
}

// BenchmarkMemoryRevoked measures the memory Revoker's check.
func BenchmarkMemoryRevoked(b *testing.B) {
	m := guardian.NewMemoryRevoker(nil)
	c := &guardian.Claims{ID: "jti", Subject: "sub", Family: "fam"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if revoked, err := m.Revoked(ctx, c); revoked || err != nil {
			b.Fatal(revoked, err)
		}
	}
}
