package guardian_test

// Tests of Guardian.Require through real middleware: every kind of
// requirement, the exact answers of refusals (status, WWW-Authenticate,
// JSON body), the errors the app's ErrorHandler and OnRefused receive, and
// the configuration errors Require returns when the route is built.

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
)

// rqPermissions is the declaration of the Require tests.
var rqPermissions = map[string][]string{
	"admin":   {"users_read", "users_write"},
	"default": {"profile"},
}

// rqGuardian is a Guardian over the fixture issuer, with rqPermissions,
// whose ErrorHandler records each error it is given before answering with
// the default handler, and whose OnRefused records each reason.
type rqGuardian struct {
	*gfixture
	perms   *guardian.Permissions
	handled []error // what the ErrorHandler got
	reasons []error // what OnRefused got
}

// newRQGuardian builds the Guardian. opts may be nil; its Permissions is
// set to rqPermissions.
func newRQGuardian(tb testing.TB, opts *guardian.IssuerOptions) *rqGuardian {
	tb.Helper()
	rg := &rqGuardian{perms: mustPermissions(tb, rqPermissions)}
	var o guardian.IssuerOptions
	if opts != nil {
		o = *opts
	}
	o.Permissions = rg.perms
	rg.gfixture = newTestGuardian(tb, &o, &guardian.GuardianOptions[*member]{
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			rg.handled = append(rg.handled, err)
			rg.g.DefaultErrorHandler(w, r, err)
		},
		OnRefused: func(r *http.Request, reason error) { rg.reasons = append(rg.reasons, reason) },
	})
	return rg
}

// crafted is a fixture access token for "u1" with the given members set
// (see payloadJSON).
func (rg *rqGuardian) crafted(set map[string]any, drop ...string) string {
	return craft(testSecret, defaultHeader, payloadJSON(set, drop...))
}

// rqAnswer is what a route answered, and whether its handler ran.
type rqAnswer struct {
	rec     *httptest.ResponseRecorder
	reached bool
}

// serveRoute runs r through mws and a handler that answers 200 "ok".
func serveRoute(r *http.Request, mws ...func(http.Handler) http.Handler) rqAnswer {
	var a rqAnswer
	h := chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.reached = true
		w.Write([]byte("ok"))
	}), mws...)
	a.rec = httptest.NewRecorder()
	h.ServeHTTP(a.rec, r)
	return a
}

// bearer is a GET request with "Authorization: Bearer raw", or none when
// raw is empty.
func bearer(raw string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/protected", nil)
	if raw != "" {
		r.Header.Set("Authorization", "Bearer "+raw)
	}
	return r
}

// errorJSON is the body DefaultErrorHandler writes.
func errorJSON(code, description string) string {
	b, err := json.Marshal(map[string]string{"error": code, "error_description": description})
	if err != nil {
		panic(err)
	}
	return string(b) + "\n"
}

// The answers of refusals.
var (
	insufficientScopeBody = errorJSON("insufficient_scope", "insufficient scope")
	claimChallenge        = `Bearer realm="api", error="insufficient_scope", error_description="insufficient scope"`
)

func scopeChallenge(scope string) string {
	return `Bearer realm="api", error="insufficient_scope", scope="` + scope + `"`
}

// wantAnswer checks a route's answer: 200 "ok" from the handler when
// status is 200, else the refusal's status, exact challenge and body.
func wantAnswer(tb testing.TB, a rqAnswer, status int, challenge, body string) {
	tb.Helper()
	if a.rec.Code != status {
		tb.Fatalf("got status %d (%s), want %d", a.rec.Code, a.rec.Body, status)
	}
	if status == http.StatusOK {
		if !a.reached || a.rec.Body.String() != "ok" {
			tb.Errorf("got handler reached %v, body %q; want reached, \"ok\"", a.reached, a.rec.Body)
		}
		if got := a.rec.Header().Get("WWW-Authenticate"); got != "" {
			tb.Errorf("got WWW-Authenticate %q, want none", got)
		}
		return
	}
	if a.reached {
		tb.Error("got the handler reached, want the request refused before it")
	}
	if got := a.rec.Header().Values("WWW-Authenticate"); len(got) != 1 || got[0] != challenge {
		tb.Errorf("got WWW-Authenticate %q, want [%q]", got, challenge)
	}
	if got := a.rec.Body.String(); got != body {
		tb.Errorf("got body %q, want %q", got, body)
	}
	if got := a.rec.Header().Get("Content-Type"); got != "application/json" {
		tb.Errorf("got Content-Type %q, want application/json", got)
	}
	if got := a.rec.Header().Get("Cache-Control"); got != "no-store" {
		tb.Errorf("got Cache-Control %q, want no-store", got)
	}
}

