// Package dpoptest makes DPoP proofs (RFC 9449 §4.2) for the tests of
// examples/resource: a client's ES256 key (P-256) and the proofs it signs.
// They are built by hand, with crypto/ecdsa and encoding/json only, so that
// a bug shared with guardian's verifier cannot hide.
package dpoptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"
)

// Key is a client's DPoP key pair.
type Key struct {
	priv *ecdsa.PrivateKey
	x, y string // the public point, base64url
}

// NewKey generates a P-256 key. It fails the test on error.
func NewKey(tb testing.TB) *Key {
	tb.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("dpoptest: %v", err)
	}
	pub, err := priv.PublicKey.Bytes() // 0x04 || X || Y, 32 bytes each
	if err != nil {
		tb.Fatalf("dpoptest: %v", err)
	}
	return &Key{priv: priv, x: b64(pub[1:33]), y: b64(pub[33:])}
}

// JWK returns the public key as a JWK, as the proofs' jwk header holds it.
func (k *Key) JWK() map[string]any {
	return map[string]any{"kty": "EC", "crv": "P-256", "x": k.x, "y": k.y}
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of the public key:
// what a token bound to it carries in cnf.jkt.
func (k *Key) Thumbprint() string {
	// The required members in lexicographic order, no white space (§3.2).
	sum := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + k.x + `","y":"` + k.y + `"}`))
	return b64(sum[:])
}

// Proof signs a proof for a request of method to url: a fresh jti, iat
// now, ath the hash of accessToken unless it is empty (a token request),
// and nonce unless it is empty.
func (k *Key) Proof(tb testing.TB, method, url, accessToken, nonce string) string {
	tb.Helper()
	return k.ProofWith(tb, method, url, accessToken, nonce, nil)
}

// ProofWith is Proof with edit applied to the header and the claims before
// signing: to make a proof that is wrong in one way. A member set to nil
// is removed.
func (k *Key) ProofWith(tb testing.TB, method, url, accessToken, nonce string, edit func(header, claims map[string]any)) string {
	tb.Helper()
	header := map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": k.JWK()}
	claims := map[string]any{"jti": randomID(tb), "htm": method, "htu": url, "iat": time.Now().Unix()}
	if accessToken != "" {
		claims["ath"] = AccessTokenHash(accessToken)
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if edit != nil {
		edit(header, claims)
	}
	for _, m := range []map[string]any{header, claims} {
		for name, v := range m {
			if v == nil {
				delete(m, name)
			}
		}
	}
	hb, err := json.Marshal(header)
	if err != nil {
		tb.Fatalf("dpoptest: %v", err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		tb.Fatalf("dpoptest: %v", err)
	}
	input := b64(hb) + "." + b64(cb)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, digest[:])
	if err != nil {
		tb.Fatalf("dpoptest: %v", err)
	}
	// JWS ES256: R || S, 32 bytes each (RFC 7518 §3.4).
	sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	return input + "." + b64(sig)
}

// AccessTokenHash is a proof's ath for token: the base64url SHA-256 of its
// ASCII (RFC 9449 §4.2).
func AccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return b64(sum[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randomID(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("dpoptest: %v", err)
	}
	return b64(b)
}
