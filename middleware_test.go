package guardian_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
)

// probe is the handler at the end of a chain: it records what it saw.
type probe struct {
	reached     bool
	token       string
	hasToken    bool
	claims      *guardian.Claims
	reason      error
	resource    *member
	hasResource bool
}

func (p *probe) handler(g *guardian.Guardian[*member]) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		p.reached = true
		p.token, p.hasToken = guardian.CurrentToken(ctx)
		p.claims, _ = guardian.CurrentClaims(ctx)
		p.reason = guardian.FailureReason(ctx)
		p.resource, p.hasResource = g.CurrentResource(ctx)
		w.WriteHeader(http.StatusOK)
	})
}

// chain applies middlewares so that the first one runs first.
func chain(h http.Handler, mws ...func(http.Handler) http.Handler) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// request returns a GET request with the given Authorization header values.
func request(auth ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/protected", nil)
	for _, a := range auth {
		r.Header.Add("Authorization", a)
	}
	return r
}

// errorCode returns the "error" member of a JSON error body.
func errorCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not JSON: %v", w.Body.String(), err)
	}
	if body.Error == "" {
		t.Fatalf("body %q has no error", w.Body.String())
	}
	return body.Error
}

// TestRFC6750Answers checks the RFC 6750 table of README.md ("The parts, and their order").
func TestRFC6750Answers(t *testing.T) {
	rev := guardian.NewMemoryRevoker(nil)
	gf := newTestGuardian(t, &guardian.IssuerOptions{Revoker: rev}, nil)
	down := newTestGuardian(t, &guardian.IssuerOptions{Revoker: downRevoker{}}, nil)
	valid := gf.token(t, "u1", nil)
	revoked := gf.token(t, "u1", nil)
	if err := gf.issuer.Revoke(context.Background(), revoked); err != nil {
		t.Fatal(err)
	}
	expired := gf.token(t, "u1", &guardian.IssueOptions{TTL: time.Second})
	refresh := gf.token(t, "u1", &guardian.IssueOptions{Type: guardian.RefreshToken})
	forged := valid[:len(valid)-4] + "AAAA"
	gf.clock.Advance(2 * time.Second)

	protected := func(gf *gfixture) http.Handler {
		g := gf.g
		return chain(new(probe).handler(g), g.VerifyHeader(nil), g.LoadResource(nil), g.EnsureAuthenticated(nil))
	}
	const noCredentials = `Bearer realm="api"`
	tests := []struct {
		name      string
		gf        *gfixture
		auth      []string
		status    int
		challenge string // exact when exact, else a prefix; "" means none
		exact     bool
		code      string
	}{
		{name: "valid", gf: gf, auth: []string{"Bearer " + valid}, status: 200},
		{name: "no credentials", gf: gf, status: 401, challenge: noCredentials, exact: true, code: "unauthorized"},
		{name: "another scheme", gf: gf, auth: []string{"Basic dXNlcjpwYXNz"}, status: 401, challenge: noCredentials, exact: true, code: "unauthorized"},
		{name: "scheme without token", gf: gf, auth: []string{"Bearer"}, status: 400, challenge: `Bearer realm="api", error="invalid_request"`, code: "invalid_request"},
		{name: "scheme and spaces only", gf: gf, auth: []string{"Bearer    "}, status: 400, challenge: `Bearer realm="api", error="invalid_request"`, code: "invalid_request"},
		{name: "two tokens", gf: gf, auth: []string{"Bearer a b"}, status: 400, challenge: `Bearer realm="api", error="invalid_request"`, code: "invalid_request"},
		{name: "two headers", gf: gf, auth: []string{"Bearer " + valid, "Bearer " + valid}, status: 400, challenge: `Bearer realm="api", error="invalid_request"`, code: "invalid_request"},
		{name: "not token68", gf: gf, auth: []string{"Bearer {json}"}, status: 400, challenge: `Bearer realm="api", error="invalid_request"`, code: "invalid_request"},
		{name: "empty header", gf: gf, auth: []string{""}, status: 400, challenge: `Bearer realm="api", error="invalid_request"`, code: "invalid_request"},
		{name: "bad token", gf: gf, auth: []string{"Bearer not.a.jwt"}, status: 401, challenge: `Bearer realm="api", error="invalid_token"`, code: "invalid_token"},
		{name: "forged token", gf: gf, auth: []string{"Bearer " + forged}, status: 401, challenge: `Bearer realm="api", error="invalid_token", error_description="invalid signature"`, exact: true, code: "invalid_token"},
		{name: "expired token", gf: gf, auth: []string{"Bearer " + expired}, status: 401, challenge: `Bearer realm="api", error="invalid_token", error_description="token expired"`, exact: true, code: "invalid_token"},
		{name: "revoked token", gf: gf, auth: []string{"Bearer " + revoked}, status: 401, challenge: `Bearer realm="api", error="invalid_token", error_description="token revoked"`, exact: true, code: "invalid_token"},
		{name: "refresh token", gf: gf, auth: []string{"Bearer " + refresh}, status: 401, challenge: `Bearer realm="api", error="invalid_token", error_description="wrong token type"`, exact: true, code: "invalid_token"},
		{name: "revoker down", gf: down, auth: []string{"Bearer " + down.token(t, "u1", nil)}, status: 503, code: "temporarily_unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(protected(tt.gf), request(tt.auth...))
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d (body %s)", w.Code, tt.status, w.Body)
			}
			got := w.Header().Get("WWW-Authenticate")
			switch {
			case tt.challenge == "" && got != "":
				t.Errorf("WWW-Authenticate = %q, want none", got)
			case tt.exact && got != tt.challenge:
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			case !strings.HasPrefix(got, tt.challenge):
				t.Errorf("WWW-Authenticate = %q, want it to start with %q", got, tt.challenge)
			}
			if n := len(w.Header().Values("WWW-Authenticate")); n > 1 {
				t.Errorf("%d WWW-Authenticate headers, want at most one", n)
			}
			if tt.status == 200 {
				return
			}
			if code := errorCode(t, w); code != tt.code {
				t.Errorf("body error = %q, want %q", code, tt.code)
			}
			for _, secret := range []string{valid, forged, expired, revoked, refresh, "not.a.jwt", "{json}"} {
				if strings.Contains(w.Body.String(), secret) || strings.Contains(got, secret) {
					t.Errorf("the answer echoes the presented credentials")
				}
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
		})
	}
}

