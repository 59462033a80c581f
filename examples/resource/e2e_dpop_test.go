package main

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/guardian-go/guardian/examples/resource/internal/dpoptest"
	"github.com/guardian-go/guardian/examples/resource/internal/testas"
)

// The DPoP challenges of the server: its realm and the library's default
// proof algorithms.
const (
	dpopChallengeWant = `DPoP realm="api", algs="ES256 EdDSA Ed25519 ES384 PS256 RS256"`
	badProofWant      = dpopChallengeWant + `, error="invalid_dpop_proof", error_description="invalid DPoP proof"`
)

// testDPoPProofs: tokens that oidc-provider bound to a client's key, with
// proofs made here (ES256, by hand): accepted with a proof of that key for
// the request, refused (401, with a DPoP challenge) with any proof that is
// replayed, for another URL, method or token, by another key, too old, or
// missing, and refused as Bearer; bearer tokens keep working.
func testDPoPProofs(t *testing.T, bin string) {
	p := testas.Start(t)
	rs := startResource(t, bin, "-issuer", p.Issuer(), "-audience", testas.Audience)
	rs.waitHealth(t, http.StatusOK)
	key, otherKey := dpoptest.NewKey(t), dpoptest.NewKey(t)
	tok := p.DPoPToken(t, key, testas.ClientDPoP, "read write", testas.Audience)
	readOnly := p.DPoPToken(t, key, testas.ClientDPoP, "read", testas.Audience)
	optIn := p.DPoPToken(t, key, testas.ClientES, "read", testas.Audience) // a client that may also have bearer tokens
	bearer := p.Token(t, testas.ClientES, "read", testas.Audience)
	whoami := rs.base + "/api/whoami"

	// The same proof twice: the second is a replay.
	replayed := key.Proof(t, "GET", whoami, tok, "")
	if status, _, body := rs.send(t, "GET", "/api/whoami", "DPoP "+tok, "", replayed); status != http.StatusOK {
		t.Fatalf("a proof's first use: %d %s", status, body)
	}

	for _, tc := range []struct {
		name          string
		method, path  string
		authorization string
		proofs        []string
		body          string
		status        int
		challenges    []string // all the WWW-Authenticate values, in order
	}{
		{name: "the token with its proof", method: "GET", path: "/api/whoami", authorization: "DPoP " + tok,
			proofs: []string{key.Proof(t, "GET", whoami, tok, "")}, status: 200},
		{name: "a token bound on request by a client that may have bearer ones", method: "GET", path: "/api/whoami", authorization: "DPoP " + optIn,
			proofs: []string{key.Proof(t, "GET", whoami, optIn, "")}, status: 200},
		{name: "the scope read", method: "GET", path: "/api/items", authorization: "DPoP " + tok,
			proofs: []string{key.Proof(t, "GET", rs.base+"/api/items", tok, "")}, status: 200},
		{name: "the scope write", method: "POST", path: "/api/items", authorization: "DPoP " + tok, body: `{"name":"pinned"}`,
			proofs: []string{key.Proof(t, "POST", rs.base+"/api/items", tok, "")}, status: 201},
		{name: "scope names the scheme", method: "POST", path: "/api/items", authorization: "DPoP " + readOnly, body: `{"name":"pinned"}`,
			proofs: []string{key.Proof(t, "POST", rs.base+"/api/items", readOnly, "")}, status: 403,
			challenges: []string{dpopChallengeWant + `, error="insufficient_scope", scope="write"`}},
		{name: "a replayed proof", method: "GET", path: "/api/whoami", authorization: "DPoP " + tok,
			proofs: []string{replayed}, status: 401, challenges: []string{badProofWant}},
		{name: "a proof for another URL", method: "GET", path: "/api/whoami", authorization: "DPoP " + tok,
			proofs: []string{key.Proof(t, "GET", rs.base+"/api/items", tok, "")}, status: 401, challenges: []string{badProofWant}},
		{name: "a proof for another method", method: "GET", path: "/api/whoami", authorization: "DPoP " + tok,
			proofs: []string{key.Proof(t, "POST", whoami, tok, "")}, status: 401, challenges: []string{badProofWant}},
		{name: "a proof by another key", method: "GET", path: "/api/whoami", authorization: "DPoP " + tok,
			proofs: []string{otherKey.Proof(t, "GET", whoami, tok, "")}, status: 401, challenges: []string{badProofWant}},
		{name: "a proof for another token (ath)", method: "GET", path: "/api/whoami", authorization: "DPoP " + tok,
			proofs: []string{key.Proof(t, "GET", whoami, readOnly, "")}, status: 401, challenges: []string{badProofWant}},
		{name: "a proof without ath", method: "GET", path: "/api/whoami", authorization: "DPoP " + tok,
			proofs: []string{key.Proof(t, "GET", whoami, "", "")}, status: 401, challenges: []string{badProofWant}},
		{name: "a proof made ten minutes ago", method: "GET", path: "/api/whoami", authorization: "DPoP " + tok,
			proofs: []string{key.ProofWith(t, "GET", whoami, tok, "", func(_, c map[string]any) {
				c["iat"] = time.Now().Add(-10 * time.Minute).Unix()
			})}, status: 401, challenges: []string{badProofWant}},
		{name: "no proof", method: "GET", path: "/api/whoami", authorization: "DPoP " + tok,
			status: 401, challenges: []string{badProofWant}},
		{name: "two proofs", method: "GET", path: "/api/whoami", authorization: "DPoP " + tok,
			proofs: []string{key.Proof(t, "GET", whoami, tok, ""), key.Proof(t, "GET", whoami, tok, "")}, status: 401, challenges: []string{badProofWant}},
		{name: "the bound token as Bearer", method: "GET", path: "/api/whoami", authorization: "Bearer " + tok,
			status: 401, challenges: []string{invalidPrefix + `, error_description="token binding does not fit the request"`, dpopChallengeWant}},
		{name: "the bound token as Bearer, with its proof", method: "GET", path: "/api/whoami", authorization: "Bearer " + tok,
			proofs: []string{key.Proof(t, "GET", whoami, tok, "")}, status: 401,
			challenges: []string{invalidPrefix + `, error_description="token binding does not fit the request"`, dpopChallengeWant}},
		{name: "a bearer token with the DPoP scheme", method: "GET", path: "/api/whoami", authorization: "DPoP " + bearer,
			proofs: []string{key.Proof(t, "GET", whoami, bearer, "")}, status: 401,
			challenges: []string{dpopChallengeWant + `, error="invalid_token", error_description="token binding does not fit the request"`}},
		{name: "a bearer token as Bearer", method: "GET", path: "/api/whoami", authorization: "Bearer " + bearer, status: 200},
		{name: "no token", method: "GET", path: "/api/whoami", status: 401,
			challenges: []string{`Bearer realm="api"`, dpopChallengeWant}},
		{name: "the DPoP scheme without a token", method: "GET", path: "/api/whoami", authorization: "DPoP", status: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := rs.send(t, tc.method, tc.path, tc.authorization, tc.body, tc.proofs...)
			if status != tc.status {
				t.Fatalf("%d %s, want %d", status, body, tc.status)
			}
			if got := h.Values("WWW-Authenticate"); tc.challenges != nil && !slices.Equal(got, tc.challenges) {
				t.Errorf("WWW-Authenticate\n %q\nwant\n %q", got, tc.challenges)
			}
		})
	}

	// The token verified: whoami answers the client it was issued to.
	status, _, body := rs.send(t, "GET", "/api/whoami", "DPoP "+tok, "", key.Proof(t, "GET", whoami, tok, ""))
	var who whoamiJSON
	if mustJSON(t, body, &who); status != http.StatusOK || who.Issuer != p.Issuer() || who.ClientID != testas.ClientDPoP ||
		who.Subject != testas.ClientDPoP || !slices.Equal(who.Scope, []string{"read", "write"}) {
		t.Errorf("whoami with DPoP: %d %s", status, body)
	}

	testPublicURL(t, bin, p, key, tok)
	rs.wantRunning(t)
}

