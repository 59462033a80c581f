package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian/internal/faultproxy"
)

// End-to-end tests of DPoP (RFC 9449) with the built binary, against every
// store: logins and refreshes with a proof get tokens bound to its key,
// which then need a proof on every route; the store is the replay cache,
// shared by the instances on it. The proofs are made in Go (dpopkey_test.go);
// e2e_dpop_node_test.go makes them with npm libraries.

// dpopAlgs is the algs parameter of the server's DPoP challenges: the
// library's default proof algorithms.
const dpopAlgs = `algs="ES256 EdDSA Ed25519 ES384 PS256 RS256"`

// dpopChallenge is the server's DPoP challenge, without error parameters:
// beside the Bearer one, it tells a client it may use DPoP.
const dpopChallenge = `DPoP realm="api", ` + dpopAlgs

// dpopRefusal is the challenge of a refused proof.
const dpopRefusal = dpopChallenge + `, error="invalid_dpop_proof", error_description="invalid DPoP proof"`

// dpopCall is one request of a DPoP client.
type dpopCall struct {
	method, path string
	auth         string   // the Authorization header, when set
	proofs       []string // the DPoP headers, in order
	json         string   // a JSON body, when set
	form         string   // a form body, when set
	host         string   // the Host header, when not the server's own address
}