func TestRequire(t *testing.T) {
	rg := newRQGuardian(t, nil)
	perms := rg.perms
	issue := func(opts *guardian.IssueOptions) string { return rg.token(t, "u1", opts) }
	var (
		scopeString = rg.crafted(map[string]any{"scope": "read write"})
		scpArray    = rg.crafted(map[string]any{"scp": []string{"read", "write"}})
		scopeAndScp = rg.crafted(map[string]any{"scope": "read", "scp": []string{"write"}})
		issuedScope = issue(&guardian.IssueOptions{Scope: []string{"read", "write"}})
		plain       = issue(nil)
		usersRead   = issue(&guardian.IssueOptions{Permissions: []string{"admin.users_read"}})
		allAdmin    = issue(&guardian.IssueOptions{Permissions: []string{"admin.*"}})
		profile     = issue(&guardian.IssueOptions{Permissions: []string{"default.profile"}})
		custom      = issue(&guardian.IssueOptions{Custom: map[string]any{"role": "admin", "level": 1, "org": map[string]any{"id": "o1", "tier": 2}, "none": nil}})
		floatLevel  = issue(&guardian.IssueOptions{Custom: json.RawMessage(`{"level":1.0,"role":"user"}`)})
		stringLevel = issue(&guardian.IssueOptions{Custom: map[string]any{"level": "1"}})
		impersonate = issue(&guardian.IssueOptions{Actor: &guardian.Actor{Subject: "u2"}})
		noPemScope  = rg.crafted(nil)
	)
	type org struct {
		ID   string `json:"id"`
		Tier int    `json:"tier"`
	}
	isAdmin := guardian.ClaimCheck("admin role", func(c *guardian.Claims) bool {
		var v struct{ Role string }
		return c.Custom(&v) == nil && v.Role == "admin"
	})

	tests := []struct {
		name      string
		reqs      []guardian.Requirement
		token     string
		status    int
		challenge string
		missing   []string // of the *ScopeError, when the refusal is one
		claim     string   // of the *ClaimError, when the refusal is one
	}{
		// Scopes, from the scope string and the scp array.
		{name: "all scopes: scope string", reqs: []guardian.Requirement{guardian.AllScopes("write")}, token: scopeString, status: 200},
		{name: "all scopes: scp array", reqs: []guardian.Requirement{guardian.AllScopes("write")}, token: scpArray, status: 200},
		{name: "all scopes: issued", reqs: []guardian.Requirement{guardian.AllScopes("read", "write")}, token: issuedScope, status: 200},
		{name: "all scopes: scope and scp merged", reqs: []guardian.Requirement{guardian.AllScopes("read", "write")}, token: scopeAndScp, status: 200},
		{name: "all scopes: none", reqs: []guardian.Requirement{guardian.AllScopes("write")}, token: plain, status: 403, challenge: scopeChallenge("write"), missing: []string{"write"}},
		{name: "all scopes: one missing, scope string", reqs: []guardian.Requirement{guardian.AllScopes("read", "admin")}, token: scopeString, status: 403, challenge: scopeChallenge("read admin"), missing: []string{"admin"}},
		{name: "all scopes: one missing, scp array", reqs: []guardian.Requirement{guardian.AllScopes("admin", "write", "root")}, token: scpArray, status: 403, challenge: scopeChallenge("admin write root"), missing: []string{"admin", "root"}},
		{name: "all scopes: case matters", reqs: []guardian.Requirement{guardian.AllScopes("Write")}, token: scopeString, status: 403, challenge: scopeChallenge("Write"), missing: []string{"Write"}},
		{name: "any scope: scope string", reqs: []guardian.Requirement{guardian.AnyScope("admin", "write")}, token: scopeString, status: 200},
		{name: "any scope: scp array", reqs: []guardian.Requirement{guardian.AnyScope("admin", "read")}, token: scpArray, status: 200},
		{name: "any scope: none", reqs: []guardian.Requirement{guardian.AnyScope("admin", "root")}, token: scpArray, status: 403, challenge: scopeChallenge("admin root"), missing: []string{"admin", "root"}},

		// Permissions: the challenge's scope names them as group.name.
		{name: "permission: granted", reqs: []guardian.Requirement{perms.All("admin.users_read")}, token: usersRead, status: 200},
		{name: "permission: other group", reqs: []guardian.Requirement{perms.All("admin.users_read")}, token: profile, status: 403, challenge: scopeChallenge("admin.users_read"), missing: []string{"admin.users_read"}},
		{name: "permission: no pem", reqs: []guardian.Requirement{perms.All("admin.users_read")}, token: noPemScope, status: 403, challenge: scopeChallenge("admin.users_read"), missing: []string{"admin.users_read"}},
		{name: "permissions: one of two", reqs: []guardian.Requirement{perms.All("admin.users_read", "admin.users_write")}, token: usersRead, status: 403, challenge: scopeChallenge("admin.users_read admin.users_write"), missing: []string{"admin.users_write"}},
		{name: "permissions: all of a group", reqs: []guardian.Requirement{perms.All("admin.users_read", "admin.users_write")}, token: allAdmin, status: 200},
		{name: "any permission: granted", reqs: []guardian.Requirement{perms.Any("admin.users_write", "default.profile")}, token: profile, status: 200},
		{name: "any permission: none", reqs: []guardian.Requirement{perms.Any("admin.users_write", "default.profile")}, token: usersRead, status: 403, challenge: scopeChallenge("admin.users_write default.profile"), missing: []string{"admin.users_write", "default.profile"}},
		{name: "a scope is not a permission", reqs: []guardian.Requirement{perms.All("admin.users_read")}, token: rg.crafted(map[string]any{"scope": "admin.users_read"}), status: 403, challenge: scopeChallenge("admin.users_read"), missing: []string{"admin.users_read"}},
		{name: "a permission is not a scope", reqs: []guardian.Requirement{guardian.AllScopes("admin.users_read")}, token: usersRead, status: 403, challenge: scopeChallenge("admin.users_read"), missing: []string{"admin.users_read"}},

		// Claim values.
		{name: "claims equal: string", reqs: []guardian.Requirement{guardian.ClaimsEqual(map[string]any{"role": "admin"})}, token: custom, status: 200},
		{name: "claims equal: other string", reqs: []guardian.Requirement{guardian.ClaimsEqual(map[string]any{"role": "admin"})}, token: floatLevel, status: 403, challenge: claimChallenge, claim: "role"},
		{name: "claims equal: 1 matches 1.0", reqs: []guardian.Requirement{guardian.ClaimsEqual(map[string]any{"level": 1})}, token: floatLevel, status: 200},
		{name: "claims equal: 1.0 matches 1", reqs: []guardian.Requirement{guardian.ClaimsEqual(map[string]any{"level": 1.0})}, token: custom, status: 200},
		{name: "claims equal: int64 matches 1", reqs: []guardian.Requirement{guardian.ClaimsEqual(map[string]any{"level": int64(1)})}, token: custom, status: 200},
		{name: "claims equal: 1 is not \"1\"", reqs: []guardian.Requirement{guardian.ClaimsEqual(map[string]any{"level": 1})}, token: stringLevel, status: 403, challenge: claimChallenge, claim: "level"},
		{name: "claims equal: 2 is not 1", reqs: []guardian.Requirement{guardian.ClaimsEqual(map[string]any{"level": 2})}, token: custom, status: 403, challenge: claimChallenge, claim: "level"},
		{name: "claims equal: nested object", reqs: []guardian.Requirement{guardian.ClaimsEqual(map[string]any{"org": map[string]any{"tier": 2, "id": "o1"}})}, token: custom, status: 200},
		{name: "claims equal: struct", reqs: []guardian.Requirement{guardian.ClaimsEqual(map[string]any{"org": org{ID: "o1", Tier: 2}})}, token: custom, status: 200},
		{name: "claims equal: part of an object", reqs: []guardian.Requirement{guardian.ClaimsEqual(map[string]any{"org": map[string]any{"id": "o1"}})}, token: custom, status: 403, challenge: claimChallenge, claim: "org"},
		{name: "claims equal: nested value differs", reqs: []guardian.Requirement{guardian.ClaimsEqual(map[string]any{"org": org{ID: "o1", Tier: 3}})}, token: custom, status: 403, challenge: claimChallenge, claim: "org"},
		{name: "claims equal: absent claim", reqs: []guardian.Requirement{guardian.ClaimsEqual(map[string]any{"tenant": "t1"})}, token: custom, status: 403, challenge: claimChallenge, claim: "tenant"},
		{name: "claims equal: absent is not null", reqs: []guardian.Requirement{guardian.ClaimsEqual(map[string]any{"tenant": nil})}, token: custom, status: 403, challenge: claimChallenge, claim: "tenant"},
		{name: "claims equal: null", reqs: []guardian.Requirement{guardian.ClaimsEqual(map[string]any{"none": nil})}, token: custom, status: 200},
		{name: "claims equal: registered typ", reqs: []guardian.Requirement{guardian.ClaimsEqual(map[string]any{"typ": "access"})}, token: custom, status: 200},
		{name: "claims equal: registered typ differs", reqs: []guardian.Requirement{guardian.ClaimsEqual(map[string]any{"typ": "refresh"})}, token: custom, status: 403, challenge: claimChallenge, claim: "typ"},
		{name: "claims equal: registered sub", reqs: []guardian.Requirement{guardian.ClaimsEqual(map[string]any{"sub": "u1", "role": "admin"})}, token: custom, status: 200},
		{name: "claims equal: first failing by name", reqs: []guardian.Requirement{guardian.ClaimsEqual(map[string]any{"zone": "z", "role": "admin", "level": 9})}, token: custom, status: 403, challenge: claimChallenge, claim: "level"},
		{name: "claim check: met", reqs: []guardian.Requirement{isAdmin}, token: custom, status: 200},
		{name: "claim check: not met", reqs: []guardian.Requirement{isAdmin}, token: floatLevel, status: 403, challenge: claimChallenge, claim: "admin role"},

		// Impersonation.
		{name: "not impersonated: own token", reqs: []guardian.Requirement{guardian.NotImpersonated()}, token: plain, status: 200},
		{name: "not impersonated: act token", reqs: []guardian.Requirement{guardian.NotImpersonated()}, token: impersonate, status: 403, challenge: claimChallenge, claim: "act"},

		// Choices and sequences.
		{name: "any of: second met", reqs: []guardian.Requirement{guardian.AnyOf(perms.All("admin.users_read", "admin.users_write"), perms.All("default.profile"))}, token: profile, status: 200},
		{name: "any of: first met", reqs: []guardian.Requirement{guardian.AnyOf(perms.All("admin.users_read", "admin.users_write"), perms.All("default.profile"))}, token: allAdmin, status: 200},
		{name: "any of: none met, the first's error", reqs: []guardian.Requirement{guardian.AnyOf(perms.All("admin.users_read", "admin.users_write"), perms.All("default.profile"))}, token: usersRead, status: 403, challenge: scopeChallenge("admin.users_read admin.users_write"), missing: []string{"admin.users_write"}},
		{name: "any of: kinds mixed, first's error", reqs: []guardian.Requirement{guardian.AnyOf(guardian.NotImpersonated(), guardian.AllScopes("write"))}, token: impersonate, status: 403, challenge: claimChallenge, claim: "act"},
		{name: "any of: kinds mixed, scope met", reqs: []guardian.Requirement{guardian.AnyOf(guardian.NotImpersonated(), guardian.AllScopes("write"))}, token: rg.crafted(map[string]any{"scope": "write", "act": map[string]any{"sub": "u2"}}), status: 200},
		{name: "any of one", reqs: []guardian.Requirement{guardian.AnyOf(guardian.AllScopes("write"))}, token: scpArray, status: 200},
		{name: "sequence: all met", reqs: []guardian.Requirement{guardian.AllScopes("write"), perms.All("admin.users_read"), guardian.NotImpersonated()}, token: rg.crafted(map[string]any{"scope": "write", "pem": map[string]int{"admin": 1}}), status: 200},
		{name: "sequence: first fails first", reqs: []guardian.Requirement{guardian.AllScopes("write"), perms.All("admin.users_read")}, token: plain, status: 403, challenge: scopeChallenge("write"), missing: []string{"write"}},
		{name: "sequence: second fails", reqs: []guardian.Requirement{guardian.AllScopes("write"), perms.All("admin.users_read")}, token: scopeString, status: 403, challenge: scopeChallenge("admin.users_read"), missing: []string{"admin.users_read"}},
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
				if len(rg.handled) != 0 || len(rg.reasons) != 0 {
					t.Errorf("got ErrorHandler %v and OnRefused %v called, want neither", rg.handled, rg.reasons)
				}
				return
			}
			wantAnswer(t, a, tt.status, tt.challenge, insufficientScopeBody)
			if len(rg.handled) != 1 || len(rg.reasons) != 1 {
				t.Fatalf("got ErrorHandler errors %v, OnRefused reasons %v; want one each", rg.handled, rg.reasons)
			}
			err = rg.handled[0]
			wantErr(t, err, guardian.ErrInsufficientScope)
			if rg.reasons[0] != guardian.ErrInsufficientScope {
				t.Errorf("got OnRefused reason %v, want ErrInsufficientScope", rg.reasons[0])
			}
			if status, code := guardian.ErrorStatus(err); status != http.StatusForbidden || code != "insufficient_scope" {
				t.Errorf("got ErrorStatus %d %q, want 403 insufficient_scope", status, code)
			}
			var se *guardian.ScopeError
			var ce *guardian.ClaimError
			switch {
			case tt.missing != nil:
				if !errors.As(err, &se) {
					t.Fatalf("got error %T %v, want a *ScopeError", err, err)
				}
				if !slices.Equal(se.Missing, tt.missing) {
					t.Errorf("got Missing %q, want %q", se.Missing, tt.missing)
				}
				if got := strings.Join(se.Required, " "); scopeChallenge(got) != tt.challenge {
					t.Errorf("got Required %q, want those of the challenge %s", se.Required, tt.challenge)
				}
			case tt.claim != "":
				if !errors.As(err, &ce) {
					t.Fatalf("got error %T %v, want a *ClaimError", err, err)
				}
				if ce.Claim != tt.claim {
					t.Errorf("got Claim %q, want %q", ce.Claim, tt.claim)
				}
			default:
				t.Fatal("a refusal case names neither missing nor claim")
			}
		})
	}
}

