package benchmarks

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/guardian-go/guardian"
)

// BenchmarkChain measures one request through each case: a pre-built
// request carrying the algorithm's good token, a fresh recorder per
// iteration, and a handler that reads the claims from the context. Each
// cell is checked first (see TestEveryCaseChecks) and posts no number if
// a check fails.
func BenchmarkChain(b *testing.B) {
	fs := fixtures(b)
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for _, alg := range algs {
				b.Run(string(alg), func(b *testing.B) {
					h, skip, err := gate(c, fs, alg)
					if err != nil {
						b.Fatal(err)
					}
					if skip != "" {
						b.Skip(skip)
					}
					r := httptest.NewRequest(http.MethodGet, path, nil)
					r.Header.Set("Authorization", "Bearer "+fs[alg].good)
					b.ReportAllocs()
					for b.Loop() {
						w := httptest.NewRecorder()
						h.ServeHTTP(w, r)
						if w.Code != http.StatusOK {
							b.Fatalf("status %d: %s", w.Code, w.Body)
						}
					}
				})
			}
		})
	}
}

// BenchmarkMemoryRevoked measures the memory Revoker's check of a token
// that is not revoked, on a store holding a few revocations.
func BenchmarkMemoryRevoked(b *testing.B) {
	ctx := context.Background()
	fs := fixtures(b)
	keys, err := guardian.NewKeySet(fs[guardian.HS256].key)
	if err != nil {
		b.Fatal(err)
	}
	m := guardian.NewMemoryRevoker(nil)
	iss, err := guardian.NewIssuer(keys, &guardian.IssuerOptions{Issuer: issuer, Audience: []string{audience}, Revoker: m})
	if err != nil {
		b.Fatal(err)
	}
	for range 100 {
		tok, err := iss.Issue(ctx, "someone-else", nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := iss.Revoke(ctx, tok.Raw); err != nil {
			b.Fatal(err)
		}
	}
	c, err := iss.Verify(ctx, fs[guardian.HS256].good)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if revoked, err := m.Revoked(ctx, c); revoked || err != nil {
			b.Fatal(revoked, err)
		}
	}
}
