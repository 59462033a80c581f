package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/guardian-go/guardian"
)

// In-process tests of the server's handlers, with stores the end-to-end
// tests cannot arrange.

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newTestServer(t *testing.T, revoker guardian.Revoker) (*server, *syncBuffer) {
	t.Helper()
	return newTestServerAt(t, revoker, time.Now)
}

// newTestServerAt is newTestServer with the server's clock (its issuer's
// and its login limiter's). Its passwords have bcrypt's least cost: the
// default takes seconds under the race detector.
func newTestServerAt(t *testing.T, revoker guardian.Revoker, clock func() time.Time) (*server, *syncBuffer) {
	t.Helper()
	key, err := guardian.NewHMACKey("hs256", guardian.HS256, []byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := guardian.NewKeySet(key)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	s, err := newServerWith(keys, &store{revoker: revoker, kind: "memory"}, newMetrics(), slog.New(slog.NewJSONHandler(logs, nil)), clock, guardian.Passwords{Cost: 4})
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
}

// serve sends one request to s in process.
func serve(s *server, method, path, token, body string) response {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func serveLogin(t *testing.T, s *server) tokens {
	t.Helper()
	r := serve(s, "POST", "/api/login", "", `{"email":"`+aliceEmail+`","password":"`+alicePassword+`"}`)
	wantStatus(t, "login", r, http.StatusOK)
	m := r.json(t)
	return tokens{access: m["token"].(string), refresh: m["refresh_token"].(string)}
}

func serveRefresh(s *server, refresh string) response {
	body, _ := json.Marshal(map[string]string{"refresh_token": refresh})
	return serve(s, "POST", "/api/refresh", "", string(body))
}

// The request log gives the duration in milliseconds, not in the
// nanoseconds slog writes a time.Duration in.
func TestRequestLogDuration(t *testing.T) {
	s, logs := newTestServer(t, guardian.NewMemoryRevoker(nil))
	wantStatus(t, "healthz", serve(s, "GET", "/healthz", "", ""), http.StatusOK)
	var line map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == "request" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no request line in the log:\n%s", logs)
	}
	if _, ok := line["duration"]; ok {
		t.Errorf("request log has duration %v (nanoseconds); want duration_ms", line["duration"])
	}
	ms, ok := line["duration_ms"].(float64)
	if !ok || ms < 0 || ms > 10_000 {
		t.Errorf("request log duration_ms = %v (%T), want milliseconds as a number", line["duration_ms"], line["duration_ms"])
	}
	if line["method"] != "GET" || line["path"] != "/healthz" || line["status"] != float64(200) {
		t.Errorf("request log line = %v, want method, path and status", line)
	}
}

var errStoreDown = errors.New("store down")

// downAfterConsume is a store that fails every call once a token was
// consumed: it tells whether the server still needs the store after the
// refresh token is spent.
type downAfterConsume struct {
	mem  *guardian.MemoryRevoker
	mu   sync.Mutex
	down bool
}

func (d *downAfterConsume) isDown() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.down
}

func (d *downAfterConsume) Revoke(ctx context.Context, r guardian.Revocation) error {
	if d.isDown() {
		return errStoreDown
	}
	return d.mem.Revoke(ctx, r)
}

func (d *downAfterConsume) Revoked(ctx context.Context, c *guardian.Claims) (bool, error) {
	if d.isDown() {
		return false, errStoreDown
	}
	return d.mem.Revoked(ctx, c)
}

func (d *downAfterConsume) Consume(ctx context.Context, r guardian.Revocation) (bool, error) {
	if d.isDown() {
		return false, errStoreDown
	}
	first, err := d.mem.Consume(ctx, r)
	if err == nil {
		d.mu.Lock()
		d.down = true
		d.mu.Unlock()
	}
	return first, err
}

// Spending the refresh token is the last thing a refresh does: no store
// call after it can fail and leave the client with a spent token and no
// new one.
func TestRefreshSpendsTheTokenLast(t *testing.T) {
	s, _ := newTestServer(t, &downAfterConsume{mem: guardian.NewMemoryRevoker(nil)})
	tok := serveLogin(t, s)
	r := serveRefresh(s, tok.refresh)
	wantStatus(t, "refresh", r, http.StatusOK)
	m := r.json(t)
	access, _ := m["token"].(string)
	if access == "" || m["refresh_token"] == nil || m["exp"] == nil {
		t.Fatalf("refresh body = %s, want token, refresh_token, exp", r.body)
	}
	if _, ok := m["user"]; ok {
		t.Errorf("refresh body = %s: the refresh answer has no user", r.body)
	}
	if got := r.header.Get("Authorization"); got != "Bearer "+access {
		t.Errorf("refresh Authorization header = %q, want Bearer + the new access token", got)
	}
}

