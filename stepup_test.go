package guardian_test

// Tests of the step-up requirements, MaxAge and ACR (RFC 9470): their
// boundary on the verifying Issuer's clock and leeway, their challenges,
// their errors, and the auth_time that refreshes carry on.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/guardiantest"
)

// The answers of step-up refusals.
var stepUpBody = errorJSON("insufficient_user_authentication", "insufficient user authentication")

func maxAgeChallenge(seconds int) string {
	return fmt.Sprintf(`Bearer realm="api", error="insufficient_user_authentication", error_description="a more recent authentication is required", max_age="%d"`, seconds)
}

func acrChallenge(values string) string {
	return `Bearer realm="api", error="insufficient_user_authentication", error_description="a stronger authentication is required", acr_values="` + values + `"`
}

// TestMaxAgeBoundary: a token passes MaxAge(300s) while the issuer's clock
// is at most auth_time + 300s + its leeway, to the nanosecond, with and
// without the verified-token cache.
func TestMaxAgeBoundary(t *testing.T) {
	tests := []struct {
		name    string
		leeway  time.Duration
		elapsed time.Duration // since auth_time
		pass    bool
	}{
		{name: "at login", leeway: 5 * time.Second, elapsed: 0, pass: true},
		{name: "at max age", leeway: 5 * time.Second, elapsed: 300 * time.Second, pass: true},
		{name: "at max age plus leeway", leeway: 5 * time.Second, elapsed: 305 * time.Second, pass: true},
		{name: "half a second past", leeway: 5 * time.Second, elapsed: 305*time.Second + 500*time.Millisecond, pass: false},
		{name: "a second past", leeway: 5 * time.Second, elapsed: 306 * time.Second, pass: false},
		{name: "long past", leeway: 5 * time.Second, elapsed: 14 * time.Minute, pass: false},
		{name: "no leeway: at max age", leeway: 0, elapsed: 300 * time.Second, pass: true},
		{name: "no leeway: a second past", leeway: 0, elapsed: 301 * time.Second, pass: false},
	}
	for _, tt := range tests {
		for _, cache := range []int{0, 16} {
			t.Run(fmt.Sprintf("%s/cache=%d", tt.name, cache), func(t *testing.T) {
				rg := newRQGuardian(t, &guardian.IssuerOptions{Leeway: tt.leeway, CacheSize: cache})
				require, err := rg.g.Require(guardian.MaxAge(300 * time.Second))
				if err != nil {
					t.Fatalf("Require: %v", err)
				}
				raw := rg.token(t, "u1", nil) // auth_time = t0: a new login
				if c, err := rg.issuer.Verify(context.Background(), raw); err != nil || !c.AuthTime.Equal(t0) {
					t.Fatalf("got auth_time %v (%v), want %v", c.AuthTime, err, t0)
				}
				rg.clock.Advance(tt.elapsed)
				a := serveRoute(bearer(raw), rg.g.Authenticated(), require)
				if tt.pass {
					wantAnswer(t, a, http.StatusOK, "", "")
					return
				}
				wantAnswer(t, a, http.StatusUnauthorized, maxAgeChallenge(300), stepUpBody)
				if len(rg.handled) != 1 || len(rg.reasons) != 1 {
					t.Fatalf("got ErrorHandler errors %v, OnRefused reasons %v; want one each", rg.handled, rg.reasons)
				}
				wantErr(t, rg.handled[0], guardian.ErrInsufficientUserAuthentication)
				var su *guardian.StepUpError
				if !errors.As(rg.handled[0], &su) || su.MaxAge != 300*time.Second || su.ACRValues != nil {
					t.Errorf("got error %#v, want a *StepUpError with MaxAge 5m and no ACRValues", rg.handled[0])
				}
				if rg.reasons[0] != guardian.ErrInsufficientUserAuthentication {
					t.Errorf("got OnRefused reason %v, want ErrInsufficientUserAuthentication", rg.reasons[0])
				}
			})
		}
	}
}

