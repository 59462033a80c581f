package guardian_test

// Tests of RemoteKeys, DiscoverKeys and NewRemoteIssuer: the keys of an
// external authorization server, fetched, cached and kept current.
//
// Everything that involves time (TTLs, background refreshes,
// RefetchInterval, MaxStale) runs in a testing/synctest bubble, where time
// is fake and timers fire as soon as every goroutine is blocked; the
// authorization server is then a stub served in memory through the
// http.Client's Transport (a real listener does not fit a bubble). A few
// tests use a real httptest server, outside any bubble: timeouts and the
// body size bound.
//
// Tokens are signed here (ES256 over a P-256 key generated per test), with
// iat and exp from testclock.Now, and every remote issuer verifies with
// Clock testclock.Now: inside a bubble that is the bubble's clock, shifted
// by GUARDIAN_TEST_CLOCK_OFFSET like every other fixture.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
)

// rkIssuer is the stand-in authorization server of these tests, and
// rkJWKSURL the URL of its JWK set.
const (
	rkIssuer  = "https://as.example.com"
	rkJWKSURL = rkIssuer + "/jwks"
)

// roundTripFunc makes an http.RoundTripper of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// asKey is a signing key of the stand-in authorization server.
type asKey struct {
	kid  string
	priv *ecdsa.PrivateKey
}

func newASKey(tb testing.TB, kid string) *asKey {
	tb.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return &asKey{kid: kid, priv: priv}
}

// rkOverride sets the members of set in m (a nil value removes one) and
// returns m.
func rkOverride(m, set map[string]any) map[string]any {
	for k, v := range set {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

// jwk is the key's public JWK (kid, alg ES256, use sig), with set's
// members replaced, added or (nil) removed.
func (k *asKey) jwk(set map[string]any) map[string]any {
	point, err := k.priv.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	j := map[string]any{
		"kty": "EC", "crv": "P-256", "kid": k.kid, "alg": "ES256", "use": "sig",
		"x": base64.RawURLEncoding.EncodeToString(point[1:33]),
		"y": base64.RawURLEncoding.EncodeToString(point[33:]),
	}
	return rkOverride(j, set)
}

// token signs an access token with the key, as an RFC 9068 server does:
// header alg ES256, typ at+jwt, kid; claims iss rkIssuer, aud api, sub and
// client_id svc-1, scope "read write", iat now, exp in 5 minutes. header
// and claims override those members (nil removes one).
func (k *asKey) token(tb testing.TB, header, claims map[string]any) string {
	tb.Helper()
	h, err := json.Marshal(rkOverride(map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": k.kid}, header))
	if err != nil {
		tb.Fatal(err)
	}
	return k.sign(tb, string(h), claims)
}

// sign is token with the exact header JSON given.
func (k *asKey) sign(tb testing.TB, header string, claims map[string]any) string {
	tb.Helper()
	now := testclock.Now()
	c := rkOverride(map[string]any{
		"iss": rkIssuer, "aud": "api", "sub": "svc-1", "client_id": "svc-1", "scope": "read write",
		"jti": "jti-1", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}, claims)
	p, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	input := b64(header) + "." + b64(string(p))
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, sum[:])
	if err != nil {
		tb.Fatal(err)
	}
	sig := make([]byte, 64) // r || s, 32 bytes each (RFC 7518 §3.4)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// rsaJWK is the JWK of an RSA public key; alg "" leaves alg out.
func rsaJWK(pub *rsa.PublicKey, kid, alg string) map[string]any {
	j := map[string]any{
		"kty": "RSA", "kid": kid, "use": "sig",
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}
	if alg != "" {
		j["alg"] = alg
	}
	return j
}

// jwkSet encodes a JWK set of keys.
func jwkSet(keys ...map[string]any) []byte {
	if keys == nil {
		keys = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	return b
}

// stubAS stands in for an authorization server, in memory (it is the
// Transport of the client it gives): it serves the discovery documents of
// meta at their paths, its JWK set at any path ending in /jwks, and
// records every request. Change its fields with with.
type stubAS struct {
	mu     sync.Mutex
	jwks   []byte
	status int         // when not 0, every JWKS answer has this status and no body
	header http.Header // added to every JWKS answer
	etag   string      // the set's ETag; a matching If-None-Match is answered 304
	// bare304 leaves header out of 304 answers.
	bare304 bool
	// gate, when set, holds every JWKS request until it is closed (or the
	// request's context ends).
	gate chan struct{}
	down bool              // no answer at all: the transport fails
	meta map[string]string // path → discovery document; other paths are 404

	urls []string    // every URL asked for, in order
	inm  []string    // the If-None-Match of each JWKS request that got an answer
	at   []time.Time // when each JWKS request came
	hits atomic.Int64
}

func newStubAS(jwks []byte) *stubAS { return &stubAS{jwks: jwks, meta: map[string]string{}} }

// with runs f with s locked, to change its fields.
func (s *stubAS) with(f func(s *stubAS)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *stubAS) client() *http.Client { return &http.Client{Transport: s} }

// fetches is the number of JWKS requests made, answered or not.
func (s *stubAS) fetches() int64 { return s.hits.Load() }

func (s *stubAS) requested() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.urls)
}

func (s *stubAS) RoundTrip(r *http.Request) (*http.Response, error) {
	isJWKS := strings.HasSuffix(r.URL.Path, "/jwks")
	s.mu.Lock()
	s.urls = append(s.urls, r.URL.String())
	if isJWKS {
		s.hits.Add(1)
		s.at = append(s.at, time.Now())
	}
	down := s.down
	s.mu.Unlock()
	if down {
		return nil, errors.New("stub: connection refused")
	}
	w := httptest.NewRecorder()
	if isJWKS {
		s.serveJWKS(w, r)
	} else {
		s.serveMeta(w, r)
	}
	res := w.Result()
	res.Request = r
	return res, nil
}

func (s *stubAS) serveMeta(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	doc, ok := s.meta[r.URL.Path]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, doc)
}

func (s *stubAS) serveJWKS(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			http.Error(w, "stub: gave up", http.StatusGatewayTimeout)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inm = append(s.inm, r.Header.Get("If-None-Match"))
	status := http.StatusOK
	switch {
	case s.status != 0:
		status = s.status
	case s.etag != "" && r.Header.Get("If-None-Match") == s.etag:
		status = http.StatusNotModified
	}
	if status != http.StatusNotModified || !s.bare304 {
		for k, v := range s.header {
			w.Header()[k] = v
		}
	}
	if s.etag != "" {
		w.Header().Set("ETag", s.etag)
	}
	if status != http.StatusOK {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Write(s.jwks)
}

// quietRemoteOptions is opts (which may be nil) with as's client, unless
// opts has one, and callbacks that keep the test output clean.
func quietRemoteOptions(as *stubAS, opts *guardian.RemoteKeysOptions) *guardian.RemoteKeysOptions {
	var o guardian.RemoteKeysOptions
	if opts != nil {
		o = *opts
	}
	if o.Client == nil && as != nil {
		o.Client = as.client()
	}
	if o.OnFetch == nil {
		o.OnFetch = func(error) {}
	}
	if o.OnKeySkipped == nil {
		o.OnKeySkipped = func(string, error) {}
	}
	return &o
}

// newTestRemoteKeys returns the keys at jwksURL, served by as. The caller
// closes them.
func newTestRemoteKeys(tb testing.TB, jwksURL string, as *stubAS, opts *guardian.RemoteKeysOptions) *guardian.RemoteKeys {
	tb.Helper()
	keys, err := guardian.NewRemoteKeys(jwksURL, quietRemoteOptions(as, opts))
	if err != nil {
		tb.Fatalf("NewRemoteKeys(%q): %v", jwksURL, err)
	}
	return keys
}

// newTestRemoteIssuer verifies with keys the tokens of rkIssuer for
// audience api, on testclock.Now, unless opts says otherwise.
func newTestRemoteIssuer(tb testing.TB, keys *guardian.RemoteKeys, opts *guardian.IssuerOptions) *guardian.Issuer {
	tb.Helper()
	o := guardian.IssuerOptions{Issuer: rkIssuer, Audience: []string{"api"}}
	if opts != nil {
		o = *opts
	}
	if o.Clock == nil {
		o.Clock = testclock.Now
	}
	iss, err := guardian.NewRemoteIssuer(keys, &o)
	if err != nil {
		tb.Fatalf("NewRemoteIssuer: %v", err)
	}
	return iss
}

func wantFetches(tb testing.TB, as *stubAS, want int64, when string) {
	tb.Helper()
	if got := as.fetches(); got != want {
		tb.Fatalf("%s: got %d JWKS fetches, want %d", when, got, want)
	}
}

// mustVerify verifies raw with v and fails the test if it is refused.
func mustVerify(tb testing.TB, v guardian.TokenVerifier, raw, when string) *guardian.Claims {
	tb.Helper()
	c, err := v.Verify(context.Background(), raw)
	if err != nil {
		tb.Fatalf("%s: Verify: got error %v, want nil", when, err)
	}
	return c
}

// wantRefused verifies raw with v and checks that the error matches every
// sentinel of want.
func wantRefused(tb testing.TB, v guardian.TokenVerifier, raw, when string, want ...error) error {
	tb.Helper()
	_, err := v.Verify(context.Background(), raw)
	if err == nil {
		tb.Fatalf("%s: Verify: got nil error, want %v", when, want)
	}
	for _, w := range want {
		if !errors.Is(err, w) {
			tb.Fatalf("%s: Verify: got error %q, want it to match %q", when, err, w)
		}
	}
	return err
}

// wantUnavailable checks that err says the keys cannot be had: 503, not a
// bad token.
func wantUnavailable(tb testing.TB, err error, when string) {
	tb.Helper()
	if !errors.Is(err, guardian.ErrUnavailable) || !errors.Is(err, guardian.ErrKeysUnavailable) {
		tb.Fatalf("%s: got error %v, want ErrUnavailable and ErrKeysUnavailable", when, err)
	}
	if errors.Is(err, guardian.ErrInvalidToken) {
		tb.Fatalf("%s: got error %v, which blames the token for an outage", when, err)
	}
}

func keyIDs(set *guardian.KeySet) []string {
	var ids []string
	for _, k := range set.Keys() {
		ids = append(ids, k.ID())
	}
	return ids
}

// TestRemoteKeysFirstUse: nothing is fetched until a token needs the keys,
// then one fetch serves every token under a known kid. Guards against a
// fetch per request (an outage multiplier, and a lever to flood the
// issuer) and against reporting keys ready before any were loaded.
func TestRemoteKeysFirstUse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k1 := newASKey(t, "k1")
		as := newStubAS(jwkSet(k1.jwk(nil)))
		keys := newTestRemoteKeys(t, rkJWKSURL, as, nil)
		defer keys.Close()
		iss := newTestRemoteIssuer(t, keys, nil)

		synctest.Wait()
		wantFetches(t, as, 0, "after NewRemoteKeys")
		if got := keyIDs(keys.Keys()); len(got) != 0 {
			t.Fatalf("Keys() before the first fetch: got %v, want none", got)
		}
		wantUnavailable(t, keys.Ready(), "Ready() before the first fetch")
		wantUnavailable(t, iss.Ready(), "Issuer.Ready() before the first fetch")

		for i := range 10 {
			mustVerify(t, iss, k1.token(t, nil, map[string]any{"jti": fmt.Sprint("j", i)}), fmt.Sprintf("token %d", i))
		}
		wantFetches(t, as, 1, "after 10 tokens under a known kid")
		if err := keys.Ready(); err != nil {
			t.Fatalf("Ready() after a fetch: got %v, want nil", err)
		}
		if err := iss.Ready(); err != nil {
			t.Fatalf("Issuer.Ready() after a fetch: got %v, want nil", err)
		}
		got := keys.Keys().Keys()
		if len(got) != 1 || got[0].ID() != "k1" || got[0].Algorithm() != guardian.ES256 || got[0].CanSign() {
			t.Fatalf("Keys(): got %v, want the one verification key k1 pinned to ES256", keyIDs(keys.Keys()))
		}
		if keys.JWKSURL() != rkJWKSURL || keys.Issuer() != "" {
			t.Fatalf("JWKSURL(), Issuer(): got %q, %q, want %q, \"\"", keys.JWKSURL(), keys.Issuer(), rkJWKSURL)
		}
	})
}