func TestVerifyHeaderParsing(t *testing.T) {
	gf := newTestGuardian(t, nil, nil)
	tok := gf.token(t, "u1", nil)
	tests := []struct {
		name   string
		auth   []string
		status int
		// noToken: another scheme, not ours to judge; the request is
		// anonymous and the challenge carries no error code.
		noToken bool
	}{
		{name: "Bearer", auth: []string{"Bearer " + tok}, status: 200},
		{name: "bearer", auth: []string{"bearer " + tok}, status: 200},
		{name: "BEARER", auth: []string{"BEARER " + tok}, status: 200},
		{name: "bEaReR", auth: []string{"bEaReR " + tok}, status: 200},
		{name: "surrounding spaces", auth: []string{"   Bearer " + tok + "   "}, status: 200},
		{name: "tabs", auth: []string{"\tBearer\t" + tok + "\t"}, status: 200},
		{name: "several spaces between", auth: []string{"Bearer    " + tok}, status: 200},
		{name: "token altered", auth: []string{"Bearer " + tok + "x"}, status: 401},
		{name: "no space after the scheme", auth: []string{"Bearer" + tok}, status: 401, noToken: true},
		{name: "Bearer alone", auth: []string{"Bearer"}, status: 400},
		{name: "bearer alone, lower case", auth: []string{"bearer "}, status: 400},
		{name: "two tokens", auth: []string{"Bearer a b"}, status: 400},
		{name: "token and junk", auth: []string{"Bearer " + tok + " junk"}, status: 400},
		{name: "two headers", auth: []string{"Bearer " + tok, "Bearer " + tok}, status: 400},
		{name: "two headers, one empty", auth: []string{"Bearer " + tok, ""}, status: 400},
		{name: "comma-separated credentials", auth: []string{"Bearer " + tok + ", Basic eA=="}, status: 400},
		{name: "Basic", auth: []string{"Basic xyz"}, status: 401, noToken: true},
		{name: "Token scheme", auth: []string{"Token " + tok}, status: 401, noToken: true},
		{name: "Bearer as a prefix of the scheme", auth: []string{"Bearerx " + tok}, status: 401, noToken: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := new(probe)
			w := serve(chain(p.handler(gf.g), gf.g.VerifyHeader(nil), gf.g.EnsureAuthenticated(nil)), request(tt.auth...))
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d", w.Code, tt.status)
			}
			if tt.status == 200 && (p.token != tok || p.claims == nil || p.claims.Subject != "u1") {
				t.Errorf("handler saw token %q, claims %+v", p.token, p.claims)
			}
			challenge := w.Header().Get("WWW-Authenticate")
			switch tt.status {
			case 400:
				if !strings.Contains(challenge, `error="invalid_request"`) {
					t.Errorf("WWW-Authenticate = %q, want invalid_request", challenge)
				}
			case 401:
				if tt.noToken && challenge != `Bearer realm="api"` {
					t.Errorf("WWW-Authenticate = %q, want a challenge without error", challenge)
				}
				if !tt.noToken && !strings.Contains(challenge, `error="invalid_token"`) {
					t.Errorf("WWW-Authenticate = %q, want invalid_token", challenge)
				}
			}
		})
	}
}

