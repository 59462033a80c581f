package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
)

// localAS is an authorization server made for a unit test: it serves an
// OpenID Connect discovery document and a JWK set over httptest, and signs
// RFC 9068 access tokens by hand (no library on the signing side, so that
// a bug shared with guardian cannot hide). Its keys can be rotated and its
// endpoints taken down.
type localAS struct {
	srv *httptest.Server

	mu        sync.Mutex
	published []*signingKey // in the JWK set, in order

	down        atomic.Bool  // the endpoints answer 503
	jwksFetches atomic.Int32 // JWK set requests answered 200
}

// signingKey is a private key of the authorization server.
type signingKey struct {
	kid  string
	alg  guardian.Algorithm
	priv crypto.Signer
}

// newLocalAS starts an authorization server publishing an RSA key "rs-1"
// (RS256) and a P-256 key "es-1" (ES256).
func newLocalAS(t *testing.T) *localAS {
	t.Helper()
	as := &localAS{}
	as.published = []*signingKey{newSigningKey(t, "rs-1", guardian.RS256), newSigningKey(t, "es-1", guardian.ES256)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		if as.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q,"token_endpoint":%q}`, as.srv.URL, as.srv.URL+"/jwks", as.srv.URL+"/token")
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		if as.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		body, err := as.jwks()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		as.jwksFetches.Add(1)
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(body)
	})
	as.srv = httptest.NewServer(mux)
	t.Cleanup(as.srv.Close)
	return as
}

func newSigningKey(t *testing.T, kid string, alg guardian.Algorithm) *signingKey {
	t.Helper()
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case guardian.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case guardian.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		t.Fatalf("no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &signingKey{kid: kid, alg: alg, priv: priv}
}

// URL is the issuer identifier: the server's base URL.
func (as *localAS) URL() string { return as.srv.URL }

// jwks is the JWK set of the published keys.
func (as *localAS) jwks() ([]byte, error) {
	as.mu.Lock()
	defer as.mu.Unlock()
	keys := make([]*guardian.Key, len(as.published))
	for i, k := range as.published {
		pub, err := guardian.NewVerificationKey(k.kid, k.alg, k.priv.Public())
		if err != nil {
			return nil, err
		}
		keys[i] = pub
	}
	set, err := guardian.NewVerifyKeySet(keys...)
	if err != nil {
		return nil, err
	}
	return set.JWKS()
}

// key returns the published key kid.
func (as *localAS) key(t *testing.T, kid string) *signingKey {
	t.Helper()
	as.mu.Lock()
	defer as.mu.Unlock()
	for _, k := range as.published {
		if k.kid == kid {
			return k
		}
	}
	t.Fatalf("no published key %q", kid)
	return nil
}

// publish adds a new key kid to the JWK set (a rotation: the old keys stay
// published) and returns it.
func (as *localAS) publish(t *testing.T, kid string, alg guardian.Algorithm) *signingKey {
	t.Helper()
	k := newSigningKey(t, kid, alg)
	as.mu.Lock()
	defer as.mu.Unlock()
	as.published = append([]*signingKey{k}, as.published...)
	return k
}

// retire removes the key kid from the JWK set.
func (as *localAS) retire(kid string) {
	as.mu.Lock()
	defer as.mu.Unlock()
	for i, k := range as.published {
		if k.kid == kid {
			as.published = append(as.published[:i:i], as.published[i+1:]...)
			return
		}
	}
}

// claims returns the claims of a client-credentials access token for
// client, valid from now for ten minutes; scope "" leaves the scope claim
// out.
func (as *localAS) claims(client, audience, scope string) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss":       as.URL(),
		"sub":       client,
		"client_id": client,
		"aud":       audience,
		"jti":       randomID(),
		"iat":       now.Unix(),
		"exp":       now.Add(10 * time.Minute).Unix(),
	}
	if scope != "" {
		c["scope"] = scope
	}
	return c
}

// token signs a client-credentials access token with the published key kid.
func (as *localAS) token(t *testing.T, kid, client, audience, scope string) string {
	t.Helper()
	return signToken(t, as.key(t, kid), nil, as.claims(client, audience, scope))
}

// signToken signs claims as a compact JWS with k: header alg, kid and typ
// at+jwt, which header overrides or extends (a nil value removes a member).
func signToken(t *testing.T, k *signingKey, header, claims map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": string(k.alg), "kid": k.kid, "typ": "at+jwt"}
	for name, v := range header {
		if v == nil {
			delete(h, name)
		} else {
			h[name] = v
		}
	}
	hb, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64(hb) + "." + b64(pb)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	switch priv := k.priv.(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(nil, priv, crypto.SHA256, digest[:])
	case *ecdsa.PrivateKey:
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, priv, digest[:])
		if err == nil {
			sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(sig)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return b64(b)
}
