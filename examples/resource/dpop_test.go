package main

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/guardian-go/guardian/examples/resource/internal/dpoptest"
)

// boundToken is a token of as for client bound to key (cnf.jkt), signed
// ES256.
func boundToken(t *testing.T, as *localAS, key *dpoptest.Key, client, scope string) string {
	t.Helper()
	c := as.claims(client, testAudience, scope)
	c["cnf"] = map[string]any{"jkt": key.Thumbprint()}
	return signToken(t, as.key(t, "es-1"), nil, c)
}

// send sends a request for target (an absolute URL: its host is the
// request's Host) to h, with the Authorization header unless empty and a
// DPoP header for each proof.
func send(t *testing.T, h http.Handler, method, target, authorization, body string, proofs ...string) *httptest.ResponseRecorder {
	t.Helper()
	var r *http.Request
	if body != "" {
		r = httptest.NewRequestWithContext(t.Context(), method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	} else {
		r = httptest.NewRequestWithContext(t.Context(), method, target, nil)
	}
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	for _, p := range proofs {
		r.Header.Add("DPoP", p)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s %s: Cache-Control %q, want no-store", method, target, cc)
	}
	return w
}

// TestDPoP drives the server in process with DPoP-bound tokens: each
// answer, its challenges, and that no client mistake is a 5xx.
func TestDPoP(t *testing.T) {
	as := newLocalAS(t)
	s := readyServer(t, trustedIssuer{as.URL(), testAudience})
	key := dpoptest.NewKey(t)
	tok := boundToken(t, as, key, "svc-dpop", "read write")
	readOnly := boundToken(t, as, key, "svc-dpop", "read")
	bearer := as.token(t, "es-1", "svc-es", testAudience, "read")
	const whoami, items = "http://api.test/api/whoami", "http://api.test/api/items"

	for _, tc := range []struct {
		name          string
		method        string
		target        string
		authorization string
		proofs        []string
		body          string
		status        int
		challenges    []string
		error         string // the body's error code
	}{
		{name: "a bound token with its proof", method: "GET", target: whoami, authorization: "DPoP " + tok,
			proofs: []string{key.Proof(t, "GET", whoami, tok, "")}, status: 200},
		{name: "write with a proof", method: "POST", target: items, authorization: "DPoP " + tok, body: `{"name":"nut"}`,
			proofs: []string{key.Proof(t, "POST", items, tok, "")}, status: 201},
		{name: "write without the scope", method: "POST", target: items, authorization: "DPoP " + readOnly, body: `{"name":"nut"}`,
			proofs: []string{key.Proof(t, "POST", items, readOnly, "")}, status: 403,
			challenges: []string{dpopChallengeWant + `, error="insufficient_scope", scope="write"`}, error: "insufficient_scope"},
		{name: "a bound token as Bearer", method: "GET", target: whoami, authorization: "Bearer " + tok, status: 401,
			challenges: []string{invalidPrefix + `, error_description="token binding does not fit the request"`, dpopChallengeWant}, error: "invalid_token"},
		{name: "a proof for another host", method: "GET", target: whoami, authorization: "DPoP " + tok,
			proofs: []string{key.Proof(t, "GET", "http://other.test/api/whoami", tok, "")}, status: 401,
			challenges: []string{badProofWant}, error: "invalid_dpop_proof"},
		{name: "a proof over https for a request over http", method: "GET", target: whoami, authorization: "DPoP " + tok,
			proofs: []string{key.Proof(t, "GET", "https://api.test/api/whoami", tok, "")}, status: 401,
			challenges: []string{badProofWant}, error: "invalid_dpop_proof"},
		{name: "a proof that is not a JWS", method: "GET", target: whoami, authorization: "DPoP " + tok,
			proofs: []string{"not a proof"}, status: 401, challenges: []string{badProofWant}, error: "invalid_dpop_proof"},
		{name: "a proof of 5 KiB", method: "GET", target: whoami, authorization: "DPoP " + tok,
			proofs: []string{key.ProofWith(t, "GET", whoami, tok, "", func(_, c map[string]any) { c["pad"] = strings.Repeat("x", 5<<10) })},
			status: 401, challenges: []string{badProofWant}, error: "invalid_dpop_proof"},
		{name: "a proof whose jwk holds the private key", method: "GET", target: whoami, authorization: "DPoP " + tok,
			proofs: []string{key.ProofWith(t, "GET", whoami, tok, "", func(h, _ map[string]any) {
				jwk := h["jwk"].(map[string]any)
				jwk["d"] = "AAAA"
			})}, status: 401, challenges: []string{badProofWant}, error: "invalid_dpop_proof"},
		{name: "a proof signed HS256", method: "GET", target: whoami, authorization: "DPoP " + tok,
			proofs: []string{key.ProofWith(t, "GET", whoami, tok, "", func(h, _ map[string]any) { h["alg"] = "HS256" })},
			status: 401, challenges: []string{badProofWant}, error: "invalid_dpop_proof"},
		{name: "a bearer token as Bearer", method: "GET", target: whoami, authorization: "Bearer " + bearer, status: 200},
		{name: "a bearer token with the DPoP scheme", method: "GET", target: whoami, authorization: "DPoP " + bearer,
			proofs: []string{key.Proof(t, "GET", whoami, bearer, "")}, status: 401,
			challenges: []string{dpopChallengeWant + `, error="invalid_token", error_description="token binding does not fit the request"`}, error: "invalid_token"},
		{name: "a malformed token as Bearer", method: "GET", target: whoami, authorization: "Bearer " + bearer + "x", status: 401,
			challenges: []string{invalidPrefix + `, error_description="malformed token"`, dpopChallengeWant}, error: "invalid_token"},
		{name: "no token", method: "GET", target: whoami, status: 401,
			challenges: []string{`Bearer realm="api"`, dpopChallengeWant}, error: "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := send(t, s, tc.method, tc.target, tc.authorization, tc.body, tc.proofs...)
			wantStatus(t, w, tc.status, "")
			if got := w.Header().Values("WWW-Authenticate"); !slices.Equal(got, tc.challenges) {
				t.Errorf("WWW-Authenticate\n %q\nwant\n %q", got, tc.challenges)
			}
			if tc.error != "" {
				if e := decodeAs[errorJSON](t, w); e.Error != tc.error {
					t.Errorf("error %q, want %q", e.Error, tc.error)
				}
			}
		})
	}

	w := send(t, s, "GET", whoami, "DPoP "+tok, "", key.Proof(t, "GET", whoami, tok, ""))
	if who := decodeAs[whoamiJSON](t, w); who.ClientID != "svc-dpop" || who.Issuer != as.URL() {
		t.Errorf("whoami with DPoP: %+v", who)
	}
}