func TestVerifyHeaderOptions(t *testing.T) {
	t.Run("custom header name", func(t *testing.T) {
		gf := newTestGuardian(t, nil, nil)
		tok := gf.token(t, "u1", nil)
		for _, name := range []string{"X-Api-Token", "x-api-token"} {
			h := chain(new(probe).handler(gf.g), gf.g.VerifyHeader(&guardian.VerifyOptions{Header: name}), gf.g.EnsureAuthenticated(nil))
			r := request()
			r.Header.Set("X-Api-Token", "Bearer "+tok)
			if w := serve(h, r); w.Code != 200 {
				t.Errorf("Header %q: status = %d, want 200", name, w.Code)
			}
			if w := serve(h, request("Bearer "+tok)); w.Code != 401 {
				t.Errorf("Header %q, token in Authorization: status = %d, want 401 (the header is not read)", name, w.Code)
			}
		}
	})
	t.Run("custom scheme", func(t *testing.T) {
		gf := newTestGuardian(t, nil, &guardian.GuardianOptions[*member]{Scheme: "Token"})
		tok := gf.token(t, "u1", nil)
		h := chain(new(probe).handler(gf.g), gf.g.VerifyHeader(nil), gf.g.EnsureAuthenticated(nil))
		tests := []struct {
			auth      string
			status    int
			challenge string
		}{
			{auth: "Token " + tok, status: 200},
			{auth: "token " + tok, status: 200},
			{auth: "Bearer " + tok, status: 401, challenge: `Token realm="api"`},
			{auth: "Token", status: 400, challenge: `Token realm="api", error="invalid_request"`},
			{auth: "Token " + tok + "x", status: 401, challenge: `Token realm="api", error="invalid_token"`},
		}
		for _, tt := range tests {
			w := serve(h, request(tt.auth))
			if w.Code != tt.status {
				t.Errorf("%q: status = %d, want %d", tt.auth, w.Code, tt.status)
			}
			if got := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, tt.challenge) || (tt.challenge == `Token realm="api"` && got != tt.challenge) {
				t.Errorf("%q: WWW-Authenticate = %q, want %q", tt.auth, got, tt.challenge)
			}
		}
	})
	t.Run("custom realm", func(t *testing.T) {
		gf := newTestGuardian(t, nil, &guardian.GuardianOptions[*member]{Realm: "Example Corp's API"})
		h := chain(new(probe).handler(gf.g), gf.g.VerifyHeader(nil), gf.g.EnsureAuthenticated(nil))
		if got, want := serve(h, request()).Header().Get("WWW-Authenticate"), `Bearer realm="Example Corp's API"`; got != want {
			t.Errorf("WWW-Authenticate = %q, want %q", got, want)
		}
		if got, want := serve(h, request("Bearer x.y.z")).Header().Get("WWW-Authenticate"), `Bearer realm="Example Corp's API", error="invalid_token"`; !strings.HasPrefix(got, want) {
			t.Errorf("WWW-Authenticate = %q, want it to start with %q", got, want)
		}
	})
	t.Run("types", func(t *testing.T) {
		gf := newTestGuardian(t, nil, nil)
		refresh := gf.token(t, "u1", &guardian.IssueOptions{Type: guardian.RefreshToken})
		access := gf.token(t, "u1", nil)
		h := chain(new(probe).handler(gf.g), gf.g.VerifyHeader(&guardian.VerifyOptions{Types: []guardian.TokenType{guardian.RefreshToken}}), gf.g.EnsureAuthenticated(nil))
		if w := serve(h, request("Bearer "+refresh)); w.Code != 200 {
			t.Errorf("refresh token on a refresh route: %d, want 200", w.Code)
		}
		if w := serve(h, request("Bearer "+access)); w.Code != 401 {
			t.Errorf("access token on a refresh route: %d, want 401", w.Code)
		}
	})
}

