package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/guardian-go/guardian"
)

// The end-to-end tests build the real binary, start it on a free port and
// walk the contract in ARCHITECTURE.md at the repository root with a real
// HTTP client.

const (
	aliceEmail    = "alice@example.com"
	alicePassword = "correct horse battery staple"
	testSecret    = "an end-to-end test secret of 32+ bytes"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// serverBinary builds the command once per test run.
func serverBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "guardian-api-*")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "api")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// apiServer is a running server process.
type apiServer struct {
	t    *testing.T
	base string
	cmd  *exec.Cmd
	logs *bytes.Buffer
	done chan error
}

// startServer runs the binary with args (plus -addr) and AUTH_SECRET, and
// waits until it answers.
func startServer(t *testing.T, args ...string) *apiServer {
	t.Helper()
	return startServerIn(t, "", args...)
}

// freeAddr returns a loopback address that nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServerIn is startServer with the working directory dir ("" for the
// test's own).
func startServerIn(t *testing.T, dir string, args ...string) *apiServer {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(serverBinary(t), append([]string{"-addr", addr}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "AUTH_SECRET="+testSecret)
	s := &apiServer{t: t, base: "http://" + addr, cmd: cmd, logs: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-s.done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			return s
		}
		select {
		case err := <-s.done:
			t.Fatalf("server exited: %v\n%s", err, s.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not answer within 20s:\n%s", s.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and expects a clean exit.
func (s *apiServer) stop() {
	s.t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Fatalf("server exit after SIGTERM: %v\n%s", err, s.logs)
		}
	case <-time.After(15 * time.Second):
		s.t.Fatalf("server did not stop within 15s of SIGTERM\n%s", s.logs)
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// do sends a request; token, when set, goes in the Authorization header.
func (s *apiServer) do(method, path, token, body string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func wantStatus(t *testing.T, what string, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, want, r.body)
	}
	if bytes.Contains(r.body, []byte("goroutine ")) || bytes.Contains(r.body, []byte(".go:")) {
		t.Fatalf("%s: body leaks internals: %s", what, r.body)
	}
}

type tokens struct{ access, refresh string }

// login signs alice in and checks the whole login answer of the contract.
func (s *apiServer) login(t *testing.T) tokens {
	t.Helper()
	return s.signIn(t, aliceEmail, alicePassword)
}

// signIn signs a user in and checks the whole login answer.
func (s *apiServer) signIn(t *testing.T, email, password string) tokens {
	t.Helper()
	r := s.do("POST", "/api/login", "", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password))
	return signedIn(t, "login", r, email)
}

// signedIn checks an answer shaped like a login's (login, reauth, password
// change) for the user email, and returns its tokens.
func signedIn(t *testing.T, what string, r response, email string) tokens {
	t.Helper()
	wantStatus(t, what, r, http.StatusOK)
	m := r.json(t)
	access, _ := m["token"].(string)
	refresh, _ := m["refresh_token"].(string)
	exp, _ := m["exp"].(float64)
	user, _ := m["user"].(map[string]any)
	if access == "" || refresh == "" || exp == 0 || user["id"] == nil || user["email"] != email {
		t.Fatalf("%s body = %s, want token, refresh_token, exp, user{id,email}", what, r.body)
	}
	if got := m["token_type"]; got != "Bearer" {
		t.Errorf("%s token_type = %v, want Bearer (no DPoP proof was sent)", what, got)
	}
	if got := r.header.Get("Authorization"); got != "Bearer "+access {
		t.Errorf("%s Authorization header = %q, want Bearer + the token", what, got)
	}
	if got := r.header.Get("X-Expires"); got != strconv.FormatInt(int64(exp), 10) {
		t.Errorf("%s X-Expires = %q, want %d", what, got, int64(exp))
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("%s Cache-Control = %q, want no-store", what, got)
	}
	return tokens{access: access, refresh: refresh}
}

func (s *apiServer) refresh(refreshToken string) response {
	body, _ := json.Marshal(map[string]string{"refresh_token": refreshToken})
	return s.do("POST", "/api/refresh", "", string(body))
}

// stores lists the -store values to walk the contract with: an SQLite file
// always, and the servers the test environment names. Under CI=true every
// server must be named.
func stores(t *testing.T) map[string]string {
	specs := map[string]string{"sqlite": filepath.Join(t.TempDir(), "revocations.db")}
	for name, env := range map[string]string{
		"postgres": "GUARDIAN_TEST_POSTGRES_DSN",
		"mysql":    "GUARDIAN_TEST_MYSQL_DSN",
		"redis":    "GUARDIAN_TEST_REDIS_URL",
	} {
		v := os.Getenv(env)
		if v == "" {
			if os.Getenv("CI") == "true" {
				t.Errorf("%s is not set; CI must run the contract against %s", env, name)
			} else {
				t.Logf("%s not set: skipping the contract against %s", env, name)
			}
			continue
		}
		if name == "mysql" && !strings.HasPrefix(v, "mysql://") {
			v = mysqlURL(t, v)
		}
		specs[name] = v
	}
	return specs
}

// mysqlURL turns a driver DSN such as root@tcp(127.0.0.1:3306)/test into
// the mysql:// URL the -store flag takes.
func mysqlURL(t *testing.T, dsn string) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("GUARDIAN_TEST_MYSQL_DSN: %v", err)
	}
	u := url.URL{Scheme: "mysql", Host: cfg.Addr, Path: "/" + cfg.DBName}
	if cfg.Passwd != "" {
		u.User = url.UserPassword(cfg.User, cfg.Passwd)
	} else {
		u.User = url.User(cfg.User)
	}
	return u.String()
}