// TestClaimsEqualLargeIntegers: integers beyond 2^53 (64-bit IDs such as
// snowflakes) must compare exactly: a requirement for one tenant must not
// accept its neighbour.
func TestClaimsEqualLargeIntegers(t *testing.T) {
	rg := newRQGuardian(t, nil)
	require, err := rg.g.Require(guardian.ClaimsEqual(map[string]any{"tenant_id": int64(1234567890123456789)}))
	if err != nil {
		t.Fatalf("Require: %v", err)
	}
	same := rg.token(t, "u1", &guardian.IssueOptions{Custom: map[string]any{"tenant_id": int64(1234567890123456789)}})
	neighbour := rg.token(t, "u1", &guardian.IssueOptions{Custom: map[string]any{"tenant_id": int64(1234567890123456788)}})
	wantAnswer(t, serveRoute(bearer(same), rg.g.Authenticated(), require), http.StatusOK, "", "")
	wantAnswer(t, serveRoute(bearer(neighbour), rg.g.Authenticated(), require), http.StatusForbidden, claimChallenge, insufficientScopeBody)
}

// TestRequireScopeErrorFlags: the ScopeError says whether one of Required
// was enough and whether they are permissions.
func TestRequireScopeErrorFlags(t *testing.T) {
	perms := mustPermissions(t, rqPermissions)
	c := &guardian.Claims{}
	tests := []struct {
		name            string
		req             guardian.Requirement
		wantAny, wantPm bool
		wantText        string
	}{
		{name: "all scopes", req: guardian.AllScopes("a", "b"), wantText: "guardian: insufficient scope: missing scope a b"},
		{name: "any scope", req: guardian.AnyScope("a", "b"), wantAny: true, wantText: "guardian: insufficient scope: want one scope of a b"},
		{name: "all permissions", req: perms.All("admin.users_read"), wantPm: true, wantText: "guardian: insufficient scope: missing permission admin.users_read"},
		{name: "any permission", req: perms.Any("admin.users_read", "default.profile"), wantAny: true, wantPm: true, wantText: "guardian: insufficient scope: want one permission of admin.users_read default.profile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var se *guardian.ScopeError
			if err := tt.req.Check(c); !errors.As(err, &se) {
				t.Fatalf("got %v, want a *ScopeError", err)
			}
			if se.Any != tt.wantAny || se.Permissions != tt.wantPm {
				t.Errorf("got Any %v Permissions %v, want %v %v", se.Any, se.Permissions, tt.wantAny, tt.wantPm)
			}
			if got := se.Error(); got != tt.wantText {
				t.Errorf("got Error() %q, want %q", got, tt.wantText)
			}
		})
	}
	ce := &guardian.ClaimError{Claim: "act"}
	if got, want := ce.Error(), `guardian: insufficient scope: claim requirement "act" not met`; got != want {
		t.Errorf("got ClaimError.Error() %q, want %q", got, want)
	}
	if !errors.Is(ce, guardian.ErrInsufficientScope) || errors.Is(ce, guardian.ErrInvalidToken) {
		t.Errorf("got a ClaimError matching ErrInsufficientScope %v, ErrInvalidToken %v; want true, false",
			errors.Is(ce, guardian.ErrInsufficientScope), errors.Is(ce, guardian.ErrInvalidToken))
	}
}