func TestRejectInvalid(t *testing.T) {
	gf := newTestGuardian(t, nil, nil)
	tok := gf.token(t, "u1", nil)
	tests := []struct {
		name       string
		reject     bool
		auth       []string
		status     int
		reached    bool
		wantReason error
		wantClaims bool
	}{
		{name: "reject: valid", reject: true, auth: []string{"Bearer " + tok}, status: 200, reached: true, wantClaims: true},
		{name: "reject: none", reject: true, status: 200, reached: true},
		{name: "reject: bad token", reject: true, auth: []string{"Bearer " + tok + "x"}, status: 401},
		{name: "reject: malformed", reject: true, auth: []string{"Bearer"}, status: 400},
		{name: "record: bad token", auth: []string{"Bearer " + tok + "x"}, status: 200, reached: true, wantReason: guardian.ErrInvalidSignature},
		{name: "record: malformed", auth: []string{"Bearer a b"}, status: 200, reached: true, wantReason: guardian.ErrMalformedRequest},
		{name: "record: none", status: 200, reached: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := new(probe)
			h := chain(p.handler(gf.g), gf.g.VerifyHeader(&guardian.VerifyOptions{RejectInvalid: tt.reject}))
			w := serve(h, request(tt.auth...))
			if w.Code != tt.status || p.reached != tt.reached {
				t.Fatalf("status %d, handler reached %v; want %d, %v", w.Code, p.reached, tt.status, tt.reached)
			}
			if !p.reached {
				return
			}
			if (p.claims != nil) != tt.wantClaims || p.hasToken != tt.wantClaims {
				t.Errorf("claims %+v, token %v; want claims: %v", p.claims, p.hasToken, tt.wantClaims)
			}
			if tt.wantReason == nil && p.reason != nil {
				t.Errorf("FailureReason = %v, want nil", p.reason)
			}
			if tt.wantReason != nil && !errors.Is(p.reason, tt.wantReason) {
				t.Errorf("FailureReason = %v, want %v", p.reason, tt.wantReason)
			}
		})
	}
}

