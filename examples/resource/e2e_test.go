package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/guardian-go/guardian/examples/resource/internal/testas"
)

// The end-to-end tests build the command once, run it as a separate
// process on a free port, and drive it with a real HTTP client. The
// tokens come from a real authorization server, oidc-provider, run by
// internal/testas (Node.js; under CI=true it must be there).

const (
	// e2eRefetch is the servers' -refetch-interval.
	e2eRefetch = 300 * time.Millisecond
	// e2eWait bounds every wait for a process or a state.
	e2eWait = 20 * time.Second
)

var httpClient = &http.Client{Timeout: 10 * time.Second}

// TestCommand builds the command and runs every test of the process: its
// usage errors, and its life with oidc-provider.
func TestCommand(t *testing.T) {
	bin := buildCommand(t)

	t.Run("usage", func(t *testing.T) { testUsage(t, bin) })
	t.Run("oidc-provider", func(t *testing.T) {
		if testing.Short() && os.Getenv("CI") != "true" {
			t.Skip("the end-to-end tests with oidc-provider take seconds; run without -short")
		}
		for name, test := range map[string]func(*testing.T, string){
			"tokens":      testTokens,
			"two issuers": testTwoIssuers,
			"rotation":    testRotation,
			"issuer down": testIssuerDown,
			"late issuer": testLateIssuer,
			"dpop proofs": testDPoPProofs,
			"dpop client": testDPoPClient,
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				test(t, bin)
			})
		}
	})
}

// buildCommand builds the command into t's temporary directory.
func buildCommand(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "resource")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// testUsage: bad flags exit 2 with a message on stderr, -h exits 0.
func testUsage(t *testing.T, bin string) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "resource: at least one -issuer is required"},
		{[]string{"-issuer", "https://a.example.com", "-issuer", "https://b.example.com", "-audience", "1", "-audience", "2", "-audience", "3"},
			"resource: 3 -audience flags for 2 -issuer flags"},
		{[]string{"-issuer", "as.example.com", "-audience", "api"}, `resource: -issuer "as.example.com" is not an absolute http or https URL`},
		{[]string{"-issuer", "https://as.example.com", "-audience", "api", "-nope"}, "flag provided but not defined: -nope"},
	} {
		code, stdout, stderr := runCommand(t, bin, tc.args...)
		if code != 2 {
			t.Errorf("%q: exit code %d, want 2", tc.args, code)
		}
		if !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "usage: resource") {
			t.Errorf("%q: stderr does not say %q with the usage:\n%s", tc.args, tc.want, stderr)
		}
		if stdout != "" {
			t.Errorf("%q: stdout %q", tc.args, stdout)
		}
	}
	if code, _, stderr := runCommand(t, bin, "-h"); code != 0 || !strings.Contains(stderr, "-refetch-interval") {
		t.Errorf("-h: exit code %d, stderr:\n%s", code, stderr)
	}
}

func runCommand(t *testing.T, bin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), e2eWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s %q: %v", bin, args, err)
	}
	return code, out.String(), errOut.String()
}