// TestMaxAgeTokens: what auth_time a token has decides, and a token
// without one never passes.
func TestMaxAgeTokens(t *testing.T) {
	rg := newRQGuardian(t, &guardian.IssuerOptions{Leeway: 5 * time.Second})
	tests := []struct {
		name   string
		maxAge time.Duration
		token  string
		pass   bool
	}{
		{name: "no auth_time", maxAge: 300 * time.Second, token: rg.crafted(nil, "auth_time"), pass: false},
		{name: "no auth_time, a day", maxAge: 24 * time.Hour, token: rg.crafted(nil, "auth_time"), pass: false},
		{name: "auth_time now", maxAge: time.Second, token: rg.crafted(map[string]any{"auth_time": t0.Unix()}), pass: true},
		{name: "auth_time 306s ago", maxAge: 300 * time.Second, token: rg.crafted(map[string]any{"auth_time": t0.Add(-306 * time.Second).Unix()}), pass: false},
		{name: "auth_time 305s ago", maxAge: 300 * time.Second, token: rg.crafted(map[string]any{"auth_time": t0.Add(-305 * time.Second).Unix()}), pass: true},
		{name: "auth_time an hour ago, max age a day", maxAge: 24 * time.Hour, token: rg.crafted(map[string]any{"auth_time": t0.Add(-time.Hour).Unix()}), pass: true},
		{name: "auth_time ahead of the clock", maxAge: time.Second, token: rg.crafted(map[string]any{"auth_time": t0.Add(time.Minute).Unix()}), pass: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require, err := rg.g.Require(guardian.MaxAge(tt.maxAge))
			if err != nil {
				t.Fatalf("Require: %v", err)
			}
			a := serveRoute(bearer(tt.token), rg.g.Authenticated(), require)
			if tt.pass {
				wantAnswer(t, a, http.StatusOK, "", "")
				return
			}
			wantAnswer(t, a, http.StatusUnauthorized, maxAgeChallenge(int(tt.maxAge/time.Second)), stepUpBody)
		})
	}
	if err := guardian.MaxAge(time.Minute).Check(&guardian.Claims{}); !errors.Is(err, guardian.ErrInsufficientUserAuthentication) {
		t.Errorf("got Check of claims without auth_time %v, want ErrInsufficientUserAuthentication", err)
	}
	if err := guardian.MaxAge(time.Minute).Check(nil); !errors.Is(err, guardian.ErrMissingToken) {
		t.Errorf("got Check(nil) %v, want ErrMissingToken", err)
	}
}

func TestMaxAgeRefuses(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
	}{
		{name: "zero", d: 0},
		{name: "negative", d: -time.Second},
		{name: "negative fraction", d: -1500 * time.Millisecond},
		{name: "fraction of a second", d: 1500 * time.Millisecond},
		{name: "under a second", d: 999 * time.Millisecond},
		{name: "one nanosecond", d: 1},
		{name: "a second and a nanosecond", d: time.Second + 1},
	}
	rg := newRQGuardian(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := guardian.MaxAge(tt.d)
			wantErr(t, req.Check(&guardian.Claims{AuthTime: t0}), guardian.ErrConfig)
			mw, err := rg.g.Require(req)
			wantErr(t, err, guardian.ErrConfig)
			if mw != nil {
				t.Error("got middleware with the error, want nil")
			}
		})
	}
	for _, d := range []time.Duration{time.Second, time.Minute, 36 * time.Hour} {
		if _, err := rg.g.Require(guardian.MaxAge(d)); err != nil {
			t.Errorf("MaxAge(%v): got %v, want nil", d, err)
		}
	}
}

