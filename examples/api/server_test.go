package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

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
	key, err := guardian.NewHMACKey("hs256", guardian.HS256, []byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := guardian.NewKeySet(key)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	s, err := newServer(keys, revoker, slog.New(slog.NewJSONHandler(logs, nil)))
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
