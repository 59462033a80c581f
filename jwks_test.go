package guardian_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
)

func jwksSigner(t *testing.T, alg guardian.Algorithm) crypto.Signer {
	t.Helper()
	var s crypto.Signer
	var err error
	switch alg {
	case guardian.RS256, guardian.PS256:
		s, err = rsa.GenerateKey(rand.Reader, 2048)
	case guardian.ES256:
		s, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case guardian.ES384:
		s, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case guardian.ES512:
		s, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case guardian.EdDSA:
		_, s, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWKSRoundTrip(t *testing.T) {
	for _, alg := range []guardian.Algorithm{guardian.RS256, guardian.PS256, guardian.ES256, guardian.ES384, guardian.ES512, guardian.EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			signing, err := guardian.NewSigningKey("new-"+string(alg), alg, jwksSigner(t, alg))
			if err != nil {
				t.Fatal(err)
			}
			secret, err := guardian.NewHMACKey("secret", guardian.HS256, randomSecret(t))
			if err != nil {
				t.Fatal(err)
			}
			keys, err := guardian.NewKeySet(signing, secret)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := keys.JWKS()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(doc), `"secret"`) || strings.Contains(string(doc), `"d"`) || strings.Contains(string(doc), `"k"`) {
				t.Fatalf("JWKS leaks a secret or private member: %s", doc)
			}
			var set struct {
				Keys []map[string]string `json:"keys"`
			}
			if err := json.Unmarshal(doc, &set); err != nil {
				t.Fatal(err)
			}
			if len(set.Keys) != 1 || set.Keys[0]["kid"] != signing.ID() || set.Keys[0]["alg"] != string(alg) || set.Keys[0]["use"] != "sig" {
				t.Fatalf("JWKS = %s, want one key with kid, alg and use", doc)
			}

			// A verifier built from the published set accepts the issuer's tokens.
			issuer, err := guardian.NewIssuer(keys, nil)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := issuer.Issue(context.Background(), "u1", nil)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := guardian.ParseJWKS(doc)
			if err != nil {
				t.Fatalf("ParseJWKS: %v", err)
			}
			vkeys, err := guardian.NewVerifyKeySet(parsed...)
			if err != nil {
				t.Fatal(err)
			}
			verifier, err := guardian.NewIssuer(vkeys, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := verifier.Verify(context.Background(), tok.Raw); err != nil {
				t.Fatalf("Verify with keys from the JWK set: %v", err)
			}
		})
	}
}