func TestVerifyCookieAndQuery(t *testing.T) {
	gf := newTestGuardian(t, nil, nil)
	tok := gf.token(t, "u1", nil)
	cookie := func(values ...string) *http.Request {
		r := request()
		for _, v := range values {
			r.AddCookie(&http.Cookie{Name: "session", Value: v})
		}
		r.AddCookie(&http.Cookie{Name: "other", Value: "x"})
		return r
	}
	query := func(q string) *http.Request { return httptest.NewRequest(http.MethodGet, "/ws"+q, nil) }
	tests := []struct {
		name   string
		mw     func(http.Handler) http.Handler
		req    *http.Request
		status int
		code   string
	}{
		{name: "cookie: valid", mw: gf.g.VerifyCookie("session", nil), req: cookie(tok), status: 200},
		{name: "cookie: missing", mw: gf.g.VerifyCookie("session", nil), req: cookie(), status: 401, code: "unauthorized"},
		{name: "cookie: duplicated", mw: gf.g.VerifyCookie("session", nil), req: cookie(tok, tok), status: 400, code: "invalid_request"},
		{name: "cookie: not a token", mw: gf.g.VerifyCookie("session", nil), req: cookie("%%%"), status: 400, code: "invalid_request"},
		{name: "cookie: empty", mw: gf.g.VerifyCookie("session", nil), req: cookie(""), status: 400, code: "invalid_request"},
		{name: "cookie: garbage token", mw: gf.g.VerifyCookie("session", nil), req: cookie("abc.def.ghi"), status: 401, code: "invalid_token"},
		{name: "cookie: with a scheme", mw: gf.g.VerifyCookie("session", nil), req: cookie("Bearer%20" + tok), status: 400, code: "invalid_request"},
		{name: "query: valid", mw: gf.g.VerifyQuery("access_token", nil), req: query("?access_token=" + tok), status: 200},
		{name: "query: missing", mw: gf.g.VerifyQuery("access_token", nil), req: query("?other=1"), status: 401, code: "unauthorized"},
		{name: "query: duplicated", mw: gf.g.VerifyQuery("access_token", nil), req: query("?access_token=" + tok + "&access_token=" + tok), status: 400, code: "invalid_request"},
		{name: "query: not a token", mw: gf.g.VerifyQuery("access_token", nil), req: query("?access_token=%21%21"), status: 400, code: "invalid_request"},
		{name: "query: empty", mw: gf.g.VerifyQuery("access_token", nil), req: query("?access_token="), status: 400, code: "invalid_request"},
		{name: "query: too long", mw: gf.g.VerifyQuery("access_token", nil), req: query("?access_token=" + strings.Repeat("a", guardian.DefaultMaxTokenSize+1)), status: 400, code: "invalid_request"},
		{name: "query: garbage token", mw: gf.g.VerifyQuery("access_token", nil), req: query("?access_token=abc.def.ghi"), status: 401, code: "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := new(probe)
			w := serve(chain(p.handler(gf.g), tt.mw, gf.g.EnsureAuthenticated(nil)), tt.req)
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d", w.Code, tt.status)
			}
			if tt.status == 200 {
				if p.token != tok || p.claims.Subject != "u1" {
					t.Errorf("handler saw token %q, claims %+v", p.token, p.claims)
				}
				return
			}
			if got := errorCode(t, w); got != tt.code {
				t.Errorf("error = %q, want %q", got, tt.code)
			}
		})
	}
}