func TestContract(t *testing.T) {
	for name, spec := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			walkContract(t, spec)
		})
	}
}

func walkContract(t *testing.T, store string) {
	s := startServer(t, "-store", store)

	t.Run("login failures", func(t *testing.T) {
		wrong := s.do("POST", "/api/login", "", fmt.Sprintf(`{"email":%q,"password":"wrong"}`, aliceEmail))
		unknown := s.do("POST", "/api/login", "", `{"email":"mallory@example.com","password":"wrong"}`)
		wantStatus(t, "wrong password", wrong, http.StatusUnauthorized)
		wantStatus(t, "unknown user", unknown, http.StatusUnauthorized)
		if !bytes.Equal(wrong.body, unknown.body) {
			t.Errorf("wrong password body %s differs from unknown user body %s", wrong.body, unknown.body)
		}
		if wrong.json(t)["error"] == nil {
			t.Errorf("401 body %s has no error field", wrong.body)
		}
		for name, body := range map[string]string{
			"malformed JSON": `{"email":`,
			"not an object":  `["alice"]`,
			"empty body":     ``,
			"oversized body": `{"email":"` + strings.Repeat("a", 64<<10) + `","password":"x"}`,
		} {
			r := s.do("POST", "/api/login", "", body)
			wantStatus(t, name, r, http.StatusBadRequest)
		}
	})

	t.Run("me", func(t *testing.T) {
		tok := s.login(t)
		r := s.do("GET", "/api/me", tok.access, "")
		wantStatus(t, "me", r, http.StatusOK)
		if m := r.json(t); m["email"] != aliceEmail || m["id"] == nil {
			t.Errorf("me body = %s, want id and email", r.body)
		}
		r = s.do("GET", "/api/me", "", "")
		wantStatus(t, "me without token", r, http.StatusUnauthorized)
		if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer realm=") || strings.Contains(got, "error=") {
			t.Errorf("no-token challenge = %q, want Bearer realm=… without error", got)
		}
		req, _ := http.NewRequest("GET", s.base+"/api/me", nil)
		req.Header.Set("Authorization", "Bearer")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_request"`) {
			t.Errorf("malformed header: %d %q, want 400 invalid_request", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		r = s.do("GET", "/api/me", tok.access+"x", "")
		wantStatus(t, "me with a bad token", r, http.StatusUnauthorized)
		if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
			t.Errorf("bad-token challenge = %q, want invalid_token", got)
		}
		r = s.do("GET", "/api/me", tok.refresh, "")
		wantStatus(t, "me with a refresh token", r, http.StatusUnauthorized)
	})

	t.Run("refresh rotation and reuse", func(t *testing.T) {
		tok := s.login(t)
		wantStatus(t, "refresh with an access token", s.refresh(tok.access), http.StatusUnauthorized)
		wantStatus(t, "refresh without a token", s.do("POST", "/api/refresh", "", `{}`), http.StatusBadRequest)

		r := s.refresh(tok.refresh)
		wantStatus(t, "refresh", r, http.StatusOK)
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("refresh Cache-Control = %q, want no-store", got)
		}
		m := r.json(t)
		next := tokens{access: m["token"].(string), refresh: m["refresh_token"].(string)}
		if next.refresh == tok.refresh || next.access == tok.access {
			t.Fatal("refresh returned the same tokens")
		}
		if got := r.header.Get("Authorization"); got != "Bearer "+next.access {
			t.Errorf("refresh Authorization header = %q, want Bearer + the new access token", got)
		}
		if got := m["token_type"]; got != "Bearer" {
			t.Errorf("refresh token_type = %v, want Bearer", got)
		}
		if got, want := r.header.Get("X-Expires"), strconv.FormatInt(int64(m["exp"].(float64)), 10); got != want {
			t.Errorf("refresh X-Expires = %q, want %s", got, want)
		}
		wantStatus(t, "me with the refreshed access token", s.do("GET", "/api/me", next.access, ""), http.StatusOK)

		// Reuse of the consumed refresh token: refused, and its family dies.
		wantStatus(t, "refresh token used twice", s.refresh(tok.refresh), http.StatusUnauthorized)
		wantStatus(t, "rotated refresh token after reuse", s.refresh(next.refresh), http.StatusUnauthorized)
		wantStatus(t, "access token of the family after reuse", s.do("GET", "/api/me", next.access, ""), http.StatusUnauthorized)
	})

	var loggedOut tokens
	t.Run("logout", func(t *testing.T) {
		loggedOut = s.login(t)
		r := s.do("POST", "/api/logout", loggedOut.access, "")
		if r.status != http.StatusOK && r.status != http.StatusNoContent {
			t.Fatalf("logout: status %d, want 200 or 204", r.status)
		}
		wantStatus(t, "me after logout", s.do("GET", "/api/me", loggedOut.access, ""), http.StatusUnauthorized)
		wantStatus(t, "refresh after logout", s.refresh(loggedOut.refresh), http.StatusUnauthorized)
		wantStatus(t, "logout again", s.do("POST", "/api/logout", loggedOut.access, ""), http.StatusUnauthorized)
	})

	t.Run("restart keeps revocations", func(t *testing.T) {
		if loggedOut.access == "" {
			t.Skip("logout failed")
		}
		live := s.login(t)
		s.stop()
		for _, secret := range []string{loggedOut.access, loggedOut.refresh, live.access, alicePassword, testSecret} {
			if strings.Contains(s.logs.String(), secret) {
				t.Fatalf("the server logged a token, password or key:\n%s", s.logs)
			}
		}
		if !strings.Contains(s.logs.String(), `"msg":"stopped"`) {
			t.Errorf("no graceful shutdown in the logs:\n%s", s.logs)
		}
		s2 := startServer(t, "-store", store)
		defer s2.stop()
		wantStatus(t, "logged-out token after restart", s2.do("GET", "/api/me", loggedOut.access, ""), http.StatusUnauthorized)
		wantStatus(t, "logged-out refresh token after restart", s2.refresh(loggedOut.refresh), http.StatusUnauthorized)
		wantStatus(t, "live token after restart", s2.do("GET", "/api/me", live.access, ""), http.StatusOK)
		wantStatus(t, "no JWK set in HS256 mode", s2.do("GET", "/.well-known/jwks.json", "", ""), http.StatusNotFound)
	})
}