// TestRequireWithoutAValidToken: Require refuses a request that has no
// verified token as EnsureAuthenticated does, whatever verified (or did
// not) before it.
func TestRequireWithoutAValidToken(t *testing.T) {
	rg := newRQGuardian(t, nil)
	require, err := rg.g.Require(guardian.AllScopes("read"))
	if err != nil {
		t.Fatalf("Require: %v", err)
	}
	const noToken = `Bearer realm="api"`
	malformed := `Bearer realm="api", error="invalid_token", error_description="malformed token"`
	expiredTok := rg.token(t, "u1", &guardian.IssueOptions{TTL: time.Second, Scope: []string{"read"}})
	forged := rg.crafted(map[string]any{"scope": "read"})
	forged = forged[:len(forged)-4] + "AAAA"
	tests := []struct {
		name      string
		mws       []func(http.Handler) http.Handler
		token     string
		status    int
		challenge string
		body      string
		want      error // what the ErrorHandler gets
	}{
		{name: "no verify middleware", mws: []func(http.Handler) http.Handler{require}, token: "", status: 401, challenge: noToken, body: errorJSON("unauthorized", "no token"), want: guardian.ErrMissingToken},
		{name: "no verify middleware, a token", mws: []func(http.Handler) http.Handler{require}, token: rg.crafted(map[string]any{"scope": "read"}), status: 401, challenge: noToken, body: errorJSON("unauthorized", "no token"), want: guardian.ErrMissingToken},
		{name: "verify header, no token", mws: []func(http.Handler) http.Handler{rg.g.VerifyHeader(nil), require}, status: 401, challenge: noToken, body: errorJSON("unauthorized", "no token"), want: guardian.ErrMissingToken},
		{name: "verify header, bad token", mws: []func(http.Handler) http.Handler{rg.g.VerifyHeader(nil), require}, token: "not.a.jwt", status: 401, challenge: malformed, body: errorJSON("invalid_token", "malformed token"), want: guardian.ErrMalformedToken},
		{name: "verify header, forged token", mws: []func(http.Handler) http.Handler{rg.g.VerifyHeader(nil), require}, token: forged, status: 401,
			challenge: `Bearer realm="api", error="invalid_token", error_description="invalid signature"`, body: errorJSON("invalid_token", "invalid signature"), want: guardian.ErrInvalidSignature},
		{name: "optional, no token", mws: []func(http.Handler) http.Handler{rg.g.Optional(), require}, status: 401, challenge: noToken, body: errorJSON("unauthorized", "no token"), want: guardian.ErrMissingToken},
		{name: "optional, bad token", mws: []func(http.Handler) http.Handler{rg.g.Optional(), require}, token: "not.a.jwt", status: 401, challenge: malformed, body: errorJSON("invalid_token", "malformed token"), want: guardian.ErrMalformedToken},
		{name: "authenticated, no token", mws: []func(http.Handler) http.Handler{rg.g.Authenticated(), require}, status: 401, challenge: noToken, body: errorJSON("unauthorized", "no token"), want: guardian.ErrMissingToken},
		{name: "authenticated, bad token", mws: []func(http.Handler) http.Handler{rg.g.Authenticated(), require}, token: "not.a.jwt", status: 401, challenge: malformed, body: errorJSON("invalid_token", "malformed token"), want: guardian.ErrMalformedToken},
		{name: "verify header, expired", mws: []func(http.Handler) http.Handler{rg.g.VerifyHeader(nil), require}, token: expiredTok, status: 401,
			challenge: `Bearer realm="api", error="invalid_token", error_description="token expired"`, body: errorJSON("invalid_token", "token expired"), want: guardian.ErrExpired},
		{name: "verify header, valid token", mws: []func(http.Handler) http.Handler{rg.g.VerifyHeader(nil), require}, token: rg.crafted(map[string]any{"scope": "read"}), status: 200},
	}
	rg.clock.Advance(2 * time.Second) // expiredTok is past its exp now; the others are not
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rg.handled, rg.reasons = nil, nil
			a := serveRoute(bearer(tt.token), tt.mws...)
			wantAnswer(t, a, tt.status, tt.challenge, tt.body)
			if tt.status == http.StatusOK {
				return
			}
			if len(rg.handled) != 1 {
				t.Fatalf("got ErrorHandler errors %v, want one", rg.handled)
			}
			wantErr(t, rg.handled[0], tt.want)
			if len(rg.reasons) != 1 || rg.reasons[0] != tt.want {
				t.Errorf("got OnRefused reasons %v, want [%v]", rg.reasons, tt.want)
			}
		})
	}
}