func TestVerifyHeaderThenCookie(t *testing.T) {
	gf := newTestGuardian(t, nil, nil)
	fromHeader := gf.token(t, "u1", nil)
	fromCookie := gf.token(t, "u2", nil)
	tests := []struct {
		name    string
		header  string
		cookie  string
		status  int
		wantSub string
	}{
		{name: "header only", header: "Bearer " + fromHeader, status: 200, wantSub: "u1"},
		{name: "cookie only", cookie: fromCookie, status: 200, wantSub: "u2"},
		{name: "both: the header, verified first", header: "Bearer " + fromHeader, cookie: fromCookie, status: 200, wantSub: "u1"},
		{name: "bad header, good cookie", header: "Bearer " + fromHeader + "x", cookie: fromCookie, status: 200, wantSub: "u2"},
		{name: "neither", status: 401},
		{name: "bad cookie", cookie: fromCookie + "x", status: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request()
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			if tt.cookie != "" {
				r.AddCookie(&http.Cookie{Name: "session", Value: tt.cookie})
			}
			p := new(probe)
			h := chain(p.handler(gf.g), gf.g.VerifyHeader(nil), gf.g.VerifyCookie("session", nil), gf.g.LoadResource(nil), gf.g.EnsureAuthenticated(nil))
			w := serve(h, r)
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d", w.Code, tt.status)
			}
			if tt.status == 200 && (p.claims.Subject != tt.wantSub || p.resource == nil || p.resource.ID != tt.wantSub) {
				t.Errorf("subject %q, resource %+v; want %s", p.claims.Subject, p.resource, tt.wantSub)
			}
		})
	}
}

func TestLoadResource(t *testing.T) {
	gf := newTestGuardian(t, nil, nil)
	loads := 0
	counting, err := guardian.New(gf.issuer, memberSubject, func(ctx context.Context, c *guardian.Claims) (*member, error) {
		loads++
		return loadMember(ctx, c)
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		opts         *guardian.LoadOptions
		auth         []string
		status       int
		reached      bool
		wantResource string
		wantLoads    int
		code         string
	}{
		{name: "loaded", auth: []string{"Bearer " + gf.token(t, "u1", nil)}, status: 200, reached: true, wantResource: "u1", wantLoads: 1},
		{name: "user gone", auth: []string{"Bearer " + gf.token(t, "gone", nil)}, status: 401, wantLoads: 1, code: "invalid_token"},
		{name: "user gone, AllowBlank", opts: &guardian.LoadOptions{AllowBlank: true}, auth: []string{"Bearer " + gf.token(t, "gone", nil)}, status: 200, reached: true, wantLoads: 1},
		{name: "loader fails", auth: []string{"Bearer " + gf.token(t, "broken", nil)}, status: 500, wantLoads: 1, code: "server_error"},
		{name: "loader fails, AllowBlank", opts: &guardian.LoadOptions{AllowBlank: true}, auth: []string{"Bearer " + gf.token(t, "broken", nil)}, status: 500, wantLoads: 1, code: "server_error"},
		{name: "no token", status: 200, reached: true},
		{name: "bad token", auth: []string{"Bearer x.y.z"}, status: 200, reached: true},
		{name: "malformed header", auth: []string{"Bearer"}, status: 200, reached: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loads = 0
			p := new(probe)
			w := serve(chain(p.handler(counting), counting.VerifyHeader(nil), counting.LoadResource(tt.opts)), request(tt.auth...))
			if w.Code != tt.status || p.reached != tt.reached {
				t.Fatalf("status %d, reached %v; want %d, %v (body %s)", w.Code, p.reached, tt.status, tt.reached, w.Body)
			}
			if loads != tt.wantLoads {
				t.Errorf("loader called %d times, want %d", loads, tt.wantLoads)
			}
			if tt.reached {
				gotID := ""
				if p.resource != nil {
					gotID = p.resource.ID
				}
				if gotID != tt.wantResource || p.hasResource != (tt.wantResource != "") {
					t.Errorf("CurrentResource = %+v, %v; want %q", p.resource, p.hasResource, tt.wantResource)
				}
				return
			}
			if got := errorCode(t, w); got != tt.code {
				t.Errorf("error = %q, want %q", got, tt.code)
			}
			if strings.Contains(w.Body.String(), "hunter2") || strings.Contains(w.Body.String(), "pq:") || strings.Contains(w.Header().Get("WWW-Authenticate"), "hunter2") {
				t.Errorf("the answer leaks the loader's error: %s", w.Body)
			}
		})
	}
}