// testTokens: client-credentials tokens of both algorithms, scopes, and
// the refusals.
func testTokens(t *testing.T, bin string) {
	p := testas.Start(t)
	rs := startResource(t, bin, "-issuer", p.Issuer(), "-audience", testas.Audience)
	rs.waitHealth(t, http.StatusOK)

	for _, client := range []string{testas.ClientRS, testas.ClientES} {
		tok := p.Token(t, client, "read write", testas.Audience)
		status, _, body := rs.call(t, "GET", "/api/whoami", tok, "")
		if status != http.StatusOK {
			t.Fatalf("%s: whoami %d %s", client, status, body)
		}
		var who whoamiJSON
		mustJSON(t, body, &who)
		if who.Issuer != p.Issuer() || who.Subject != client || who.ClientID != client || !slices.Equal(who.Scope, []string{"read", "write"}) {
			t.Errorf("%s: whoami %+v", client, who)
		}
	}

	readOnly := p.Token(t, testas.ClientES, "read", testas.Audience)
	if status, _, body := rs.call(t, "GET", "/api/items", readOnly, ""); status != http.StatusOK {
		t.Errorf("GET /api/items with scope read: %d %s", status, body)
	}
	status, h, body := rs.call(t, "POST", "/api/items", readOnly, `{"name":"bolt"}`)
	if status != http.StatusForbidden || h.Get("WWW-Authenticate") != writeChallenge {
		t.Errorf("POST /api/items with scope read: %d %q %s", status, h.Get("WWW-Authenticate"), body)
	}
	readWrite := p.Token(t, testas.ClientRS, "read write", testas.Audience)
	status, _, body = rs.call(t, "POST", "/api/items", readWrite, `{"name":"bolt"}`)
	var created item
	if mustJSON(t, body, &created); status != http.StatusCreated || created.Name != "bolt" || created.CreatedBy != testas.ClientRS {
		t.Errorf("POST /api/items: %d %s", status, body)
	}
	var list itemsJSON
	_, _, body = rs.call(t, "GET", "/api/items", readWrite, "")
	if mustJSON(t, body, &list); !slices.Contains(list.Items, created) {
		t.Errorf("GET /api/items after POST: %s", body)
	}

	status, h, _ = rs.call(t, "GET", "/api/whoami", "", "")
	if status != http.StatusUnauthorized || h.Get("WWW-Authenticate") != `Bearer realm="api"` {
		t.Errorf("no token: %d %q", status, h.Get("WWW-Authenticate"))
	}
	otherAudience := p.Token(t, testas.ClientRS, "read", "https://other.example.com/api")
	status, h, _ = rs.call(t, "GET", "/api/whoami", otherAudience, "")
	if status != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), invalidPrefix) {
		t.Errorf("token for another audience: %d %q", status, h.Get("WWW-Authenticate"))
	}
}

// testTwoIssuers: a server trusting two authorization servers with one
// -audience takes the tokens of both; one trusting the first only refuses
// the tokens of the second.
func testTwoIssuers(t *testing.T, bin string) {
	p, q := testas.Start(t), testas.Start(t)
	both := startResource(t, bin, "-issuer", p.Issuer(), "-issuer", q.Issuer(), "-audience", testas.Audience)
	onlyP := startResource(t, bin, "-issuer", p.Issuer(), "-audience", testas.Audience)
	both.waitHealth(t, http.StatusOK)
	onlyP.waitHealth(t, http.StatusOK)

	for _, as := range []*testas.Provider{p, q} {
		tok := as.Token(t, testas.ClientES, "read", testas.Audience)
		status, _, body := both.call(t, "GET", "/api/whoami", tok, "")
		var who whoamiJSON
		if mustJSON(t, body, &who); status != http.StatusOK || who.Issuer != as.Issuer() {
			t.Errorf("token of %s: %d %s", as.Issuer(), status, body)
		}
	}
	status, h, _ := onlyP.call(t, "GET", "/api/whoami", q.Token(t, testas.ClientES, "read", testas.Audience), "")
	if status != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), invalidPrefix) {
		t.Errorf("token of an untrusted issuer: %d %q", status, h.Get("WWW-Authenticate"))
	}
}

// testRotation: after a rotation at the provider, tokens under the new
// kids verify without a restart, and the old kids keep verifying while the
// JWK set lists them.
func testRotation(t *testing.T, bin string) {
	p := testas.Start(t)
	rs := startResource(t, bin, "-issuer", p.Issuer(), "-audience", testas.Audience, "-refetch-interval", e2eRefetch.String())
	rs.waitHealth(t, http.StatusOK)
	oldRS := p.Token(t, testas.ClientRS, "read", testas.Audience)
	oldES := p.Token(t, testas.ClientES, "read", testas.Audience)
	rs.wantStatus(t, oldRS, http.StatusOK)

	newKIDs := p.Rotate(t)
	time.Sleep(e2eRefetch) // so that the new kid may cause a fetch
	newRS := p.Token(t, testas.ClientRS, "read", testas.Audience)
	newES := p.Token(t, testas.ClientES, "read", testas.Audience)
	if got := []string{kidOf(t, newRS), kidOf(t, newES)}; !slices.Equal(got, newKIDs) {
		t.Fatalf("tokens after Rotate have kids %v, want %v", got, newKIDs)
	}
	rs.wantStatus(t, newRS, http.StatusOK)
	rs.wantStatus(t, newES, http.StatusOK)
	rs.wantStatus(t, oldRS, http.StatusOK)
	rs.wantStatus(t, oldES, http.StatusOK)

	// Once the old keys leave the set, and a fetch has brought it, the old
	// tokens are refused and the newer ones still verify.
	p.DropOldKeys(t)
	p.Rotate(t)
	time.Sleep(e2eRefetch)
	rs.wantStatus(t, p.Token(t, testas.ClientES, "read", testas.Audience), http.StatusOK) // fetches
	rs.wantStatus(t, oldRS, http.StatusUnauthorized)
	rs.wantStatus(t, oldES, http.StatusUnauthorized)
	rs.wantStatus(t, newRS, http.StatusOK)
	rs.wantStatus(t, newES, http.StatusOK)
	rs.wantRunning(t)
}

