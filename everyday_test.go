package guardian_test

// Tests of the everyday path: one-call protection, one-call refresh,
// cookies for browser apps, and the hooks for logs and metrics.

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/guardiantest"
)

// serveMW runs the middleware h on r and returns the recorder and whether the handler ran.
func serveMW(h func(http.Handler) http.Handler, r *http.Request) (*httptest.ResponseRecorder, bool) {
	reached := false
	rec := httptest.NewRecorder()
	h(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true })).ServeHTTP(rec, r)
	return rec, reached
}

func TestProtect(t *testing.T) {
	gf := newTestGuardian(t, &guardian.IssuerOptions{Revoker: guardian.NewMemoryRevoker(nil)}, nil)
	good := guardiantest.Mint(t, gf.g, members["u1"])
	gone := gf.token(t, "gone", nil)
	for _, tt := range []struct {
		name, auth string
		want       int
	}{
		{name: "no token", want: http.StatusUnauthorized},
		{name: "good token", auth: "Bearer " + good.Access.Raw, want: http.StatusOK},
		{name: "refresh token", auth: "Bearer " + good.Refresh.Raw, want: http.StatusUnauthorized},
		{name: "user gone", auth: "Bearer " + gone, want: http.StatusUnauthorized},
		{name: "malformed", auth: "Bearer", want: http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var user *member
			h := gf.g.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				user, _ = gf.g.CurrentResource(r.Context())
			}))
			r := request()
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d", rec.Code, tt.want)
			}
			if (user != nil) != (tt.want == http.StatusOK) || (user != nil && user.ID != "u1") {
				t.Fatalf("handler saw user %+v", user)
			}
		})
	}
}

func TestOptional(t *testing.T) {
	gf := newTestGuardian(t, nil, nil)
	good := guardiantest.Mint(t, gf.g, members["u1"]).Access.Raw
	for _, tt := range []struct {
		name, auth string
		wantUser   bool
		wantReason error
	}{
		{name: "anonymous"},
		{name: "good token", auth: "Bearer " + good, wantUser: true},
		{name: "bad token", auth: "Bearer x.y.z", wantReason: guardian.ErrInvalidToken},
		{name: "user gone", auth: "Bearer " + gf.token(t, "gone", nil)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var user *member
			var reason error
			ran := false
			h := gf.g.Optional()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ran = true
				user, _ = gf.g.CurrentResource(r.Context())
				reason = guardian.FailureReason(r.Context())
			}))
			r := request()
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if !ran || rec.Code != http.StatusOK {
				t.Fatalf("Optional refused (%d): it must let every request through", rec.Code)
			}
			if (user != nil) != tt.wantUser {
				t.Errorf("user %+v, want one: %v", user, tt.wantUser)
			}
			if tt.wantReason != nil && !errors.Is(reason, tt.wantReason) {
				t.Errorf("FailureReason = %v, want %v", reason, tt.wantReason)
			}
		})
	}
}

func cookieGuardian(t *testing.T) *gfixture {
	return newTestGuardian(t, &guardian.IssuerOptions{Revoker: guardian.NewMemoryRevoker(nil)}, &guardian.GuardianOptions[*member]{
		Cookies: &guardian.CookieOptions{RefreshPath: "/api/refresh", TrustedOrigins: []string{"https://app.example"}},
	})
}

func cookiesOf(rec *httptest.ResponseRecorder) map[string]*http.Cookie {
	out := map[string]*http.Cookie{}
	for _, c := range rec.Result().Cookies() {
		out[c.Name] = c
	}
	return out
}