// send makes the request c to s.
func (s *apiServer) send(c dpopCall) response {
	s.t.Helper()
	body, ctype := c.json, "application/json"
	if c.form != "" {
		body, ctype = c.form, "application/x-www-form-urlencoded"
	}
	req, err := http.NewRequest(c.method, s.base+c.path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	for _, p := range c.proofs {
		req.Header.Add("DPoP", p)
	}
	if c.host != "" {
		req.Host = c.host
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
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

// url is the absolute URL of path on s: what a proof's htu names.
func (s *apiServer) url(path string) string { return s.base + path }

// credentialsOf is the JSON body of a login.
func credentialsOf(email, password string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return string(b)
}

// dpopLogin signs email in with a proof of key and checks the whole
// answer: a pair bound to key.
func (s *apiServer) dpopLogin(t *testing.T, key *dpopKey, email string) tokens {
	t.Helper()
	r := s.send(dpopCall{method: "POST", path: "/api/login", json: credentialsOf(email, alicePassword),
		proofs: []string{key.proof(t, "POST", s.url("/api/login"), "")}})
	return boundAnswer(t, "login with a proof", r, key, email)
}

// boundAnswer checks an answer that hands out a pair bound to key (a
// login's when email is set, else a refresh's), and returns its tokens.
func boundAnswer(t *testing.T, what string, r response, key *dpopKey, email string) tokens {
	t.Helper()
	wantStatus(t, what, r, http.StatusOK)
	var body struct {
		Token        string `json:"token"`
		TokenType    string `json:"token_type"`
		RefreshToken string `json:"refresh_token"`
		Exp          int64  `json:"exp"`
		User         *struct {
			ID    string `json:"id"`
			Email string `json:"email"`
		} `json:"user"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("%s: body %s: %v", what, r.body, err)
	}
	if body.Token == "" || body.RefreshToken == "" || body.Exp == 0 {
		t.Fatalf("%s: body %s, want token, token_type, refresh_token, exp", what, r.body)
	}
	if body.TokenType != "DPoP" {
		t.Errorf("%s: token_type %q, want DPoP", what, body.TokenType)
	}
	switch {
	case email != "" && (body.User == nil || body.User.Email != email || body.User.ID == ""):
		t.Errorf("%s: body %s, want user{id,email} of %s", what, r.body, email)
	case email == "" && body.User != nil:
		t.Errorf("%s: body %s has a user; a refresh's has none", what, r.body)
	}
	if got := r.header.Get("Authorization"); got != "DPoP "+body.Token {
		t.Errorf("%s: Authorization header %.30q…, want DPoP + the token", what, got)
	}
	if got, want := r.header.Get("X-Expires"), strconv.FormatInt(body.Exp, 10); got != want {
		t.Errorf("%s: X-Expires %q, want %s", what, got, want)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", what, got)
	}
	for name, tok := range map[string]string{"access": body.Token, "refresh": body.RefreshToken} {
		if got := jktOf(t, tok); got != key.jkt {
			t.Errorf("%s: the %s token's cnf.jkt is %q, want the key's thumbprint %q", what, name, got, key.jkt)
		}
	}
	return tokens{access: body.Token, refresh: body.RefreshToken}
}

// wantRefusal checks a refused request: its status, the error of its
// body and its WWW-Authenticate challenges, in order.
func wantRefusal(t *testing.T, what string, r response, status int, code string, challenges ...string) {
	t.Helper()
	wantStatus(t, what, r, status)
	if got := r.header.Values("WWW-Authenticate"); strings.Join(got, "\n") != strings.Join(challenges, "\n") {
		t.Errorf("%s: WWW-Authenticate %q, want %q", what, got, challenges)
	}
	if got := r.json(t)["error"]; got != code {
		t.Errorf("%s: error %v, want %s", what, got, code)
	}
	if r.header.Get("Authorization") != "" {
		t.Errorf("%s: a refusal hands out a token", what)
	}
}

// wantProofRefused checks the refusal of a bad proof: 401 at a resource,
// 400 at a login or refresh (RFC 9449 §5: a token request's error).
func wantProofRefused(t *testing.T, what string, r response, status int) {
	t.Helper()
	wantRefusal(t, what, r, status, "invalid_dpop_proof", dpopRefusal)
}

func TestDPoPContract(t *testing.T) {
	for name, spec := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			walkDPoP(t, spec)
		})
	}
}

func walkDPoP(t *testing.T, store string) {
	s := startServer(t, "-store", store)
	key, other := newDPoPKey(t), newDPoPKey(t)
	me := s.url("/api/me")
	var proofs []string // every proof sent, to look for in the logs

	t.Run("login", func(t *testing.T) {
		tok := s.dpopLogin(t, key, aliceEmail)
		if jktOf(t, tok.access) == "" {
			t.Fatal("the login's token has no cnf.jkt")
		}
		// Without a proof: bearer tokens, exactly as before.
		plain := s.login(t)
		if got := jktOf(t, plain.access); got != "" {
			t.Errorf("a login without a proof got a token bound to %q", got)
		}
		good := key.proof(t, "POST", s.url("/api/login"), "")
		body := credentialsOf(aliceEmail, alicePassword)
		for _, c := range []struct {
			name   string
			proofs []string
		}{
			{"a proof for another URL", []string{key.proof(t, "POST", s.url("/api/refresh"), "")}},
			{"a proof for another method", []string{key.proof(t, "GET", s.url("/api/login"), "")}},
			{"two DPoP headers", []string{good, key.proof(t, "POST", s.url("/api/login"), "")}},
			{"a DPoP header that is no JWS", []string{"not a proof"}},
			{"an empty DPoP header", []string{""}},
			{"a proof over 4 KiB", []string{strings.Repeat("a", 5<<10)}},
			{"a proof issued ten minutes ago", []string{key.sign(t, map[string]any{
				"jti": randomID(t), "htm": "POST", "htu": s.url("/api/login"), "iat": time.Now().Add(-10 * time.Minute).Unix()})}},
		} {
			r := s.send(dpopCall{method: "POST", path: "/api/login", json: body, proofs: c.proofs})
			wantProofRefused(t, "login with "+c.name, r, http.StatusBadRequest)
			proofs = append(proofs, c.proofs...)
		}
		s.dpopLoginWith(t, good, key) // none of the refusals spent it
		r := s.send(dpopCall{method: "POST", path: "/api/login", json: body, proofs: []string{good}})
		wantProofRefused(t, "login with a replayed proof", r, http.StatusBadRequest)
		r = s.send(dpopCall{method: "POST", path: "/api/login", json: credentialsOf(aliceEmail, "wrong"),
			proofs: []string{key.proof(t, "POST", s.url("/api/login"), "")}})
		wantStatus(t, "wrong password with a proof", r, http.StatusUnauthorized)
		if got := r.json(t)["error"]; got != "invalid_credentials" {
			t.Errorf("wrong password with a proof: error %v, want invalid_credentials", got)
		}
		proofs = append(proofs, good)
	})

	t.Run("me", func(t *testing.T) {
		tok := s.dpopLogin(t, key, aliceEmail)
		auth := "DPoP " + tok.access
		p := key.proof(t, "GET", me, tok.access)
		proofs = append(proofs, p)
		r := s.send(dpopCall{method: "GET", path: "/api/me", auth: auth, proofs: []string{p}})
		wantStatus(t, "me with a proof", r, http.StatusOK)
		if m := r.json(t); m["email"] != aliceEmail || m["id"] != "1" {
			t.Errorf("me: body %s, want alice", r.body)
		}
		wantProofRefused(t, "me with a replayed proof", s.send(dpopCall{method: "GET", path: "/api/me", auth: auth, proofs: []string{p}}), http.StatusUnauthorized)
		// Refused, with a DPoP challenge beside the Bearer one.
		asBearer := []string{`Bearer realm="api", error="invalid_token", error_description="token binding does not fit the request"`, dpopChallenge}
		wantRefusal(t, "the bound token as Bearer", s.send(dpopCall{method: "GET", path: "/api/me", auth: "Bearer " + tok.access}),
			http.StatusUnauthorized, "invalid_token", asBearer...)
		wantRefusal(t, "the bound token as Bearer, with a proof", s.send(dpopCall{method: "GET", path: "/api/me", auth: "Bearer " + tok.access,
			proofs: []string{key.proof(t, "GET", me, tok.access)}}),
			http.StatusUnauthorized, "invalid_token", asBearer...)

		noATH := key.sign(t, map[string]any{"jti": randomID(t), "htm": "GET", "htu": me, "iat": time.Now().Unix()})
		for _, c := range []struct {
			name   string
			proofs []string
		}{
			{"no proof", nil},
			{"a proof for another URL", []string{key.proof(t, "GET", s.url("/api/admin/users"), tok.access)}},
			{"a proof for another method", []string{key.proof(t, "POST", me, tok.access)}},
			{"a proof by another key", []string{other.proof(t, "GET", me, tok.access)}},
			{"a proof without ath", []string{noATH}},
			{"a proof for another token", []string{key.proof(t, "GET", me, tok.refresh)}},
			{"two DPoP headers", []string{key.proof(t, "GET", me, tok.access), key.proof(t, "GET", me, tok.access)}},
			{"a DPoP header that is no JWS", []string{"not a proof"}},
			{"a proof over 4 KiB", []string{strings.Repeat("a", 5<<10)}},
		} {
			r := s.send(dpopCall{method: "GET", path: "/api/me", auth: auth, proofs: c.proofs})
			wantProofRefused(t, "me with "+c.name, r, http.StatusUnauthorized)
			proofs = append(proofs, c.proofs...)
		}
		// Headers over the server's 16 KiB: Go's server answers 431.
		r = s.send(dpopCall{method: "GET", path: "/api/me", auth: auth, proofs: []string{strings.Repeat("a", 32<<10)}})
		if r.status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("me with a 32 KiB DPoP header: %d, want 431", r.status)
		}
		// The refusals spent nothing: a fresh proof works.
		wantStatus(t, "me with a fresh proof after the refusals", s.send(dpopCall{method: "GET", path: "/api/me", auth: auth,
			proofs: []string{key.proof(t, "GET", me, tok.access)}}), http.StatusOK)

		// A bearer token under the DPoP scheme is refused, and still works as Bearer.
		plain := s.login(t)
		wantRefusal(t, "a bearer token under the DPoP scheme", s.send(dpopCall{method: "GET", path: "/api/me", auth: "DPoP " + plain.access,
			proofs: []string{key.proof(t, "GET", me, plain.access)}}),
			http.StatusUnauthorized, "invalid_token", dpopChallenge+`, error="invalid_token", error_description="token binding does not fit the request"`)
		wantStatus(t, "the bearer token as Bearer", s.do("GET", "/api/me", plain.access, ""), http.StatusOK)
		// Without a token: both schemes are offered.
		r = s.send(dpopCall{method: "GET", path: "/api/me"})
		wantStatus(t, "me without a token", r, http.StatusUnauthorized)
		if got, want := strings.Join(r.header.Values("WWW-Authenticate"), "\n"), `Bearer realm="api"`+"\n"+dpopChallenge; got != want {
			t.Errorf("me without a token: challenges %q, want %q", got, want)
		}
		wantRefusal(t, `"Authorization: DPoP" without a token`, s.send(dpopCall{method: "GET", path: "/api/me", auth: "DPoP"}),
			http.StatusBadRequest, "invalid_request", dpopChallenge+`, error="invalid_request", error_description="malformed request"`)
		// Bearer refusals offer DPoP too.
		wantRefusal(t, "a bad bearer token", s.send(dpopCall{method: "GET", path: "/api/me", auth: "Bearer " + plain.access + "x"}),
			http.StatusUnauthorized, "invalid_token", `Bearer realm="api", error="invalid_token", error_description="invalid signature"`, dpopChallenge)
	})

	t.Run("permissions and step-up", func(t *testing.T) {
		root := s.dpopLogin(t, key, "root@example.com")
		users := s.url("/api/admin/users")
		r := s.send(dpopCall{method: "GET", path: "/api/admin/users", auth: "DPoP " + root.access, proofs: []string{key.proof(t, "GET", users, root.access)}})
		wantStatus(t, "admin users for root with a proof", r, http.StatusOK)
		wantProofRefused(t, "admin users without a proof", s.send(dpopCall{method: "GET", path: "/api/admin/users", auth: "DPoP " + root.access}), http.StatusUnauthorized)
		alice := s.dpopLogin(t, key, aliceEmail)
		wantRefusal(t, "admin users for alice", s.send(dpopCall{method: "GET", path: "/api/admin/users", auth: "DPoP " + alice.access,
			proofs: []string{key.proof(t, "GET", users, alice.access)}}),
			http.StatusForbidden, "insufficient_scope", dpopChallenge+`, error="insufficient_scope", scope="admin.users_read"`)

		// A bearer login's refusal offers DPoP beside Bearer.
		plain := s.login(t)
		wantRefusal(t, "admin users for alice with a bearer token", s.do("GET", "/api/admin/users", plain.access, ""),
			http.StatusForbidden, "insufficient_scope", `Bearer realm="api", error="insufficient_scope", scope="admin.users_read"`, dpopChallenge)

		reauth := s.url("/api/reauth")
		body := `{"password":"` + alicePassword + `"}`
		wantProofRefused(t, "reauth without a proof", s.send(dpopCall{method: "POST", path: "/api/reauth", auth: "DPoP " + alice.access, json: body}), http.StatusUnauthorized)
		r = s.send(dpopCall{method: "POST", path: "/api/reauth", auth: "DPoP " + alice.access, json: body, proofs: []string{key.proof(t, "POST", reauth, alice.access)}})
		again := boundAnswer(t, "reauth with a proof", r, key, aliceEmail)
		wantStatus(t, "me with the reauthenticated token", s.send(dpopCall{method: "GET", path: "/api/me", auth: "DPoP " + again.access,
			proofs: []string{key.proof(t, "GET", me, again.access)}}), http.StatusOK)
	})

	t.Run("refresh", func(t *testing.T) {
		tok := s.dpopLogin(t, key, aliceEmail)
		refresh := s.url("/api/refresh")
		body := `{"refresh_token":"` + tok.refresh + `"}`
		for _, c := range []struct {
			name   string
			proofs []string
		}{
			{"no proof", nil},
			{"a proof by another key", []string{other.proof(t, "POST", refresh, "")}},
			{"a proof for another URL", []string{key.proof(t, "POST", s.url("/api/login"), "")}},
			{"two DPoP headers", []string{key.proof(t, "POST", refresh, ""), key.proof(t, "POST", refresh, "")}},
		} {
			r := s.send(dpopCall{method: "POST", path: "/api/refresh", json: body, proofs: c.proofs})
			wantProofRefused(t, "refresh with "+c.name, r, http.StatusBadRequest)
		}
		// None of them spent the refresh token: the retry with a proof works.
		r := s.send(dpopCall{method: "POST", path: "/api/refresh", json: body, proofs: []string{key.proof(t, "POST", refresh, "")}})
		next := boundAnswer(t, "refresh with a proof", r, key, "")
		wantStatus(t, "me with the refreshed token", s.send(dpopCall{method: "GET", path: "/api/me", auth: "DPoP " + next.access,
			proofs: []string{key.proof(t, "GET", me, next.access)}}), http.StatusOK)
		// A form body (RFC 6749 §6) works as well.
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.refresh}}.Encode()
		r = s.send(dpopCall{method: "POST", path: "/api/refresh", form: form, proofs: []string{key.proof(t, "POST", refresh, "")}})
		boundAnswer(t, "refresh with a form body and a proof", r, key, "")
		// The spent refresh token is reuse, proof or not.
		r = s.send(dpopCall{method: "POST", path: "/api/refresh", json: body, proofs: []string{key.proof(t, "POST", refresh, "")}})
		wantStatus(t, "the spent refresh token with a proof", r, http.StatusUnauthorized)

		wantRefusal(t, "refresh with a bearer access token", s.refresh(s.login(t).access),
			http.StatusUnauthorized, "invalid_token", `Bearer realm="api", error="invalid_token", error_description="wrong token type"`, dpopChallenge)
		wantRefusal(t, "refresh with a bound access token", s.refresh(next.access),
			http.StatusUnauthorized, "invalid_token", `Bearer realm="api", error="invalid_token", error_description="wrong token type"`, dpopChallenge)

		// An unbound login's refresh with a proof gets a bound pair.
		plain := s.login(t)
		r = s.send(dpopCall{method: "POST", path: "/api/refresh", json: `{"refresh_token":"` + plain.refresh + `"}`,
			proofs: []string{other.proof(t, "POST", refresh, "")}})
		boundAnswer(t, "an unbound refresh token with a proof", r, other, "")
		// Without one it stays a bearer pair.
		plain = s.login(t)
		r = s.refresh(plain.refresh)
		wantStatus(t, "an unbound refresh token without a proof", r, http.StatusOK)
		if m := r.json(t); m["token_type"] != "Bearer" || r.header.Get("Authorization") != "Bearer "+m["token"].(string) {
			t.Errorf("unbound refresh: token_type %v, Authorization %.20q…, want Bearer", m["token_type"], r.header.Get("Authorization"))
		}
	})

	t.Run("logout", func(t *testing.T) {
		tok := s.dpopLogin(t, key, aliceEmail)
		logout := s.url("/api/logout")
		wantProofRefused(t, "logout without a proof", s.send(dpopCall{method: "POST", path: "/api/logout", auth: "DPoP " + tok.access}), http.StatusUnauthorized)
		r := s.send(dpopCall{method: "POST", path: "/api/logout", auth: "DPoP " + tok.access, proofs: []string{key.proof(t, "POST", logout, tok.access)}})
		wantStatus(t, "logout with a proof", r, http.StatusNoContent)
		wantRefusal(t, "me after logout", s.send(dpopCall{method: "GET", path: "/api/me", auth: "DPoP " + tok.access,
			proofs: []string{key.proof(t, "GET", me, tok.access)}}),
			http.StatusUnauthorized, "invalid_token", dpopChallenge+`, error="invalid_token", error_description="token revoked"`)
		r = s.send(dpopCall{method: "POST", path: "/api/refresh", json: `{"refresh_token":"` + tok.refresh + `"}`,
			proofs: []string{key.proof(t, "POST", s.url("/api/refresh"), "")}})
		wantStatus(t, "refresh after logout", r, http.StatusUnauthorized)
	})

	// Last: it changes alice's password.
	t.Run("password change", func(t *testing.T) {
		tok := s.dpopLogin(t, key, aliceEmail)
		password := s.url("/api/password")
		body := `{"new_password":"a new password for alice"}`
		wantProofRefused(t, "password change without a proof", s.send(dpopCall{method: "POST", path: "/api/password", auth: "DPoP " + tok.access, json: body}), http.StatusUnauthorized)
		r := s.send(dpopCall{method: "POST", path: "/api/password", auth: "DPoP " + tok.access, json: body, proofs: []string{key.proof(t, "POST", password, tok.access)}})
		next := boundAnswer(t, "password change with a proof", r, key, aliceEmail)
		wantStatus(t, "me with the new login's token", s.send(dpopCall{method: "GET", path: "/api/me", auth: "DPoP " + next.access,
			proofs: []string{key.proof(t, "GET", me, next.access)}}), http.StatusOK)
		wantStatus(t, "me with the token of before", s.send(dpopCall{method: "GET", path: "/api/me", auth: "DPoP " + tok.access,
			proofs: []string{key.proof(t, "GET", me, tok.access)}}), http.StatusUnauthorized)
	})

	t.Run("metrics and logs", func(t *testing.T) {
		m := s.scrape(t)
		m.want(t, ">= 20", storeHistogram, "operation=use", "outcome=ok")
		m.want(t, "== 0", storeHistogram, "operation=use", "outcome=error")
		m.want(t, ">= 1", "guardian_refusals_total", "reason=invalid_dpop_proof")
		m.want(t, ">= 1", "guardian_refusals_total", "reason=token_binding")
		m.want(t, ">= 1", "guardian_logins_total", "outcome=invalid_dpop_proof")
		m.want(t, ">= 1", "guardian_refreshes_total", "outcome=invalid_dpop_proof")
		m.want(t, "== 0", "guardian_logins_total", "outcome=error")
		s.stop()
		for _, p := range proofs {
			if len(p) > 40 && strings.Contains(s.logs.String(), p) {
				t.Fatalf("the server logged a DPoP proof:\n%s", s.logs)
			}
		}
	})
}

// dpopLoginWith signs alice in with the proof p of key.
func (s *apiServer) dpopLoginWith(t *testing.T, p string, key *dpopKey) tokens {
	t.Helper()
	r := s.send(dpopCall{method: "POST", path: "/api/login", json: credentialsOf(aliceEmail, alicePassword), proofs: []string{p}})
	return boundAnswer(t, "login with a proof", r, key, aliceEmail)
}

// Instances that share a store share its replay cache: a proof one of them
// accepted is refused by the other. Both stand for one service behind a
// load balancer: the requests to B name A's address in Host, so that a
// proof's htu is right for both.
func TestDPoPReplayAcrossInstances(t *testing.T) {
	for name, spec := range networkStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := startServer(t, "-store", spec)
			b := startServer(t, "-store", spec)
			host := strings.TrimPrefix(a.base, "http://")
			key := newDPoPKey(t)

			p := key.proof(t, "POST", a.url("/api/login"), "")
			tok := a.dpopLoginWith(t, p, key)
			r := b.send(dpopCall{method: "POST", path: "/api/login", json: credentialsOf(aliceEmail, alicePassword), proofs: []string{p}, host: host})
			wantProofRefused(t, "B: the login proof A accepted", r, http.StatusBadRequest)

			auth, me := "DPoP "+tok.access, a.url("/api/me")
			p = key.proof(t, "GET", me, tok.access)
			wantStatus(t, "A: me with a proof", a.send(dpopCall{method: "GET", path: "/api/me", auth: auth, proofs: []string{p}}), http.StatusOK)
			wantProofRefused(t, "B: the proof A accepted", b.send(dpopCall{method: "GET", path: "/api/me", auth: auth, proofs: []string{p}, host: host}), http.StatusUnauthorized)
			fresh := key.proof(t, "GET", me, tok.access)
			wantStatus(t, "B: a fresh proof", b.send(dpopCall{method: "GET", path: "/api/me", auth: auth, proofs: []string{fresh}, host: host}), http.StatusOK)
			wantProofRefused(t, "A: the proof B accepted", a.send(dpopCall{method: "GET", path: "/api/me", auth: auth, proofs: []string{fresh}}), http.StatusUnauthorized)
			a.stop()
			b.stop()
		})
	}
}

// A replay cache that does not answer costs a request with a proof about
// the replay timeout and a 503, never a hang; once it answers, a fresh
// proof works.
func TestDPoPWithAHungStore(t *testing.T) {
	const limit = 2 * time.Second
	for name, spec := range networkStores(t) {
		t.Run(name, func(t *testing.T) {
			proxy, spec := throughProxy(t, spec)
			s := startServer(t, "-store", spec)
			defer func() { proxy.Set(faultproxy.Pass); s.stop() }()
			key := newDPoPKey(t)
			tok := s.dpopLogin(t, key, aliceEmail)

			proxy.Set(faultproxy.Stall)
			for _, c := range []dpopCall{
				{method: "POST", path: "/api/login", json: credentialsOf(aliceEmail, alicePassword), proofs: []string{key.proof(t, "POST", s.url("/api/login"), "")}},
				{method: "POST", path: "/api/login", json: credentialsOf(aliceEmail, alicePassword), proofs: []string{key.proof(t, "POST", s.url("/api/login"), "")}},
				{method: "GET", path: "/api/me", auth: "DPoP " + tok.access, proofs: []string{key.proof(t, "GET", s.url("/api/me"), tok.access)}},
			} {
				start := time.Now()
				r := s.send(c)
				d := time.Since(start)
				t.Logf("%s %s with a hung %s store: %d in %v", c.method, c.path, name, r.status, d.Round(time.Millisecond))
				wantUnavailable(t, c.method+" "+c.path+" with a hung store", r)
				if d > limit {
					t.Errorf("%s %s took %v with a hung store, want under %v", c.method, c.path, d, limit)
				}
			}
			proxy.Set(faultproxy.Pass)
			s.dpopLogin(t, key, aliceEmail)
		})
	}
}