// TestRequireRefusesBadRequirements: a requirement that cannot be used is
// an ErrConfig error when the route is built, never a refusal at run time.
func TestRequireRefusesBadRequirements(t *testing.T) {
	rg := newRQGuardian(t, nil)
	perms := rg.perms
	good := guardian.AllScopes("read")
	tests := []struct {
		name string
		reqs []guardian.Requirement
	}{
		{name: "no requirement", reqs: nil},
		{name: "zero requirement", reqs: []guardian.Requirement{{}}},
		{name: "zero requirement after a good one", reqs: []guardian.Requirement{good, {}}},
		{name: "all scopes of none", reqs: []guardian.Requirement{guardian.AllScopes()}},
		{name: "any scope of none", reqs: []guardian.Requirement{guardian.AnyScope()}},
		{name: "empty scope", reqs: []guardian.Requirement{guardian.AllScopes("")}},
		{name: "scope with a space", reqs: []guardian.Requirement{guardian.AllScopes("read write")}},
		{name: "scope with a quote", reqs: []guardian.Requirement{guardian.AnyScope("read", `a"b`)}},
		{name: "scope with a backslash", reqs: []guardian.Requirement{guardian.AllScopes(`a\b`)}},
		{name: "scope with a control character", reqs: []guardian.Requirement{guardian.AllScopes("a\nb")}},
		{name: "non-ASCII scope", reqs: []guardian.Requirement{guardian.AllScopes("lecture_é")}},
		{name: "no permission", reqs: []guardian.Requirement{perms.All()}},
		{name: "unknown permission", reqs: []guardian.Requirement{perms.All("admin.users_delete")}},
		{name: "unknown group", reqs: []guardian.Requirement{perms.Any("billing.read")}},
		{name: "permission without group", reqs: []guardian.Requirement{perms.All("users_read")}},
		{name: "claims equal nothing", reqs: []guardian.Requirement{guardian.ClaimsEqual(nil)}},
		{name: "claims equal an empty map", reqs: []guardian.Requirement{guardian.ClaimsEqual(map[string]any{})}},
		{name: "claims equal a func", reqs: []guardian.Requirement{guardian.ClaimsEqual(map[string]any{"f": func() {}})}},
		{name: "claims equal a channel", reqs: []guardian.Requirement{guardian.ClaimsEqual(map[string]any{"c": make(chan int)})}},
		{name: "claim check without name", reqs: []guardian.Requirement{guardian.ClaimCheck("", func(*guardian.Claims) bool { return true })}},
		{name: "claim check without predicate", reqs: []guardian.Requirement{guardian.ClaimCheck("x", nil)}},
		{name: "any of nothing", reqs: []guardian.Requirement{guardian.AnyOf()}},
		{name: "any of a zero requirement", reqs: []guardian.Requirement{guardian.AnyOf(good, guardian.Requirement{})}},
		{name: "any of a bad requirement", reqs: []guardian.Requirement{guardian.AnyOf(good, guardian.AllScopes("a b"))}},
		{name: "any of any of a bad one", reqs: []guardian.Requirement{guardian.AnyOf(guardian.AnyOf(perms.All("nope.x")))}},
		{name: "acr of nothing", reqs: []guardian.Requirement{guardian.ACR()}},
		{name: "acr with a space", reqs: []guardian.Requirement{guardian.ACR("mfa", "hw k")}},
		{name: "max age zero", reqs: []guardian.Requirement{guardian.MaxAge(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := rg.g.Require(tt.reqs...)
			wantErr(t, err, guardian.ErrConfig)
			if mw != nil {
				t.Error("got middleware with the error, want nil")
			}
			for _, q := range tt.reqs {
				if err := q.Check(&guardian.Claims{Scope: []string{"read"}}); err != nil && !errors.Is(err, guardian.ErrConfig) {
					t.Errorf("got Check error %v from a requirement of a bad list, want nil or ErrConfig", err)
				}
			}
		})
	}
	// The wrappers refuse the same.
	for name, build := range map[string]func(...string) (func(http.Handler) http.Handler, error){"RequireScopes": rg.g.RequireScopes, "RequireAnyScope": rg.g.RequireAnyScope} {
		for _, scopes := range [][]string{nil, {""}, {"a b"}, {"read", `x"y`}} {
			mw, err := build(scopes...)
			if !errors.Is(err, guardian.ErrConfig) || mw != nil {
				t.Errorf("%s(%q): got %v, want ErrConfig and no middleware", name, scopes, err)
			}
		}
	}
}

// TestRequireScopesWrappers: RequireScopes and RequireAnyScope answer as
// Require(AllScopes) and Require(AnyScope) do.
func TestRequireScopesWrappers(t *testing.T) {
	rg := newRQGuardian(t, nil)
	all, err := rg.g.RequireScopes("read", "admin")
	if err != nil {
		t.Fatalf("RequireScopes: %v", err)
	}
	anyOf, err := rg.g.RequireAnyScope("read", "admin")
	if err != nil {
		t.Fatalf("RequireAnyScope: %v", err)
	}
	read := rg.crafted(map[string]any{"scope": "read"})
	wantAnswer(t, serveRoute(bearer(read), rg.g.Authenticated(), anyOf), 200, "", "")
	wantAnswer(t, serveRoute(bearer(read), rg.g.Authenticated(), all), 403, scopeChallenge("read admin"), insufficientScopeBody)
	var se *guardian.ScopeError
	if len(rg.handled) != 1 || !errors.As(rg.handled[0], &se) || !slices.Equal(se.Missing, []string{"admin"}) || se.Any || se.Permissions {
		t.Errorf("got ErrorHandler errors %v, want one *ScopeError missing admin, not Any, not Permissions", rg.handled)
	}
}

// TestRequireCustomRealm: the challenge of a refusal carries the
// Guardian's realm.
func TestRequireCustomRealm(t *testing.T) {
	perms := mustPermissions(t, rqPermissions)
	gf := newTestGuardian(t, &guardian.IssuerOptions{Permissions: perms}, &guardian.GuardianOptions[*member]{Realm: "admin-api"})
	require, err := gf.g.Require(perms.All("admin.users_write"))
	if err != nil {
		t.Fatalf("Require: %v", err)
	}
	a := serveRoute(bearer(gf.token(t, "u1", &guardian.IssueOptions{Permissions: []string{"admin.users_read"}})), gf.g.Authenticated(), require)
	wantAnswer(t, a, 403, `Bearer realm="admin-api", error="insufficient_scope", scope="admin.users_write"`, insufficientScopeBody)
}