func TestParseJWKSRefuses(t *testing.T) {
	tests := []struct {
		name, doc string
	}{
		{name: "not JSON", doc: `{`},
		{name: "no alg", doc: `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`},
		{name: "private key", doc: `{"keys":[{"kty":"OKP","alg":"EdDSA","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}]}`},
		{name: "symmetric key", doc: `{"keys":[{"kty":"oct","alg":"HS256","k":"AAAA"}]}`},
		{name: "encryption key", doc: `{"keys":[{"kty":"OKP","alg":"EdDSA","use":"enc","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`},
		{name: "alg of another key type", doc: `{"keys":[{"kty":"OKP","alg":"RS256","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`},
		{name: "short Ed25519 key", doc: `{"keys":[{"kty":"OKP","alg":"EdDSA","crv":"Ed25519","x":"AAAA"}]}`},
		{name: "EC point off the curve", doc: `{"keys":[{"kty":"EC","alg":"ES256","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"}]}`},
		{name: "unknown curve", doc: `{"keys":[{"kty":"EC","alg":"ES256","crv":"P-192","x":"AA","y":"AA"}]}`},
		{name: "small RSA key", doc: `{"keys":[{"kty":"RSA","alg":"RS256","n":"AQAB","e":"AQAB"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := guardian.ParseJWKS([]byte(tt.doc))
			if err == nil || !errors.Is(err, guardian.ErrKey) {
				t.Fatalf("ParseJWKS = %v, %v; want an error wrapping ErrKey", keys, err)
			}
		})
	}
}

func TestJWKSHandler(t *testing.T) {
	signing, err := guardian.NewSigningKey("k1", guardian.EdDSA, jwksSigner(t, guardian.EdDSA))
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := guardian.NewKeySet(signing)
	h, err := guardian.JWKSHandler(guardian.KeySetFunc(func() *guardian.KeySet { return keys }), 0)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET status = %d, want 200", w.Code)
	}
	if got := w.Header().Get("Cache-Control"); got != "public, max-age=300" {
		t.Errorf("Cache-Control = %q, want public, max-age=300", got)
	}
	if got := w.Header().Get("Content-Type"); got != "application/jwk-set+json" {
		t.Errorf("Content-Type = %q", got)
	}
	etag := w.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if _, err := guardian.ParseJWKS(w.Body.Bytes()); err != nil {
		t.Fatalf("served set does not parse: %v", err)
	}

	r := httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil)
	r.Header.Set("If-None-Match", etag)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Errorf("conditional GET = %d with %d bytes, want 304 and no body", w.Code, w.Body.Len())
	}

	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/.well-known/jwks.json", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST status = %d, want 405", w.Code)
	}
}

// FuzzParseJWKS feeds arbitrary documents to ParseJWKS: it never panics,
// every error wraps ErrKey, and every key it returns is a verification key
// pinned to an algorithm, which publishes back to the same JWK.
func FuzzParseJWKS(f *testing.F) {
	f.Add(`{"keys":[{"kty":"OKP","alg":"EdDSA","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`)
	f.Add(`{"keys":[{"kty":"EC","alg":"ES256","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k"}]}`)
	f.Add(`{"keys":[{"kty":"RSA","alg":"RS256","n":"AQAB","e":"AQAB"}]}`)
	real2048 := loadPublic(f, "rsa2048_pub.pem").(*rsa.PublicKey).N
	f.Add(rsaJWKS(real2048, big.NewInt(65537)))
	f.Add(rsaJWKS(new(big.Int).Add(real2048, big.NewInt(1)), big.NewInt(65537))) // even modulus
	f.Add(rsaJWKS(real2048, big.NewInt(65536)))                                  // even exponent
	f.Add(rsaJWKS(real2048, big.NewInt(1<<40+1)))                                // huge exponent
	f.Add(rsaJWKS(oddModulus(8200), big.NewInt(65537)))                          // over 8192 bits
	f.Add(`{"keys":[]}`)
	f.Add(`{"keys":[{"kty":"oct","alg":"HS256","k":"AAAA"}]}`)
	f.Add(`{`)
	f.Fuzz(func(t *testing.T, doc string) {
		keys, err := guardian.ParseJWKS([]byte(doc))
		if err != nil {
			if !errors.Is(err, guardian.ErrKey) {
				t.Fatalf("error %v does not wrap ErrKey", err)
			}
			return
		}
		for _, k := range keys {
			if k.CanSign() || k.Public() == nil || k.Algorithm() == "" {
				t.Fatalf("parsed key %q: CanSign %v, public %T, alg %q", k.ID(), k.CanSign(), k.Public(), k.Algorithm())
			}
		}
	})
}

// rsaJWKS is a JWK set of one RS256 key with modulus n and exponent e. The
// modulus need not be a real one: ParseJWKS checks only its shape.
func rsaJWKS(n, e *big.Int) string {
	enc := base64.RawURLEncoding.EncodeToString
	doc, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "alg": "RS256", "kid": "r", "n": enc(n.Bytes()), "e": enc(e.Bytes()),
	}}})
	return string(doc)
}

// oddModulus is an odd number of exactly bits bits: 2^(bits-1) + 1.
func oddModulus(bits int) *big.Int {
	n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
	return n.SetBit(n, 0, 1)
}

func TestParseJWKSBoundsRSA(t *testing.T) {
	real2048 := loadPublic(t, "rsa2048_pub.pem").(*rsa.PublicKey).N
	f4 := big.NewInt(65537)
	refused := []struct {
		name string
		n, e *big.Int
	}{
		{name: "1024-bit modulus", n: oddModulus(1024), e: f4},
		{name: "16384-bit modulus", n: oddModulus(16384), e: f4},
		{name: "8193-bit modulus", n: oddModulus(8193), e: f4},
		{name: "even modulus", n: new(big.Int).Add(real2048, big.NewInt(1)), e: f4},
		{name: "e=1", n: real2048, e: big.NewInt(1)},
		{name: "e=2", n: real2048, e: big.NewInt(2)},
		{name: "e=65536", n: real2048, e: big.NewInt(65536)},
		{name: "e=2^31+1", n: real2048, e: big.NewInt(1<<31 + 1)},
		{name: "e=2^40+1", n: real2048, e: big.NewInt(1<<40 + 1)},
	}
	for _, tt := range refused {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			keys, err := guardian.ParseJWKS([]byte(rsaJWKS(tt.n, tt.e)))
			if !errors.Is(err, guardian.ErrKey) {
				t.Fatalf("ParseJWKS = %d keys, %v; want an error wrapping ErrKey", len(keys), err)
			}
		})
	}
	accepted := []struct {
		name string
		n, e *big.Int
	}{
		{name: "2048-bit key", n: real2048, e: f4},
		{name: "4096-bit modulus", n: oddModulus(4096), e: f4},
		{name: "8192-bit modulus", n: oddModulus(8192), e: f4},
		{name: "e=3", n: real2048, e: big.NewInt(3)},
		{name: "e=2^31-1", n: real2048, e: big.NewInt(1<<31 - 1)},
	}
	for _, tt := range accepted {
		t.Run("accepts "+tt.name, func(t *testing.T) {
			keys, err := guardian.ParseJWKS([]byte(rsaJWKS(tt.n, tt.e)))
			if err != nil || len(keys) != 1 {
				t.Fatalf("ParseJWKS = %d keys, %v; want one key", len(keys), err)
			}
			pub := keys[0].Public().(*rsa.PublicKey)
			if pub.N.Cmp(tt.n) != 0 || int64(pub.E) != tt.e.Int64() {
				t.Fatalf("parsed key has n of %d bits and e %d; want %d bits and e %d", pub.N.BitLen(), pub.E, tt.n.BitLen(), tt.e)
			}
		})
	}
}

