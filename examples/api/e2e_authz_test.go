package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

// End-to-end tests of the authorization routes with the built binary:
// permissions, step-up and the password change, against every store.

func TestAuthorizationContract(t *testing.T) {
	for name, spec := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			walkAuthorization(t, spec)
		})
	}
}

// mintAccess signs an access token for alice (sub 1, password version 0)
// with the test's AUTH_SECRET, as the server would have issued it, but with
// the given auth_time. The server runs on the machine's clock: iat and exp
// come from it too.
func mintAccess(t *testing.T, authTime time.Time) (token, family string) {
	t.Helper()
	random := func() string {
		b := make([]byte, 16)
		rand.Read(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	now := time.Now().Unix()
	family = random()
	payload, err := json.Marshal(map[string]any{
		"iss": "guardian-example", "aud": "guardian-example", "sub": "1", "typ": "access",
		"jti": random(), "fam": family, "iat": now, "nbf": now, "exp": now + 600,
		"auth_time": authTime.Unix(), "pwv": 0,
	})
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	signing := b64([]byte(`{"alg":"HS256","kid":"hs256","typ":"JWT"}`)) + "." + b64(payload)
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write([]byte(signing))
	return signing + "." + b64(mac.Sum(nil)), family
}

func (s *apiServer) reauth(token, password string) response {
	body, _ := json.Marshal(map[string]string{"password": password})
	return s.do("POST", "/api/reauth", token, string(body))
}

func (s *apiServer) changePassword(token, newPassword string) response {
	body, _ := json.Marshal(map[string]string{"new_password": newPassword})
	return s.do("POST", "/api/password", token, string(body))
}

// wantRecent checks that a token's auth_time is the server's now: within
// a few seconds of the test's clock, the machine's too.
func wantRecent(t *testing.T, what string, claims map[string]any) {
	t.Helper()
	at, _ := claims["auth_time"].(float64)
	if d := math.Abs(float64(time.Now().Unix()) - at); d > 5 {
		t.Errorf("%s: auth_time %v is %v s from now, want now", what, claims["auth_time"], d)
	}
}

func walkAuthorization(t *testing.T, store string) {
	s := startServer(t, "-store", store)

	t.Run("admin users", func(t *testing.T) {
		root := s.signIn(t, rootEmail, alicePassword)
		r := s.do("GET", "/api/admin/users", root.access, "")
		wantStatus(t, "admin users as root", r, http.StatusOK)
		var body struct {
			Users []userJSON `json:"users"`
		}
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		if want := []userJSON{{"1", aliceEmail}, {"2", rootEmail}}; fmt.Sprint(body.Users) != fmt.Sprint(want) {
			t.Errorf("admin users = %s, want %v", r.body, want)
		}
		r = s.do("GET", "/api/admin/users", s.login(t).access, "")
		wantStatus(t, "admin users as alice", r, http.StatusForbidden)
		wantChallenge(t, "admin users as alice", r, challengeScope)
	})

	t.Run("reauth", func(t *testing.T) {
		login := s.login(t)
		next := signedIn(t, "reauth", s.reauth(login.access, alicePassword), aliceEmail)
		old, fresh := jwtPayload(t, login.access), jwtPayload(t, next.access)
		wantRecent(t, "reauth", fresh)
		if at, _ := fresh["auth_time"].(float64); at < old["auth_time"].(float64) {
			t.Errorf("reauth auth_time %v is older than the login's %v", at, old["auth_time"])
		}
		if fresh["fam"] != old["fam"] {
			t.Errorf("reauth fam = %v, want the login's %v", fresh["fam"], old["fam"])
		}
		r := s.reauth(next.access, "wrong")
		wantStatus(t, "reauth with a wrong password", r, http.StatusUnauthorized)
		if code := r.json(t)["error"]; code != "invalid_credentials" {
			t.Errorf("wrong password: error = %v, want invalid_credentials", code)
		}
		wantStatus(t, "reauth with malformed JSON", s.do("POST", "/api/reauth", next.access, `{"password":`), http.StatusBadRequest)
		wantStatus(t, "reauth without a token", s.reauth("", alicePassword), http.StatusUnauthorized)
	})

	t.Run("stale authentication", func(t *testing.T) {
		stale, family := mintAccess(t, time.Now().Add(-10*time.Minute))
		wantStatus(t, "me with the minted token", s.do("GET", "/api/me", stale, ""), http.StatusOK)
		r := s.changePassword(stale, "a brand new passphrase")
		wantStatus(t, "password change 10 minutes after the login", r, http.StatusUnauthorized)
		wantChallenge(t, "password change 10 minutes after the login", r, challengeMaxAge)

		next := signedIn(t, "reauth", s.reauth(stale, alicePassword), aliceEmail)
		fresh := jwtPayload(t, next.access)
		wantRecent(t, "reauth of the stale login", fresh)
		if fresh["fam"] != family {
			t.Errorf("reauth fam = %v, want the minted %v", fresh["fam"], family)
		}
		// Past the step-up: the too-short password is the body's fault.
		wantStatus(t, "password change after reauth", s.changePassword(next.access, "short"), http.StatusBadRequest)
		wantStatus(t, "logout with the new token", s.do("POST", "/api/logout", next.access, ""), http.StatusNoContent)
		wantStatus(t, "minted token after logout", s.do("GET", "/api/me", stale, ""), http.StatusUnauthorized)
	})

	// Last: it changes alice's password on this server.
	t.Run("password change", func(t *testing.T) {
		const newPassword = "a brand new passphrase"
		caller, other := s.login(t), s.login(t)
		next := signedIn(t, "password change", s.changePassword(caller.access, newPassword), aliceEmail)
		wantStatus(t, "me with the new token", s.do("GET", "/api/me", next.access, ""), http.StatusOK)
		for what, raw := range map[string]string{"the caller's old token": caller.access, "another login's token": other.access} {
			r := s.do("GET", "/api/me", raw, "")
			wantStatus(t, what, r, http.StatusUnauthorized)
			if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
				t.Errorf("%s: challenge %q, want invalid_token", what, got)
			}
		}
		wantStatus(t, "another login's refresh token", s.refresh(other.refresh), http.StatusUnauthorized)
		r := s.do("POST", "/api/login", "", fmt.Sprintf(`{"email":%q,"password":%q}`, aliceEmail, alicePassword))
		wantStatus(t, "login with the old password", r, http.StatusUnauthorized)
		fresh := s.signIn(t, aliceEmail, newPassword)
		wantStatus(t, "me after login with the new password", s.do("GET", "/api/me", fresh.access, ""), http.StatusOK)
	})

	s.stop()
	if strings.Contains(s.logs.String(), "brand new passphrase") {
		t.Fatalf("the server logged the new password:\n%s", s.logs)
	}
}
