package guardianecho_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/guardianecho"
	"github.com/guardian-go/guardian/guardiantest"
	"github.com/labstack/echo/v4"
)

type user struct{ ID, Name string }

var (
	alice = &user{ID: "u1", Name: "alice"}
	bob   = &user{ID: "u2", Name: "bob"}
	gone  = &user{ID: "u9", Name: "deleted since"}
)

// fixture is a Guardian on a settable clock, with a user store that knows
// alice and bob.
type fixture struct {
	g     *guardian.Guardian[*user]
	clock *guardiantest.Clock
}

func newFixture(t *testing.T, opts *guardian.GuardianOptions[*user]) fixture {
	t.Helper()
	clock := guardiantest.NewClock(time.Now())
	issuer := guardiantest.NewIssuer(t, &guardian.IssuerOptions{Clock: clock.Now})
	g, err := guardian.New(issuer,
		func(u *user) (string, error) { return u.ID, nil },
		func(_ context.Context, c *guardian.Claims) (*user, error) {
			for _, u := range []*user{alice, bob} {
				if u.ID == c.Subject {
					return u, nil
				}
			}
			return nil, guardian.ErrResourceNotFound
		}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{g: g, clock: clock}
}

// newEcho returns an echo whose HTTPErrorHandler counts its calls in
// *errorAnswers, and otherwise answers as echo's default does.
func newEcho(errorAnswers *int) *echo.Echo {
	e := echo.New()
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		*errorAnswers++
		e.DefaultHTTPErrorHandler(err, c)
	}
	return e
}

// probe is what an outer middleware and the protected handler saw of a
// request.
type probe struct {
	reached   bool  // the protected handler ran
	err       error // what the chain returned to the outer middleware
	committed bool  // c.Response().Committed then
	status    int   // c.Response().Status then
	size      int64 // c.Response().Size then
}

// outer records, after the rest of the chain, what echo knows of the answer.
func (p *probe) outer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p.err = next(c)
		res := c.Response()
		p.committed, p.status, p.size = res.Committed, res.Status, res.Size
		return p.err
	}
}

// whoami answers with the user and claims that reached it.
func whoami(g *guardian.Guardian[*user], p *probe) echo.HandlerFunc {
	return func(c echo.Context) error {
		p.reached = true
		ctx := c.Request().Context()
		name := "anonymous"
		if u, ok := g.CurrentResource(ctx); ok {
			name = u.Name
		}
		sub := "-"
		if claims, ok := guardian.CurrentClaims(ctx); ok {
			sub = claims.Subject
		}
		_, hasToken := guardian.CurrentToken(ctx)
		return c.String(http.StatusOK, fmt.Sprintf("%s %s %t", name, sub, hasToken))
	}
}

// serve answers req with h.
func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// refusals are requests the Guardian refuses, each with a fresh request
// built for the fixture, and the status and challenge the default error
// handler answers them with.
var refusals = []struct {
	name      string
	request   func(t *testing.T, f fixture) *http.Request
	status    int
	challenge string
}{
	{"no token", func(t *testing.T, f fixture) *http.Request {
		return httptest.NewRequest(http.MethodGet, "/me", nil)
	}, http.StatusUnauthorized, `Bearer realm="api"`},
	{"other scheme", func(t *testing.T, f fixture) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/me", nil)
		r.SetBasicAuth("alice", "secret")
		return r
	}, http.StatusUnauthorized, `Bearer realm="api"`},
	{"bad token", func(t *testing.T, f fixture) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/me", nil)
		r.Header.Set("Authorization", "Bearer not.a.token")
		return r
	}, http.StatusUnauthorized, `Bearer realm="api", error="invalid_token", error_description="malformed token"`},
	{"bad signature", func(t *testing.T, f fixture) *http.Request {
		other := newFixture(t, nil)
		return guardiantest.NewRequest(t, other.g, alice, http.MethodGet, "/me", nil)
	}, http.StatusUnauthorized, `Bearer realm="api", error="invalid_token", error_description="invalid signature"`},
	{"expired", func(t *testing.T, f fixture) *http.Request {
		r := guardiantest.NewRequest(t, f.g, alice, http.MethodGet, "/me", nil)
		f.clock.Advance(time.Hour)
		return r
	}, http.StatusUnauthorized, `Bearer realm="api", error="invalid_token", error_description="token expired"`},
	{"refresh token", func(t *testing.T, f fixture) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/me", nil)
		tok := guardiantest.Mint(t, f.g, alice).Refresh
		r.Header.Set("Authorization", "Bearer "+tok.Raw)
		return r
	}, http.StatusUnauthorized, `Bearer realm="api", error="invalid_token", error_description="wrong token type"`},
	{"user gone", func(t *testing.T, f fixture) *http.Request {
		return guardiantest.NewRequest(t, f.g, gone, http.MethodGet, "/me", nil)
	}, http.StatusUnauthorized, `Bearer realm="api", error="invalid_token", error_description="resource not found"`},
	{"scheme without token", func(t *testing.T, f fixture) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/me", nil)
		r.Header.Set("Authorization", "Bearer")
		return r
	}, http.StatusBadRequest, `Bearer realm="api", error="invalid_request", error_description="malformed request"`},
}

