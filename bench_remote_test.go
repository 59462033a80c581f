package guardian_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
)

// memoryTransport serves requests from an http.Handler in memory.
type memoryTransport struct {
	h     http.Handler
	count atomic.Int64
}

func (m *memoryTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	m.count.Add(1)
	w := httptest.NewRecorder()
	m.h.ServeHTTP(w, r)
	return w.Result(), nil
}

// remoteExternalIssuer is externalIssuer's key behind a JWKS URL, warm.
func remoteExternalIssuer(tb testing.TB, cacheSize int) (*guardian.Issuer, *guardian.RemoteKeys) {
	tb.Helper()
	doc, err := externalIssuer(tb, nil).Keys().JWKS()
	if err != nil {
		tb.Fatal(err)
	}
	tr := &memoryTransport{h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Write(doc)
	})}
	keys, err := guardian.NewRemoteKeys("https://as.example.com/jwks", &guardian.RemoteKeysOptions{Client: &http.Client{Transport: tr}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(keys.Close)
	if err := keys.Refresh(context.Background()); err != nil {
		tb.Fatal(err)
	}
	iss, err := guardian.NewRemoteIssuer(keys, &guardian.IssuerOptions{Issuer: extIssuer, Audience: []string{"api"}, CacheSize: cacheSize, Clock: testclock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	return iss, keys
}

// BenchmarkVerifyExternal compares verifying an external issuer's ES256
// access token with a local verification key (an Issuer on a verify-only
// set) and with the issuer's remote keys behind a multi-issuer Verifier,
// warm: the difference is the routing by iss and the key source. With
// the verified-token cache the signature check drops out and the
// difference stands alone.
func BenchmarkVerifyExternal(b *testing.B) {
	ctx := context.Background()
	raw := externalToken(b, nil, map[string]any{"exp": 1 << 40})
	for _, cache := range []int{0, 1024} {
		local := externalIssuer(b, &guardian.IssuerOptions{Issuer: extIssuer, Audience: []string{"api"}, TokenTypes: guardian.TypeRFC9068, CacheSize: cache})
		remote, _ := remoteExternalIssuer(b, cache)
		other := newFixture(b, &guardian.IssuerOptions{Issuer: "https://us.example.com", Clock: testclock.Now}).issuer
		v, err := guardian.NewVerifier(other, remote)
		if err != nil {
			b.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			v    guardian.TokenVerifier
		}{{"local", local}, {"remote", remote}, {"verifier", v}} {
			b.Run(fmt.Sprintf("cache=%d/%s", cache, tc.name), func(b *testing.B) {
				if _, err := tc.v.Verify(ctx, raw); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := tc.v.Verify(ctx, raw); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkKnownKidDuringMisses verifies tokens under a known kid while
// other goroutines present tokens under unknown kids: the misses are
// answered from the rate limit (at most one fetch per interval) and never
// hold up the known kid.
func BenchmarkKnownKidDuringMisses(b *testing.B) {
	ctx := context.Background()
	remote, _ := remoteExternalIssuer(b, 0)
	known := externalToken(b, nil, map[string]any{"exp": 1 << 40})
	unknown := externalToken(b, map[string]any{"kid": "rotated-away"}, map[string]any{"exp": 1 << 40})
	stop := make(chan struct{})
	var misses atomic.Int64
	for range 2 {
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				remote.Verify(ctx, unknown)
				misses.Add(1)
			}
		}()
	}
	for b.Loop() {
		if _, err := remote.Verify(ctx, known); err != nil {
			b.Fatal(err)
		}
	}
	close(stop)
	b.ReportMetric(float64(misses.Load())/float64(b.N), "misses/op")
}
