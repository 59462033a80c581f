package guardian_test

// Benchmarks of the authorization checks: what a scope or permission
// requirement adds to a request through the middleware chain (it should be
// a few nanoseconds and no allocation), and the cost of Requirement.Check
// alone. TestAuthzCheckAllocs pins the allocation counts, which, unlike
// timings, are deterministic.
//
//	go test -run X -bench 'AuthzChain|RequireLayer|RequirementCheck' -count 6 . | tee new.txt
//	go run golang.org/x/perf/cmd/benchstat@latest new.txt
//
// AuthzChain runs the whole chain (microseconds, with the noise of the
// machine); RequireLayer runs the Require middleware alone on a request
// already verified, where tens of nanoseconds show.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
)

// nopWriter is a ResponseWriter that keeps only the status, so that the
// benchmarks measure the chain, not a recorder.
type nopWriter struct {
	h    http.Header
	code int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(code int)        { w.code = code }

// authzBench is a Guardian for the benchmarks: an HS256 issuer with the
// verified-token cache on and rqPermissions, a resource callback that
// allocates nothing, and a token granting scopes and permissions.
type authzBench struct {
	g      *guardian.Guardian[*member]
	perms  *guardian.Permissions
	raw    string
	claims *guardian.Claims
}

func newAuthzBench(tb testing.TB) *authzBench {
	tb.Helper()
	perms := mustPermissions(tb, rqPermissions)
	issuer := mustIssuer(tb, mustKeySet(tb, mustHMACKey(tb, testKID, guardian.HS256, testSecret)), &guardian.IssuerOptions{
		Issuer: "https://api.example.com", Audience: []string{"bench"},
		CacheSize: 64, Permissions: perms, Clock: testclock.Now,
	})
	user := &member{ID: "u1", Name: "Ada"}
	g, err := guardian.New(issuer, memberSubject, func(context.Context, *guardian.Claims) (*member, error) { return user, nil }, nil)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tok, err := issuer.Issue(context.Background(), "u1", &guardian.IssueOptions{
		Scope:       []string{"openid", "profile", "read", "write"},
		Permissions: []string{"admin.users_read", "admin.users_write", "default.profile"},
	})
	if err != nil {
		tb.Fatalf("Issue: %v", err)
	}
	c, err := issuer.Verify(context.Background(), tok.Raw)
	if err != nil {
		tb.Fatalf("Verify: %v", err)
	}
	return &authzBench{g: g, perms: perms, raw: tok.Raw, claims: c}
}

// chain returns the handler of a route: Authenticated, then reqs (none
// for the bare chain, one Require middleware otherwise), then a handler
// answering 204.
func (ab *authzBench) chain(tb testing.TB, reqs ...guardian.Requirement) http.Handler {
	tb.Helper()
	mws := []func(http.Handler) http.Handler{ab.g.Authenticated()}
	if len(reqs) > 0 {
		require, err := ab.g.Require(reqs...)
		if err != nil {
			tb.Fatalf("Require: %v", err)
		}
		mws = append(mws, require)
	}
	return chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }), mws...)
}

// request returns the route's request and a writer for it.
func (ab *authzBench) request() (*http.Request, *nopWriter) {
	r := httptest.NewRequest(http.MethodGet, "/api/users", nil)
	r.Header.Set("Authorization", "Bearer "+ab.raw)
	return r, &nopWriter{h: make(http.Header)}
}

// routes are the variants of BenchmarkAuthzChain and
// TestAuthzMiddlewareAllocs.
func (ab *authzBench) routes() []struct {
	name string
	reqs []guardian.Requirement
} {
	return []struct {
		name string
		reqs []guardian.Requirement
	}{
		{name: "bare"},
		{name: "scope", reqs: []guardian.Requirement{guardian.AllScopes("write")}},
		{name: "permission", reqs: []guardian.Requirement{ab.perms.All("admin.users_read")}},
		{name: "both", reqs: []guardian.Requirement{guardian.AllScopes("write"), ab.perms.All("admin.users_read")}},
	}
}