// TestRemoteKeysPrefetch: with Prefetch the keys load without a token, and
// a failing endpoint is retried in the background, from one second,
// doubling up to RefetchInterval: never a tight loop against an issuer
// that is down, never a long wait once it is back.
func TestRemoteKeysPrefetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		k1 := newASKey(t, "k1")
		as := newStubAS(jwkSet(k1.jwk(nil)))
		as.status = http.StatusServiceUnavailable
		var failures atomic.Int64
		keys := newTestRemoteKeys(t, rkJWKSURL, as, &guardian.RemoteKeysOptions{
			Prefetch: true, RefetchInterval: 15 * time.Second, OnFetch: func(err error) {
				if err != nil {
					failures.Add(1)
				}
			},
		})
		defer keys.Close()
		synctest.Wait()
		wantFetches(t, as, 1, "Prefetch, at once")
		err := keys.Ready()
		wantUnavailable(t, err, "Ready() after a failed prefetch")
		if !strings.Contains(err.Error(), "503") {
			t.Errorf("Ready() = %q, want it to name the failure (status 503)", err)
		}

		time.Sleep(50 * time.Second)
		synctest.Wait()
		var offsets []time.Duration
		as.with(func(s *stubAS) {
			for _, at := range s.at {
				offsets = append(offsets, at.Sub(start))
			}
		})
		want := []time.Duration{0, 1 * time.Second, 3 * time.Second, 7 * time.Second, 15 * time.Second, 30 * time.Second, 45 * time.Second}
		if !slices.Equal(offsets, want) {
			t.Fatalf("retries of a failing endpoint: got fetches at %v, want %v", offsets, want)
		}
		if got := failures.Load(); got != int64(len(want)) {
			t.Errorf("OnFetch: got %d failures, want %d", got, len(want))
		}

		as.with(func(s *stubAS) { s.status = 0 })
		time.Sleep(11 * time.Second) // the next retry is at 60 s
		synctest.Wait()
		if err := keys.Ready(); err != nil {
			t.Fatalf("Ready() once the endpoint is back: got %v, want nil", err)
		}
		if got := keyIDs(keys.Keys()); !slices.Equal(got, []string{"k1"}) {
			t.Fatalf("Keys(): got %v, want [k1]", got)
		}
	})
}

// TestRemoteKeysCacheTTL: the keys are refreshed in the background at 80 %
// of the freshness the answer gives (Cache-Control max-age, else Expires
// measured against the answer's own Date, else TTL), clamped to [MinTTL,
// MaxTTL]. Guards against refreshing too often (an issuer saying max-age=1
// must not get a request a second) and too seldom (a key the issuer
// removes must not keep verifying for days), and against a server clock
// apart from ours shifting Expires.
func TestRemoteKeysCacheTTL(t *testing.T) {
	httpDate := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(http.TimeFormat) }
	tests := []struct {
		name   string
		header func() http.Header
		opts   guardian.RemoteKeysOptions
		want   time.Duration
	}{
		{name: "max-age", header: func() http.Header { return http.Header{"Cache-Control": {"public, max-age=600"}} }, want: 10 * time.Minute},
		{name: "max-age below MinTTL", header: func() http.Header { return http.Header{"Cache-Control": {"max-age=5"}} }, want: guardian.DefaultMinKeysTTL},
		{name: "max-age below a set MinTTL", header: func() http.Header { return http.Header{"Cache-Control": {"max-age=60"}} },
			opts: guardian.RemoteKeysOptions{MinTTL: 5 * time.Minute}, want: 5 * time.Minute},
		{name: "max-age above MaxTTL", header: func() http.Header { return http.Header{"Cache-Control": {"max-age=864000"}} },
			opts: guardian.RemoteKeysOptions{MaxTTL: time.Hour}, want: time.Hour},
		{name: "max-age above the default MaxTTL", header: func() http.Header { return http.Header{"Cache-Control": {"max-age=8640000"}} }, want: guardian.DefaultMaxKeysTTL},
		{name: "no-cache", header: func() http.Header { return http.Header{"Cache-Control": {"no-cache"}} },
			opts: guardian.RemoteKeysOptions{MinTTL: 2 * time.Minute}, want: 2 * time.Minute},
		{name: "no-store beats max-age", header: func() http.Header { return http.Header{"Cache-Control": {"max-age=3600", "no-store"}} }, want: guardian.DefaultMinKeysTTL},
		{name: "Expires, server clock 3h behind", header: func() http.Header {
			return http.Header{"Date": {httpDate(-3 * time.Hour)}, "Expires": {httpDate(-3*time.Hour + 10*time.Minute)}}
		}, want: 10 * time.Minute},
		{name: "Expires, server clock 3h ahead", header: func() http.Header {
			return http.Header{"Date": {httpDate(3 * time.Hour)}, "Expires": {httpDate(3*time.Hour + 10*time.Minute)}}
		}, want: 10 * time.Minute},
		{name: "Expires without Date", header: func() http.Header { return http.Header{"Expires": {httpDate(20 * time.Minute)}} }, want: 20 * time.Minute},
		{name: "max-age beats Expires", header: func() http.Header {
			return http.Header{"Cache-Control": {"max-age=300"}, "Date": {httpDate(0)}, "Expires": {httpDate(time.Hour)}}
		}, want: 5 * time.Minute},
		{name: "no caching headers", header: func() http.Header { return http.Header{} }, want: guardian.DefaultKeysTTL},
		{name: "no caching headers, TTL set", header: func() http.Header { return http.Header{} },
			opts: guardian.RemoteKeysOptions{TTL: 7 * time.Minute}, want: 7 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				k1 := newASKey(t, "k1")
				as := newStubAS(jwkSet(k1.jwk(nil)))
				as.header = tt.header()
				opts := tt.opts
				keys := newTestRemoteKeys(t, rkJWKSURL, as, &opts)
				defer keys.Close()
				if err := keys.Refresh(context.Background()); err != nil {
					t.Fatalf("Refresh: %v", err)
				}
				refresh := tt.want - tt.want/5
				time.Sleep(refresh - time.Millisecond)
				synctest.Wait()
				wantFetches(t, as, 1, fmt.Sprintf("just before 80%% of the TTL %v", tt.want))
				time.Sleep(2 * time.Millisecond)
				synctest.Wait()
				wantFetches(t, as, 2, fmt.Sprintf("just after 80%% of the TTL %v", tt.want))
			})
		})
	}
}