// TestAuthenticatedRefuses checks that a refused request never reaches the
// protected handler, that the middleware returns nil so echo's
// HTTPErrorHandler does not answer again, and that the client gets exactly
// the answer g.Protect gives in a net/http app: the same status, headers
// and body, written once.
func TestAuthenticatedRefuses(t *testing.T) {
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			var p probe
			errorAnswers := 0
			e := newEcho(&errorAnswers)
			e.GET("/me", whoami(f.g, &p), p.outer, guardianecho.Authenticated(f.g))

			req := tc.request(t, f)
			want := serve(f.g.Protect(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
				t.Fatal("net/http: the protected handler ran")
			})), req.Clone(req.Context()))
			got := serve(e, req)

			if p.reached {
				t.Fatal("the protected handler ran")
			}
			if p.err != nil || errorAnswers != 0 {
				t.Errorf("the chain returned %v; echo's HTTPErrorHandler ran %d times, want 0", p.err, errorAnswers)
			}
			if got.Code != tc.status || got.Code != want.Code {
				t.Errorf("status %d, want %d (net/http: %d)", got.Code, tc.status, want.Code)
			}
			if h := got.Header().Get("WWW-Authenticate"); h != tc.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", h, tc.challenge)
			}
			for _, name := range []string{"WWW-Authenticate", "Content-Type", "Cache-Control", "X-Content-Type-Options"} {
				if g, w := got.Header().Values(name), want.Header().Values(name); fmt.Sprint(g) != fmt.Sprint(w) {
					t.Errorf("%s %q, net/http %q", name, g, w)
				}
			}
			if got.Body.String() != want.Body.String() {
				t.Errorf("body %q, want the error handler's %q", got.Body, want.Body)
			}
			if !p.committed || p.status != got.Code || p.size != int64(want.Body.Len()) {
				t.Errorf("echo saw committed %t, status %d and %d bytes, want %d and %d", p.committed, p.status, p.size, got.Code, want.Body.Len())
			}
		})
	}
}

// TestCustomErrorHandler checks that GuardianOptions.ErrorHandler's answer is
// what the client gets, with the reason it was given.
func TestCustomErrorHandler(t *testing.T) {
	var reasons []error
	f := newFixture(t, &guardian.GuardianOptions[*user]{
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			reasons = append(reasons, err)
			w.Header().Set("X-Refused", "yes")
			w.WriteHeader(http.StatusTeapot)
			fmt.Fprint(w, "go away")
		},
	})
	var p probe
	errorAnswers := 0
	e := newEcho(&errorAnswers)
	e.GET("/me", whoami(f.g, &p), guardianecho.Authenticated(f.g))

	req := guardiantest.NewRequest(t, f.g, alice, http.MethodGet, "/me", nil)
	f.clock.Advance(time.Hour)
	rec := serve(e, req)
	if p.reached || errorAnswers != 0 {
		t.Fatalf("reached %t, echo's error handler ran %d times", p.reached, errorAnswers)
	}
	if rec.Code != http.StatusTeapot || rec.Header().Get("X-Refused") != "yes" || rec.Body.String() != "go away" {
		t.Errorf("got %d %q %q, want the custom handler's 418 \"go away\"", rec.Code, rec.Header(), rec.Body)
	}
	if len(reasons) != 1 || !errors.Is(reasons[0], guardian.ErrExpired) {
		t.Errorf("the error handler got %v, want one ErrExpired", reasons)
	}
}