// testPublicURL: behind a proxy (-public-url with a path prefix), a proof
// must name the public URL, and one for the URL the server sees is
// refused.
func testPublicURL(t *testing.T, bin string, p *testas.Provider, key *dpoptest.Key, tok string) {
	const public = "https://api.example.com/resource"
	rs := startResource(t, bin, "-issuer", p.Issuer(), "-audience", testas.Audience, "-public-url", public+"/")
	rs.waitHealth(t, http.StatusOK)
	for _, tc := range []struct {
		htu    string
		status int
	}{
		{public + "/api/whoami", http.StatusOK},
		{"HTTPS://API.example.com:443/resource/api/whoami", http.StatusOK}, // the same URL (RFC 3986 §6.2.2, §6.2.3)
		{rs.base + "/api/whoami", http.StatusUnauthorized},
		{"https://api.example.com/api/whoami", http.StatusUnauthorized},
		{"http://api.example.com/resource/api/whoami", http.StatusUnauthorized},
	} {
		if status, _, body := rs.send(t, "GET", "/api/whoami", "DPoP "+tok, "", key.Proof(t, "GET", tc.htu, tok, "")); status != tc.status {
			t.Errorf("-public-url %s, a proof for %s: %d %s, want %d", public, tc.htu, status, body, tc.status)
		}
	}
}