// TestSignInCookies: the cookies a browser app gets are HttpOnly, Secure,
// SameSite=Lax, end with their token, and the refresh cookie goes only to
// the refresh route; SignOut clears both.
func TestSignInCookies(t *testing.T) {
	gf := cookieGuardian(t)
	rec := httptest.NewRecorder()
	pair, r, err := gf.g.SignIn(rec, httptest.NewRequest("POST", "/login", nil), members["u1"])
	if err != nil {
		t.Fatal(err)
	}
	cookies := cookiesOf(rec)
	for _, want := range []struct {
		name, path string
		tok        guardian.Token
	}{
		{"access_token", "/", pair.Access},
		{"refresh_token", "/api/refresh", pair.Refresh},
	} {
		c := cookies[want.name]
		if c == nil {
			t.Fatalf("no %s cookie in %v", want.name, rec.Header()["Set-Cookie"])
		}
		maxAge := int(want.tok.Claims.ExpiresAt.Sub(t0) / time.Second)
		if c.Value != want.tok.Raw || c.Path != want.path || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.MaxAge != maxAge {
			t.Errorf("%s cookie = %+v; want the token, Path %s, HttpOnly, Secure, SameSite=Lax, Max-Age %d", want.name, c, want.path, maxAge)
		}
	}
	if got := rec.Header().Get("Access-Control-Expose-Headers"); got != "" {
		t.Errorf("Access-Control-Expose-Headers = %q: exposing the token headers is the app's choice", got)
	}
	out := httptest.NewRecorder()
	if err := gf.g.SignOut(out, r); err != nil {
		t.Fatal(err)
	}
	for name, c := range cookiesOf(out) {
		if c.MaxAge >= 0 || c.Value != "" {
			t.Errorf("after SignOut, cookie %s = %+v; want it cleared", name, c)
		}
	}
	if len(cookiesOf(out)) != 2 {
		t.Errorf("SignOut cleared %d cookies, want 2", len(cookiesOf(out)))
	}
}

// TestCookieCSRF: a browser sends the cookies with requests that other
// sites make it send. Those requests, with an unsafe method, are refused;
// the app's own pages, trusted origins, safe methods and non-browser
// clients pass.
func TestCookieCSRF(t *testing.T) {
	gf := cookieGuardian(t)
	access := guardiantest.Mint(t, gf.g, members["u1"]).Access.Raw
	for _, tt := range []struct {
		name    string
		method  string
		headers map[string]string
		want    int
	}{
		{name: "cross-site POST (Sec-Fetch-Site)", method: "POST", headers: map[string]string{"Sec-Fetch-Site": "cross-site"}, want: http.StatusForbidden},
		{name: "cross-site POST (Origin)", method: "POST", headers: map[string]string{"Origin": "https://evil.example"}, want: http.StatusForbidden},
		{name: "same-site but other origin DELETE", method: "DELETE", headers: map[string]string{"Sec-Fetch-Site": "same-site"}, want: http.StatusForbidden},
		{name: "same-origin POST", method: "POST", headers: map[string]string{"Sec-Fetch-Site": "same-origin"}, want: http.StatusOK},
		{name: "trusted origin POST", method: "POST", headers: map[string]string{"Origin": "https://app.example"}, want: http.StatusOK},
		{name: "cross-site GET", method: "GET", headers: map[string]string{"Sec-Fetch-Site": "cross-site"}, want: http.StatusOK},
		{name: "non-browser POST", method: "POST", want: http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "https://api.example/api/me", nil)
			r.AddCookie(&http.Cookie{Name: "access_token", Value: access})
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			rec, reached := serveMW(gf.g.Authenticated(), r)
			if rec.Code != tt.want || reached != (tt.want == http.StatusOK) {
				t.Fatalf("status %d (handler reached %v), want %d", rec.Code, reached, tt.want)
			}
			if tt.want == http.StatusForbidden && !strings.Contains(rec.Body.String(), "cross_site_request") {
				t.Errorf("body %s, want error cross_site_request", rec.Body)
			}
		})
	}
	t.Run("a header token is not a CSRF risk", func(t *testing.T) {
		r := httptest.NewRequest("POST", "https://api.example/api/me", nil)
		r.Header.Set("Authorization", "Bearer "+access)
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		if rec, reached := serveMW(gf.g.Authenticated(), r); rec.Code != http.StatusOK || !reached {
			t.Fatalf("status %d: a cross-site request with an Authorization header (which no browser adds by itself) was refused", rec.Code)
		}
	})
	t.Run("Optional refuses cross-site cookie requests too", func(t *testing.T) {
		r := httptest.NewRequest("POST", "https://api.example/feed", nil)
		r.AddCookie(&http.Cookie{Name: "access_token", Value: access})
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		if rec, reached := serveMW(gf.g.Optional(), r); rec.Code != http.StatusForbidden || reached {
			t.Fatalf("status %d (reached %v), want 403: anonymous treatment would still act on the cookie's user elsewhere", rec.Code, reached)
		}
	})
}

