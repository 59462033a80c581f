package main

import (
	"bytes"
	"errors"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/faultproxy"
)

// End-to-end tests of the stores under trouble: a second process on the
// SQLite file, a network store that is down or hung.

// The message a second process on the same SQLite file exits with.
const sqliteOwnedMsg = "another process holds the SQLite store %s; stop it first, or use a PostgreSQL or Redis store to run several instances"

// startRefused runs the binary with args and expects it to exit with an
// error without ever serving. It returns the output.
func startRefused(t *testing.T, args ...string) string {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(serverBinary(t), append([]string{"-addr", addr}, args...)...)
	cmd.Env = append(os.Environ(), "AUTH_SECRET="+testSecret)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case err := <-done:
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("server exited with %v, want a non-zero status\n%s", err, &out)
			}
			if strings.Contains(out.String(), `"msg":"listening"`) {
				t.Fatalf("refused server listened before it exited:\n%s", &out)
			}
			return out.String()
		case <-deadline:
			cmd.Process.Kill()
			<-done
			t.Fatalf("server neither exited nor served within 20s\n%s", &out)
		case <-time.After(50 * time.Millisecond):
		}
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			cmd.Process.Kill()
			<-done
			t.Fatalf("server started and serves (healthz %d); want it refused\n%s", resp.StatusCode, &out)
		}
	}
}

// One process owns an SQLite file: the Mirror in front of it would not see
// another process's logouts.
func TestSQLiteFileHasOneOwner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "owned.db")
	a := startServer(t, "-store", path)

	out := startRefused(t, "-store", path)
	if want := strings.ReplaceAll(sqliteOwnedMsg, "%s", path); !strings.Contains(out, want) {
		t.Errorf("second server's output lacks %q:\n%s", want, out)
	}
	// The same file named another way is the same file.
	out = startRefused(t, "-store", "sqlite:"+filepath.Join(filepath.Dir(path), ".", "owned.db"))
	if !strings.Contains(out, "another process holds the SQLite store") {
		t.Errorf("second server (sqlite: spec) did not report the owner:\n%s", out)
	}

	// The owner is undisturbed.
	tok := a.login(t)
	wantStatus(t, "me on the owner", a.do("GET", "/api/me", tok.access, ""), http.StatusOK)
	r := a.do("POST", "/api/logout", tok.access, "")
	wantStatus(t, "logout on the owner", r, http.StatusNoContent)
	a.stop()

	// Once the owner is gone, another process takes the file over, with
	// the owner's logouts.
	b := startServer(t, "-store", path)
	defer b.stop()
	wantStatus(t, "logged-out access token on the next owner", b.do("GET", "/api/me", tok.access, ""), http.StatusUnauthorized)
	wantStatus(t, "logged-out refresh token on the next owner", b.refresh(tok.refresh), http.StatusUnauthorized)
	live := b.login(t)
	wantStatus(t, "me on the next owner", b.do("GET", "/api/me", live.access, ""), http.StatusOK)
}

// A process killed without a chance to clean up leaves no stale lock.
func TestSQLiteLockDiesWithItsProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "killed.db")
	a := startServer(t, "-store", path)
	tok := a.login(t)
	wantStatus(t, "logout", a.do("POST", "/api/logout", tok.access, ""), http.StatusNoContent)
	a.cmd.Process.Kill()
	<-a.done

	b := startServer(t, "-store", path)
	defer b.stop()
	wantStatus(t, "logged-out token after a kill", b.do("GET", "/api/me", tok.access, ""), http.StatusUnauthorized)
}

// networkStores are the -store URLs of the database and Redis servers the
// environment names.
func networkStores(t *testing.T) map[string]string {
	t.Helper()
	specs := stores(t)
	delete(specs, "sqlite")
	if len(specs) == 0 {
		t.Skip("no network store is configured (GUARDIAN_TEST_POSTGRES_DSN, _MYSQL_DSN, _REDIS_URL)")
	}
	return specs
}

// throughProxy puts a fault proxy in front of the server of the store URL
// spec and returns it with the URL that goes through it.
func throughProxy(t *testing.T, spec string) (*faultproxy.Proxy, string) {
	t.Helper()
	u, err := url.Parse(spec)
	if err != nil {
		t.Fatalf("store URL: %v", err)
	}
	target := u.Host
	if u.Port() == "" {
		port := map[string]string{"postgres": "5432", "postgresql": "5432", "mysql": "3306", "redis": "6379", "rediss": "6379"}[u.Scheme]
		target = net.JoinHostPort(u.Hostname(), port)
	}
	p := faultproxy.New(t, target)
	u.Host = p.Addr()
	return p, u.String()
}

// timed sends a request with a client that gives up after 10 s, so that a
// hanging server fails the test instead of hanging it.
func (s *apiServer) timed(method, path, token, body string) (response, time.Duration) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: no answer after %v: %v", method, path, time.Since(start).Round(time.Millisecond), err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	elapsed := time.Since(start)
	if err != nil {
		s.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b.Bytes()}, elapsed
}

func wantUnavailable(t *testing.T, what string, r response) {
	t.Helper()
	wantStatus(t, what, r, http.StatusServiceUnavailable)
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Errorf("%s: Retry-After = %q, want 1", what, got)
	}
	if code := r.json(t)["error"]; code != "temporarily_unavailable" {
		t.Errorf("%s: error = %v, want temporarily_unavailable", what, code)
	}
}

