package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
)

// The unit tests drive the server's handler in process, against local
// authorization servers (localAS); e2e_test.go runs the command against a
// real one.

const (
	testAudience = "https://api.example.com"
	// testRefetch is the servers' -refetch-interval: tests that need a
	// token under an unknown kid to cause a fetch sleep longer than it.
	testRefetch = 100 * time.Millisecond
	// testWait bounds the waits for a state that comes in the background.
	testWait = 10 * time.Second

	readChallenge  = `Bearer realm="api", error="insufficient_scope", scope="read"`
	writeChallenge = `Bearer realm="api", error="insufficient_scope", scope="write"`
	invalidPrefix  = `Bearer realm="api", error="invalid_token"`
)

// newTestServer builds the server trusting issuers, as run does, with the
// logs going to the test's output.
func newTestServer(t *testing.T, issuers ...trustedIssuer) *server {
	t.Helper()
	return newTestServerAt(t, nil, issuers...)
}

// newTestServerAt is newTestServer with -public-url publicURL (nil: none).
func newTestServerAt(t *testing.T, publicURL *url.URL, issuers ...trustedIssuer) *server {
	t.Helper()
	logger := testLogger(t)
	tr, err := newTrust(config{issuers: issuers, refetchInterval: testRefetch}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.close)
	s, err := newServer(tr, publicURL, logger)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// readyServer is newTestServer once every issuer's keys are loaded.
func readyServer(t *testing.T, issuers ...trustedIssuer) *server {
	t.Helper()
	s := newTestServer(t, issuers...)
	waitFor(t, "the issuers' keys", func() bool { return s.trust.notReady() == nil })
	return s
}

// waitFor polls cond until it holds, failing the test after testWait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", testWait, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testLogger logs to the test's output until the test ends, and then
// nowhere: guardian's background fetches may outlive a test by a moment.
func testLogger(t *testing.T) *slog.Logger {
	w := &lateWriter{w: t.Output()}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.w = nil
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type lateWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lateWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		return len(p), nil
	}
	return l.w.Write(p)
}

// do sends a request to h, with "Authorization: Bearer token" unless
// token is empty, and checks that the answer is not to be stored.
func do(t *testing.T, h http.Handler, method, path, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequestWithContext(t.Context(), method, path, rd)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s %s: Cache-Control %q, want no-store", method, path, cc)
	}
	return w
}

// decodeAs decodes the JSON answer of w into a T, checking its type.
func decodeAs[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("answer %d %q: %v", w.Code, w.Body, err)
	}
	return v
}

// wantStatus checks w's status and, when challenge is not empty, that its
// WWW-Authenticate header is exactly challenge.
func wantStatus(t *testing.T, w *httptest.ResponseRecorder, status int, challenge string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if got := w.Header().Get("WWW-Authenticate"); challenge != "" && got != challenge {
		t.Fatalf("WWW-Authenticate %q, want %q", got, challenge)
	}
}

// wantInvalidToken checks a 401 invalid_token answer.
func wantInvalidToken(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	wantStatus(t, w, http.StatusUnauthorized, "")
	if got := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, invalidPrefix) {
		t.Fatalf("WWW-Authenticate %q, want it to start with %q", got, invalidPrefix)
	}
	if e := decodeAs[errorJSON](t, w); e.Error != "invalid_token" {
		t.Fatalf("error %q, want invalid_token", e.Error)
	}
}

// wantUnavailable checks a 503 answer with Retry-After.
func wantUnavailable(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	wantStatus(t, w, http.StatusServiceUnavailable, "")
	if w.Header().Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}

