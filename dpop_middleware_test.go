package guardian_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
)

// dpopRoute is a protected route of a Guardian that accepts DPoP-bound
// tokens, on the fixture's clock.
type dpopRoute struct {
	f      *fixture
	g      *guardian.Guardian[string]
	v      *guardian.DPoPVerifier // nil: DPoP off
	client *dpopClient
	h      http.Handler
	n      int // proofs made, for unique jtis
}

func newDPoPRoute(t testing.TB, dpopOn, require bool) *dpopRoute {
	t.Helper()
	var dopts *guardian.DPoPOptions
	if dpopOn {
		dopts = &guardian.DPoPOptions{}
	}
	return newDPoPRouteWith(t, dopts, require)
}

// newDPoPRouteWith is newDPoPRoute with the DPoP verifier of dopts (nil:
// DPoP off), on the fixture's clock, accepting ES256 proofs.
func newDPoPRouteWith(t testing.TB, dopts *guardian.DPoPOptions, require bool) *dpopRoute {
	t.Helper()
	f := newFixture(t, nil)
	opts := &guardian.GuardianOptions[string]{RequireDPoP: require}
	if dopts != nil {
		o := *dopts
		o.Clock, o.Algorithms = f.clock.Now, []guardian.Algorithm{guardian.ES256}
		v, err := guardian.NewDPoPVerifier(&o)
		if err != nil {
			t.Fatal(err)
		}
		opts.DPoP = v
	}
	var v *guardian.DPoPVerifier = opts.DPoP
	g, err := guardian.New(f.issuer,
		func(u string) (string, error) { return u, nil },
		func(_ context.Context, c *guardian.Claims) (string, error) { return c.Subject, nil }, opts)
	if err != nil {
		t.Fatal(err)
	}
	rt := &dpopRoute{f: f, g: g, v: v, client: newDPoPClient(t)}
	rt.h = g.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := guardian.CurrentClaims(r.Context())
		w.Write([]byte(c.Subject))
	}))
	return rt
}

// token issues an access token for u, bound to the route's client key
// when bound.
func (rt *dpopRoute) token(t testing.TB, bound bool) string {
	t.Helper()
	o := &guardian.IssueOptions{}
	if bound {
		o.Confirmation = guardian.Confirmation{JWKThumbprint: rt.client.jkt}
	}
	tok, err := rt.f.issuer.Issue(context.Background(), "u1", o)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Raw
}

// proofFor makes a proof of the route's client for POST target with token.
func (rt *dpopRoute) proofFor(t *testing.T, target, token string) string {
	t.Helper()
	rt.n++
	c := map[string]any{"jti": "p" + strings.Repeat("x", rt.n), "htm": "POST", "htu": target, "iat": rt.f.clock.Now().Unix(), "ath": ath(token)}
	return rt.client.proof(t, c, nil, nil)
}

func (rt *dpopRoute) serve(authorization string, proofs ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "http://api.example.com/items?x=1", nil)
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	for _, p := range proofs {
		r.Header.Add("DPoP", p)
	}
	w := httptest.NewRecorder()
	rt.h.ServeHTTP(w, r)
	return w
}

const htu = "http://api.example.com/items"