// TestRemoteKeysETag: a refresh revalidates with If-None-Match, and a 304
// keeps the very same key set (so verified-token caches built on it stay).
// Guards against downloading and re-parsing the set at every refresh, and
// against a 304 being taken as an empty or failed answer.
func TestRemoteKeysETag(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k1, k2 := newASKey(t, "k1"), newASKey(t, "k2")
		as := newStubAS(jwkSet(k1.jwk(nil)))
		as.etag = `"v1"`
		as.header = http.Header{"Cache-Control": {"max-age=60"}}
		keys := newTestRemoteKeys(t, rkJWKSURL, as, nil)
		defer keys.Close()
		iss := newTestRemoteIssuer(t, keys, nil)
		mustVerify(t, iss, k1.token(t, nil, nil), "first token")
		first := keys.Keys()

		time.Sleep(49 * time.Second) // refresh at 48 s
		synctest.Wait()
		wantFetches(t, as, 2, "after 80% of the TTL")
		time.Sleep(48 * time.Second) // and again 48 s after the 304
		synctest.Wait()
		wantFetches(t, as, 3, "80% of the TTL after the 304")
		as.with(func(s *stubAS) {
			if want := []string{"", `"v1"`, `"v1"`}; !slices.Equal(s.inm, want) {
				t.Fatalf("If-None-Match of the fetches: got %q, want %q", s.inm, want)
			}
		})
		if keys.Keys() != first {
			t.Fatal("after a 304: got a new *KeySet, want the same one")
		}
		mustVerify(t, iss, k1.token(t, nil, nil), "after the 304s")
		wantFetches(t, as, 3, "a known kid after the 304s")

		// A new set, a new ETag: the next refresh takes it.
		as.with(func(s *stubAS) { s.jwks, s.etag = jwkSet(k2.jwk(nil)), `"v2"` })
		time.Sleep(48 * time.Second)
		synctest.Wait()
		wantFetches(t, as, 4, "after the set changed")
		if keys.Keys() == first || !slices.Equal(keyIDs(keys.Keys()), []string{"k2"}) {
			t.Fatalf("after a 200 with a new ETag: got keys %v, want [k2] in a new set", keyIDs(keys.Keys()))
		}
	})
}

// TestRemoteKeys304KeepsStoredFreshness: a 304 without caching headers
// leaves the stored answer's Cache-Control in force (RFC 9111 §4.3.4: the
// 304's header fields replace the stored ones; those it lacks stay).
// Guards against a key the issuer removes staying trusted for the default
// TTL (15 minutes) when the issuer asked for two.
func TestRemoteKeys304KeepsStoredFreshness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k1 := newASKey(t, "k1")
		as := newStubAS(jwkSet(k1.jwk(nil)))
		as.etag, as.bare304 = `"v1"`, true
		as.header = http.Header{"Cache-Control": {"max-age=120"}}
		keys := newTestRemoteKeys(t, rkJWKSURL, as, nil)
		defer keys.Close()
		if err := keys.Refresh(context.Background()); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		time.Sleep(97 * time.Second) // refresh at 96 s: a bare 304
		synctest.Wait()
		wantFetches(t, as, 2, "after 80% of max-age=120")
		time.Sleep(96 * time.Second) // the stored max-age=120 still holds
		synctest.Wait()
		wantFetches(t, as, 3, "80% of the stored max-age=120 after a 304 without Cache-Control")
	})
}

// TestRemoteKeysRotation: the issuer publishes k2 and signs with it: the
// first k2 token causes exactly one fetch and verifies; k1 keeps
// verifying while the set lists it; once the issuer drops k1 and the keys
// are refreshed, k1's tokens are refused. Guards against a rotation
// outage, and against a retired (perhaps compromised) key staying trusted.
func TestRemoteKeysRotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k1, k2 := newASKey(t, "k1"), newASKey(t, "k2")
		as := newStubAS(jwkSet(k1.jwk(nil)))
		as.header = http.Header{"Cache-Control": {"max-age=600"}}
		keys := newTestRemoteKeys(t, rkJWKSURL, as, nil)
		defer keys.Close()
		iss := newTestRemoteIssuer(t, keys, nil)
		mustVerify(t, iss, k1.token(t, nil, nil), "k1 before the rotation")
		wantFetches(t, as, 1, "first token")

		time.Sleep(guardian.DefaultRefetchInterval + time.Second)
		as.with(func(s *stubAS) { s.jwks = jwkSet(k1.jwk(nil), k2.jwk(nil)) })
		mustVerify(t, iss, k2.token(t, nil, nil), "the first k2 token")
		wantFetches(t, as, 2, "the first k2 token")
		mustVerify(t, iss, k2.token(t, nil, nil), "another k2 token")
		mustVerify(t, iss, k1.token(t, nil, nil), "k1 while listed")
		wantFetches(t, as, 2, "k1 and k2 tokens once both are known")

		as.with(func(s *stubAS) { s.jwks = jwkSet(k2.jwk(nil)) })
		mustVerify(t, iss, k1.token(t, nil, nil), "k1 until the next refresh")
		time.Sleep(8*time.Minute + time.Second) // 80 % of 600 s after the k2 fetch
		synctest.Wait()
		wantFetches(t, as, 3, "after the background refresh")
		wantRefused(t, iss, k1.token(t, nil, nil), "k1 once the set drops it", guardian.ErrUnknownKey, guardian.ErrInvalidToken)
		mustVerify(t, iss, k2.token(t, nil, nil), "k2 after the refresh")
		wantFetches(t, as, 3, "k1 refused within RefetchInterval of the refresh")
	})
}

// TestRemoteKeysUnknownKidRateLimit: tokens under made-up kids cause at
// most one fetch per RefetchInterval, and are refused with ErrUnknownKey
// (the endpoint is up: the kid is just not the issuer's). Guards against
// a forger making us hammer the issuer, one fetch per forged token.
func TestRemoteKeysUnknownKidRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 30 * time.Second
		k1 := newASKey(t, "k1")
		as := newStubAS(jwkSet(k1.jwk(nil)))
		as.header = http.Header{"Cache-Control": {"max-age=3600"}}
		keys := newTestRemoteKeys(t, rkJWKSURL, as, &guardian.RemoteKeysOptions{RefetchInterval: interval})
		defer keys.Close()
		iss := newTestRemoteIssuer(t, keys, nil)
		forged := func(kid string) string { return k1.token(t, map[string]any{"kid": kid}, nil) }

		mustVerify(t, iss, k1.token(t, nil, nil), "known kid")
		wantFetches(t, as, 1, "first token")
		wantRefused(t, iss, forged("made-up-0"), "made-up kid right after the first fetch", guardian.ErrUnknownKey)
		wantFetches(t, as, 1, "made-up kid within RefetchInterval of the first fetch")

		time.Sleep(interval + time.Second)
		wantRefused(t, iss, forged("made-up-1"), "first made-up kid", guardian.ErrUnknownKey, guardian.ErrInvalidToken)
		wantFetches(t, as, 2, "first made-up kid past RefetchInterval")
		wantRefused(t, iss, forged("made-up-2"), "second made-up kid", guardian.ErrUnknownKey, guardian.ErrInvalidToken)
		wantFetches(t, as, 2, "second made-up kid at once")
		time.Sleep(interval - time.Second)
		wantRefused(t, iss, forged("made-up-3"), "third made-up kid", guardian.ErrUnknownKey)
		wantFetches(t, as, 2, "made-up kid 1 s before the interval ends")
		mustVerify(t, iss, k1.token(t, nil, nil), "known kid among the misses")

		time.Sleep(time.Second)
		wantRefused(t, iss, forged("made-up-4"), "made-up kid after the interval", guardian.ErrUnknownKey)
		wantFetches(t, as, 3, "made-up kid once the interval has passed")
	})
}

// TestRemoteKeysConcurrentMisses: 1,000 requests at once under a kid the
// cached set lacks share one fetch: all verify when the new set has the
// kid, all get ErrUnknownKey when it does not. The same for 1,000 first
// requests of a cold start. Guards against a thundering herd on the
// issuer at every rotation, and against waiters missing the fetch's
// outcome.
func TestRemoteKeysConcurrentMisses(t *testing.T) {
	const n = 1000
	tests := []struct {
		name    string
		cold    bool   // no fetch before the requests
		kid     string // of the tokens
		wantErr error
	}{
		{name: "cold start", cold: true, kid: "k1"},
		{name: "kid in the new set", kid: "k2"},
		{name: "kid in no set", kid: "k9", wantErr: guardian.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				k1, k2 := newASKey(t, "k1"), newASKey(t, "k2")
				as := newStubAS(jwkSet(k1.jwk(nil)))
				keys := newTestRemoteKeys(t, rkJWKSURL, as, nil)
				defer keys.Close()
				iss := newTestRemoteIssuer(t, keys, nil)
				before := int64(0)
				if !tt.cold {
					if err := keys.Refresh(context.Background()); err != nil {
						t.Fatalf("Refresh: %v", err)
					}
					before = 1
					time.Sleep(guardian.DefaultRefetchInterval + time.Second)
				}
				gate := make(chan struct{})
				as.with(func(s *stubAS) { s.jwks, s.gate = jwkSet(k1.jwk(nil), k2.jwk(nil)), gate })
				signer := k1
				if tt.kid != "k1" {
					signer = k2
				}
				raw := signer.token(t, map[string]any{"kid": tt.kid}, nil)

				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() { _, errs[i] = iss.Verify(context.Background(), raw) })
				}
				synctest.Wait() // every request waits, the fetch is held in the handler
				wantFetches(t, as, before+1, fmt.Sprintf("%d overlapping requests, fetch held", n))
				close(gate)
				wg.Wait()
				wantFetches(t, as, before+1, fmt.Sprintf("%d overlapping requests, done", n))
				for i, err := range errs {
					if tt.wantErr == nil && err != nil {
						t.Fatalf("request %d: got error %v, want nil", i, err)
					}
					if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
						t.Fatalf("request %d: got error %v, want %v", i, err, tt.wantErr)
					}
				}
			})
		})
	}
}

// TestRemoteKeysMissNeverBlocksKnownKid: while a fetch caused by an unknown
// kid is stuck at the issuer, tokens under a known kid verify at once.
// Guards against one forged kid (or a slow issuer) stalling every request.
func TestRemoteKeysMissNeverBlocksKnownKid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k1, k2 := newASKey(t, "k1"), newASKey(t, "k2")
		as := newStubAS(jwkSet(k1.jwk(nil)))
		keys := newTestRemoteKeys(t, rkJWKSURL, as, nil)
		defer keys.Close()
		iss := newTestRemoteIssuer(t, keys, nil)
		mustVerify(t, iss, k1.token(t, nil, nil), "first token")
		time.Sleep(guardian.DefaultRefetchInterval + time.Second)

		gate := make(chan struct{})
		as.with(func(s *stubAS) { s.jwks, s.gate = jwkSet(k1.jwk(nil), k2.jwk(nil)), gate })
		missDone := make(chan error, 1)
		miss := k2.token(t, nil, nil)
		go func() {
			_, err := iss.Verify(context.Background(), miss)
			missDone <- err
		}()
		synctest.Wait()
		wantFetches(t, as, 2, "the miss's fetch, held")

		start := time.Now()
		for i := range 100 {
			mustVerify(t, iss, k1.token(t, nil, nil), fmt.Sprintf("known kid %d during the held fetch", i))
		}
		if waited := time.Since(start); waited != 0 {
			t.Fatalf("known kid during a held fetch: waited %v, want 0", waited)
		}
		select {
		case err := <-missDone:
			t.Fatalf("the miss finished (%v) while its fetch was held", err)
		default:
		}
		close(gate)
		if err := <-missDone; err != nil {
			t.Fatalf("the miss once its fetch answered: got error %v, want nil", err)
		}
	})
}