// TestMaxAgeChallengeSeconds: max_age is the requirement in whole seconds.
func TestMaxAgeChallengeSeconds(t *testing.T) {
	rg := newRQGuardian(t, nil)
	old := rg.crafted(map[string]any{"auth_time": t0.Add(-48 * time.Hour).Unix()})
	for _, d := range []time.Duration{time.Second, time.Minute, time.Hour, 36 * time.Hour} {
		require, err := rg.g.Require(guardian.MaxAge(d))
		if err != nil {
			t.Fatalf("Require: %v", err)
		}
		wantAnswer(t, serveRoute(bearer(old), rg.g.Authenticated(), require), http.StatusUnauthorized, maxAgeChallenge(int(d/time.Second)), stepUpBody)
	}
}

func TestACR(t *testing.T) {
	rg := newRQGuardian(t, nil)
	acr := func(v string) string { return rg.token(t, "u1", &guardian.IssueOptions{ACR: v, AMR: []string{"pwd"}}) }
	signedInWith := func(v string) string {
		pair, _, err := rg.g.SignInWith(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/login", nil), members["u1"], &guardian.SignInOptions{ACR: v})
		if err != nil {
			t.Fatalf("SignInWith: %v", err)
		}
		return pair.Access.Raw
	}
	stale := rg.crafted(map[string]any{"acr": "mfa", "auth_time": t0.Add(-time.Hour).Unix()})
	tests := []struct {
		name      string
		reqs      []guardian.Requirement
		token     string
		status    int
		challenge string
	}{
		{name: "first value", reqs: []guardian.Requirement{guardian.ACR("mfa", "hwk")}, token: acr("mfa"), status: 200},
		{name: "second value", reqs: []guardian.Requirement{guardian.ACR("mfa", "hwk")}, token: acr("hwk"), status: 200},
		{name: "signed in with mfa", reqs: []guardian.Requirement{guardian.ACR("mfa", "hwk")}, token: signedInWith("mfa"), status: 200},
		{name: "other value", reqs: []guardian.Requirement{guardian.ACR("mfa", "hwk")}, token: acr("pwd"), status: 401, challenge: acrChallenge("mfa hwk")},
		{name: "no acr", reqs: []guardian.Requirement{guardian.ACR("mfa", "hwk")}, token: acr(""), status: 401, challenge: acrChallenge("mfa hwk")},
		{name: "signed in without acr", reqs: []guardian.Requirement{guardian.ACR("mfa", "hwk")}, token: signedInWith(""), status: 401, challenge: acrChallenge("mfa hwk")},
		{name: "case matters", reqs: []guardian.Requirement{guardian.ACR("mfa", "hwk")}, token: acr("MFA"), status: 401, challenge: acrChallenge("mfa hwk")},
		{name: "prefix is not enough", reqs: []guardian.Requirement{guardian.ACR("mfa")}, token: acr("mf"), status: 401, challenge: acrChallenge("mfa")},
		{name: "uri values", reqs: []guardian.Requirement{guardian.ACR("urn:mace:incommon:iap:silver")}, token: acr("urn:mace:incommon:iap:silver"), status: 200},
		{name: "acr met, too old", reqs: []guardian.Requirement{guardian.ACR("mfa"), guardian.MaxAge(300 * time.Second)}, token: stale, status: 401, challenge: maxAgeChallenge(300)},
		{name: "fresh, acr not met", reqs: []guardian.Requirement{guardian.ACR("mfa"), guardian.MaxAge(300 * time.Second)}, token: acr("pwd"), status: 401, challenge: acrChallenge("mfa")},
		{name: "any of: fresh enough", reqs: []guardian.Requirement{guardian.AnyOf(guardian.ACR("hwk"), guardian.MaxAge(300*time.Second))}, token: acr("pwd"), status: 200},
		{name: "any of: neither, the first's", reqs: []guardian.Requirement{guardian.AnyOf(guardian.ACR("hwk"), guardian.MaxAge(300*time.Second))}, token: stale, status: 401, challenge: acrChallenge("hwk")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rg.handled, rg.reasons = nil, nil
			require, err := rg.g.Require(tt.reqs...)
			if err != nil {
				t.Fatalf("Require: %v", err)
			}
			a := serveRoute(bearer(tt.token), rg.g.Authenticated(), require)
			if tt.status == http.StatusOK {
				wantAnswer(t, a, tt.status, "", "")
				return
			}
			wantAnswer(t, a, tt.status, tt.challenge, stepUpBody)
			if len(rg.handled) != 1 || len(rg.reasons) != 1 {
				t.Fatalf("got ErrorHandler errors %v, OnRefused reasons %v; want one each", rg.handled, rg.reasons)
			}
			wantErr(t, rg.handled[0], guardian.ErrInsufficientUserAuthentication)
			if rg.reasons[0] != guardian.ErrInsufficientUserAuthentication {
				t.Errorf("got OnRefused reason %v, want ErrInsufficientUserAuthentication", rg.reasons[0])
			}
		})
	}
}