// A refresh loads the user again: a user who is gone gets no new tokens,
// and the refused refresh does not spend the token.
func TestRefreshOfAGoneUser(t *testing.T) {
	s, _ := newTestServer(t, guardian.NewMemoryRevoker(nil))
	tok := serveLogin(t, s)
	s.users.mu.Lock()
	alice := s.users.ids["1"]
	delete(s.users.ids, "1")
	s.users.mu.Unlock()
	wantStatus(t, "refresh for a deleted user", serveRefresh(s, tok.refresh), http.StatusUnauthorized)

	s.users.mu.Lock()
	s.users.ids["1"] = alice
	s.users.mu.Unlock()
	wantStatus(t, "refresh with the same token once the user is back", serveRefresh(s, tok.refresh), http.StatusOK)
	wantStatus(t, "access token of the login", serve(s, "GET", "/api/me", tok.access, ""), http.StatusOK)
}

// logLines returns the JSON log lines whose msg is msg.
func logLines(t *testing.T, logs *syncBuffer, msg string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == msg {
			lines = append(lines, m)
		}
	}
	return lines
}

// Every refused request is logged with its reason, route, method and
// status, and counted by reason; never with its token.
func TestRefusalsAreLoggedAndCounted(t *testing.T) {
	s, logs := newTestServer(t, guardian.NewMemoryRevoker(nil))
	tok := serveLogin(t, s)
	wantStatus(t, "me without a token", serve(s, "GET", "/api/me", "", ""), http.StatusUnauthorized)
	wantStatus(t, "logout", serve(s, "POST", "/api/logout", tok.access, ""), http.StatusNoContent)
	wantStatus(t, "me after logout", serve(s, "GET", "/api/me", tok.access, ""), http.StatusUnauthorized)
	wantStatus(t, "logout with a refresh token", serve(s, "POST", "/api/logout", tok.refresh, ""), http.StatusUnauthorized)
	wantStatus(t, "refresh after logout", serveRefresh(s, tok.refresh), http.StatusUnauthorized)
	wantStatus(t, "refresh without a token", serve(s, "POST", "/api/refresh", "", `{}`), http.StatusBadRequest)

	type refusal struct {
		reason, route, method string
		status                float64
	}
	var got []refusal
	for _, l := range logLines(t, logs, "refused") {
		r, _ := l["reason"].(string)
		route, _ := l["route"].(string)
		method, _ := l["method"].(string)
		status, _ := l["status"].(float64)
		got = append(got, refusal{r, route, method, status})
	}
	want := []refusal{
		{"guardian: no token", "GET /api/me", "GET", 401},
		{"guardian: token revoked", "GET /api/me", "GET", 401},
		{"guardian: wrong token type", "POST /api/logout", "POST", 401},
		{"guardian: token revoked", "POST /api/refresh", "POST", 401},
		{"guardian: malformed request", "POST /api/refresh", "POST", 400},
	}
	if !slices.Equal(got, want) {
		t.Errorf("refusals logged:\n%v\nwant\n%v", got, want)
	}
	for _, secret := range []string{tok.access, tok.refresh, alicePassword} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("the log holds a token or the password:\n%s", logs)
		}
	}
	for label, want := range map[string]float64{"missing_token": 1, "revoked": 2, "token_type": 1, "malformed_request": 1, "expired": 0} {
		if got := testutil.ToFloat64(s.metrics.refusals.WithLabelValues(label)); got != want {
			t.Errorf("guardian_refusals_total{reason=%q} = %v, want %v", label, got, want)
		}
	}
	if got := testutil.ToFloat64(s.metrics.refreshes.WithLabelValues("revoked")); got != 1 {
		t.Errorf(`guardian_refreshes_total{outcome="revoked"} = %v, want 1`, got)
	}
}