// TestDPoPMiddleware runs the rules of RFC 9449 §7 through Protect, each
// with the attack it stops, and checks the challenges of §7.1.
func TestDPoPMiddleware(t *testing.T) {
	const dpopChallenge = `DPoP realm="api", algs="ES256"`
	tests := []struct {
		name       string
		dpopOn     bool
		require    bool
		request    func(t *testing.T, rt *dpopRoute) *httptest.ResponseRecorder
		status     int
		challenges []string
	}{
		{name: "a bound token with its proof", dpopOn: true, status: 200, request: func(t *testing.T, rt *dpopRoute) *httptest.ResponseRecorder {
			tok := rt.token(t, true)
			return rt.serve("DPoP "+tok, rt.proofFor(t, htu, tok))
		}},
		{name: "a stolen bound token sent as Bearer", dpopOn: true, status: 401, request: func(t *testing.T, rt *dpopRoute) *httptest.ResponseRecorder {
			return rt.serve("Bearer " + rt.token(t, true))
		}, challenges: []string{`Bearer realm="api", error="invalid_token", error_description="token binding does not fit the request"`, dpopChallenge}},
		{name: "the DPoP scheme without a token", dpopOn: true, status: 400, request: func(t *testing.T, rt *dpopRoute) *httptest.ResponseRecorder {
			return rt.serve("DPoP")
		}, challenges: []string{dpopChallenge + `, error="invalid_request", error_description="malformed request"`}},
		{name: "a stolen bound token sent as Bearer, DPoP off", status: 401, request: func(t *testing.T, rt *dpopRoute) *httptest.ResponseRecorder {
			return rt.serve("Bearer " + rt.token(t, true))
		}, challenges: []string{`Bearer realm="api", error="invalid_token", error_description="token binding does not fit the request"`}},
		{name: "a bound token without a proof", dpopOn: true, status: 401, request: func(t *testing.T, rt *dpopRoute) *httptest.ResponseRecorder {
			return rt.serve("DPoP " + rt.token(t, true))
		}, challenges: []string{dpopChallenge + `, error="invalid_dpop_proof", error_description="invalid DPoP proof"`}},
		{name: "two proofs", dpopOn: true, status: 401, request: func(t *testing.T, rt *dpopRoute) *httptest.ResponseRecorder {
			tok := rt.token(t, true)
			return rt.serve("DPoP "+tok, rt.proofFor(t, htu, tok), rt.proofFor(t, htu, tok))
		}, challenges: []string{dpopChallenge + `, error="invalid_dpop_proof", error_description="invalid DPoP proof"`}},
		{name: "a proof made for another URL", dpopOn: true, status: 401, request: func(t *testing.T, rt *dpopRoute) *httptest.ResponseRecorder {
			tok := rt.token(t, true)
			return rt.serve("DPoP "+tok, rt.proofFor(t, "http://api.example.com/admin", tok))
		}, challenges: []string{dpopChallenge + `, error="invalid_dpop_proof", error_description="invalid DPoP proof"`}},
		{name: "a proof made for another token", dpopOn: true, status: 401, request: func(t *testing.T, rt *dpopRoute) *httptest.ResponseRecorder {
			tok := rt.token(t, true)
			return rt.serve("DPoP "+tok, rt.proofFor(t, htu, rt.token(t, true)))
		}, challenges: []string{dpopChallenge + `, error="invalid_dpop_proof", error_description="invalid DPoP proof"`}},
		{name: "a replayed proof", dpopOn: true, status: 401, request: func(t *testing.T, rt *dpopRoute) *httptest.ResponseRecorder {
			tok := rt.token(t, true)
			p := rt.proofFor(t, htu, tok)
			if w := rt.serve("DPoP "+tok, p); w.Code != 200 {
				t.Fatalf("first use: %d", w.Code)
			}
			return rt.serve("DPoP "+tok, p)
		}, challenges: []string{dpopChallenge + `, error="invalid_dpop_proof", error_description="invalid DPoP proof"`}},
		{name: "a bearer token under the DPoP scheme", dpopOn: true, status: 401, request: func(t *testing.T, rt *dpopRoute) *httptest.ResponseRecorder {
			tok := rt.token(t, false)
			return rt.serve("DPoP "+tok, rt.proofFor(t, htu, tok))
		}, challenges: []string{dpopChallenge + `, error="invalid_token", error_description="token binding does not fit the request"`}},
		{name: "a bearer token where DPoP is allowed", dpopOn: true, status: 200, request: func(t *testing.T, rt *dpopRoute) *httptest.ResponseRecorder {
			return rt.serve("Bearer " + rt.token(t, false))
		}},
		{name: "a bearer token where DPoP is required", dpopOn: true, require: true, status: 401, request: func(t *testing.T, rt *dpopRoute) *httptest.ResponseRecorder {
			return rt.serve("Bearer " + rt.token(t, false))
		}, challenges: []string{dpopChallenge + `, error="invalid_token", error_description="token binding does not fit the request"`}},
		{name: "no token where DPoP is allowed", dpopOn: true, status: 401, request: func(t *testing.T, rt *dpopRoute) *httptest.ResponseRecorder {
			return rt.serve("")
		}, challenges: []string{`Bearer realm="api"`, dpopChallenge}},
		{name: "no token where DPoP is required", dpopOn: true, require: true, status: 401, request: func(t *testing.T, rt *dpopRoute) *httptest.ResponseRecorder {
			return rt.serve("")
		}, challenges: []string{dpopChallenge}},
		{name: "the DPoP scheme where DPoP is off", status: 401, request: func(t *testing.T, rt *dpopRoute) *httptest.ResponseRecorder {
			tok := rt.token(t, true)
			return rt.serve("DPoP "+tok, rt.proofFor(t, htu, tok))
		}, challenges: []string{`Bearer realm="api"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := newDPoPRoute(t, tt.dpopOn, tt.require)
			w := tt.request(t, rt)
			if w.Code != tt.status {
				t.Fatalf("got %d %q, want %d", w.Code, w.Body, tt.status)
			}
			if got := w.Header().Values("WWW-Authenticate"); strings.Join(got, "\n") != strings.Join(tt.challenges, "\n") {
				t.Errorf("got challenges %q, want %q", got, tt.challenges)
			}
		})
	}
}

func TestRequireDPoPNeedsAVerifier(t *testing.T) {
	f := newFixture(t, nil)
	_, err := guardian.New(f.issuer,
		func(u string) (string, error) { return u, nil },
		func(_ context.Context, c *guardian.Claims) (string, error) { return c.Subject, nil },
		&guardian.GuardianOptions[string]{RequireDPoP: true})
	if !errors.Is(err, guardian.ErrConfig) {
		t.Fatalf("got %v, want ErrConfig", err)
	}
}

// TestDPoPBindingSurvivesRefresh: a refresh keeps the key binding, so a
// refresh cannot turn a bound token into a bearer one.
func TestDPoPBindingSurvivesRefresh(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	cnf := guardian.Confirmation{JWKThumbprint: "k1-thumbprint"}
	rt, err := f.issuer.Issue(ctx, "u1", &guardian.IssueOptions{Type: guardian.RefreshToken, Confirmation: cnf})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	pair, err := f.issuer.Refresh(ctx, rt.Raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []guardian.Token{pair.Access, pair.Refresh} {
		c, err := f.issuer.Verify(ctx, tok.Raw, tok.Claims.Type)
		if err != nil {
			t.Fatal(err)
		}
		if c.Confirmation != cnf {
			t.Errorf("%s token: got cnf %+v, want %+v", c.Type, c.Confirmation, cnf)
		}
	}
}

// dpopPost is a POST to target, with the proofs given.
func dpopPost(target string, proofs ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(""))
	for _, p := range proofs {
		r.Header.Add("DPoP", p)
	}
	return r
}

// TestDPoPIssue: a login with a proof gets tokens bound to its key, and a
// bound refresh token needs a proof of that key, so that a stolen one is
// useless (RFC 9449 §5).
func TestDPoPIssue(t *testing.T) {
	rt := newDPoPRoute(t, true, false)
	const loginURL, refreshURL = "http://api.example.com/login", "http://api.example.com/refresh"
	mk := func(c *dpopClient, target, token string) string {
		rt.n++
		claims := map[string]any{"jti": "i" + strings.Repeat("y", rt.n), "htm": "POST", "htu": target, "iat": rt.f.clock.Now().Unix()}
		if token != "" {
			claims["ath"] = ath(token)
		}
		return c.proof(t, claims, nil, nil)
	}
	w := httptest.NewRecorder()
	pair, _, err := rt.g.SignIn(w, dpopPost(loginURL, mk(rt.client, loginURL, "")), "u1")
	if err != nil {
		t.Fatalf("SignIn with a proof: %v", err)
	}
	for _, tok := range []guardian.Token{pair.Access, pair.Refresh} {
		if got := tok.Claims.Confirmation.JWKThumbprint; got != rt.client.jkt {
			t.Fatalf("%s token bound to %q, want %q", tok.Claims.Type, got, rt.client.jkt)
		}
	}
	if got := w.Header().Get("Authorization"); got != "DPoP "+pair.Access.Raw {
		t.Errorf("Authorization %q, want the DPoP scheme", got)
	}
	if b, _ := pair.MarshalJSON(); !strings.Contains(string(b), `"token_type":"DPoP"`) {
		t.Errorf("token response %s, want token_type DPoP", b)
	}
	if got := rt.serve("DPoP "+pair.Access.Raw, mk(rt.client, htu, pair.Access.Raw)).Code; got != 200 {
		t.Errorf("the bound access token with a proof: %d, want 200", got)
	}
	if got := rt.serve("Bearer " + pair.Access.Raw).Code; got != 401 {
		t.Errorf("the bound access token as Bearer: %d, want 401", got)
	}
	_, _, err = rt.g.SignIn(httptest.NewRecorder(), dpopPost(loginURL, mk(rt.client, "http://api.example.com/other", "")), "u1")
	if !errors.Is(err, guardian.ErrInvalidDPoPProof) {
		t.Errorf("SignIn with a proof for another URL: got %v, want ErrInvalidDPoPProof", err)
	}

	refresh := func(proofs ...string) (guardian.TokenPair, error) {
		r := dpopPost(refreshURL, proofs...)
		r.Header.Set("Authorization", "Bearer "+pair.Refresh.Raw)
		return rt.g.Refresh(httptest.NewRecorder(), r)
	}
	if _, err := refresh(); !errors.Is(err, guardian.ErrInvalidDPoPProof) {
		t.Errorf("a bound refresh token without a proof: got %v, want ErrInvalidDPoPProof", err)
	}
	if _, err := refresh(mk(newDPoPClient(t), refreshURL, "")); !errors.Is(err, guardian.ErrInvalidDPoPProof) {
		t.Errorf("a bound refresh token with a thief's proof: got %v, want ErrInvalidDPoPProof", err)
	}
	next, err := refresh(mk(rt.client, refreshURL, ""))
	if err != nil {
		t.Fatalf("the bound refresh token with its key's proof (after the refused tries: it was not spent): %v", err)
	}
	if next.Access.Claims.Confirmation.JWKThumbprint != rt.client.jkt || next.Refresh.Claims.Confirmation.JWKThumbprint != rt.client.jkt {
		t.Errorf("the rotated pair lost its binding: %+v %+v", next.Access.Claims.Confirmation, next.Refresh.Claims.Confirmation)
	}

	// An unbound login, refreshed with a proof, is bound from then on.
	plain, _, err := rt.g.SignIn(httptest.NewRecorder(), dpopPost(loginURL), "u1")
	if err != nil || !plain.Access.Claims.Confirmation.IsZero() {
		t.Fatalf("SignIn without a proof: %v, cnf %+v", err, plain.Access.Claims.Confirmation)
	}
	r := dpopPost(refreshURL, mk(rt.client, refreshURL, ""))
	r.Header.Set("Authorization", "Bearer "+plain.Refresh.Raw)
	bound, err := rt.g.Refresh(httptest.NewRecorder(), r)
	if err != nil || bound.Access.Claims.Confirmation.JWKThumbprint != rt.client.jkt {
		t.Fatalf("refresh of an unbound login with a proof: %v, cnf %+v", err, bound.Access.Claims.Confirmation)
	}
}

// TestDPoPReauthenticateKeepsTheBinding: a step-up of a DPoP-bound login
// gets tokens bound to the same key, although the request's proof was
// spent on its access token.
func TestDPoPReauthenticateKeepsTheBinding(t *testing.T) {
	rt := newDPoPRoute(t, true, false)
	tok := rt.token(t, true)
	var pair guardian.TokenPair
	var err error
	h := rt.g.Authenticated()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pair, _, err = rt.g.Reauthenticate(w, r, "u1", nil)
	}))
	r := dpopPost(htu, rt.proofFor(t, htu, tok))
	r.Header.Set("Authorization", "DPoP "+tok)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if err != nil {
		t.Fatalf("Reauthenticate: %v (status %d)", err, w.Code)
	}
	for _, tk := range []guardian.Token{pair.Access, pair.Refresh} {
		if got := tk.Claims.Confirmation.JWKThumbprint; got != rt.client.jkt {
			t.Errorf("%s token bound to %q, want the login's key %q", tk.Claims.Type, got, rt.client.jkt)
		}
	}
}

// TestDPoPBindingReason: a binding failure has its own reason, which
// OnRefused and the logs can tell from a token of the wrong type.
func TestDPoPBindingReason(t *testing.T) {
	f := newFixture(t, nil)
	v, err := guardian.NewDPoPVerifier(&guardian.DPoPOptions{Clock: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []error
	g, err := guardian.New(f.issuer,
		func(u string) (string, error) { return u, nil },
		func(_ context.Context, c *guardian.Claims) (string, error) { return c.Subject, nil },
		&guardian.GuardianOptions[string]{DPoP: v, OnRefused: func(_ *http.Request, reason error) { reasons = append(reasons, reason) }})
	if err != nil {
		t.Fatal(err)
	}
	h := g.Protect(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	bound := f.issue(t, "u1", &guardian.IssueOptions{Confirmation: guardian.Confirmation{JWKThumbprint: newDPoPClient(t).jkt}}).Raw
	refresh := f.issue(t, "u1", &guardian.IssueOptions{Type: guardian.RefreshToken}).Raw
	for _, auth := range []string{"Bearer " + bound, "Bearer " + refresh} {
		r := httptest.NewRequest("GET", htu, nil)
		r.Header.Set("Authorization", auth)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if len(reasons) != 2 || reasons[0] != guardian.ErrTokenBinding || reasons[1] != guardian.ErrTokenType {
		t.Errorf("reasons %v, want [ErrTokenBinding ErrTokenType]", reasons)
	}
}