// TestStepUpErrors: a StepUpError matches ErrInsufficientUserAuthentication
// only, and maps to 401 insufficient_user_authentication.
func TestStepUpErrors(t *testing.T) {
	maxAgeErr := guardian.MaxAge(5 * time.Minute).Check(&guardian.Claims{})
	acrErr := guardian.ACR("mfa", "hwk").Check(&guardian.Claims{ACR: "pwd"})
	tests := []struct {
		name     string
		err      error
		wantText string
	}{
		{name: "max age", err: maxAgeErr, wantText: "guardian: insufficient user authentication: want one within 5m0s"},
		{name: "acr", err: acrErr, wantText: "guardian: insufficient user authentication: want acr mfa hwk"},
		{name: "wrapped", err: fmt.Errorf("route /admin: %w", acrErr), wantText: "route /admin: guardian: insufficient user authentication: want acr mfa hwk"},
		{name: "the sentinel", err: guardian.ErrInsufficientUserAuthentication, wantText: "guardian: insufficient user authentication"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("got nil error, want a refusal")
			}
			if got := tt.err.Error(); got != tt.wantText {
				t.Errorf("got Error() %q, want %q", got, tt.wantText)
			}
			if !errors.Is(tt.err, guardian.ErrInsufficientUserAuthentication) {
				t.Errorf("got %v not matching ErrInsufficientUserAuthentication, want it to", tt.err)
			}
			for _, other := range []error{guardian.ErrInsufficientScope, guardian.ErrInvalidToken, guardian.ErrMissingToken, guardian.ErrConfig} {
				if errors.Is(tt.err, other) {
					t.Errorf("got %v matching %v, want it not to", tt.err, other)
				}
			}
			if got := guardian.Reason(tt.err); got != guardian.ErrInsufficientUserAuthentication {
				t.Errorf("got Reason %v, want ErrInsufficientUserAuthentication", got)
			}
			if status, code := guardian.ErrorStatus(tt.err); status != http.StatusUnauthorized || code != "insufficient_user_authentication" {
				t.Errorf("got ErrorStatus %d %q, want 401 insufficient_user_authentication", status, code)
			}
		})
	}
	var su *guardian.StepUpError
	if !errors.As(acrErr, &su) || su.MaxAge != 0 || strings.Join(su.ACRValues, " ") != "mfa hwk" {
		t.Errorf("got %#v, want a *StepUpError with ACRValues mfa hwk and no MaxAge", acrErr)
	}
	// Through Refuse, an app's own step-up refusal answers like Require's.
	rg := newRQGuardian(t, nil)
	rec := httptest.NewRecorder()
	rg.g.Refuse(rec, httptest.NewRequest(http.MethodGet, "/", nil), &guardian.StepUpError{MaxAge: 90 * time.Second})
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") != maxAgeChallenge(90) || rec.Body.String() != stepUpBody {
		t.Errorf("got Refuse answer %d %q %q, want 401 %q %q", rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body, maxAgeChallenge(90), stepUpBody)
	}
	// The bare sentinel: the code without step-up parameters.
	rec = httptest.NewRecorder()
	rg.g.DefaultErrorHandler(rec, httptest.NewRequest(http.MethodGet, "/", nil), guardian.ErrInsufficientUserAuthentication)
	want := `Bearer realm="api", error="insufficient_user_authentication", error_description="insufficient user authentication"`
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") != want {
		t.Errorf("got %d %q, want 401 %q", rec.Code, rec.Header().Get("WWW-Authenticate"), want)
	}
}