func TestParseJWKSWithOptionsRSABits(t *testing.T) {
	f4 := big.NewInt(65537)
	doc := func(bits int) []byte { return []byte(rsaJWKS(oddModulus(bits), f4)) }
	tests := []struct {
		name string
		opts *guardian.JWKSOptions
		bits int
		ok   bool
	}{
		{name: "nil options, 8192 bits", opts: nil, bits: 8192, ok: true},
		{name: "nil options, 16384 bits", opts: nil, bits: 16384},
		{name: "zero options, 16384 bits", opts: &guardian.JWKSOptions{}, bits: 16384},
		{name: "max 16384, 16384 bits", opts: &guardian.JWKSOptions{MaxRSABits: 16384}, bits: 16384, ok: true},
		{name: "max 16384, 16385 bits", opts: &guardian.JWKSOptions{MaxRSABits: 16384}, bits: 16385},
		{name: "max 16384, 1024 bits", opts: &guardian.JWKSOptions{MaxRSABits: 16384}, bits: 1024},
		{name: "max 4096, 8192 bits", opts: &guardian.JWKSOptions{MaxRSABits: 4096}, bits: 8192},
		{name: "min 3072, 2048 bits", opts: &guardian.JWKSOptions{MinRSABits: 3072}, bits: 2048},
		{name: "min 3072, 3072 bits", opts: &guardian.JWKSOptions{MinRSABits: 3072}, bits: 3072, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := guardian.ParseJWKSWithOptions(doc(tt.bits), tt.opts)
			if tt.ok && (err != nil || len(keys) != 1) {
				t.Fatalf("ParseJWKSWithOptions = %d keys, %v; want one key", len(keys), err)
			}
			if !tt.ok && !errors.Is(err, guardian.ErrKey) {
				t.Fatalf("ParseJWKSWithOptions = %d keys, %v; want an error wrapping ErrKey", len(keys), err)
			}
		})
	}

	for _, opts := range []*guardian.JWKSOptions{
		{MinRSABits: 1024},                   // below the floor
		{MinRSABits: -1},                     // negative
		{MaxRSABits: 1024},                   // below the default minimum
		{MinRSABits: 4096, MaxRSABits: 3072}, // max below min
	} {
		if keys, err := guardian.ParseJWKSWithOptions(doc(2048), opts); err == nil {
			t.Errorf("ParseJWKSWithOptions(%+v) = %d keys, nil error; want the options refused", *opts, len(keys))
		}
	}
}

// jwksKIDs GETs the JWK set from h and returns its kids, and the ETag.
func jwksKIDs(t *testing.T, h http.Handler) (kids map[string]bool, etag string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET status = %d, want 200", w.Code)
	}
	keys, err := guardian.ParseJWKS(w.Body.Bytes())
	if err != nil {
		t.Fatalf("served set %s does not parse: %v", w.Body, err)
	}
	kids = make(map[string]bool)
	for _, k := range keys {
		kids[k.ID()] = true
	}
	return kids, w.Header().Get("ETag")
}

