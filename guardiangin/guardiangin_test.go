package guardiangin_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/guardiangin"
	"github.com/guardian-go/guardian/guardiantest"
)

func init() { gin.SetMode(gin.TestMode) }

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

// probe is what an outer middleware and the protected handler saw of a
// request.
type probe struct {
	reached bool // the protected handler ran
	after   bool // the handler registered after it ran
	aborted bool // c.IsAborted() when the chain returned to the outer middleware
	status  int  // c.Writer.Status() then
	size    int  // c.Writer.Size() then
}

// outer records, after the rest of the chain, what gin knows of the answer.
func (p *probe) outer(c *gin.Context) {
	c.Next()
	p.aborted, p.status, p.size = c.IsAborted(), c.Writer.Status(), c.Writer.Size()
}

// whoami answers with the user and claims that reached it.
func whoami(g *guardian.Guardian[*user], p *probe) gin.HandlerFunc {
	return func(c *gin.Context) {
		p.reached = true
		ctx := c.Request.Context()
		name := "anonymous"
		if u, ok := g.CurrentResource(ctx); ok {
			name = u.Name
		}
		sub := "-"
		if claims, ok := guardian.CurrentClaims(ctx); ok {
			sub = claims.Subject
		}
		_, hasToken := guardian.CurrentToken(ctx)
		c.String(http.StatusOK, "%s %s %t", name, sub, hasToken)
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
// protected handler nor any handler after it, that gin knows it aborted,
// and that the client gets exactly the answer g.Protect gives in a net/http
// app: the same status, headers and body, written once.
func TestAuthenticatedRefuses(t *testing.T) {
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			var p probe
			r := gin.New()
			r.GET("/me", p.outer, guardiangin.Authenticated(f.g), whoami(f.g, &p), func(*gin.Context) { p.after = true })

			req := tc.request(t, f)
			want := serve(f.g.Protect(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
				t.Fatal("net/http: the protected handler ran")
			})), req.Clone(req.Context()))
			got := serve(r, req)

			if p.reached || p.after {
				t.Fatalf("handlers ran: protected %t, after %t", p.reached, p.after)
			}
			if !p.aborted {
				t.Error("c.IsAborted() = false")
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
			if p.status != got.Code || p.size != want.Body.Len() {
				t.Errorf("gin saw status %d and %d bytes written, want %d and %d", p.status, p.size, got.Code, want.Body.Len())
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
	r := gin.New()
	r.GET("/me", p.outer, guardiangin.Authenticated(f.g), whoami(f.g, &p))

	req := guardiantest.NewRequest(t, f.g, alice, http.MethodGet, "/me", nil)
	f.clock.Advance(time.Hour)
	rec := serve(r, req)
	if p.reached || !p.aborted {
		t.Fatalf("reached %t, aborted %t", p.reached, p.aborted)
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
// an earlier middleware put there) and gin's own path parameters.
func TestAuthenticatedPasses(t *testing.T) {
	f := newFixture(t, nil)
	type key struct{}
	var p probe
	r := gin.New()
	r.Use(func(c *gin.Context) {
		c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), key{}, "kept"))
		c.Next()
	})
	r.GET("/items/:id", p.outer, guardiangin.Authenticated(f.g), func(c *gin.Context) {
		p.reached = true
		u, ok := f.g.CurrentResource(c.Request.Context())
		if !ok {
			t.Error("CurrentResource: no user")
		}
		claims, ok := guardian.CurrentClaims(c.Request.Context())
		if !ok {
			t.Fatal("CurrentClaims: no claims")
		}
		c.String(http.StatusOK, "%s %s %s %v", u.Name, claims.Subject, c.Param("id"), c.Request.Context().Value(key{}))
	})

	rec := serve(r, guardiantest.NewRequest(t, f.g, alice, http.MethodGet, "/items/42", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "alice u1 42 kept" {
		t.Errorf("got %d %q, want 200 \"alice u1 42 kept\"", rec.Code, rec.Body)
	}
	if !p.reached || p.aborted {
		t.Errorf("reached %t, aborted %t", p.reached, p.aborted)
	}
}

// TestOptional checks that Optional lets anonymous requests and bad tokens
// through as anonymous, tells why a token was refused, and sets the user
// when the token is good.
func TestOptional(t *testing.T) {
	f := newFixture(t, nil)
	r := gin.New()
	r.GET("/feed", guardiangin.Optional(f.g), func(c *gin.Context) {
		name := "anonymous"
		if u, ok := f.g.CurrentResource(c.Request.Context()); ok {
			name = u.Name
		}
		c.String(http.StatusOK, "%s %v", name, guardian.Reason(guardian.FailureReason(c.Request.Context())))
	})

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
		rec := serve(r, tc.req)
		if rec.Code != http.StatusOK || rec.Body.String() != tc.want {
			t.Errorf("%s: got %d %q, want 200 %q", tc.name, rec.Code, rec.Body, tc.want)
		}
	}
}

// TestGroup checks the middleware on a gin route group: it guards every
// route of the group and none outside it.
func TestGroup(t *testing.T) {
	f := newFixture(t, nil)
	var p probe
	r := gin.New()
	r.GET("/health", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	api := r.Group("/api", guardiangin.Authenticated(f.g))
	api.GET("/me", whoami(f.g, &p))
	api.GET("/items/:id", func(c *gin.Context) { c.String(http.StatusOK, "item %s", c.Param("id")) })

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
		rec := serve(r, tc.req)
		if rec.Code != tc.status || (tc.body != "" && rec.Body.String() != tc.body) {
			t.Errorf("%s: got %d %q, want %d %q", tc.req.URL.Path, rec.Code, rec.Body, tc.status, tc.body)
		}
	}
}

// TestNested checks Optional on a group and Authenticated on one of its
// routes: the token is verified and the user loaded once, and the inner
// middleware still refuses anonymous requests.
func TestNested(t *testing.T) {
	loads := 0
	f := newFixture(t, &guardian.GuardianOptions[*user]{
		OnAuthenticated: func(*http.Request, *guardian.Claims) { loads++ },
	})
	var p probe
	r := gin.New()
	site := r.Group("/", guardiangin.Optional(f.g))
	site.GET("/account", guardiangin.Authenticated(f.g), whoami(f.g, &p))

	if rec := serve(r, httptest.NewRequest(http.MethodGet, "/account", nil)); rec.Code != http.StatusUnauthorized || p.reached {
		t.Errorf("anonymous: got %d, reached %t; want 401, not reached", rec.Code, p.reached)
	}
	rec := serve(r, guardiantest.NewRequest(t, f.g, alice, http.MethodGet, "/account", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "alice u1 true" {
		t.Errorf("good token: got %d %q", rec.Code, rec.Body)
	}
	if loads != 1 {
		t.Errorf("the token was verified %d times, want once", loads)
	}
}

// TestPattern checks that the hooks see gin's route as the request's
// Pattern.
func TestPattern(t *testing.T) {
	var refused, verified string
	f := newFixture(t, &guardian.GuardianOptions[*user]{
		OnRefused:       func(r *http.Request, _ error) { refused = r.Pattern },
		OnAuthenticated: func(r *http.Request, _ *guardian.Claims) { verified = r.Pattern },
	})
	r := gin.New()
	r.Group("/api", guardiangin.Authenticated(f.g)).GET("/items/:id", func(c *gin.Context) { c.Status(http.StatusNoContent) })

	serve(r, httptest.NewRequest(http.MethodGet, "/api/items/1", nil))
	serve(r, guardiantest.NewRequest(t, f.g, alice, http.MethodGet, "/api/items/1", nil))
	if refused != "/api/items/:id" || verified != "/api/items/:id" {
		t.Errorf("OnRefused saw %q, OnAuthenticated %q; want /api/items/:id", refused, verified)
	}
}

// TestConcurrent checks that concurrent requests through one middleware
// each get their own user (run with -race).
func TestConcurrent(t *testing.T) {
	f := newFixture(t, nil)
	r := gin.New()
	r.GET("/me", guardiangin.Authenticated(f.g), func(c *gin.Context) {
		u, _ := f.g.CurrentResource(c.Request.Context())
		c.String(http.StatusOK, u.Name)
	})
	var wg sync.WaitGroup
	for i := range 40 {
		u := []*user{alice, bob}[i%2]
		req := guardiantest.NewRequest(t, f.g, u, http.MethodGet, "/me", nil)
		if i%5 == 0 {
			u, req = nil, httptest.NewRequest(http.MethodGet, "/me", nil)
		}
		wg.Go(func() {
			rec := serve(r, req)
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
// Guardian's error handler and aborts the chain, and lets a token that
// meets it through.
func TestRequire(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := guardiangin.Require(f.g, guardian.AllScopes("bad scope")); !errors.Is(err, guardian.ErrConfig) {
		t.Fatalf("a scope with a space: got %v, want ErrConfig", err)
	}
	require, err := guardiangin.Require(f.g, guardian.ClaimCheck("bob only", func(c *guardian.Claims) bool { return c.Subject == bob.ID }))
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
		r := gin.New()
		r.GET("/me", p.outer, guardiangin.Authenticated(f.g), require, whoami(f.g, p))
		rec := serve(r, guardiantest.NewRequest(t, f.g, tc.user, http.MethodGet, "/me", nil))
		if rec.Code != tc.status || rec.Header().Get("WWW-Authenticate") != tc.challenge || p.reached != tc.reached || p.aborted == tc.reached {
			t.Errorf("%s: got %d %q reached %v aborted %v, want %d %q reached %v", tc.user.Name, rec.Code, rec.Header().Get("WWW-Authenticate"), p.reached, p.aborted, tc.status, tc.challenge, tc.reached)
		}
	}
}
