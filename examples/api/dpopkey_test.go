package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// dpopKey is a DPoP client's key (ES256, P-256), making proofs as RFC 9449
// §4.2 says, with nothing but the standard library.
type dpopKey struct {
	priv *ecdsa.PrivateKey
	jwk  map[string]string // the public JWK of the proofs' header
	jkt  string            // its RFC 7638 thumbprint: the tokens' cnf.jkt
}

func newDPoPKey(t *testing.T) *dpopKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := priv.PublicKey.Bytes() // 0x04 || x || y
	if err != nil {
		t.Fatal(err)
	}
	k := &dpopKey{priv: priv, jwk: map[string]string{"kty": "EC", "crv": "P-256", "x": b64url(pub[1:33]), "y": b64url(pub[33:])}}
	// RFC 7638 §3.2: the required members in lexical order, no spaces.
	sum := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + k.jwk["x"] + `","y":"` + k.jwk["y"] + `"}`))
	k.jkt = b64url(sum[:])
	return k
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// proof is a fresh proof for method and url (iat now, a random jti), with
// the ath of accessToken when it is not empty.
func (k *dpopKey) proof(t *testing.T, method, url, accessToken string) string {
	t.Helper()
	claims := map[string]any{"jti": randomID(t), "htm": method, "htu": url, "iat": time.Now().Unix()}
	if accessToken != "" {
		claims["ath"] = tokenHash(accessToken)
	}
	return k.sign(t, claims)
}

// sign makes a proof of claims: header typ dpop+jwt, alg ES256 and the
// public jwk.
func (k *dpopKey) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	header, err := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": k.jwk})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64url(header) + "." + b64url(payload)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	// JWS ES256 (RFC 7518 §3.4): R and S, 32 bytes each, big-endian.
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64url(sig)
}

// tokenHash is a proof's ath: the base64url SHA-256 of the access token.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return b64url(sum[:])
}

func randomID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b64url(b)
}

// payloadOf decodes the claims of a JWT without verifying it: the tests
// look at what the server put in its own tokens.
func payloadOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %.20q… is not a compact JWS", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("token payload: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("token payload: %v", err)
	}
	return m
}

// jktOf is the cnf.jkt of a token, "" when it has none.
func jktOf(t *testing.T, token string) string {
	t.Helper()
	cnf, _ := payloadOf(t, token)["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	return jkt
}