// testIssuerDown: with the provider stopped, tokens under cached keys
// verify, and a token under a kid the server has never seen is 503 with
// Retry-After, never 200; it verifies once the provider is back.
func testIssuerDown(t *testing.T, bin string) {
	p := testas.Start(t)
	rs := startResource(t, bin, "-issuer", p.Issuer(), "-audience", testas.Audience, "-refetch-interval", e2eRefetch.String())
	rs.waitHealth(t, http.StatusOK)
	cachedRS := p.Token(t, testas.ClientRS, "read", testas.Audience)
	cachedES := p.Token(t, testas.ClientES, "read", testas.Audience)
	rs.wantStatus(t, cachedRS, http.StatusOK)

	newKIDs := p.Rotate(t)
	unseen := p.Token(t, testas.ClientES, "read", testas.Audience)
	if kidOf(t, unseen) != newKIDs[1] {
		t.Fatalf("token after Rotate has kid %s, want %s", kidOf(t, unseen), newKIDs[1])
	}
	p.Stop(t)
	time.Sleep(e2eRefetch) // so that the unseen kid causes a fetch, which fails

	for range 3 {
		status, h, body := rs.call(t, "GET", "/api/whoami", unseen, "")
		if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
			t.Fatalf("unseen kid with the issuer down: %d Retry-After %q %s", status, h.Get("Retry-After"), body)
		}
	}
	rs.wantStatus(t, cachedRS, http.StatusOK)
	rs.wantStatus(t, cachedES, http.StatusOK)
	rs.waitHealth(t, http.StatusOK) // the keys are loaded still

	p.Restart(t)
	rs.waitToken(t, unseen, http.StatusOK)
	rs.wantRunning(t)
}

// testLateIssuer: the server starts while the provider is down, answers
// /healthz 503 naming it and its tokens 503, and without a restart serves
// them once the provider is up.
func testLateIssuer(t *testing.T, bin string) {
	p := testas.Start(t)
	tok := p.Token(t, testas.ClientRS, "read write", testas.Audience)
	p.Stop(t)

	rs := startResource(t, bin, "-issuer", p.Issuer(), "-audience", testas.Audience, "-refetch-interval", e2eRefetch.String())
	rs.waitLog(t, "issuer not ready")
	status, h, body := rs.call(t, "GET", "/healthz", "", "")
	var health healthJSON
	if mustJSON(t, body, &health); status != http.StatusServiceUnavailable || health.Status != "unavailable" || health.Issuers[p.Issuer()] == "" {
		t.Fatalf("healthz with the issuer down: %d %s", status, body)
	}
	if h.Get("Retry-After") == "" {
		t.Error("healthz 503 without Retry-After")
	}
	status, h, _ = rs.call(t, "GET", "/api/whoami", tok, "")
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Errorf("token of an issuer not discovered yet: %d Retry-After %q", status, h.Get("Retry-After"))
	}

	p.Restart(t)
	rs.waitHealth(t, http.StatusOK)
	rs.waitLog(t, "issuer ready")
	rs.wantStatus(t, tok, http.StatusOK)
	rs.wantRunning(t)
}

// resource is a running server process.
type resource struct {
	base string
	cmd  *exec.Cmd
	logs *logLines
	done chan struct{} // closed when the process has exited
	err  error         // from Wait; read after done
}