// TestRemoteKeysStaleWhileFailing: when the endpoint fails after a
// success, the cached keys keep verifying past their freshness, for
// MaxStale; an unknown kid meanwhile is ErrUnavailable (it may be a new
// key: 503, not 401); past MaxStale the keys are dropped and every token
// is ErrUnavailable; when the endpoint is back, the background retries
// bring the keys back with no call by the application. Guards against an
// issuer outage becoming ours at once, and against trusting its keys
// forever.
func TestRemoteKeysStaleWhileFailing(t *testing.T) {
	tests := []struct {
		name string
		fail func(s *stubAS)
	}{
		{name: "status 500", fail: func(s *stubAS) { s.status = http.StatusInternalServerError }},
		{name: "transport error", fail: func(s *stubAS) { s.down = true }},
		{name: "not a JWK set", fail: func(s *stubAS) { s.jwks = []byte("<html>maintenance</html>") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				k1, k2 := newASKey(t, "k1"), newASKey(t, "k2")
				good := jwkSet(k1.jwk(nil))
				as := newStubAS(good)
				as.header = http.Header{"Cache-Control": {"max-age=60"}}
				var failures atomic.Int64
				keys := newTestRemoteKeys(t, rkJWKSURL, as, &guardian.RemoteKeysOptions{
					MaxStale: 10 * time.Minute, OnFetch: func(err error) {
						if err != nil {
							failures.Add(1)
						}
					},
				})
				defer keys.Close()
				iss := newTestRemoteIssuer(t, keys, nil)
				mustVerify(t, iss, k1.token(t, nil, nil), "first token") // t = 0
				as.with(tt.fail)

				time.Sleep(2 * time.Minute)
				synctest.Wait()
				if failures.Load() == 0 {
					t.Fatal("OnFetch: no failure reported, want the failed refreshes reported")
				}
				mustVerify(t, iss, k1.token(t, nil, nil), "known kid at 2 min, past the TTL of 1 min")
				if err := keys.Ready(); err != nil {
					t.Fatalf("Ready() with stale keys still verifying: got %v, want nil", err)
				}
				err := wantRefused(t, iss, k2.token(t, nil, nil), "unknown kid while failing", guardian.ErrUnavailable)
				wantUnavailable(t, err, "unknown kid while failing")

				time.Sleep(11*time.Minute - 1*time.Second - 2*time.Minute) // 1 s before TTL + MaxStale
				synctest.Wait()
				mustVerify(t, iss, k1.token(t, nil, nil), "known kid 1 s before MaxStale runs out")
				time.Sleep(2 * time.Second)
				synctest.Wait()
				err = wantRefused(t, iss, k1.token(t, nil, nil), "known kid past MaxStale", guardian.ErrUnavailable)
				wantUnavailable(t, err, "known kid past MaxStale")
				wantUnavailable(t, keys.Ready(), "Ready() past MaxStale")
				if got := keyIDs(keys.Keys()); len(got) != 0 {
					t.Fatalf("Keys() past MaxStale: got %v, want none", got)
				}

				as.with(func(s *stubAS) { s.status, s.down, s.jwks = 0, false, good })
				time.Sleep(guardian.DefaultRefetchInterval + time.Second)
				synctest.Wait()
				mustVerify(t, iss, k1.token(t, nil, nil), "known kid once the endpoint is back")
				if err := keys.Ready(); err != nil {
					t.Fatalf("Ready() once the endpoint is back: got %v, want nil", err)
				}
			})
		})
	}

	// With MaxStale negative there is no grace: the keys go when they are
	// stale and a refresh has failed.
	t.Run("no MaxStale", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			k1 := newASKey(t, "k1")
			as := newStubAS(jwkSet(k1.jwk(nil)))
			as.header = http.Header{"Cache-Control": {"max-age=60"}}
			keys := newTestRemoteKeys(t, rkJWKSURL, as, &guardian.RemoteKeysOptions{MaxStale: -1})
			defer keys.Close()
			iss := newTestRemoteIssuer(t, keys, nil)
			mustVerify(t, iss, k1.token(t, nil, nil), "first token")
			as.with(func(s *stubAS) { s.status = http.StatusBadGateway })
			time.Sleep(59 * time.Second) // the refresh at 48 s failed; still fresh
			synctest.Wait()
			mustVerify(t, iss, k1.token(t, nil, nil), "fresh keys after a failed refresh")
			time.Sleep(2 * time.Second)
			synctest.Wait()
			err := wantRefused(t, iss, k1.token(t, nil, nil), "stale keys with MaxStale -1", guardian.ErrUnavailable)
			wantUnavailable(t, err, "stale keys with MaxStale -1")
		})
	})
}