func TestEnsureAuthenticatedOnFail(t *testing.T) {
	gf := newTestGuardian(t, &guardian.IssuerOptions{Revoker: guardian.NewMemoryRevoker(nil)}, nil)
	down := newTestGuardian(t, &guardian.IssuerOptions{Revoker: downRevoker{}}, nil)
	revoked := gf.token(t, "u1", nil)
	if err := gf.issuer.Revoke(context.Background(), revoked); err != nil {
		t.Fatal(err)
	}
	expired := gf.token(t, "u1", &guardian.IssueOptions{TTL: time.Second})
	gf.clock.Advance(time.Second)
	tests := []struct {
		name string
		gf   *gfixture
		auth []string
		want []error
	}{
		{name: "no token", gf: gf, want: []error{guardian.ErrMissingToken}},
		{name: "another scheme", gf: gf, auth: []string{"Basic eDp5"}, want: []error{guardian.ErrMissingToken}},
		{name: "malformed", gf: gf, auth: []string{"Bearer a b"}, want: []error{guardian.ErrMalformedRequest}},
		{name: "forged", gf: gf, auth: []string{"Bearer " + tamperSignature(revoked)}, want: []error{guardian.ErrInvalidToken, guardian.ErrInvalidSignature}},
		{name: "expired", gf: gf, auth: []string{"Bearer " + expired}, want: []error{guardian.ErrInvalidToken, guardian.ErrExpired}},
		{name: "revoked", gf: gf, auth: []string{"Bearer " + revoked}, want: []error{guardian.ErrInvalidToken, guardian.ErrRevoked}},
		{name: "wrong type", gf: gf, auth: []string{"Bearer " + gf.token(t, "u1", &guardian.IssueOptions{Type: guardian.RefreshToken})}, want: []error{guardian.ErrInvalidToken, guardian.ErrTokenType}},
		{name: "revoker down", gf: down, auth: []string{"Bearer " + down.token(t, "u1", nil)}, want: []error{guardian.ErrUnavailable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got error
			calls := 0
			onFail := func(w http.ResponseWriter, r *http.Request, err error) {
				calls++
				got = err
				w.WriteHeader(http.StatusTeapot)
			}
			p := new(probe)
			w := serve(chain(p.handler(tt.gf.g), tt.gf.g.VerifyHeader(nil), tt.gf.g.EnsureAuthenticated(onFail)), request(tt.auth...))
			if w.Code != http.StatusTeapot || calls != 1 || p.reached {
				t.Fatalf("status %d, onFail called %d times, handler reached %v; want onFail's 418 once", w.Code, calls, p.reached)
			}
			wantErr(t, got, tt.want...)
		})
	}
	t.Run("without a Verify middleware", func(t *testing.T) {
		var got error
		w := serve(gf.g.EnsureAuthenticated(func(w http.ResponseWriter, r *http.Request, err error) {
			got = err
			w.WriteHeader(http.StatusTeapot)
		})(new(probe).handler(gf.g)), request("Bearer "+gf.token(t, "u1", nil)))
		if w.Code != http.StatusTeapot {
			t.Fatalf("status = %d, want 418", w.Code)
		}
		wantErr(t, got, guardian.ErrMissingToken)
	})
}