// TestAuthenticatedPasses checks that the user, the claims and the token
// reach the handler, together with what the context held before (a value
// an earlier middleware put there) and echo's own path parameters, and
// that the handler's error still goes to echo's HTTPErrorHandler.
func TestAuthenticatedPasses(t *testing.T) {
	f := newFixture(t, nil)
	type key struct{}
	errorAnswers := 0
	e := newEcho(&errorAnswers)
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.SetRequest(c.Request().WithContext(context.WithValue(c.Request().Context(), key{}, "kept")))
			return next(c)
		}
	})
	e.GET("/items/:id", func(c echo.Context) error {
		u, ok := f.g.CurrentResource(c.Request().Context())
		if !ok {
			t.Error("CurrentResource: no user")
		}
		claims, ok := guardian.CurrentClaims(c.Request().Context())
		if !ok {
			t.Fatal("CurrentClaims: no claims")
		}
		return c.String(http.StatusOK, fmt.Sprintf("%s %s %s %v", u.Name, claims.Subject, c.Param("id"), c.Request().Context().Value(key{})))
	}, guardianecho.Authenticated(f.g))
	e.GET("/fail", func(echo.Context) error { return echo.ErrNotImplemented }, guardianecho.Authenticated(f.g))

	rec := serve(e, guardiantest.NewRequest(t, f.g, alice, http.MethodGet, "/items/42", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "alice u1 42 kept" {
		t.Errorf("got %d %q, want 200 \"alice u1 42 kept\"", rec.Code, rec.Body)
	}
	rec = serve(e, guardiantest.NewRequest(t, f.g, alice, http.MethodGet, "/fail", nil))
	if rec.Code != http.StatusNotImplemented || errorAnswers != 1 {
		t.Errorf("a failing handler: got %d, echo's error handler ran %d times; want 501, once", rec.Code, errorAnswers)
	}
}

// TestOptional checks that Optional lets anonymous requests and bad tokens
// through as anonymous, tells why a token was refused, and sets the user
// when the token is good.
func TestOptional(t *testing.T) {
	f := newFixture(t, nil)
	e := echo.New()
	e.GET("/feed", func(c echo.Context) error {
		name := "anonymous"
		if u, ok := f.g.CurrentResource(c.Request().Context()); ok {
			name = u.Name
		}
		return c.String(http.StatusOK, fmt.Sprintf("%s %v", name, guardian.Reason(guardian.FailureReason(c.Request().Context()))))
	}, guardianecho.Optional(f.g))

	good := guardiantest.NewRequest(t, f.g, bob, http.MethodGet, "/feed", nil)
	goneUser := guardiantest.NewRequest(t, f.g, gone, http.MethodGet, "/feed", nil)
	bad := httptest.NewRequest(http.MethodGet, "/feed", nil)
	bad.Header.Set("Authorization", "Bearer not.a.token")
	for _, tc := range []struct {
		name string
		req  *http.Request
		want string
	}{
		{"anonymous", httptest.NewRequest(http.MethodGet, "/feed", nil), "anonymous <nil>"},
		{"good token", good, "bob <nil>"},
		{"user gone", goneUser, "anonymous <nil>"},
		{"bad token", bad, "anonymous guardian: malformed token"},
	} {
		rec := serve(e, tc.req)
		if rec.Code != http.StatusOK || rec.Body.String() != tc.want {
			t.Errorf("%s: got %d %q, want 200 %q", tc.name, rec.Code, rec.Body, tc.want)
		}
	}
}

// TestGroup checks the middleware on an echo route group: it guards every
// route of the group and none outside it.
func TestGroup(t *testing.T) {
	f := newFixture(t, nil)
	var p probe
	e := echo.New()
	e.GET("/health", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	api := e.Group("/api", guardianecho.Authenticated(f.g))
	api.GET("/me", whoami(f.g, &p))
	api.GET("/items/:id", func(c echo.Context) error { return c.String(http.StatusOK, "item "+c.Param("id")) })

	for _, tc := range []struct {
		req    *http.Request
		status int
		body   string
	}{
		{httptest.NewRequest(http.MethodGet, "/health", nil), http.StatusOK, "ok"},
		{httptest.NewRequest(http.MethodGet, "/api/me", nil), http.StatusUnauthorized, ""},
		{httptest.NewRequest(http.MethodGet, "/api/items/7", nil), http.StatusUnauthorized, ""},
		{guardiantest.NewRequest(t, f.g, alice, http.MethodGet, "/api/me", nil), http.StatusOK, "alice u1 true"},
		{guardiantest.NewRequest(t, f.g, alice, http.MethodGet, "/api/items/7", nil), http.StatusOK, "item 7"},
	} {
		rec := serve(e, tc.req)
		if rec.Code != tc.status || (tc.body != "" && rec.Body.String() != tc.body) {
			t.Errorf("%s: got %d %q, want %d %q", tc.req.URL.Path, rec.Code, rec.Body, tc.status, tc.body)
		}
	}
}

// TestNested checks Optional on the whole app and Authenticated on one
// route: the token is verified once, and the inner middleware still
// refuses anonymous requests.
func TestNested(t *testing.T) {
	loads := 0
	f := newFixture(t, &guardian.GuardianOptions[*user]{
		OnAuthenticated: func(*http.Request, *guardian.Claims) { loads++ },
	})
	var p probe
	e := echo.New()
	e.Use(guardianecho.Optional(f.g))
	e.GET("/account", whoami(f.g, &p), guardianecho.Authenticated(f.g))

	if rec := serve(e, httptest.NewRequest(http.MethodGet, "/account", nil)); rec.Code != http.StatusUnauthorized || p.reached {
		t.Errorf("anonymous: got %d, reached %t; want 401, not reached", rec.Code, p.reached)
	}
	rec := serve(e, guardiantest.NewRequest(t, f.g, alice, http.MethodGet, "/account", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "alice u1 true" {
		t.Errorf("good token: got %d %q", rec.Code, rec.Body)
	}
	if loads != 1 {
		t.Errorf("the token was verified %d times, want once", loads)
	}
}

// TestPattern checks that the hooks see echo's route as the request's
// Pattern.
func TestPattern(t *testing.T) {
	var refused, verified string
	f := newFixture(t, &guardian.GuardianOptions[*user]{
		OnRefused:       func(r *http.Request, _ error) { refused = r.Pattern },
		OnAuthenticated: func(r *http.Request, _ *guardian.Claims) { verified = r.Pattern },
	})
	e := echo.New()
	e.Group("/api", guardianecho.Authenticated(f.g)).GET("/items/:id", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })

	serve(e, httptest.NewRequest(http.MethodGet, "/api/items/1", nil))
	serve(e, guardiantest.NewRequest(t, f.g, alice, http.MethodGet, "/api/items/1", nil))
	if refused != "/api/items/:id" || verified != "/api/items/:id" {
		t.Errorf("OnRefused saw %q, OnAuthenticated %q; want /api/items/:id", refused, verified)
	}
}

// TestConcurrent checks that concurrent requests through one middleware
// each get their own user (run with -race).
func TestConcurrent(t *testing.T) {
	f := newFixture(t, nil)
	e := echo.New()
	e.GET("/me", func(c echo.Context) error {
		u, _ := f.g.CurrentResource(c.Request().Context())
		return c.String(http.StatusOK, u.Name)
	}, guardianecho.Authenticated(f.g))
	var wg sync.WaitGroup
	for i := range 40 {
		u := []*user{alice, bob}[i%2]
		req := guardiantest.NewRequest(t, f.g, u, http.MethodGet, "/me", nil)
		if i%5 == 0 {
			u, req = nil, httptest.NewRequest(http.MethodGet, "/me", nil)
		}
		wg.Go(func() {
			rec := serve(e, req)
			switch {
			case u == nil && rec.Code != http.StatusUnauthorized:
				t.Errorf("anonymous: got %d", rec.Code)
			case u != nil && (rec.Code != http.StatusOK || rec.Body.String() != u.Name):
				t.Errorf("%s: got %d %q", u.Name, rec.Code, rec.Body)
			}
		})
	}
	wg.Wait()
}

// TestRequire checks that a route's requirement refuses through the
// Guardian's error handler, and lets a token that meets it through.
func TestRequire(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := guardianecho.Require(f.g, guardian.AllScopes("bad scope")); !errors.Is(err, guardian.ErrConfig) {
		t.Fatalf("a scope with a space: got %v, want ErrConfig", err)
	}
	require, err := guardianecho.Require(f.g, guardian.ClaimCheck("bob only", func(c *guardian.Claims) bool { return c.Subject == bob.ID }))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user      *user
		status    int
		challenge string
		reached   bool
	}{
		{user: bob, status: http.StatusOK, reached: true},
		{user: alice, status: http.StatusForbidden, challenge: `Bearer realm="api", error="insufficient_scope", error_description="insufficient scope"`},
	} {
		p := &probe{}
		e := echo.New()
		e.GET("/me", whoami(f.g, p), guardianecho.Authenticated(f.g), require)
		rec := serve(e, guardiantest.NewRequest(t, f.g, tc.user, http.MethodGet, "/me", nil))
		if rec.Code != tc.status || rec.Header().Get("WWW-Authenticate") != tc.challenge || p.reached != tc.reached {
			t.Errorf("%s: got %d %q reached %v, want %d %q reached %v", tc.user.Name, rec.Code, rec.Header().Get("WWW-Authenticate"), p.reached, tc.status, tc.challenge, tc.reached)
		}
	}
}