// startResource runs the command with args on a free port (-addr
// 127.0.0.1:0, read back from its "listening" log line) and stops it when
// the test ends, checking that it shuts down gracefully.
func startResource(t *testing.T, bin string, args ...string) *resource {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rs := &resource{cmd: cmd, logs: &logLines{}, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			rs.logs.add(line)
			var l struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "listening" && l.Addr != "" {
				select {
				case addr <- l.Addr:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		rs.err = cmd.Wait()
		close(rs.done)
	}()
	t.Cleanup(func() {
		rs.stop(t)
		if t.Failed() {
			t.Logf("resource server %q logs:\n%s", args, rs.logs)
		}
	})
	select {
	case a := <-addr:
		rs.base = "http://" + a
	case <-rs.done:
		t.Fatalf("the server exited before listening: %v", rs.err)
	case <-time.After(e2eWait):
		t.Fatalf("the server did not listen within %v", e2eWait)
	}
	return rs
}

// stop sends SIGTERM and expects a graceful exit (0, after "stopped");
// past e2eWait it kills the process.
func (rs *resource) stop(t *testing.T) {
	select {
	case <-rs.done:
		return
	default:
	}
	_ = rs.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-rs.done:
		if rs.err != nil {
			t.Errorf("the server did not exit cleanly on SIGTERM: %v", rs.err)
		} else if !rs.logs.contains(`"msg":"stopped"`) {
			t.Error("the server exited without logging stopped")
		}
	case <-time.After(e2eWait):
		t.Errorf("the server ignored SIGTERM for %v; killing it", e2eWait)
		_ = rs.cmd.Process.Kill()
		<-rs.done
	}
}

// wantRunning checks that the server is the process started, never
// restarted.
func (rs *resource) wantRunning(t *testing.T) {
	t.Helper()
	select {
	case <-rs.done:
		t.Fatalf("the server exited: %v", rs.err)
	default:
	}
}

// call sends a request, with "Authorization: Bearer token" unless token is
// empty.
func (rs *resource) call(t *testing.T, method, path, token, body string) (int, http.Header, []byte) {
	t.Helper()
	authorization := ""
	if token != "" {
		authorization = "Bearer " + token
	}
	return rs.send(t, method, path, authorization, body)
}

// send sends a request with the Authorization header unless it is empty,
// and a DPoP header for each proof.
func (rs *resource) send(t *testing.T, method, path, authorization, body string, proofs ...string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, rs.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s %s: Cache-Control %q, want no-store", method, path, cc)
	}
	return resp.StatusCode, resp.Header, b
}

// wantStatus checks the status of GET /api/whoami with token.
func (rs *resource) wantStatus(t *testing.T, token string, want int) {
	t.Helper()
	if status, _, body := rs.call(t, "GET", "/api/whoami", token, ""); status != want {
		t.Fatalf("whoami with a token under kid %s: %d %s, want %d", kidOf(t, token), status, body, want)
	}
}

// waitToken polls GET /api/whoami with token until it answers want.
func (rs *resource) waitToken(t *testing.T, token string, want int) {
	t.Helper()
	rs.poll(t, "whoami "+http.StatusText(want), func() bool {
		status, _, _ := rs.call(t, "GET", "/api/whoami", token, "")
		return status == want
	})
}

// waitHealth polls GET /healthz until it answers want.
func (rs *resource) waitHealth(t *testing.T, want int) {
	t.Helper()
	rs.poll(t, "healthz "+http.StatusText(want), func() bool {
		status, _, _ := rs.call(t, "GET", "/healthz", "", "")
		return status == want
	})
}

// waitLog waits for a log line holding s.
func (rs *resource) waitLog(t *testing.T, s string) {
	t.Helper()
	rs.poll(t, "a log line with "+s, func() bool { return rs.logs.contains(s) })
}

func (rs *resource) poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", e2eWait, what)
		}
		rs.wantRunning(t)
		time.Sleep(50 * time.Millisecond)
	}
}

// kidOf returns the kid of a JWT's header, unverified.
func kidOf(t *testing.T, token string) string {
	t.Helper()
	seg, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	var h struct{ Kid string }
	if err == nil {
		err = json.Unmarshal(raw, &h)
	}
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	return h.Kid
}

func mustJSON(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
}

// logLines collects a process's log lines; it is safe for concurrent use.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
}

func (l *logLines) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}
