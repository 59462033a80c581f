package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/guardian-go/guardian"
)

// In-process tests of the authorization routes: permissions
// (/api/admin/users), step-up (/api/reauth) and the password change
// (/api/password), on the server's fake clock.

const (
	rootEmail = "root@example.com"

	challengeScope  = `Bearer realm="api", error="insufficient_scope", scope="admin.users_read"`
	challengeClaim  = `Bearer realm="api", error="insufficient_scope", error_description="insufficient scope"`
	challengeMaxAge = `Bearer realm="api", error="insufficient_user_authentication", error_description="a more recent authentication is required", max_age="300"`
)

// serveLoginAs signs a user in, in process, and checks the login answer.
func serveLoginAs(t *testing.T, s *server, email, password string) tokens {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return signedIn(t, "login "+email, serve(s, "POST", "/api/login", "", string(body)), email)
}

func serveReauth(s *server, token, password string) response {
	body, _ := json.Marshal(map[string]string{"password": password})
	return serve(s, "POST", "/api/reauth", token, string(body))
}

func servePassword(s *server, token, newPassword string) response {
	body, _ := json.Marshal(map[string]string{"new_password": newPassword})
	return serve(s, "POST", "/api/password", token, string(body))
}

// jwtPayload decodes a token's payload, without verifying it.
func jwtPayload(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a compact JWS", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func wantChallenge(t *testing.T, what string, r response, want string) {
	t.Helper()
	if got := r.header.Get("WWW-Authenticate"); got != want {
		t.Errorf("%s: WWW-Authenticate = %q, want %q", what, got, want)
	}
}

// newClockedServer is a test server on a fake clock at a whole second.
func newClockedServer(t *testing.T) (*server, *fakeClock, *syncBuffer) {
	t.Helper()
	clock := newFakeClock()
	clock.t = clock.t.Truncate(time.Second)
	s, logs := newTestServerAt(t, guardian.NewMemoryRevoker(nil), clock.now)
	return s, clock, logs
}

// Each user's tokens grant their permissions, also after a refresh.
func TestTokensGrantTheUsersPermissions(t *testing.T) {
	s, _ := newTestServer(t, guardian.NewMemoryRevoker(nil))
	for email, want := range map[string][]string{
		aliceEmail: {"default.profile"},
		rootEmail:  {"default.profile", "admin.users_read"},
	} {
		tok := serveLoginAs(t, s, email, alicePassword)
		r := serveRefresh(s, tok.refresh)
		wantStatus(t, "refresh", r, http.StatusOK)
		for what, raw := range map[string]string{"login": tok.access, "refresh": r.json(t)["token"].(string)} {
			c, err := s.g.Issuer().Verify(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.perms.Granted(c); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
				t.Errorf("%s's %s token grants %v, want %v", email, what, got, want)
			}
		}
	}
}

// GET /api/admin/users needs admin.users_read: root gets the users by ID,
// alice 403 insufficient_scope naming the permission.
func TestAdminUsers(t *testing.T) {
	s, _ := newTestServer(t, guardian.NewMemoryRevoker(nil))
	root := serveLoginAs(t, s, rootEmail, alicePassword)
	r := serve(s, "GET", "/api/admin/users", root.access, "")
	wantStatus(t, "admin users as root", r, http.StatusOK)
	if want := `{"users":[{"id":"1","email":"alice@example.com"},{"id":"2","email":"root@example.com"}]}` + "\n"; string(r.body) != want {
		t.Errorf("admin users body = %s, want %s", r.body, want)
	}

	alice := serveLogin(t, s)
	r = serve(s, "GET", "/api/admin/users", alice.access, "")
	wantStatus(t, "admin users as alice", r, http.StatusForbidden)
	wantChallenge(t, "admin users as alice", r, challengeScope)
	if code := r.json(t)["error"]; code != "insufficient_scope" {
		t.Errorf("403 error = %v, want insufficient_scope", code)
	}
	r = serve(s, "GET", "/api/admin/users", "", "")
	wantStatus(t, "admin users without a token", r, http.StatusUnauthorized)
	wantChallenge(t, "admin users without a token", r, `Bearer realm="api"`)
	wantStatus(t, "admin users with a refresh token", serve(s, "GET", "/api/admin/users", root.refresh, ""), http.StatusUnauthorized)
	if got := testutil.ToFloat64(s.metrics.refusals.WithLabelValues("insufficient_scope")); got != 1 {
		t.Errorf(`guardian_refusals_total{reason="insufficient_scope"} = %v, want 1`, got)
	}
}