// TestRemoteKeysSkipsBadJWKs: each JWK that is not a usable verification
// key is skipped, with its reason, and the usable keys of the same set
// are used. Guards against key confusion (an encryption key, a symmetric
// or private key, an algorithm we were told not to accept, a weak RSA
// key) and against one odd key making the whole set unusable.
func TestRemoteKeysSkipsBadJWKs(t *testing.T) {
	good, dup, enc, priv := newASKey(t, "good"), newASKey(t, "good"), newASKey(t, "enc"), newASKey(t, "private")
	noAlg := newASKey(t, "no-alg")
	rsa2048 := loadSigner(t, "rsa2048_pkcs8.pem").Public().(*rsa.PublicKey)
	block, _ := pem.Decode(readTestdata(t, "rsa1024_pkcs8.pem"))
	if block == nil {
		t.Fatal("rsa1024_pkcs8.pem: no PEM block")
	}
	k1024, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("rsa1024_pkcs8.pem: %v", err)
	}
	rsa1024 := &k1024.(*rsa.PrivateKey).PublicKey
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384pt, _ := p384.PublicKey.Bytes()
	privD, _ := priv.priv.Bytes()
	longKid := strings.Repeat("x", 1000)
	secret := base64.RawURLEncoding.EncodeToString([]byte("a shared secret of 32 bytes long"))

	// bad: kid → the JWK and a piece of the reason it is skipped for.
	type badJWK struct {
		kid, why string
		jwk      map[string]any
	}
	withAlgorithms := []badJWK{
		{"enc", "use", enc.jwk(map[string]any{"use": "enc"})},
		{"ops-encrypt", "key_ops", newASKey(t, "ops-encrypt").jwk(map[string]any{"key_ops": []string{"encrypt"}})},
		{"private", "private", priv.jwk(map[string]any{"d": base64.RawURLEncoding.EncodeToString(privD)})},
		{"oct", "allowed", map[string]any{"kty": "oct", "kid": "oct", "k": secret, "alg": "HS256"}},
		{"oct-no-alg", "oct", map[string]any{"kty": "oct", "kid": "oct-no-alg", "k": secret}},
		{"xyz", "XYZ", map[string]any{"kty": "XYZ", "kid": "xyz", "alg": "ES256", "x": "AAAA"}},
		{"rsa1024", "1024 bits", rsaJWK(rsa1024, "rsa1024", "RS256")},
		{"rs512", "allowed", rsaJWK(rsa2048, "rs512", "RS512")},
		{"p384-no-alg", "no allowed algorithm fits", map[string]any{"kty": "EC", "crv": "P-384", "kid": "p384-no-alg",
			"x": base64.RawURLEncoding.EncodeToString(p384pt[1:49]), "y": base64.RawURLEncoding.EncodeToString(p384pt[49:])}},
		{"good", "another key", dup.jwk(nil)}, // a second "good": it must not replace the first
		{longKid, "use", newASKey(t, longKid).jwk(map[string]any{"use": "enc"})},
	}

	// skips records OnKeySkipped.
	type skips struct {
		mu  sync.Mutex
		got map[string][]error
	}
	record := func(s *skips) func(string, error) {
		s.got = map[string][]error{}
		return func(kid string, reason error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.got[kid] = append(s.got[kid], reason)
		}
	}
	checkSkips := func(t *testing.T, s *skips, bad []badJWK) {
		t.Helper()
		s.mu.Lock()
		defer s.mu.Unlock()
		want := map[string]bool{}
		for _, b := range bad {
			kid := b.kid
			if kid == longKid {
				kid = ""
				for got := range s.got {
					if strings.HasPrefix(got, "xxxx") {
						kid = got
					}
				}
				if kid == "" || len(kid) > 64+len("…") {
					t.Errorf("the 1000-byte kid: got it reported as %d bytes, want at most %d", len(kid), 64+len("…"))
					continue
				}
			}
			want[kid] = true
			reasons := s.got[kid]
			if len(reasons) != 1 {
				t.Errorf("kid %.20q: got %d OnKeySkipped calls, want 1", kid, len(reasons))
				continue
			}
			if !errors.Is(reasons[0], guardian.ErrKey) || !strings.Contains(reasons[0].Error(), b.why) {
				t.Errorf("kid %.20q: got reason %q, want an ErrKey mentioning %q", kid, reasons[0], b.why)
			}
		}
		for kid := range s.got {
			if !want[kid] {
				t.Errorf("kid %.20q: skipped (%v), want it used", kid, s.got[kid])
			}
		}
	}

	t.Run("with Algorithms", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			doc := []map[string]any{good.jwk(nil)}
			for _, b := range withAlgorithms {
				doc = append(doc, b.jwk)
			}
			doc = append(doc,
				newASKey(t, "ops-verify").jwk(map[string]any{"key_ops": []string{"verify"}}),
				noAlg.jwk(map[string]any{"alg": nil}),
				rsaJWK(rsa2048, "rsa-no-alg", ""),
			)
			as := newStubAS(jwkSet(doc...))
			var s skips
			keys := newTestRemoteKeys(t, rkJWKSURL, as, &guardian.RemoteKeysOptions{
				Algorithms: []guardian.Algorithm{guardian.ES256, guardian.RS256}, OnKeySkipped: record(&s),
			})
			defer keys.Close()
			iss := newTestRemoteIssuer(t, keys, nil)
			mustVerify(t, iss, good.token(t, nil, nil), "the good key of a set with bad ones")
			checkSkips(t, &s, withAlgorithms)
			if got, want := keyIDs(keys.Keys()), []string{"good", "ops-verify", "no-alg", "rsa-no-alg"}; !slices.Equal(got, want) {
				t.Fatalf("Keys(): got %v, want %v", got, want)
			}
			for _, k := range keys.Keys().Keys() {
				want := guardian.ES256
				if k.ID() == "rsa-no-alg" {
					want = guardian.RS256
				}
				if k.Algorithm() != want {
					t.Errorf("key %s: got algorithm %s, want %s (the first of Algorithms that fits)", k.ID(), k.Algorithm(), want)
				}
			}
			mustVerify(t, iss, noAlg.token(t, nil, nil), "key without alg, pinned to ES256")
			wantRefused(t, iss, noAlg.token(t, map[string]any{"alg": "ES384"}, nil), "key without alg, token says ES384", guardian.ErrAlgorithm)
			wantRefused(t, iss, dup.token(t, nil, nil), "the duplicate's key under kid good", guardian.ErrInvalidSignature)
			wantRefused(t, iss, enc.token(t, nil, nil), "the use-enc key", guardian.ErrUnknownKey)
			wantRefused(t, iss, priv.token(t, nil, nil), "the key published with d", guardian.ErrUnknownKey)
			wantFetches(t, as, 1, "after the tokens")
		})
	})

	t.Run("without Algorithms", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			bad := []badJWK{
				{"no-alg", "without alg", noAlg.jwk(map[string]any{"alg": nil})},
				{"oct", "symmetric", map[string]any{"kty": "oct", "kid": "oct", "k": secret, "alg": "HS256"}},
				{"rsa-hs256", "", rsaJWK(rsa2048, "rsa-hs256", "HS256")},
				{"none", "", newASKey(t, "none").jwk(map[string]any{"alg": "none"})},
			}
			doc := []map[string]any{good.jwk(nil)}
			for _, b := range bad {
				doc = append(doc, b.jwk)
			}
			as := newStubAS(jwkSet(doc...))
			var s skips
			keys := newTestRemoteKeys(t, rkJWKSURL, as, &guardian.RemoteKeysOptions{OnKeySkipped: record(&s)})
			defer keys.Close()
			iss := newTestRemoteIssuer(t, keys, nil)
			mustVerify(t, iss, good.token(t, nil, nil), "the good key")
			checkSkips(t, &s, bad)
			if got := keyIDs(keys.Keys()); !slices.Equal(got, []string{"good"}) {
				t.Fatalf("Keys(): got %v, want [good]", got)
			}
			wantRefused(t, iss, noAlg.token(t, nil, nil), "key without alg and no Algorithms", guardian.ErrUnknownKey)
		})
	})

	// A set with no usable key is a failed fetch: the keys in use stay.
	t.Run("no usable key", func(t *testing.T) {
		for _, doc := range []struct{ name, body string }{
			{"only bad keys", string(jwkSet(withAlgorithms[0].jwk, withAlgorithms[3].jwk))},
			{"empty set", `{"keys":[]}`},
			{"no keys member", `{"kids":[]}`},
			{"not JSON", `<html>sign in</html>`},
		} {
			t.Run(doc.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					as := newStubAS(jwkSet(good.jwk(nil)))
					keys := newTestRemoteKeys(t, rkJWKSURL, as, &guardian.RemoteKeysOptions{Algorithms: []guardian.Algorithm{guardian.ES256}})
					defer keys.Close()
					iss := newTestRemoteIssuer(t, keys, nil)
					mustVerify(t, iss, good.token(t, nil, nil), "before")
					before := keys.Keys()
					as.with(func(s *stubAS) { s.jwks = []byte(doc.body) })
					err := keys.Refresh(context.Background())
					wantUnavailable(t, err, "Refresh to a set without a usable key")
					if !errors.Is(err, guardian.ErrKey) {
						t.Errorf("Refresh: got %v, want it to wrap ErrKey", err)
					}
					if keys.Keys() != before {
						t.Fatalf("Keys() after a fetch without a usable key: got %v, want the previous set", keyIDs(keys.Keys()))
					}
					mustVerify(t, iss, good.token(t, nil, nil), "after a fetch without a usable key")

					// And as the first fetch: no keys, 503.
					cold := newTestRemoteKeys(t, rkJWKSURL, as, &guardian.RemoteKeysOptions{Algorithms: []guardian.Algorithm{guardian.ES256}})
					defer cold.Close()
					err = wantRefused(t, newTestRemoteIssuer(t, cold, nil), good.token(t, nil, nil), "first fetch without a usable key", guardian.ErrUnavailable)
					wantUnavailable(t, err, "first fetch without a usable key")
					wantUnavailable(t, cold.Ready(), "Ready() after a first fetch without a usable key")
				})
			})
		}
	})
}

// oidcDoc is a discovery document.
func oidcDoc(issuer, jwksURI string) string {
	b, _ := json.Marshal(map[string]string{"issuer": issuer, "jwks_uri": jwksURI})
	return string(b)
}

// TestDiscoverKeys: the JWK set's URL is found through the issuer's
// metadata, OpenID Connect's first, RFC 8414's when that is not found, and
// is found once. Guards against a resource server that cannot find the
// keys of an issuer with a path (multi-tenant servers), and against
// rediscovering at every refresh.
func TestDiscoverKeys(t *testing.T) {
	tests := []struct {
		name      string
		issuer    string
		metaPath  string
		jwksURI   string
		wantFirst []string // the URLs asked for, in order, up to the first token
	}{
		{name: "OpenID Connect", issuer: rkIssuer, metaPath: "/.well-known/openid-configuration", jwksURI: rkIssuer + "/oauth/jwks",
			wantFirst: []string{rkIssuer + "/.well-known/openid-configuration", rkIssuer + "/oauth/jwks"}},
		{name: "RFC 8414 with a path", issuer: rkIssuer + "/tenant1", metaPath: "/.well-known/oauth-authorization-server/tenant1", jwksURI: rkIssuer + "/tenant1/jwks",
			wantFirst: []string{rkIssuer + "/tenant1/.well-known/openid-configuration", rkIssuer + "/.well-known/oauth-authorization-server/tenant1", rkIssuer + "/tenant1/jwks"}},
		{name: "OpenID Connect with a path", issuer: rkIssuer + "/realms/acme", metaPath: "/realms/acme/.well-known/openid-configuration", jwksURI: rkIssuer + "/realms/acme/certs/jwks",
			wantFirst: []string{rkIssuer + "/realms/acme/.well-known/openid-configuration", rkIssuer + "/realms/acme/certs/jwks"}},
		{name: "RFC 8414 without a path", issuer: rkIssuer, metaPath: "/.well-known/oauth-authorization-server", jwksURI: rkIssuer + "/jwks",
			wantFirst: []string{rkIssuer + "/.well-known/openid-configuration", rkIssuer + "/.well-known/oauth-authorization-server", rkIssuer + "/jwks"}},
		{name: "jwks_uri on another host", issuer: rkIssuer, metaPath: "/.well-known/openid-configuration", jwksURI: "https://keys.example.net/jwks",
			wantFirst: []string{rkIssuer + "/.well-known/openid-configuration", "https://keys.example.net/jwks"}},
		{name: "http issuer, http jwks_uri", issuer: "http://localhost:8080", metaPath: "/.well-known/openid-configuration", jwksURI: "http://localhost:8080/jwks",
			wantFirst: []string{"http://localhost:8080/.well-known/openid-configuration", "http://localhost:8080/jwks"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				k1 := newASKey(t, "k1")
				as := newStubAS(jwkSet(k1.jwk(nil)))
				as.header = http.Header{"Cache-Control": {"max-age=60"}}
				as.meta[tt.metaPath] = oidcDoc(tt.issuer, tt.jwksURI)
				keys, err := guardian.DiscoverKeys(tt.issuer, quietRemoteOptions(as, nil))
				if err != nil {
					t.Fatalf("DiscoverKeys(%q): %v", tt.issuer, err)
				}
				defer keys.Close()
				if keys.Issuer() != tt.issuer || keys.JWKSURL() != "" {
					t.Fatalf("before discovery: got Issuer() %q, JWKSURL() %q, want %q, \"\"", keys.Issuer(), keys.JWKSURL(), tt.issuer)
				}
				iss := newTestRemoteIssuer(t, keys, &guardian.IssuerOptions{Audience: []string{"api"}}) // Issuer from keys
				if iss.Name() != tt.issuer {
					t.Fatalf("NewRemoteIssuer: got issuer %q, want the discovered %q", iss.Name(), tt.issuer)
				}
				synctest.Wait()
				if got := as.requested(); len(got) != 0 {
					t.Fatalf("before the first token: got requests %v, want none", got)
				}
				mustVerify(t, iss, k1.token(t, nil, map[string]any{"iss": tt.issuer}), "first token")
				if got := as.requested(); !slices.Equal(got, tt.wantFirst) {
					t.Fatalf("requests: got %v, want %v", got, tt.wantFirst)
				}
				if keys.JWKSURL() != tt.jwksURI {
					t.Fatalf("JWKSURL(): got %q, want %q", keys.JWKSURL(), tt.jwksURI)
				}
				wantRefused(t, iss, k1.token(t, nil, map[string]any{"iss": "https://other.example.com"}), "a token of another issuer on the same keys", guardian.ErrIssuer)

				time.Sleep(49 * time.Second) // the refresh: the JWK set alone
				synctest.Wait()
				want := append(slices.Clone(tt.wantFirst), tt.jwksURI)
				if got := as.requested(); !slices.Equal(got, want) {
					t.Fatalf("requests after a refresh: got %v, want %v", got, want)
				}
			})
		})
	}
}