// BenchmarkAuthzChain measures a request through Authenticated (a cache
// hit) and a Require of a scope, of a permission, or both; "bare" has no
// Require. The differences to "bare" are the cost of the checks.
func BenchmarkAuthzChain(b *testing.B) {
	ab := newAuthzBench(b)
	for _, rt := range ab.routes() {
		b.Run(rt.name, func(b *testing.B) {
			h := ab.chain(b, rt.reqs...)
			r, w := ab.request()
			h.ServeHTTP(w, r) // fill the cache
			b.ReportAllocs()
			for b.Loop() {
				w.code = 0
				h.ServeHTTP(w, r)
				if w.code != http.StatusNoContent {
					b.Fatalf("got status %d, want 204", w.code)
				}
			}
		})
	}
}

// BenchmarkRequireLayer measures the Require middleware alone, on a
// request that Authenticated has already verified (its context captured
// once): what BenchmarkAuthzChain's differences are, without the noise of
// the rest of the chain. "none" is the final handler alone.
func BenchmarkRequireLayer(b *testing.B) {
	ab := newAuthzBench(b)
	r, w := ab.request()
	var authed *http.Request
	ab.g.Authenticated()(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { authed = r })).ServeHTTP(w, r)
	if authed == nil {
		b.Fatal("the request did not authenticate")
	}
	final := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, rt := range ab.routes() {
		name := rt.name
		h := http.Handler(final)
		if len(rt.reqs) > 0 {
			require, err := ab.g.Require(rt.reqs...)
			if err != nil {
				b.Fatalf("Require: %v", err)
			}
			h = require(final)
		} else {
			name = "none"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w.code = 0
				h.ServeHTTP(w, authed)
				if w.code != http.StatusNoContent {
					b.Fatalf("got status %d, want 204", w.code)
				}
			}
		})
	}
}

// checks are the passing requirements of BenchmarkRequirementCheck and
// TestAuthzCheckAllocs.
func (ab *authzBench) checks() []struct {
	name string
	req  guardian.Requirement
} {
	return []struct {
		name string
		req  guardian.Requirement
	}{
		{name: "permission", req: ab.perms.All("admin.users_read")},
		{name: "permissions", req: ab.perms.All("admin.users_read", "admin.users_write", "default.profile")},
		{name: "any permission", req: ab.perms.Any("admin.users_write", "default.profile")},
		{name: "scope", req: guardian.AllScopes("write")},
		{name: "scopes", req: guardian.AllScopes("openid", "read", "write")},
		{name: "any scope", req: guardian.AnyScope("admin", "write")},
		{name: "any of", req: guardian.AnyOf(ab.perms.All("admin.users_write"), guardian.AllScopes("write"))},
		{name: "not impersonated", req: guardian.NotImpersonated()},
	}
}

// BenchmarkRequirementCheck measures Requirement.Check alone on verified
// claims that meet it.
func BenchmarkRequirementCheck(b *testing.B) {
	ab := newAuthzBench(b)
	for _, ck := range ab.checks() {
		b.Run(ck.name, func(b *testing.B) {
			if err := ck.req.Check(ab.claims); err != nil {
				b.Fatalf("Check: %v", err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if ck.req.Check(ab.claims) != nil {
					b.Fatal("Check failed")
				}
			}
		})
	}
}

// TestAuthzCheckAllocs: a passing permission or scope check allocates
// nothing.
func TestAuthzCheckAllocs(t *testing.T) {
	ab := newAuthzBench(t)
	for _, ck := range ab.checks() {
		t.Run(ck.name, func(t *testing.T) {
			if err := ck.req.Check(ab.claims); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if n := testing.AllocsPerRun(100, func() { _ = ck.req.Check(ab.claims) }); n != 0 {
				t.Errorf("got %v allocations per passing Check, want 0", n)
			}
		})
	}
}

// TestAuthzMiddlewareAllocs: a Require of scopes and permissions adds no
// allocation to a request that meets it.
func TestAuthzMiddlewareAllocs(t *testing.T) {
	ab := newAuthzBench(t)
	var bare float64
	for _, rt := range ab.routes() {
		h := ab.chain(t, rt.reqs...)
		r, w := ab.request()
		h.ServeHTTP(w, r) // fill the cache
		n := testing.AllocsPerRun(100, func() {
			w.code = 0
			h.ServeHTTP(w, r)
		})
		if w.code != http.StatusNoContent {
			t.Fatalf("%s: got status %d, want 204", rt.name, w.code)
		}
		if rt.name == "bare" {
			bare = n
			continue
		}
		if n != bare {
			t.Errorf("%s: got %v allocations per request, want %v as without Require", rt.name, n, bare)
		}
	}
}