// POST /api/reauth answers like a login, with auth_time now, amr pwd and
// the family of the request's token: logging out with the new pair ends
// the old one too.
func TestReauth(t *testing.T) {
	s, clock, logs := newClockedServer(t)
	login := serveLogin(t, s)
	clock.advance(100 * time.Second)

	r := serveReauth(s, login.access, alicePassword)
	next := signedIn(t, "reauth", r, aliceEmail)
	old, fresh := jwtPayload(t, login.access), jwtPayload(t, next.access)
	if got, want := fresh["auth_time"], float64(clock.now().Unix()); got != want {
		t.Errorf("reauth auth_time = %v, want now (%v); the login's was %v", got, want, old["auth_time"])
	}
	if fresh["fam"] != old["fam"] || jwtPayload(t, next.refresh)["fam"] != old["fam"] {
		t.Errorf("reauth family = %v, want the login's %v", fresh["fam"], old["fam"])
	}
	if amr, _ := json.Marshal(fresh["amr"]); string(amr) != `["pwd"]` {
		t.Errorf("reauth amr = %s, want [\"pwd\"]", amr)
	}
	wantStatus(t, "me with the old token", serve(s, "GET", "/api/me", login.access, ""), http.StatusOK)
	wantStatus(t, "logout with the new token", serve(s, "POST", "/api/logout", next.access, ""), http.StatusNoContent)
	wantStatus(t, "old token after logout", serve(s, "GET", "/api/me", login.access, ""), http.StatusUnauthorized)
	wantStatus(t, "old refresh token after logout", serveRefresh(s, login.refresh), http.StatusUnauthorized)
	wantStatus(t, "new refresh token after logout", serveRefresh(s, next.refresh), http.StatusUnauthorized)

	tok := serveLogin(t, s)
	r = serveReauth(s, tok.access, "wrong")
	wantStatus(t, "reauth with a wrong password", r, http.StatusUnauthorized)
	if code := r.json(t)["error"]; code != "invalid_credentials" {
		t.Errorf("wrong password: error = %v, want invalid_credentials", code)
	}
	wantStatus(t, "reauth with malformed JSON", serve(s, "POST", "/api/reauth", tok.access, `{"password":`), http.StatusBadRequest)
	r = serveReauth(s, "", alicePassword)
	wantStatus(t, "reauth without a token", r, http.StatusUnauthorized)
	wantChallenge(t, "reauth without a token", r, `Bearer realm="api"`)
	r = serveReauth(s, tok.access+"x", alicePassword)
	wantStatus(t, "reauth with a bad token", r, http.StatusUnauthorized)
	if !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("bad token challenge = %q, want invalid_token", r.header.Get("WWW-Authenticate"))
	}
	wantStatus(t, "reauth with a refresh token", serveReauth(s, tok.refresh, alicePassword), http.StatusUnauthorized)

	for outcome, want := range map[string]float64{loginOK: 1, loginInvalid: 1, loginInvalidRequest: 1, loginRateLimited: 0} {
		if got := testutil.ToFloat64(s.metrics.reauths.WithLabelValues(outcome)); got != want {
			t.Errorf("guardian_reauths_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	if strings.Contains(logs.String(), alicePassword) {
		t.Fatalf("the log holds the password:\n%s", logs)
	}
}

// Failed reauthentications spend the login budget of the account: the
// same limiter, the same 429.
func TestReauthIsRateLimitedLikeLogin(t *testing.T) {
	s, clock, _ := newClockedServer(t)
	tok := serveLogin(t, s)
	checks := 0
	check := s.checkPassword
	s.checkPassword = func(hash, password string) error { checks++; return check(hash, password) }
	for n := range 5 {
		wantStatus(t, fmt.Sprintf("wrong password #%d", n+1), serveReauth(s, tok.access, "wrong"), http.StatusUnauthorized)
	}
	before := checks
	r := serveReauth(s, tok.access, alicePassword)
	wantStatus(t, "6th attempt", r, http.StatusTooManyRequests)
	if got := r.header.Get("Retry-After"); got != "180" {
		t.Errorf("Retry-After = %q, want 180", got)
	}
	if code := r.json(t)["error"]; code != "too_many_attempts" {
		t.Errorf("429 error = %v, want too_many_attempts", code)
	}
	if checks != before {
		t.Error("a limited reauthentication checked the password")
	}
	body, _ := json.Marshal(map[string]string{"email": aliceEmail, "password": alicePassword})
	wantStatus(t, "login of the same account", serve(s, "POST", "/api/login", "", string(body)), http.StatusTooManyRequests)
	if got := testutil.ToFloat64(s.metrics.reauths.WithLabelValues(loginRateLimited)); got != 1 {
		t.Errorf(`guardian_reauths_total{outcome="rate_limited"} = %v, want 1`, got)
	}
	clock.advance(3 * time.Minute)
	signedIn(t, "reauth 3 minutes later", serveReauth(s, tok.access, alicePassword), aliceEmail)
}

// An impersonation token can neither step up nor change the password:
// 403, before any password check.
func TestImpersonationCannotReauthOrChangePassword(t *testing.T) {
	s, _ := newTestServer(t, guardian.NewMemoryRevoker(nil))
	root := serveLoginAs(t, s, rootEmail, alicePassword)
	actor, err := s.g.Issuer().Verify(context.Background(), root.access)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := s.users.byID("1")
	if err != nil {
		t.Fatal(err)
	}
	imp, err := s.g.Impersonate(context.Background(), actor, alice)
	if err != nil {
		t.Fatal(err)
	}
	checks := 0
	s.checkPassword = func(string, string) error { checks++; return nil }
	wantStatus(t, "me as the impersonated user", serve(s, "GET", "/api/me", imp.Raw, ""), http.StatusOK)
	r := serveReauth(s, imp.Raw, alicePassword)
	wantStatus(t, "reauth with an impersonation token", r, http.StatusForbidden)
	wantChallenge(t, "reauth with an impersonation token", r, challengeClaim)
	r = servePassword(s, imp.Raw, "a new password")
	wantStatus(t, "password change with an impersonation token", r, http.StatusForbidden)
	wantChallenge(t, "password change with an impersonation token", r, challengeClaim)
	if checks != 0 {
		t.Errorf("the impersonation's reauthentication checked the password %d times", checks)
	}
}

// POST /api/password wants an authentication of at most 300 s, plus the
// issuer's leeway of 5 s: 305 s after the login it passes, 306 s not.
func TestPasswordNeedsARecentAuthentication(t *testing.T) {
	s, clock, _ := newClockedServer(t)
	tok := serveLogin(t, s)
	clock.advance(passwordMaxAge + 5*time.Second)
	// A too-short password: 400 once the route let the request through.
	wantStatus(t, "305 s after the login", servePassword(s, tok.access, "short"), http.StatusBadRequest)
	clock.advance(time.Second)
	r := servePassword(s, tok.access, "a new password")
	wantStatus(t, "306 s after the login", r, http.StatusUnauthorized)
	wantChallenge(t, "306 s after the login", r, challengeMaxAge)
	if code := r.json(t)["error"]; code != "insufficient_user_authentication" {
		t.Errorf("401 error = %v, want insufficient_user_authentication", code)
	}
	if got := testutil.ToFloat64(s.metrics.refusals.WithLabelValues("insufficient_user_authentication")); got != 1 {
		t.Errorf(`guardian_refusals_total{reason="insufficient_user_authentication"} = %v, want 1`, got)
	}

	// A refresh keeps auth_time; a reauthentication renews it.
	r = serveRefresh(s, tok.refresh)
	wantStatus(t, "refresh", r, http.StatusOK)
	refreshed := r.json(t)["token"].(string)
	wantChallenge(t, "refreshed token", servePassword(s, refreshed, "a new password"), challengeMaxAge)
	next := signedIn(t, "reauth", serveReauth(s, refreshed, alicePassword), aliceEmail)
	signedIn(t, "password change after reauth", servePassword(s, next.access, "a new password"), aliceEmail)
}

// A password change ends every login of the user (access and refresh
// tokens) and answers with a new one; the old password stops working and
// the new one logs in. Other users are not touched.
func TestPasswordChange(t *testing.T) {
	s, _, logs := newClockedServer(t)
	a, b := serveLogin(t, s), serveLogin(t, s)
	root := serveLoginAs(t, s, rootEmail, alicePassword)
	const newPassword = "a brand new passphrase"

	for name, body := range map[string]string{
		"malformed JSON":  `{"new_password":`,
		"7 bytes":         `{"new_password":"1234567"}`,
		"73 bytes":        `{"new_password":"` + strings.Repeat("x", 73) + `"}`,
		"no new_password": `{}`,
	} {
		r := serve(s, "POST", "/api/password", a.access, body)
		wantStatus(t, name, r, http.StatusBadRequest)
		if code := r.json(t)["error"]; code != "invalid_request" {
			t.Errorf("%s: error = %v, want invalid_request", name, code)
		}
	}
	r := servePassword(s, "", newPassword)
	wantStatus(t, "no token", r, http.StatusUnauthorized)
	wantChallenge(t, "no token", r, `Bearer realm="api"`)

	next := signedIn(t, "password change", servePassword(s, a.access, newPassword), aliceEmail)
	if jwtPayload(t, next.access)["pwv"] != float64(1) {
		t.Errorf("new token's pwv = %v, want 1", jwtPayload(t, next.access)["pwv"])
	}
	wantStatus(t, "me with the new token", serve(s, "GET", "/api/me", next.access, ""), http.StatusOK)
	for name, raw := range map[string]string{"caller's": a.access, "other login's": b.access} {
		r := serve(s, "GET", "/api/me", raw, "")
		wantStatus(t, name+" old access token", r, http.StatusUnauthorized)
		if !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s old access token: challenge %q, want invalid_token", name, r.header.Get("WWW-Authenticate"))
		}
	}
	wantStatus(t, "old refresh token of the other login", serveRefresh(s, b.refresh), http.StatusUnauthorized)
	wantStatus(t, "old refresh token of the caller", serveRefresh(s, a.refresh), http.StatusUnauthorized)
	wantStatus(t, "old token changes the password again", servePassword(s, b.access, "yet another one"), http.StatusUnauthorized)

	body, _ := json.Marshal(map[string]string{"email": aliceEmail, "password": alicePassword})
	wantStatus(t, "login with the old password", serve(s, "POST", "/api/login", "", string(body)), http.StatusUnauthorized)
	fresh := serveLoginAs(t, s, aliceEmail, newPassword)
	wantStatus(t, "me after login with the new password", serve(s, "GET", "/api/me", fresh.access, ""), http.StatusOK)
	wantStatus(t, "refresh of the new pair", serveRefresh(s, next.refresh), http.StatusOK)
	wantStatus(t, "root's login", serve(s, "GET", "/api/me", root.access, ""), http.StatusOK)
	if strings.Contains(logs.String(), newPassword) {
		t.Fatalf("the log holds the new password:\n%s", logs)
	}
}