// TestDiscoverKeysRefuses: a discovery document naming another issuer
// than the one asked about (even by a trailing slash), or pointing to
// keys over http or off the issuer's origin when that is required, is
// refused, and no JWK set is fetched. Guards against an attacker's
// metadata (at a path they control, or through a mix-up between issuers)
// making us trust their keys for another issuer (OpenID Connect Discovery
// §4.3, RFC 8414 §3.3), and against keys fetched in clear text.
func TestDiscoverKeysRefuses(t *testing.T) {
	const oidcPath = "/.well-known/openid-configuration"
	tests := []struct {
		name       string
		issuer     string
		doc        string
		sameOrigin bool
		want       string // in the error
	}{
		{name: "issuer with a trailing slash", issuer: rkIssuer, doc: oidcDoc(rkIssuer+"/", rkJWKSURL), want: `names issuer "https://as.example.com/"`},
		{name: "issuer without the trailing slash", issuer: rkIssuer + "/", doc: oidcDoc(rkIssuer, rkJWKSURL), want: `names issuer "https://as.example.com"`},
		{name: "issuer of another host", issuer: rkIssuer, doc: oidcDoc("https://evil.example.com", "https://evil.example.com/jwks"), want: `names issuer "https://evil.example.com"`},
		{name: "issuer in another case", issuer: rkIssuer, doc: oidcDoc("https://AS.example.com", rkJWKSURL), want: "names issuer"},
		{name: "issuer of another tenant", issuer: rkIssuer + "/tenant1", doc: oidcDoc(rkIssuer+"/tenant2", rkJWKSURL), want: "tenant2"},
		{name: "no issuer", issuer: rkIssuer, doc: `{"jwks_uri":"https://as.example.com/jwks"}`, want: `names issuer ""`},
		{name: "http jwks_uri under an https issuer", issuer: rkIssuer, doc: oidcDoc(rkIssuer, "http://as.example.com/jwks"), want: "not an absolute https URL"},
		{name: "relative jwks_uri", issuer: rkIssuer, doc: oidcDoc(rkIssuer, "/jwks"), want: "not an absolute https URL"},
		{name: "jwks_uri with user info", issuer: rkIssuer, doc: oidcDoc(rkIssuer, "https://u:p@as.example.com/jwks"), want: "not an absolute https URL"},
		{name: "jwks_uri of another scheme", issuer: rkIssuer, doc: oidcDoc(rkIssuer, "file:///etc/jwks"), want: "not an absolute https URL"},
		{name: "no jwks_uri", issuer: rkIssuer, doc: `{"issuer":"https://as.example.com"}`, want: "no jwks_uri"},
		{name: "JWKSOnIssuerOrigin, another host", issuer: rkIssuer, doc: oidcDoc(rkIssuer, "https://keys.example.net/jwks"), sameOrigin: true, want: "not on the origin"},
		{name: "JWKSOnIssuerOrigin, another port", issuer: rkIssuer, doc: oidcDoc(rkIssuer, "https://as.example.com:8443/jwks"), sameOrigin: true, want: "not on the origin"},
		{name: "JWKSOnIssuerOrigin, a subdomain", issuer: rkIssuer, doc: oidcDoc(rkIssuer, "https://keys.as.example.com/jwks"), sameOrigin: true, want: "not on the origin"},
		{name: "not JSON", issuer: rkIssuer, doc: `<html>`, want: "not a JSON metadata document"},
		{name: "no document", issuer: rkIssuer + "/tenant1", want: "/.well-known/oauth-authorization-server/tenant1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				k1 := newASKey(t, "k1")
				as := newStubAS(jwkSet(k1.jwk(nil)))
				if tt.doc != "" {
					u, _ := strings.CutPrefix(tt.issuer, rkIssuer)
					as.meta[strings.TrimSuffix(u, "/")+oidcPath] = tt.doc
				}
				keys, err := guardian.DiscoverKeys(tt.issuer, quietRemoteOptions(as, &guardian.RemoteKeysOptions{JWKSOnIssuerOrigin: tt.sameOrigin}))
				if err != nil {
					t.Fatalf("DiscoverKeys(%q): %v", tt.issuer, err)
				}
				defer keys.Close()
				err = keys.Refresh(context.Background())
				wantUnavailable(t, err, "Refresh")
				if !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Refresh: got error %q, want it to mention %q", err, tt.want)
				}
				wantFetches(t, as, 0, "refused discovery")
				if keys.JWKSURL() != "" {
					t.Fatalf("JWKSURL() after a refused discovery: got %q, want \"\"", keys.JWKSURL())
				}
				iss := newTestRemoteIssuer(t, keys, &guardian.IssuerOptions{Audience: []string{"api"}})
				err = wantRefused(t, iss, k1.token(t, nil, map[string]any{"iss": tt.issuer}), "token after a refused discovery", guardian.ErrUnavailable)
				wantUnavailable(t, err, "token after a refused discovery")
				wantFetches(t, as, 0, "token after a refused discovery")
			})
		})
	}
}

// TestDiscoverKeysInvalidIssuer: an issuer that is not an absolute http(s)
// URL without user info, query or fragment is a configuration mistake,
// caught at construction. Guards against discovering at a URL other than
// the identifier tokens name.
func TestDiscoverKeysInvalidIssuer(t *testing.T) {
	for _, issuer := range []string{
		"", "as.example.com", "//as.example.com", "/tenant1", "ftp://as.example.com", "https://", "https:///tenant1",
		"https://as.example.com?tenant=1", "https://as.example.com?", "https://as.example.com/#x",
		"https://user@as.example.com", "https://user:pw@as.example.com", "https://as.example.com/%zz", "https://as.example.com\n",
	} {
		keys, err := guardian.DiscoverKeys(issuer, nil)
		if !errors.Is(err, guardian.ErrConfig) {
			if keys != nil {
				keys.Close()
			}
			t.Errorf("DiscoverKeys(%q): got error %v, want ErrConfig", issuer, err)
		}
	}
	for _, u := range []string{"", "jwks", "/jwks", "ftp://as.example.com/jwks", "https://u:p@as.example.com/jwks", "https:///jwks", "file:///jwks"} {
		keys, err := guardian.NewRemoteKeys(u, nil)
		if !errors.Is(err, guardian.ErrConfig) {
			if keys != nil {
				keys.Close()
			}
			t.Errorf("NewRemoteKeys(%q): got error %v, want ErrConfig", u, err)
		}
	}
}

// TestRemoteVerifierUntrustedIssuer: through a Verifier, a token naming an
// issuer it does not trust (or none, or a near miss) is refused with
// ErrIssuer before any key is fetched, and a token never meets another
// issuer's keys; header-borne keys (jku, jwk) are refused without a fetch.
// Guards against anyone on the Internet making us fetch (SSRF, load on
// the issuers) by naming an issuer, and against cross-issuer key use.
func TestRemoteVerifierUntrustedIssuer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const iss1, iss2 = "https://as1.example.com", "https://as2.example.com"
		k1, k2 := newASKey(t, "k1"), newASKey(t, "k2")
		as1, as2 := newStubAS(jwkSet(k1.jwk(nil))), newStubAS(jwkSet(k2.jwk(nil)))
		keys1 := newTestRemoteKeys(t, iss1+"/jwks", as1, nil)
		defer keys1.Close()
		keys2 := newTestRemoteKeys(t, iss2+"/jwks", as2, nil)
		defer keys2.Close()
		v, err := guardian.NewVerifier(
			newTestRemoteIssuer(t, keys1, &guardian.IssuerOptions{Issuer: iss1, Audience: []string{"api"}}),
			newTestRemoteIssuer(t, keys2, &guardian.IssuerOptions{Issuer: iss2, Audience: []string{"api"}}),
		)
		if err != nil {
			t.Fatalf("NewVerifier: %v", err)
		}
		for _, tc := range []struct {
			name string
			raw  string
			want error
		}{
			{"untrusted issuer", k1.token(t, nil, map[string]any{"iss": "https://evil.example.com"}), guardian.ErrIssuer},
			{"no iss", k1.token(t, nil, map[string]any{"iss": nil}), guardian.ErrIssuer},
			{"trailing slash", k1.token(t, nil, map[string]any{"iss": iss1 + "/"}), guardian.ErrIssuer},
			{"jku of a trusted issuer", k1.token(t, map[string]any{"kid": "evil", "jku": "https://evil.example.com/jwks"}, map[string]any{"iss": iss1}), guardian.ErrUnsupportedHeader},
			{"embedded jwk", k1.token(t, map[string]any{"kid": "evil", "jwk": k1.jwk(nil)}, map[string]any{"iss": iss1}), guardian.ErrUnsupportedHeader},
		} {
			wantRefused(t, v, tc.raw, tc.name, tc.want, guardian.ErrInvalidToken)
		}
		synctest.Wait()
		wantFetches(t, as1, 0, "issuer 1, after refused tokens")
		wantFetches(t, as2, 0, "issuer 2, after refused tokens")
		if got := append(as1.requested(), as2.requested()...); len(got) != 0 {
			t.Fatalf("requests: got %v, want none", got)
		}

		// Issuer 2's key under its kid, naming issuer 1: only issuer 1's
		// keys are looked at.
		wantRefused(t, v, k2.token(t, nil, map[string]any{"iss": iss1}), "issuer 2's key naming issuer 1", guardian.ErrUnknownKey)
		wantFetches(t, as1, 1, "issuer 1, after a token naming it")
		wantFetches(t, as2, 0, "issuer 2, after a token naming issuer 1")
		mustVerify(t, v, k1.token(t, nil, map[string]any{"iss": iss1}), "issuer 1's token")
		mustVerify(t, v, k2.token(t, nil, map[string]any{"iss": iss2}), "issuer 2's token")
		wantFetches(t, as2, 1, "issuer 2, after its token")
		if err := v.Ready(); err != nil {
			t.Fatalf("Verifier.Ready(): got %v, want nil", err)
		}
	})
}