func TestCookieOptionsValidated(t *testing.T) {
	f := newFixture(t, nil)
	for name, o := range map[string]*guardian.CookieOptions{
		"no refresh path":    {},
		"SameSite=None":      {RefreshPath: "/r", SameSite: http.SameSiteNoneMode},
		"same names":         {RefreshPath: "/r", AccessName: "t", RefreshName: "t"},
		"bad name":           {RefreshPath: "/r", AccessName: "a b"},
		"bad trusted origin": {RefreshPath: "/r", TrustedOrigins: []string{"not a url"}},
	} {
		if _, err := guardian.New(f.issuer, memberSubject, loadMember, &guardian.GuardianOptions[*member]{Cookies: o}); err == nil {
			t.Errorf("%s: New accepted %+v", name, o)
		}
	}
}

// TestRefreshFindsTheToken: Refresh takes the refresh token from the
// refresh cookie, a JSON or form body, or the Authorization header, and
// answers 401 or 400 when there is none or the body is unreadable.
func TestRefreshFindsTheToken(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cookies bool
		build   func(raw string) *http.Request
		want    error // nil: success
	}{
		{name: "JSON body", build: func(raw string) *http.Request {
			return refreshRequest(raw)
		}},
		{name: "form body", build: func(raw string) *http.Request {
			r := httptest.NewRequest("POST", "/api/refresh", strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {raw}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}},
		{name: "Authorization header", build: func(raw string) *http.Request {
			r := httptest.NewRequest("POST", "/api/refresh", nil)
			r.Header.Set("Authorization", "Bearer "+raw)
			return r
		}},
		{name: "refresh cookie", cookies: true, build: func(raw string) *http.Request {
			r := httptest.NewRequest("POST", "/api/refresh", nil)
			r.AddCookie(&http.Cookie{Name: "refresh_token", Value: raw})
			return r
		}},
		{name: "nothing", want: guardian.ErrMissingToken, build: func(string) *http.Request {
			return httptest.NewRequest("POST", "/api/refresh", nil)
		}},
		{name: "a body without refresh_token", want: guardian.ErrMalformedRequest, build: func(string) *http.Request {
			return httptest.NewRequest("POST", "/api/refresh", strings.NewReader(`{}`))
		}},
		{name: "not JSON", want: guardian.ErrMalformedRequest, build: func(string) *http.Request {
			return httptest.NewRequest("POST", "/api/refresh", strings.NewReader(`refresh_token=`))
		}},
		{name: "two JSON values", want: guardian.ErrMalformedRequest, build: func(raw string) *http.Request {
			return httptest.NewRequest("POST", "/api/refresh", strings.NewReader(`{"refresh_token":"`+raw+`"} {}`))
		}},
		{name: "huge body", want: guardian.ErrMalformedRequest, build: func(string) *http.Request {
			return httptest.NewRequest("POST", "/api/refresh", bytes.NewReader(bytes.Repeat([]byte(" "), 1<<20)))
		}},
		{name: "an access token", want: guardian.ErrTokenType, build: nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gf := newTestGuardian(t, &guardian.IssuerOptions{Revoker: guardian.NewMemoryRevoker(nil)}, nil)
			if tt.cookies {
				gf = cookieGuardian(t)
			}
			login := guardiantest.Mint(t, gf.g, members["u1"])
			var r *http.Request
			if tt.build == nil {
				r = refreshRequest(login.Access.Raw)
			} else {
				r = tt.build(login.Refresh.Raw)
			}
			rec := httptest.NewRecorder()
			pair, err := gf.g.Refresh(rec, r)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("Refresh = %v, want %v", err, tt.want)
				}
				status, _ := guardian.ErrorStatus(err)
				if wantStatus := map[bool]int{true: 400, false: 401}[errors.Is(tt.want, guardian.ErrMalformedRequest)]; status != wantStatus || rec.Code != wantStatus {
					t.Errorf("ErrorStatus %d, answered %d; want %d, answered by Refresh itself", status, rec.Code, wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatalf("Refresh = %v", err)
			}
			if pair.Refresh.Claims.Family != login.Refresh.Claims.Family {
				t.Errorf("new pair of another family")
			}
			if tt.cookies && cookiesOf(rec)["refresh_token"].Value != pair.Refresh.Raw {
				t.Errorf("the rotated refresh cookie was not set")
			}
		})
	}
}