func TestEnsureNotAuthenticated(t *testing.T) {
	gf := newTestGuardian(t, nil, nil)
	tok := gf.token(t, "u1", nil)
	tests := []struct {
		name    string
		auth    []string
		onFail  bool
		status  int
		reached bool
	}{
		{name: "valid token", auth: []string{"Bearer " + tok}, status: 403},
		{name: "valid token, custom onFail", auth: []string{"Bearer " + tok}, onFail: true, status: http.StatusTeapot},
		{name: "invalid token", auth: []string{"Bearer " + tok + "x"}, status: 200, reached: true},
		{name: "malformed header", auth: []string{"Bearer"}, status: 200, reached: true},
		{name: "no token", status: 200, reached: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var onFail guardian.ErrorHandler
			var got error
			if tt.onFail {
				onFail = func(w http.ResponseWriter, r *http.Request, err error) {
					got = err
					w.WriteHeader(http.StatusTeapot)
				}
			}
			p := new(probe)
			w := serve(chain(p.handler(gf.g), gf.g.VerifyHeader(nil), gf.g.EnsureNotAuthenticated(onFail)), request(tt.auth...))
			if w.Code != tt.status || p.reached != tt.reached {
				t.Fatalf("status %d, reached %v; want %d, %v", w.Code, p.reached, tt.status, tt.reached)
			}
			if tt.status == 403 {
				if code := errorCode(t, w); code != "already_authenticated" {
					t.Errorf("error = %q, want already_authenticated", code)
				}
			}
			if tt.onFail {
				wantErr(t, got, guardian.ErrAlreadyAuthenticated)
			}
		})
	}
}

func TestContextAccessors(t *testing.T) {
	gf := newTestGuardian(t, nil, nil)
	tok := gf.token(t, "u1", nil)

	t.Run("outside the chain", func(t *testing.T) {
		for name, ctx := range map[string]context.Context{"background": context.Background(), "request": request("Bearer " + tok).Context()} {
			if raw, ok := guardian.CurrentToken(ctx); ok || raw != "" {
				t.Errorf("%s: CurrentToken = %q, %v", name, raw, ok)
			}
			if c, ok := guardian.CurrentClaims(ctx); ok || c != nil {
				t.Errorf("%s: CurrentClaims = %v, %v", name, c, ok)
			}
			if err := guardian.FailureReason(ctx); err != nil {
				t.Errorf("%s: FailureReason = %v", name, err)
			}
			if u, ok := gf.g.CurrentResource(ctx); ok || u != nil {
				t.Errorf("%s: CurrentResource = %v, %v", name, u, ok)
			}
		}
	})
	tests := []struct {
		name       string
		auth       []string
		load       bool
		wantToken  bool
		wantReason error
		wantUser   bool
	}{
		{name: "verified", auth: []string{"Bearer " + tok}, wantToken: true},
		{name: "verified and loaded", auth: []string{"Bearer " + tok}, load: true, wantToken: true, wantUser: true},
		{name: "refused", auth: []string{"Bearer " + tok + "x"}, load: true, wantReason: guardian.ErrInvalidSignature},
		{name: "anonymous", load: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mws := []func(http.Handler) http.Handler{gf.g.VerifyHeader(nil)}
			if tt.load {
				mws = append(mws, gf.g.LoadResource(nil))
			}
			p := new(probe)
			serve(chain(p.handler(gf.g), mws...), request(tt.auth...))
			if p.hasToken != tt.wantToken || (tt.wantToken && (p.token != tok || p.claims == nil || p.claims.Subject != "u1")) {
				t.Errorf("CurrentToken = %q, %v; CurrentClaims = %+v", p.token, p.hasToken, p.claims)
			}
			if !tt.wantToken && p.claims != nil {
				t.Errorf("CurrentClaims = %+v for a request without a valid token", p.claims)
			}
			if (tt.wantReason == nil) != (p.reason == nil) || (tt.wantReason != nil && !errors.Is(p.reason, tt.wantReason)) {
				t.Errorf("FailureReason = %v, want %v", p.reason, tt.wantReason)
			}
			if p.hasResource != tt.wantUser || (tt.wantUser && p.resource != members["u1"]) {
				t.Errorf("CurrentResource = %+v, %v; want user: %v", p.resource, p.hasResource, tt.wantUser)
			}
		})
	}
}