// TestDPoPPublicURL: with -public-url, proofs name the public URL, the
// path prefix and the request's path; the URL the server sees is refused.
func TestDPoPPublicURL(t *testing.T) {
	as := newLocalAS(t)
	public, err := parsePublicURL("https://api.example.com/svc/")
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServerAt(t, public, trustedIssuer{as.URL(), testAudience})
	waitFor(t, "the issuer's keys", func() bool { return s.trust.notReady() == nil })
	key := dpoptest.NewKey(t)
	tok := boundToken(t, as, key, "svc-dpop", "read")

	for _, tc := range []struct {
		htu    string
		status int
	}{
		{"https://api.example.com/svc/api/whoami", http.StatusOK},
		{"https://api.example.com/svc/api/whoami?x=1#f", http.StatusOK}, // query and fragment are ignored
		{"http://internal.test/api/whoami", http.StatusUnauthorized},    // what the server sees
		{"https://api.example.com/api/whoami", http.StatusUnauthorized},
		{"https://api.example.com/svc/api/items", http.StatusUnauthorized},
	} {
		w := send(t, s, "GET", "http://internal.test/api/whoami", "DPoP "+tok, "", key.Proof(t, "GET", tc.htu, tok, ""))
		if w.Code != tc.status {
			t.Errorf("a proof for %s: %d %s, want %d", tc.htu, w.Code, w.Body, tc.status)
		}
	}
}