// A refresh that fails because the store is down leaves the refresh token
// usable: the retry succeeds and is not taken for a reuse.
func TestRefreshDuringStoreOutage(t *testing.T) {
	for name, spec := range networkStores(t) {
		t.Run(name, func(t *testing.T) {
			proxy, spec := throughProxy(t, spec)
			s := startServer(t, "-store", spec, "-mirror=false") // the store itself, not a mirror within its bound
			defer func() { proxy.Set(faultproxy.Pass); s.stop() }()
			tok := s.login(t)

			proxy.Set(faultproxy.Cut)
			wantUnavailable(t, "refresh while the store is down", s.refresh(tok.refresh))
			wantUnavailable(t, "me while the store is down", s.do("GET", "/api/me", tok.access, ""))
			proxy.Set(faultproxy.Pass)

			r := s.refresh(tok.refresh)
			wantStatus(t, "refresh with the same token once the store is back", r, http.StatusOK)
			m := r.json(t)
			next, _ := m["refresh_token"].(string)
			if m["token"] == nil || next == "" || m["exp"] == nil {
				t.Fatalf("refresh body = %s, want token, refresh_token, exp", r.body)
			}
			wantStatus(t, "login's access token after the retried refresh", s.do("GET", "/api/me", tok.access, ""), http.StatusOK)
			wantStatus(t, "refreshed access token", s.do("GET", "/api/me", m["token"].(string), ""), http.StatusOK)
			wantStatus(t, "rotated refresh token", s.refresh(next), http.StatusOK)
		})
	}
}

// A store that accepts connections but never answers costs a request about
// the Revoker timeout, answered 503, instead of hanging it.
func TestHungStoreAnswers503Quickly(t *testing.T) {
	const limit = 2 * time.Second
	for name, spec := range networkStores(t) {
		t.Run(name, func(t *testing.T) {
			proxy, spec := throughProxy(t, spec)
			s := startServer(t, "-store", spec, "-mirror=false") // the store itself, not a mirror within its bound
			defer func() { proxy.Set(faultproxy.Pass); s.stop() }()
			tok := s.login(t)
			spare := s.login(t)
			wantStatus(t, "me before the hang", s.do("GET", "/api/me", tok.access, ""), http.StatusOK)

			proxy.Set(faultproxy.Stall)
			check := func(what string, r response, elapsed time.Duration) {
				t.Helper()
				t.Logf("%s with a hung %s store: %d in %v (RevokerTimeout %v)", what, name, r.status, elapsed.Round(time.Millisecond), guardian.DefaultRevokerTimeout)
				wantUnavailable(t, what, r)
				if elapsed > limit {
					t.Errorf("%s took %v with a hung store, want under %v", what, elapsed, limit)
				}
			}
			// The first request finds a pooled connection; the next ones
			// need new connections, which hang in the handshake.
			for i := range 3 {
				r, d := s.timed("GET", "/api/me", tok.access, "")
				check("me #"+strconv.Itoa(i+1), r, d)
			}
			body := `{"refresh_token":"` + spare.refresh + `"}`
			r, d := s.timed("POST", "/api/refresh", "", body)
			check("refresh", r, d)
			r, d = s.timed("POST", "/api/logout", spare.access, "")
			check("logout", r, d)
			// The health check's ping gives up after a second.
			r, d = s.timed("GET", "/healthz", "", "")
			if r.status != http.StatusServiceUnavailable || d > limit+time.Second {
				t.Errorf("healthz with a hung store: %d in %v, want 503 within %v", r.status, d, limit+time.Second)
			}

			// Once the store answers again, so does the server, and the
			// refresh token of the refresh that failed is still usable. (The
			// logout's first write, held by the proxy, may land now: a
			// timed-out write is not known to have failed. It names the
			// access token only, not the family.)
			proxy.Set(faultproxy.Pass)
			wantStatus(t, "me once the store is back", s.do("GET", "/api/me", tok.access, ""), http.StatusOK)
			wantStatus(t, "refresh once the store is back", s.refresh(spare.refresh), http.StatusOK)
		})
	}
}

// The default store, created in the working directory of go run, is
// ignored by git.
func TestDefaultStoreIsGitIgnored(t *testing.T) {
	rootOut, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git work tree: %v", err)
	}
	root := strings.TrimSpace(string(rootOut))

	dir := t.TempDir()
	s := startServerIn(t, dir) // no -store: the default
	tok := s.login(t)
	wantStatus(t, "logout", s.do("POST", "/api/logout", tok.access, ""), http.StatusNoContent)
	names := map[string]bool{}
	list := func() {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			names[e.Name()] = true
		}
	}
	list() // the WAL and shared-memory files exist while it runs
	s.stop()
	list()
	if len(names) == 0 {
		t.Fatal("the default store created no file in the working directory")
	}
	t.Logf("files of the default store: %v", slices.Sorted(maps.Keys(names)))

	// go run ./examples/api may start in the root or in the module.
	var paths []string
	for _, d := range []string{".", "examples", filepath.Join("examples", "api")} {
		for n := range names {
			paths = append(paths, filepath.Join(d, n))
		}
	}
	cmd := exec.Command("git", append([]string{"-C", root, "check-ignore", "--"}, paths...)...)
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) { // 1: none ignored
		t.Fatalf("git check-ignore: %v", err)
	}
	ignored := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		ignored[line] = true
	}
	for _, p := range paths {
		if !ignored[p] {
			t.Errorf("%s is not ignored by git: a run of the example dirties the clone", p)
		}
	}
}