func TestWhoami(t *testing.T) {
	as := newLocalAS(t)
	s := readyServer(t, trustedIssuer{as.URL(), testAudience})

	for _, kid := range []string{"rs-1", "es-1"} {
		w := do(t, s, "GET", "/api/whoami", as.token(t, kid, "svc-"+kid, testAudience, "read write"), "")
		wantStatus(t, w, http.StatusOK, "")
		got := decodeAs[whoamiJSON](t, w)
		want := whoamiJSON{Issuer: as.URL(), Subject: "svc-" + kid, ClientID: "svc-" + kid, Scope: []string{"read", "write"}}
		if got.Issuer != want.Issuer || got.Subject != want.Subject || got.ClientID != want.ClientID || !slices.Equal(got.Scope, want.Scope) {
			t.Errorf("%s: whoami = %+v, want %+v", kid, got, want)
		}
	}

	// A token without scope: the scope is [], never null or absent.
	w := do(t, s, "GET", "/api/whoami", as.token(t, "es-1", "svc-none", testAudience, ""), "")
	wantStatus(t, w, http.StatusOK, "")
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if string(raw["scope"]) != "[]" {
		t.Errorf("scope of a token without one is %s, want []", raw["scope"])
	}
	for _, name := range []string{"iss", "sub", "client_id"} {
		if _, ok := raw[name]; !ok {
			t.Errorf("whoami lacks %q: %s", name, w.Body)
		}
	}
}

func TestItems(t *testing.T) {
	as := newLocalAS(t)
	s := readyServer(t, trustedIssuer{as.URL(), testAudience})
	readWrite := as.token(t, "es-1", "svc-rw", testAudience, "read write")

	w := do(t, s, "GET", "/api/items", readWrite, "")
	wantStatus(t, w, http.StatusOK, "")
	if got := decodeAs[itemsJSON](t, w).Items; !slices.Equal(got, demoItems) {
		t.Fatalf("items = %v, want the demo items %v", got, demoItems)
	}

	w = do(t, s, "POST", "/api/items", readWrite, `{"name": "  sprocket "}`)
	wantStatus(t, w, http.StatusCreated, "")
	created := decodeAs[item](t, w)
	if want := (item{ID: "4", Name: "sprocket", CreatedBy: "svc-rw"}); created != want {
		t.Fatalf("created %+v, want %+v", created, want)
	}
	w = do(t, s, "GET", "/api/items", readWrite, "")
	wantStatus(t, w, http.StatusOK, "")
	if got := decodeAs[itemsJSON](t, w).Items; len(got) != len(demoItems)+1 || got[len(got)-1] != created {
		t.Fatalf("items after POST = %v, want the demo items and %v", got, created)
	}

	// Scopes: read lists, write adds, and each is required exactly.
	readOnly := as.token(t, "rs-1", "svc-r", testAudience, "read")
	writeOnly := as.token(t, "rs-1", "svc-w", testAudience, "write")
	noScope := as.token(t, "rs-1", "svc-none", testAudience, "")
	wantStatus(t, do(t, s, "GET", "/api/items", readOnly, ""), http.StatusOK, "")
	wantStatus(t, do(t, s, "POST", "/api/items", readOnly, `{"name":"x"}`), http.StatusForbidden, writeChallenge)
	wantStatus(t, do(t, s, "POST", "/api/items", noScope, `{"name":"x"}`), http.StatusForbidden, writeChallenge)
	wantStatus(t, do(t, s, "GET", "/api/items", writeOnly, ""), http.StatusForbidden, readChallenge)
	wantStatus(t, do(t, s, "GET", "/api/items", noScope, ""), http.StatusForbidden, readChallenge)
	w = do(t, s, "POST", "/api/items", writeOnly, `{"name":"x"}`)
	wantStatus(t, w, http.StatusCreated, "")
	if e := decodeAs[errorJSON](t, do(t, s, "GET", "/api/items", writeOnly, "")); e.Error != "insufficient_scope" {
		t.Errorf("403 body error %q, want insufficient_scope", e.Error)
	}
	// No token is 401, before any scope check.
	wantStatus(t, do(t, s, "POST", "/api/items", "", `{"name":"x"}`), http.StatusUnauthorized, `Bearer realm="api"`)
}