// TestRemoteTypePolicy: NewRemoteIssuer types tokens by RFC 9068 (header
// typ at+jwt) unless told otherwise, and a typ claim must be one that
// means an access token. Guards against an ID token, a refresh token or a
// logout token of the same issuer, signed with the same keys, passing for
// an access token (RFC 8725 §3.11).
func TestRemoteTypePolicy(t *testing.T) {
	// The header this library writes for its own tokens, byte for byte:
	// it takes a shortcut in verification, which must still apply the
	// policy.
	const libraryHeader = `{"alg":"ES256","typ":"JWT","kid":"k1"}`
	synctest.Test(t, func(t *testing.T) {
		tests := []struct {
			name      string
			policy    guardian.TypePolicy
			access    []string
			header    map[string]any
			rawHeader string
			claims    map[string]any
			want      error // nil: accepted
		}{
			{name: "default: at+jwt", want: nil},
			{name: "default: application/at+jwt", header: map[string]any{"typ": "application/at+jwt"}},
			{name: "default: JWT refused", header: map[string]any{"typ": "JWT"}, want: guardian.ErrTokenType},
			{name: "default: JWT in the library's own header refused", rawHeader: libraryHeader, want: guardian.ErrTokenType},
			{name: "default: no typ refused", header: map[string]any{"typ": nil}, want: guardian.ErrTokenType},
			{name: "default: typ claim access refused", claims: map[string]any{"typ": "access"}, want: guardian.ErrTokenType},
			{name: "default: typ claim refresh refused", claims: map[string]any{"typ": "refresh"}, want: guardian.ErrTokenType},
			{name: "default: ID token header refused", header: map[string]any{"typ": "id_token+jwt"}, want: guardian.ErrUnsupportedHeader},
			{name: "RFC 9068: at+jwt", policy: guardian.TypeRFC9068},
			{name: "or JWT: plain JWT", policy: guardian.TypeRFC9068OrJWT, header: map[string]any{"typ": "JWT"}},
			{name: "or JWT: the library's own header", policy: guardian.TypeRFC9068OrJWT, rawHeader: libraryHeader},
			{name: "or JWT: no typ", policy: guardian.TypeRFC9068OrJWT, header: map[string]any{"typ": nil}},
			{name: "or JWT: at+jwt", policy: guardian.TypeRFC9068OrJWT},
			{name: "or JWT: typ claim Bearer refused", policy: guardian.TypeRFC9068OrJWT, header: map[string]any{"typ": "JWT"}, claims: map[string]any{"typ": "Bearer"}, want: guardian.ErrTokenType},
			{name: "or JWT: typ claim Bearer listed", policy: guardian.TypeRFC9068OrJWT, access: []string{"Bearer"}, header: map[string]any{"typ": "JWT"}, claims: map[string]any{"typ": "Bearer"}},
			{name: "or JWT: typ claim bearer, not as listed", policy: guardian.TypeRFC9068OrJWT, access: []string{"Bearer"}, claims: map[string]any{"typ": "bearer"}, want: guardian.ErrTokenType},
			{name: "or JWT: typ claim Refresh refused", policy: guardian.TypeRFC9068OrJWT, access: []string{"Bearer"}, header: map[string]any{"typ": "JWT"}, claims: map[string]any{"typ": "Refresh"}, want: guardian.ErrTokenType},
			{name: "or JWT: typ claim ID refused", policy: guardian.TypeRFC9068OrJWT, access: []string{"Bearer"}, claims: map[string]any{"typ": "ID"}, want: guardian.ErrTokenType},
			{name: "RFC 9068: at+jwt with typ claim Bearer listed", policy: guardian.TypeRFC9068, access: []string{"Bearer"}, claims: map[string]any{"typ": "Bearer"}},
			{name: "from claim: at+jwt refused", policy: guardian.TypeFromClaim, claims: map[string]any{"typ": "access"}, want: guardian.ErrTokenType},
			{name: "from claim: JWT with typ access", policy: guardian.TypeFromClaim, header: map[string]any{"typ": "JWT"}, claims: map[string]any{"typ": "access"}},
			{name: "default: another audience", claims: map[string]any{"aud": "other-api"}, want: guardian.ErrAudience},
			{name: "default: expired", claims: map[string]any{"exp": testclock.Now().Add(-time.Minute).Unix()}, want: guardian.ErrExpired},
		}
		k1 := newASKey(t, "k1")
		as := newStubAS(jwkSet(k1.jwk(nil)))
		keys := newTestRemoteKeys(t, rkJWKSURL, as, nil)
		defer keys.Close()
		for _, tt := range tests {
			iss := newTestRemoteIssuer(t, keys, &guardian.IssuerOptions{
				Issuer: rkIssuer, Audience: []string{"api"}, TokenTypes: tt.policy, AccessTypeClaims: tt.access,
			})
			raw := k1.token(t, tt.header, tt.claims)
			if tt.rawHeader != "" {
				raw = k1.sign(t, tt.rawHeader, tt.claims)
			}
			c, err := iss.Verify(context.Background(), raw)
			if tt.want != nil {
				if !errors.Is(err, tt.want) || !errors.Is(err, guardian.ErrInvalidToken) {
					t.Errorf("%s: got error %v, want %v", tt.name, err, tt.want)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: got error %v, want nil", tt.name, err)
				continue
			}
			if c.Type != guardian.AccessToken || c.ClientID != "svc-1" || c.Subject != "svc-1" || c.Issuer != rkIssuer ||
				!slices.Equal(c.Scope, []string{"read", "write"}) || !slices.Equal(c.Audience, []string{"api"}) {
				t.Errorf("%s: got claims Type %q ClientID %q Subject %q Issuer %q Scope %q Audience %q, want access svc-1 svc-1 %s [read write] [api]",
					tt.name, c.Type, c.ClientID, c.Subject, c.Issuer, c.Scope, c.Audience, rkIssuer)
			}
			if _, err := iss.Verify(context.Background(), raw, guardian.RefreshToken); !errors.Is(err, guardian.ErrTokenType) {
				t.Errorf("%s: Verify as a refresh token: got %v, want ErrTokenType", tt.name, err)
			}
		}
		wantFetches(t, as, 1, "after every type policy case")
	})
}

// TestRemoteOptionsValidated: settings that cannot work are ErrConfig at
// construction, not a surprise at the first token; a remote issuer never
// issues and never rotates. Guards against a negative duration or an HMAC
// algorithm (whose secret would be the public key: alg confusion) being
// taken silently.
func TestRemoteOptionsValidated(t *testing.T) {
	bad := []struct {
		name string
		opts guardian.RemoteKeysOptions
	}{
		{"negative Timeout", guardian.RemoteKeysOptions{Timeout: -time.Second}},
		{"negative RefetchInterval", guardian.RemoteKeysOptions{RefetchInterval: -time.Second}},
		{"negative TTL", guardian.RemoteKeysOptions{TTL: -time.Second}},
		{"negative MinTTL", guardian.RemoteKeysOptions{MinTTL: -time.Second}},
		{"negative MaxTTL", guardian.RemoteKeysOptions{MaxTTL: -time.Second}},
		{"negative MaxBodySize", guardian.RemoteKeysOptions{MaxBodySize: -1}},
		{"MinTTL above MaxTTL", guardian.RemoteKeysOptions{MinTTL: 2 * time.Hour, MaxTTL: time.Hour}},
		{"MinTTL above the default MaxTTL", guardian.RemoteKeysOptions{MinTTL: 48 * time.Hour}},
		{"HS256 in Algorithms", guardian.RemoteKeysOptions{Algorithms: []guardian.Algorithm{guardian.ES256, guardian.HS256}}},
		{"HS512 in Algorithms", guardian.RemoteKeysOptions{Algorithms: []guardian.Algorithm{guardian.HS512}}},
		{"none in Algorithms", guardian.RemoteKeysOptions{Algorithms: []guardian.Algorithm{"none"}}},
		{"unknown algorithm", guardian.RemoteKeysOptions{Algorithms: []guardian.Algorithm{"ES257"}}},
		{"MinRSABits below 2048", guardian.RemoteKeysOptions{JWKS: &guardian.JWKSOptions{MinRSABits: 1024}}},
		{"MaxRSABits below MinRSABits", guardian.RemoteKeysOptions{JWKS: &guardian.JWKSOptions{MinRSABits: 4096, MaxRSABits: 3072}}},
	}
	for _, tt := range bad {
		o := tt.opts
		if keys, err := guardian.NewRemoteKeys(rkJWKSURL, &o); !errors.Is(err, guardian.ErrConfig) {
			if keys != nil {
				keys.Close()
			}
			t.Errorf("NewRemoteKeys, %s: got error %v, want ErrConfig", tt.name, err)
		}
		if keys, err := guardian.DiscoverKeys(rkIssuer, &o); !errors.Is(err, guardian.ErrConfig) {
			if keys != nil {
				keys.Close()
			}
			t.Errorf("DiscoverKeys, %s: got error %v, want ErrConfig", tt.name, err)
		}
	}
	var requests atomic.Int64
	noNetwork := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		requests.Add(1)
		return nil, errors.New("no network in this test")
	})}
	for _, tt := range []struct {
		name string
		opts *guardian.RemoteKeysOptions
	}{
		{"nil options", nil},
		{"negative MaxStale (none)", &guardian.RemoteKeysOptions{MaxStale: -1}},
		{"MinTTL equal to MaxTTL", &guardian.RemoteKeysOptions{MinTTL: time.Hour, MaxTTL: time.Hour}},
		{"asymmetric Algorithms", &guardian.RemoteKeysOptions{Algorithms: []guardian.Algorithm{guardian.ES256, guardian.RS256, guardian.PS256, guardian.EdDSA}}},
	} {
		o := tt.opts
		if o != nil {
			c := *o
			c.Client = noNetwork
			o = &c
		} else {
			o = &guardian.RemoteKeysOptions{Client: noNetwork}
		}
		keys, err := guardian.NewRemoteKeys(rkJWKSURL, o)
		if err != nil {
			t.Errorf("NewRemoteKeys, %s: got error %v, want nil", tt.name, err)
			continue
		}
		keys.Close()
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("constructors: got %d requests, want none", n)
	}

	as := newStubAS(jwkSet(newASKey(t, "k1").jwk(nil)))
	keys := newTestRemoteKeys(t, rkJWKSURL, as, nil)
	defer keys.Close()
	discovered, err := guardian.DiscoverKeys(rkIssuer, quietRemoteOptions(as, nil))
	if err != nil {
		t.Fatalf("DiscoverKeys: %v", err)
	}
	defer discovered.Close()
	for _, tt := range []struct {
		name string
		keys *guardian.RemoteKeys
		opts *guardian.IssuerOptions
	}{
		{"nil keys", nil, &guardian.IssuerOptions{Issuer: rkIssuer, Audience: []string{"api"}}},
		{"no Audience", keys, &guardian.IssuerOptions{Issuer: rkIssuer}},
		{"nil options", keys, nil},
		{"no Issuer for a JWKS URL", keys, &guardian.IssuerOptions{Audience: []string{"api"}}},
		{"Issuer other than the discovered one", discovered, &guardian.IssuerOptions{Issuer: rkIssuer + "/", Audience: []string{"api"}}},
		{"empty audience", keys, &guardian.IssuerOptions{Issuer: rkIssuer, Audience: []string{""}}},
		{"negative Leeway", keys, &guardian.IssuerOptions{Issuer: rkIssuer, Audience: []string{"api"}, Leeway: -time.Second}},
		{"unknown TokenTypes", keys, &guardian.IssuerOptions{Issuer: rkIssuer, Audience: []string{"api"}, TokenTypes: 9}},
	} {
		if _, err := guardian.NewRemoteIssuer(tt.keys, tt.opts); !errors.Is(err, guardian.ErrConfig) {
			t.Errorf("NewRemoteIssuer, %s: got error %v, want ErrConfig", tt.name, err)
		}
	}

	iss := newTestRemoteIssuer(t, keys, nil)
	if _, err := iss.Issue(context.Background(), "u1", nil); !errors.Is(err, guardian.ErrKey) {
		t.Errorf("Issue on a remote issuer: got error %v, want ErrKey", err)
	}
	other := mustKeySet(t, mustHMACKey(t, "k1", guardian.HS256, randomSecret(t)))
	if err := iss.Rotate(other); !errors.Is(err, guardian.ErrConfig) {
		t.Errorf("Rotate on a remote issuer: got error %v, want ErrConfig", err)
	}
	wantFetches(t, as, 0, "after Issue and Rotate")
	if err := iss.Rotate(nil); err == nil {
		t.Error("Rotate(nil) on a remote issuer: got nil error, want one")
	}
	keys.Close()
	if err := keys.Refresh(context.Background()); !errors.Is(err, guardian.ErrConfig) {
		t.Errorf("Refresh after Close: got error %v, want ErrConfig", err)
	}
	wantFetches(t, as, 0, "Refresh after Close")
}