// setPassword changes a user only from the version the caller saw, and
// leaves the users already loaded as they were.
func TestSetPasswordVersions(t *testing.T) {
	st := newUserStore()
	st.add("1", aliceEmail, "old hash", nil)
	before, _ := st.byID("1")
	u, err := st.setPassword("1", 0, "hash")
	if err != nil || u.pwv != 1 || u.passwordHash != "hash" {
		t.Fatalf("setPassword = %+v, %v; want version 1 with the hash", u, err)
	}
	if before.pwv != 0 || before.passwordHash == "hash" {
		t.Errorf("the user loaded before changed: %+v", before)
	}
	if byEmail, _ := st.byEmail(aliceEmail); byEmail != u {
		t.Error("byEmail does not return the new version")
	}
	for _, tc := range []struct {
		id  string
		pwv int
	}{{"1", 0}, {"9", 0}} {
		if _, err := st.setPassword(tc.id, tc.pwv, "other"); !errors.Is(err, guardian.ErrResourceNotFound) {
			t.Errorf("setPassword(%q, %d) = %v, want ErrResourceNotFound", tc.id, tc.pwv, err)
		}
	}
}

// A token without the pwv claim, or of another version, loads no user.
func TestLoadUserChecksThePasswordVersion(t *testing.T) {
	s, _ := newTestServer(t, guardian.NewMemoryRevoker(nil))
	for name, custom := range map[string]any{
		"no pwv":      nil,
		"other pwv":   map[string]any{"pwv": 7},
		"pwv string":  map[string]any{"pwv": "0"},
		"current pwv": map[string]any{"pwv": 0},
	} {
		tok, err := s.g.Issuer().Issue(context.Background(), "1", &guardian.IssueOptions{Custom: custom})
		if err != nil {
			t.Fatal(err)
		}
		r := serve(s, "GET", "/api/me", tok.Raw, "")
		want := http.StatusUnauthorized
		if name == "current pwv" {
			want = http.StatusOK
		}
		wantStatus(t, name+" (status "+strconv.Itoa(want)+")", r, want)
	}
}