func TestAsymmetricModeServesJWKS(t *testing.T) {
	for _, alg := range []string{"EdDSA", "ES256", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			key := filepath.Join("testdata", strings.ToLower(alg)+".pem")
			s := startServer(t, "-alg", alg, "-key", key, "-store", filepath.Join(t.TempDir(), "r.db"))
			defer s.stop()
			tok := s.login(t)
			wantStatus(t, "me", s.do("GET", "/api/me", tok.access, ""), http.StatusOK)

			r := s.do("GET", "/.well-known/jwks.json", "", "")
			wantStatus(t, "jwks", r, http.StatusOK)
			if !strings.Contains(r.header.Get("Cache-Control"), "max-age=") {
				t.Errorf("JWKS Cache-Control = %q, want a max-age", r.header.Get("Cache-Control"))
			}
			keys, err := guardian.ParseJWKS(r.body)
			if err != nil {
				t.Fatalf("ParseJWKS(%s): %v", r.body, err)
			}
			if len(keys) != 1 || string(keys[0].Algorithm()) != alg || keys[0].ID() == "" {
				t.Fatalf("JWK set = %s, want one %s key with a kid", r.body, alg)
			}
			if bytes.Contains(r.body, []byte(`"d"`)) {
				t.Fatalf("JWK set leaks the private key: %s", r.body)
			}
			// Verify the issued token with nothing but the published set.
			set, err := guardian.NewVerifyKeySet(keys...)
			if err != nil {
				t.Fatal(err)
			}
			verifier, err := guardian.NewIssuer(set, &guardian.IssuerOptions{Issuer: "guardian-example", Audience: []string{"guardian-example"}})
			if err != nil {
				t.Fatal(err)
			}
			c, err := verifier.Verify(context.Background(), tok.access)
			if err != nil {
				t.Fatalf("verify the server's token with its JWK set: %v", err)
			}
			if c.Subject == "" {
				t.Fatal("verified token has no subject")
			}
		})
	}
}

func TestBadFlags(t *testing.T) {
	bin := serverBinary(t)
	for name, args := range map[string][]string{
		"alg without key":  {"-alg", "EdDSA"},
		"unknown alg":      {"-alg", "HS1", "-key", "testdata/eddsa.pem"},
		"key of other alg": {"-alg", "ES256", "-key", "testdata/eddsa.pem"},
		"unknown store":    {"-store", "ftp://x"},
		"extra argument":   {"extra"},
	} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("server started with %v; want an error exit\n%s", args, out)
			}
			if bytes.Contains(out, []byte("panic")) {
				t.Fatalf("server panicked:\n%s", out)
			}
		})
	}
	t.Run("short secret", func(t *testing.T) {
		cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
		cmd.Env = append(os.Environ(), "AUTH_SECRET=short")
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Fatalf("server started with a 5-byte secret\n%s", out)
		}
	})
}