func TestJWKSHandlerFollowsRotate(t *testing.T) {
	old := mustSigningKey(t, "old", guardian.EdDSA, jwksSigner(t, guardian.EdDSA))
	issuer := mustIssuer(t, mustKeySet(t, old), nil)
	h, err := guardian.JWKSHandler(issuer, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	kids, etag0 := jwksKIDs(t, h)
	if len(kids) != 1 || !kids["old"] {
		t.Fatalf("kids before rotation = %v, want [old]", kids)
	}
	if again, etag := jwksKIDs(t, h); len(again) != 1 || etag != etag0 {
		t.Fatalf("second GET without rotation: kids %v, ETag %q; want the same set and ETag %q", again, etag, etag0)
	}

	// Rotate to a new signing key, keeping the old one for its tokens.
	oldPublic, err := guardian.NewVerificationKey("old", guardian.EdDSA, old.Public())
	if err != nil {
		t.Fatal(err)
	}
	next := mustSigningKey(t, "new", guardian.ES256, jwksSigner(t, guardian.ES256))
	if err := issuer.Rotate(mustKeySet(t, next, oldPublic)); err != nil {
		t.Fatal(err)
	}
	kids, etag1 := jwksKIDs(t, h)
	if len(kids) != 2 || !kids["new"] || !kids["old"] {
		t.Fatalf("kids after rotation = %v, want [new old]", kids)
	}
	if etag1 == etag0 {
		t.Errorf("ETag %q unchanged by a rotation", etag1)
	}
	r := httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil)
	r.Header.Set("If-None-Match", etag0)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Errorf("GET with the pre-rotation ETag = %d, want 200 with the new set", w.Code)
	}

	// Drop the old key once its tokens have expired.
	if err := issuer.Rotate(mustKeySet(t, next)); err != nil {
		t.Fatal(err)
	}
	kids, _ = jwksKIDs(t, h)
	if len(kids) != 1 || !kids["new"] {
		t.Fatalf("kids after dropping the old key = %v, want [new]", kids)
	}
}

// TestJWKSHandlerConcurrentRotate serves the set while it is rotated, for
// the race detector: every response is a whole, parseable set of one of
// the rotations.
func TestJWKSHandlerConcurrentRotate(t *testing.T) {
	sets := make([]*guardian.KeySet, 4)
	for i := range sets {
		sets[i] = mustKeySet(t, mustSigningKey(t, fmt.Sprint("k", i), guardian.EdDSA, jwksSigner(t, guardian.EdDSA)))
	}
	issuer := mustIssuer(t, sets[0], nil)
	h, err := guardian.JWKSHandler(issuer, 0)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
				keys, err := guardian.ParseJWKS(w.Body.Bytes())
				if w.Code != http.StatusOK || err != nil || len(keys) != 1 {
					t.Errorf("GET during rotation = %d, %d keys, %v", w.Code, len(keys), err)
					return
				}
			}
		}()
	}
	for i := range 200 {
		if err := issuer.Rotate(sets[i%len(sets)]); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}

// jwksWriter is a ResponseWriter that keeps only the header, so that
// AllocsPerRun counts the handler's allocations alone.
type jwksWriter struct{ h http.Header }

func (w *jwksWriter) Header() http.Header         { return w.h }
func (w *jwksWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *jwksWriter) WriteHeader(int)             {}

// TestJWKSHandlerEncodesOncePerSet: a request for an unchanged set costs
// less than encoding it, before and after a rotation.
func TestJWKSHandlerEncodesOncePerSet(t *testing.T) {
	newSet := func(prefix string) *guardian.KeySet {
		var others []*guardian.Key
		for i := range 3 {
			others = append(others, mustSigningKey(t, fmt.Sprint(prefix, i), guardian.EdDSA, jwksSigner(t, guardian.EdDSA)))
		}
		return mustKeySet(t, mustSigningKey(t, prefix+"-signing", guardian.ES256, jwksSigner(t, guardian.ES256)), others...)
	}
	keys := newSet("a")
	issuer := mustIssuer(t, keys, nil)
	h, err := guardian.JWKSHandler(issuer, 0)
	if err != nil {
		t.Fatal(err)
	}
	encode := testing.AllocsPerRun(20, func() { keys.JWKS() })
	r := httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil)
	w := &jwksWriter{h: http.Header{}}
	if serve := testing.AllocsPerRun(20, func() { h.ServeHTTP(w, r) }); serve >= encode {
		t.Errorf("a GET costs %v allocations, encoding the set %v: the handler encodes per request", serve, encode)
	}
	if err := issuer.Rotate(newSet("b")); err != nil {
		t.Fatal(err)
	}
	if serve := testing.AllocsPerRun(20, func() { h.ServeHTTP(w, r) }); serve >= encode {
		t.Errorf("after Rotate a GET costs %v allocations, encoding the set %v: the handler encodes per request", serve, encode)
	}
}