// TestAuthTimeAcrossRefresh: a refresh is not an authentication. The
// tokens of Issuer.Refresh and Guardian.Refresh keep the login's auth_time
// and acr, so MaxAge keeps counting from the login.
func TestAuthTimeAcrossRefresh(t *testing.T) {
	clock := guardiantest.NewClock(t0)
	rg := newRQGuardian(t, &guardian.IssuerOptions{Clock: clock.Now, Revoker: guardiantest.NewRevoker(clock)})
	ctx := context.Background()
	login, _, err := rg.g.SignInWith(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/login", nil), members["u1"], &guardian.SignInOptions{ACR: "mfa"})
	if err != nil {
		t.Fatalf("SignInWith: %v", err)
	}
	fresh, err := rg.g.Require(guardian.MaxAge(5*time.Minute), guardian.ACR("mfa"))
	if err != nil {
		t.Fatalf("Require: %v", err)
	}
	lenient, err := rg.g.Require(guardian.MaxAge(time.Hour), guardian.ACR("mfa"))
	if err != nil {
		t.Fatalf("Require: %v", err)
	}

	clock.Advance(4 * time.Minute)
	byIssuer, err := rg.issuer.Refresh(ctx, login.Refresh.Raw, nil)
	if err != nil {
		t.Fatalf("Issuer.Refresh: %v", err)
	}
	clock.Advance(4 * time.Minute)
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/refresh", strings.NewReader(`{"refresh_token":"`+byIssuer.Refresh.Raw+`"}`))
	r.Header.Set("Content-Type", "application/json")
	byGuardian, err := rg.g.Refresh(rec, r)
	if err != nil {
		t.Fatalf("Guardian.Refresh: %v (%d %s)", err, rec.Code, rec.Body)
	}

	for name, pair := range map[string]guardian.TokenPair{"Issuer.Refresh": byIssuer, "Guardian.Refresh": byGuardian} {
		for _, tok := range []guardian.Token{pair.Access, pair.Refresh} {
			if !tok.Claims.AuthTime.Equal(t0) || tok.Claims.ACR != "mfa" {
				t.Errorf("%s %s: got auth_time %v acr %q, want the login's %v mfa", name, tok.Claims.Type, tok.Claims.AuthTime, tok.Claims.ACR, t0)
			}
			if got := payloadOf(t, tok.Raw)["auth_time"]; fmt.Sprint(got) != fmt.Sprint(t0.Unix()) {
				t.Errorf("%s %s: got auth_time %v on the wire, want %d", name, tok.Claims.Type, got, t0.Unix())
			}
			if tok.Claims.IssuedAt.Equal(t0) {
				t.Errorf("%s %s: got iat %v, the login's; want the refresh's", name, tok.Claims.Type, tok.Claims.IssuedAt)
			}
		}
	}
	// Eight minutes after the login, both refreshed access tokens are too
	// old for a five-minute max age, though each is younger than that.
	for name, raw := range map[string]string{"Issuer.Refresh": byIssuer.Access.Raw, "Guardian.Refresh": byGuardian.Access.Raw} {
		wantAnswer(t, serveRoute(bearer(raw), rg.g.Authenticated(), fresh), http.StatusUnauthorized, maxAgeChallenge(300), stepUpBody)
		a := serveRoute(bearer(raw), rg.g.Authenticated(), lenient)
		if a.rec.Code != http.StatusOK {
			t.Errorf("%s: got status %d under MaxAge(1h), want 200", name, a.rec.Code)
		}
	}
}