func TestCreateItemBadBody(t *testing.T) {
	as := newLocalAS(t)
	s := readyServer(t, trustedIssuer{as.URL(), testAudience})
	tok := as.token(t, "es-1", "svc", testAudience, "read write")
	for name, body := range map[string]string{
		"empty":         "",
		"not JSON":      "name=x",
		"truncated":     `{"name": "x"`,
		"array":         `["x"]`,
		"number name":   `{"name": 5}`,
		"no name":       `{"title": "x"}`,
		"blank name":    `{"name": "   "}`,
		"null":          `null`,
		"two values":    `{"name": "x"} {"name": "y"}`,
		"trailing junk": `{"name": "x"} junk`,
		"long name":     `{"name": "` + strings.Repeat("n", maxNameLen+1) + `"}`,
		"too large":     `{"name": "x", "pad": "` + strings.Repeat("p", maxBody) + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			w := do(t, s, "POST", "/api/items", tok, body)
			wantStatus(t, w, http.StatusBadRequest, "")
			if e := decodeAs[errorJSON](t, w); e.Error != "invalid_request" || e.Description == "" {
				t.Errorf("body %+v, want invalid_request with a description", e)
			}
		})
	}
	if got := s.items.list(); len(got) != len(demoItems) {
		t.Errorf("bad bodies added items: %v", got)
	}
}

// TestRefused walks the tokens that must be refused with 401.
func TestRefused(t *testing.T) {
	as := newLocalAS(t)
	other := newLocalAS(t) // an issuer this server does not trust
	s := readyServer(t, trustedIssuer{as.URL(), testAudience})

	w := do(t, s, "GET", "/api/whoami", "", "")
	wantStatus(t, w, http.StatusUnauthorized, `Bearer realm="api"`)

	es1 := as.key(t, "es-1")
	now := time.Now()
	// with returns good claims, changed by edit.
	with := func(edit func(c map[string]any)) map[string]any {
		c := as.claims("svc", testAudience, "read write")
		edit(c)
		return c
	}
	unchanged := func(map[string]any) {}
	good := as.token(t, "es-1", "svc", testAudience, "read write")
	unsigned := signToken(t, es1, map[string]any{"alg": "none"}, with(unchanged))
	unsigned = unsigned[:strings.LastIndexByte(unsigned, '.')+1]
	for _, tc := range []struct {
		name, token string
		want        string // the error_description
	}{
		{"not a JWT", "not-a-jwt", "malformed token"},
		{"expired", signToken(t, es1, nil, with(func(c map[string]any) {
			c["iat"], c["exp"] = now.Add(-20*time.Minute).Unix(), now.Add(-10*time.Minute).Unix()
		})), "token expired"},
		{"not yet valid", signToken(t, es1, nil, with(func(c map[string]any) { c["nbf"] = now.Add(10 * time.Minute).Unix() })), "token not valid yet"},
		{"no exp", signToken(t, es1, nil, with(func(c map[string]any) { delete(c, "exp") })), "missing required claim"},
		{"wrong audience", signToken(t, es1, nil, with(func(c map[string]any) { c["aud"] = "https://other.example.com/api" })), "wrong audience"},
		{"no audience", signToken(t, es1, nil, with(func(c map[string]any) { delete(c, "aud") })), "wrong audience"},
		// Signed by our issuer's key, naming another issuer.
		{"wrong issuer", signToken(t, es1, nil, with(func(c map[string]any) { c["iss"] = "https://evil.example.com" })), "wrong issuer"},
		{"no issuer", signToken(t, es1, nil, with(func(c map[string]any) { delete(c, "iss") })), "wrong issuer"},
		// Naming our issuer, signed by another's key under a kid ours has.
		{"forged issuer", signToken(t, other.key(t, "es-1"), nil, with(unchanged)), "invalid signature"},
		// A valid token of an issuer this server does not trust.
		{"untrusted issuer", other.token(t, "es-1", "svc", testAudience, "read write"), "wrong issuer"},
		{"bad signature", good[:len(good)-4] + "AAAA", "invalid signature"},
		// An ID token, or any JWT not typed as an access token (RFC 9068).
		{"typ JWT", signToken(t, es1, map[string]any{"typ": "JWT"}, with(unchanged)), "wrong token type"},
		{"no typ", signToken(t, es1, map[string]any{"typ": nil}, with(unchanged)), "wrong token type"},
		{"alg none", unsigned, "malformed token"},
		{"alg HS256 under an EC kid", signToken(t, es1, map[string]any{"alg": "HS256"}, with(unchanged)), "unexpected signing algorithm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := do(t, s, "GET", "/api/whoami", tc.token, "")
			wantInvalidToken(t, w)
			if e := decodeAs[errorJSON](t, w); e.Description != tc.want {
				t.Errorf("error_description %q, want %q", e.Description, tc.want)
			}
		})
	}
	if n := other.jwksFetches.Load(); n != 0 {
		t.Errorf("the untrusted issuer's keys were fetched %d times", n)
	}
	wantStatus(t, do(t, s, "GET", "/api/whoami", good, ""), http.StatusOK, "")
}