// TestRemoteKeysTimeout: a JWKS or discovery endpoint that never answers
// costs a request at most Timeout, and a request's own context bounds its
// wait even when Timeout is long. Real network, no bubble. Guards against
// a hung issuer hanging every request of ours.
func TestRemoteKeysTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release) // before srv.Close, which waits for the handlers
	k1 := newASKey(t, "k1")
	bound := func(t *testing.T, start time.Time) {
		t.Helper()
		if d := time.Since(start); d > 30*time.Second {
			t.Fatalf("took %v, want about the timeout", d)
		}
	}
	wantTimeout := func(t *testing.T, err error) {
		t.Helper()
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got error %v, want a timeout", err)
			}
		}
	}

	t.Run("JWKS", func(t *testing.T) {
		keys, err := guardian.NewRemoteKeys(srv.URL+"/jwks", quietRemoteOptions(nil, &guardian.RemoteKeysOptions{Timeout: 100 * time.Millisecond}))
		if err != nil {
			t.Fatal(err)
		}
		defer keys.Close()
		iss := newTestRemoteIssuer(t, keys, nil)
		start := time.Now()
		err = wantRefused(t, iss, k1.token(t, nil, nil), "token while the endpoint hangs", guardian.ErrUnavailable)
		bound(t, start)
		wantUnavailable(t, err, "token while the endpoint hangs")
		wantTimeout(t, err)
	})
	t.Run("JWKS, a Client without Timeout", func(t *testing.T) {
		keys, err := guardian.NewRemoteKeys(srv.URL+"/jwks", quietRemoteOptions(nil, &guardian.RemoteKeysOptions{
			Timeout: 100 * time.Millisecond, Client: &http.Client{},
		}))
		if err != nil {
			t.Fatal(err)
		}
		defer keys.Close()
		// The caller waits 20 s: the fetch must have given up long before.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err = keys.Refresh(ctx)
		if ctx.Err() != nil {
			t.Fatalf("Refresh: the caller's 20 s ran out (%v), want the fetch bounded by Timeout 100ms", err)
		}
		wantUnavailable(t, err, "Refresh while the endpoint hangs")
		wantTimeout(t, err)
	})
	t.Run("discovery", func(t *testing.T) {
		keys, err := guardian.DiscoverKeys(srv.URL, quietRemoteOptions(nil, &guardian.RemoteKeysOptions{Timeout: 100 * time.Millisecond}))
		if err != nil {
			t.Fatal(err)
		}
		defer keys.Close()
		start := time.Now()
		err = keys.Refresh(context.Background())
		bound(t, start)
		wantUnavailable(t, err, "Refresh while discovery hangs")
		wantTimeout(t, err)
	})
	t.Run("request context", func(t *testing.T) {
		keys, err := guardian.NewRemoteKeys(srv.URL+"/jwks", quietRemoteOptions(nil, &guardian.RemoteKeysOptions{Timeout: time.Minute}))
		if err != nil {
			t.Fatal(err)
		}
		defer keys.Close()
		iss := newTestRemoteIssuer(t, keys, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = iss.Verify(ctx, k1.token(t, nil, nil))
		bound(t, start)
		wantUnavailable(t, err, "token whose request gives up")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("token whose request gives up: got error %v, want context.DeadlineExceeded", err)
		}
	})
}

// TestRemoteKeysBodySize: a JWK set or discovery document over
// MaxBodySize (1 MiB by default) is a failed fetch; one at the bound is
// read. Real network, no bubble. Guards against a hostile or broken
// endpoint exhausting our memory.
func TestRemoteKeysBodySize(t *testing.T) {
	k1 := newASKey(t, "k1")
	set := jwkSet(k1.jwk(nil))
	var size atomic.Int64
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := set
		if r.URL.Path == "/.well-known/openid-configuration" {
			body = []byte(oidcDoc(srvURL, srvURL+"/jwks"))
		} else if r.URL.Path != "/jwks" {
			http.NotFound(w, r)
			return
		}
		n := int(size.Load())
		w.Write(body)
		w.Write([]byte(strings.Repeat(" ", n-len(body)))) // JSON allows trailing white space
	}))
	defer srv.Close()
	srvURL = srv.URL
	const mib = 1 << 20
	for _, tt := range []struct {
		name     string
		discover bool
		max      int64
		size     int
		ok       bool
	}{
		{name: "1 MiB minus 100 bytes", size: mib - 100, ok: true},
		{name: "exactly 1 MiB", size: mib, ok: true},
		{name: "1 MiB plus 1 byte", size: mib + 1},
		{name: "2 MiB", size: 2 * mib},
		{name: "MaxBodySize 4096, at it", max: 4096, size: 4096, ok: true},
		{name: "MaxBodySize 4096, over it", max: 4096, size: 4097},
		{name: "discovery, 2 MiB", discover: true, size: 2 * mib},
		{name: "discovery, 1 MiB", discover: true, size: mib, ok: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			size.Store(int64(tt.size))
			opts := quietRemoteOptions(nil, &guardian.RemoteKeysOptions{MaxBodySize: tt.max})
			var keys *guardian.RemoteKeys
			var err error
			if tt.discover {
				keys, err = guardian.DiscoverKeys(srv.URL, opts)
			} else {
				keys, err = guardian.NewRemoteKeys(srv.URL+"/jwks", opts)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer keys.Close()
			err = keys.Refresh(context.Background())
			if tt.ok {
				if err != nil {
					t.Fatalf("Refresh of %d bytes: got error %v, want nil", tt.size, err)
				}
				if got := keyIDs(keys.Keys()); !slices.Equal(got, []string{"k1"}) {
					t.Fatalf("Keys(): got %v, want [k1]", got)
				}
				return
			}
			wantUnavailable(t, err, fmt.Sprintf("Refresh of %d bytes", tt.size))
			if !strings.Contains(err.Error(), "larger than") {
				t.Fatalf("Refresh of %d bytes: got error %q, want it to name the size bound", tt.size, err)
			}
			if got := keyIDs(keys.Keys()); len(got) != 0 {
				t.Fatalf("Keys() after an oversized answer: got %v, want none", got)
			}
		})
	}
}