// GET /healthz pings the store: 200 when it answers, 503 when it fails or
// does not answer within the health timeout.
func TestHealthzPingsTheStore(t *testing.T) {
	var pingErr error
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	mode := "ok"
	ping := func(ctx context.Context) error {
		switch mode {
		case "fail":
			return pingErr
		case "hang":
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-hang:
			}
		}
		return nil
	}
	s, logs := newTestServer(t, guardian.NewMemoryRevoker(nil))
	s.health.ping = ping
	s.health.timeout = 50 * time.Millisecond

	check := func(what string, want int) {
		t.Helper()
		r := serve(s, "GET", "/healthz", "", "")
		wantStatus(t, what, r, want)
		status := r.json(t)["status"]
		switch {
		case want == http.StatusOK && status != "ok":
			t.Errorf("%s: body %s, want status ok", what, r.body)
		case want == http.StatusServiceUnavailable && (status != "unavailable" || r.header.Get("Retry-After") == ""):
			t.Errorf("%s: body %s, Retry-After %q; want status unavailable and a Retry-After", what, r.body, r.header.Get("Retry-After"))
		}
	}
	check("store up", http.StatusOK)
	mode, pingErr = "fail", errors.New("connection refused (10.0.0.1)")
	check("store down", http.StatusServiceUnavailable)
	check("store still down", http.StatusServiceUnavailable)
	mode = "hang"
	check("store hung", http.StatusServiceUnavailable)
	mode = "ok"
	check("store back", http.StatusOK)
	if strings.Contains(serve(s, "GET", "/healthz", "", "").header.Get("Content-Type"), "text/plain") {
		t.Error("healthz answers text, want JSON")
	}
	if n := len(logLines(t, logs, "health: the revocation store does not answer")); n != 1 {
		t.Errorf("the outage was logged %d times, want once (on the change)", n)
	}
	if n := len(logLines(t, logs, "health: the revocation store answers again")); n != 1 {
		t.Errorf("the recovery was logged %d times, want once", n)
	}
}

// Failed logins are limited per account, the same for known and unknown
// accounts, and a limited attempt costs no password check.
func TestLoginLimitInProcess(t *testing.T) {
	s, _ := newTestServer(t, guardian.NewMemoryRevoker(nil))
	clock := newFakeClock()
	s.limiter.now = clock.now
	checks := 0
	check := s.checkPassword
	s.checkPassword = func(hash, password string) error { checks++; return check(hash, password) }

	login := func(email, password string) response {
		return serve(s, "POST", "/api/login", "", `{"email":"`+email+`","password":"`+password+`"}`)
	}
	var limited [2]response
	for i, email := range []string{aliceEmail, "mallory@example.com"} {
		for n := range 5 {
			wantStatus(t, fmt.Sprintf("%s failure #%d", email, n+1), login(email, "wrong"), http.StatusUnauthorized)
		}
		before := checks
		limited[i] = login(email, "wrong")
		wantStatus(t, email+" 6th failure", limited[i], http.StatusTooManyRequests)
		if got := limited[i].header.Get("Retry-After"); got != "180" {
			t.Errorf("%s: Retry-After %q, want 180", email, got)
		}
		if checks != before {
			t.Errorf("%s: a limited attempt checked the password", email)
		}
	}
	if !bytes.Equal(limited[0].body, limited[1].body) {
		t.Errorf("429 bodies differ for a known and an unknown account: %s vs %s", limited[0].body, limited[1].body)
	}
	if code := limited[0].json(t)["error"]; code != "too_many_attempts" {
		t.Errorf("429 error = %v, want too_many_attempts", code)
	}
	wantStatus(t, "right password while limited", login(aliceEmail, alicePassword), http.StatusTooManyRequests)
	if got := testutil.ToFloat64(s.metrics.logins.WithLabelValues(loginRateLimited)); got != 3 {
		t.Errorf(`guardian_logins_total{outcome="rate_limited"} = %v, want 3`, got)
	}

	clock.advance(3 * time.Minute)
	wantStatus(t, "right password 3 minutes later", login(aliceEmail, alicePassword), http.StatusOK)
	// The success gave back what it took: one more failure is allowed,
	// then the account is limited again.
	wantStatus(t, "failure after the success", login(aliceEmail, "wrong"), http.StatusUnauthorized)
	wantStatus(t, "next failure", login(aliceEmail, "wrong"), http.StatusTooManyRequests)
}