// TestHooks: every refusal reaches OnRefused with its sentinel (never the
// token), every success reaches OnAuthenticated, and the causes of 5xx
// answers reach the Logger.
func TestGuardianHooks(t *testing.T) {
	var mu sync.Mutex
	var refused []error
	var verified []string
	var logs bytes.Buffer
	gf := newTestGuardian(t, &guardian.IssuerOptions{Revoker: guardian.NewMemoryRevoker(nil)}, &guardian.GuardianOptions[*member]{
		OnRefused: func(r *http.Request, reason error) { mu.Lock(); refused = append(refused, reason); mu.Unlock() },
		OnAuthenticated: func(r *http.Request, c *guardian.Claims) {
			mu.Lock()
			verified = append(verified, c.Subject)
			mu.Unlock()
		},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	expired := craft(testSecret, defaultHeader, payloadJSON(map[string]any{"exp": t0.Add(-time.Hour).Unix(), "iat": t0.Add(-2 * time.Hour).Unix(), "nbf": t0.Add(-2 * time.Hour).Unix()}))
	for _, auth := range []string{"", "Bearer " + expired, "Bearer " + gf.token(t, "u1", nil), "Bearer " + gf.token(t, "broken", nil)} {
		r := request()
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		serveMW(gf.g.Authenticated(), r)
	}
	want := []error{guardian.ErrMissingToken, guardian.ErrExpired, nil}
	if len(refused) != 3 || refused[0] != want[0] || refused[1] != want[1] {
		t.Errorf("OnRefused reasons = %v, want [ErrMissingToken ErrExpired <the load error: no sentinel>]", refused)
	}
	if strings.Join(verified, ",") != "u1,broken" {
		t.Errorf("OnAuthenticated saw %v, want u1 and broken (whose user then failed to load)", verified)
	}
	if !strings.Contains(logs.String(), "status=500") || !strings.Contains(logs.String(), "password authentication failed") {
		t.Errorf("logs %q: want the cause of the 500", logs.String())
	}
	if strings.Contains(logs.String(), expired) {
		t.Error("a token reached the logs")
	}
}

func TestReason(t *testing.T) {
	f := newFixture(t, nil)
	_, err := f.issuer.Verify(context.Background(), craft(testSecret, defaultHeader, payloadJSON(map[string]any{"exp": t0.Add(-time.Hour).Unix()})))
	if got := guardian.Reason(err); got != guardian.ErrExpired {
		t.Errorf("Reason(%v) = %v, want ErrExpired (not ErrInvalidToken)", err, got)
	}
	if got := guardian.Reason(errors.New("other")); got != nil {
		t.Errorf("Reason(a foreign error) = %v, want nil", got)
	}
	if guardian.Reason(nil) != nil {
		t.Error("Reason(nil) != nil")
	}
	// A status computed from the reason is the status of the error.
	for _, e := range []error{err, guardian.ErrMissingToken, guardian.ErrMalformedRequest, guardian.ErrUnavailable, guardian.ErrCrossSite} {
		s1, c1 := guardian.ErrorStatus(e)
		s2, c2 := guardian.ErrorStatus(guardian.Reason(e))
		if s1 != s2 || c1 != c2 {
			t.Errorf("ErrorStatus(%v) = %d %s, but ErrorStatus(Reason) = %d %s", e, s1, c1, s2, c2)
		}
	}
	for _, k := range []error{guardian.ErrRevoked, guardian.ErrExpired, guardian.ErrTokenType, guardian.ErrUnknownKey} {
		if s, c := guardian.ErrorStatus(k); s != http.StatusUnauthorized || c != "invalid_token" {
			t.Errorf("ErrorStatus(%v) = %d %s, want 401 invalid_token", k, s, c)
		}
	}
}

// TestSignOutAnswersItsFailures: like the middleware, SignOut answers a
// failure through the error handler, so a handler only writes on success.
func TestSignOutAnswersItsFailures(t *testing.T) {
	for name, opts := range map[string]*guardian.IssuerOptions{
		"not signed in": {Revoker: guardian.NewMemoryRevoker(nil)},
		"store down":    {Revoker: downRevoker{}, RevokerFailOpen: true},
	} {
		t.Run(name, func(t *testing.T) {
			gf := newTestGuardian(t, opts, nil)
			r := request()
			want := http.StatusUnauthorized
			if name == "store down" {
				r, want = signedIn(t, gf.g, gf.token(t, "u1", nil)), http.StatusServiceUnavailable
			}
			rec := httptest.NewRecorder()
			if err := gf.g.SignOut(rec, r); err == nil || rec.Code != want {
				t.Fatalf("SignOut = %v, answered %d; want an error answered %d", err, rec.Code, want)
			}
		})
	}
}