func TestTwoIssuers(t *testing.T) {
	a, b := newLocalAS(t), newLocalAS(t)
	const audA, audB = "https://a.example.com/api", "urn:api:b"
	s := readyServer(t, trustedIssuer{a.URL(), audA}, trustedIssuer{b.URL(), audB})

	for _, tc := range []struct {
		as       *localAS
		aud      string
		wantCode int
	}{
		{a, audA, http.StatusOK},
		{b, audB, http.StatusOK},
		{a, audB, http.StatusUnauthorized}, // the audience of the other issuer
		{b, audA, http.StatusUnauthorized},
	} {
		w := do(t, s, "GET", "/api/whoami", tc.as.token(t, "rs-1", "svc", tc.aud, "read"), "")
		if tc.wantCode != http.StatusOK {
			wantInvalidToken(t, w)
			continue
		}
		wantStatus(t, w, http.StatusOK, "")
		if got := decodeAs[whoamiJSON](t, w).Issuer; got != tc.as.URL() {
			t.Errorf("iss %q, want %q", got, tc.as.URL())
		}
	}
}

// TestOneAudienceForAll: -audience given once applies to every issuer.
func TestOneAudienceForAll(t *testing.T) {
	a, b := newLocalAS(t), newLocalAS(t)
	cfg, err := parseFlags([]string{"-issuer", a.URL(), "-issuer", b.URL(), "-audience", testAudience}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := readyServer(t, cfg.issuers...)
	for _, as := range []*localAS{a, b} {
		w := do(t, s, "GET", "/api/items", as.token(t, "es-1", "svc", testAudience, "read"), "")
		wantStatus(t, w, http.StatusOK, "")
		wantInvalidToken(t, do(t, s, "GET", "/api/items", as.token(t, "es-1", "svc", "https://other.example.com", "read"), ""))
	}
}

// TestRotation: a token under a new kid verifies without a restart, and
// the old kid keeps verifying while the JWK set lists it.
func TestRotation(t *testing.T) {
	as := newLocalAS(t)
	s := readyServer(t, trustedIssuer{as.URL(), testAudience})
	old := as.token(t, "es-1", "svc", testAudience, "read")
	wantStatus(t, do(t, s, "GET", "/api/whoami", old, ""), http.StatusOK, "")

	as.publish(t, "es-2", guardian.ES256)
	fresh := as.token(t, "es-2", "svc", testAudience, "read")
	time.Sleep(testRefetch + 20*time.Millisecond) // the unknown kid may cause a fetch
	wantStatus(t, do(t, s, "GET", "/api/whoami", fresh, ""), http.StatusOK, "")
	wantStatus(t, do(t, s, "GET", "/api/whoami", old, ""), http.StatusOK, "")

	// The old key leaves the set: once a fetch has brought the new set,
	// its tokens are refused.
	as.retire("es-1")
	as.publish(t, "es-3", guardian.ES256)
	newest := as.token(t, "es-3", "svc", testAudience, "read")
	time.Sleep(testRefetch + 20*time.Millisecond)
	wantStatus(t, do(t, s, "GET", "/api/whoami", newest, ""), http.StatusOK, "")
	wantInvalidToken(t, do(t, s, "GET", "/api/whoami", old, ""))
	wantStatus(t, do(t, s, "GET", "/api/whoami", fresh, ""), http.StatusOK, "")
}

// TestIssuerDown: while the issuer's endpoints fail, tokens under cached
// keys verify and a token under an unknown kid is 503, never 200; it
// verifies once the issuer is back.
func TestIssuerDown(t *testing.T) {
	as := newLocalAS(t)
	s := readyServer(t, trustedIssuer{as.URL(), testAudience})
	cachedRS := as.token(t, "rs-1", "svc", testAudience, "read")
	cachedES := as.token(t, "es-1", "svc", testAudience, "read")
	wantStatus(t, do(t, s, "GET", "/api/whoami", cachedRS, ""), http.StatusOK, "")

	as.down.Store(true)
	as.publish(t, "es-2", guardian.ES256) // a key the server has never seen
	unseen := as.token(t, "es-2", "svc", testAudience, "read")
	time.Sleep(testRefetch + 20*time.Millisecond) // so that the kid causes a fetch, which fails
	for range 3 {
		w := do(t, s, "GET", "/api/whoami", unseen, "")
		wantUnavailable(t, w)
		if e := decodeAs[errorJSON](t, w); e.Error != "temporarily_unavailable" {
			t.Errorf("503 body error %q, want temporarily_unavailable", e.Error)
		}
	}
	wantStatus(t, do(t, s, "GET", "/api/whoami", cachedRS, ""), http.StatusOK, "")
	wantStatus(t, do(t, s, "GET", "/api/items", cachedES, ""), http.StatusOK, "")
	// The keys are still loaded: the server is healthy.
	wantStatus(t, do(t, s, "GET", "/healthz", "", ""), http.StatusOK, "")

	as.down.Store(false)
	waitFor(t, "the unseen kid to verify", func() bool {
		return do(t, s, "GET", "/api/whoami", unseen, "").Code == http.StatusOK
	})
}

// TestIssuerLate: an issuer that cannot be discovered at start does not
// stop the server. Its tokens are 503 and /healthz names it until its keys
// are loaded, in the background; the other issuers work meanwhile.
func TestIssuerLate(t *testing.T) {
	up, late := newLocalAS(t), newLocalAS(t)
	late.down.Store(true)
	s := newTestServer(t, trustedIssuer{up.URL(), testAudience}, trustedIssuer{late.URL(), testAudience})
	waitFor(t, "the first issuer's keys", func() bool {
		down := s.trust.notReady()
		_, lateDown := down[late.URL()]
		return len(down) == 1 && lateDown
	})

	w := do(t, s, "GET", "/healthz", "", "")
	wantUnavailable(t, w)
	h := decodeAs[healthJSON](t, w)
	if h.Status != "unavailable" || len(h.Issuers) != 1 || h.Issuers[late.URL()] == "" {
		t.Fatalf("healthz = %+v, want unavailable naming %s alone", h, late.URL())
	}
	t.Logf("healthz: %s", w.Body)

	lateTok := late.token(t, "es-1", "svc", testAudience, "read")
	wantUnavailable(t, do(t, s, "GET", "/api/whoami", lateTok, ""))
	wantStatus(t, do(t, s, "GET", "/api/whoami", up.token(t, "es-1", "svc", testAudience, "read"), ""), http.StatusOK, "")

	late.down.Store(false)
	waitFor(t, "healthz 200", func() bool { return do(t, s, "GET", "/healthz", "", "").Code == http.StatusOK })
	w = do(t, s, "GET", "/healthz", "", "")
	if strings.TrimSpace(w.Body.String()) != `{"status":"ok"}` {
		t.Errorf("healthz body %s, want {\"status\":\"ok\"}", w.Body)
	}
	wantStatus(t, do(t, s, "GET", "/api/whoami", lateTok, ""), http.StatusOK, "")
}

// TestNotFound: the mux's own answers are not stored either.
func TestNotFound(t *testing.T) {
	as := newLocalAS(t)
	s := readyServer(t, trustedIssuer{as.URL(), testAudience})
	if w := do(t, s, "GET", "/api/nothing", "", ""); w.Code != http.StatusNotFound {
		t.Errorf("GET /api/nothing: %d, want 404", w.Code)
	}
	if w := do(t, s, "DELETE", "/api/items", "", ""); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /api/items: %d, want 405", w.Code)
	}
}
