package guardian_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
			secret, err := guardian.NewHMACKey("secret", guardian.HS256, make([]byte, 32))
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
			// A verify-only set needs a signing key; use a throwaway HMAC one with another kid.
			throwaway, _ := guardian.NewHMACKey("throwaway", guardian.HS256, make([]byte, 32))
			vkeys, err := guardian.NewKeySet(throwaway, parsed...)
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
	h, err := guardian.JWKSHandler(keys, 0)
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
