package guardian_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/guardiantest"
)

func TestSignIn(t *testing.T) {
	type roles struct {
		Role string `json:"role"`
	}
	gf := newTestGuardian(t, &guardian.IssuerOptions{Issuer: "https://api.example"}, &guardian.GuardianOptions[*member]{
		Claims: func(_ context.Context, m *member) (any, error) { return roles{Role: "admin-of-" + m.ID}, nil },
	})
	u := members["u1"]
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/login", nil)
	pair, r2, err := gf.g.SignIn(w, r, u)
	if err != nil {
		t.Fatalf("SignIn: %v", err)
	}
	tok := pair.Access
	if c := pair.Refresh.Claims; c.Type != guardian.RefreshToken || c.Family != tok.Claims.Family || c.Subject != "u1" {
		t.Errorf("refresh token claims %+v: want a refresh token of the login's family", c)
	}
	h := w.Header()
	if got, want := h.Get("Authorization"), "Bearer "+tok.Raw; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
	if got, want := h.Get("X-Expires"), payloadOf(t, tok.Raw)["exp"].(json.Number).String(); got != want {
		t.Errorf("X-Expires = %q, want exp %q", got, want)
	}
	if got, want := h.Get("X-Expires"), strconv.FormatInt(t0.Add(guardian.DefaultAccessTTL).Unix(), 10); got != want {
		t.Errorf("X-Expires = %q, want %q", got, want)
	}
	if got := h.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if raw, ok := guardian.CurrentToken(r2.Context()); !ok || raw != tok.Raw {
		t.Errorf("CurrentToken = %q, %v; want the new token", raw, ok)
	}
	if c, ok := guardian.CurrentClaims(r2.Context()); !ok || c.Subject != "u1" || c.Type != guardian.AccessToken {
		t.Errorf("CurrentClaims = %+v, %v", c, ok)
	}
	if got, ok := gf.g.CurrentResource(r2.Context()); !ok || got != u {
		t.Errorf("CurrentResource = %+v, %v; want %+v", got, ok, u)
	}
	if _, ok := guardian.CurrentClaims(r.Context()); ok {
		t.Errorf("SignIn changed the context of the request it was given")
	}
	c, err := gf.issuer.Verify(context.Background(), tok.Raw)
	if err != nil {
		t.Fatalf("Verify(the signed-in token): %v", err)
	}
	var got roles
	if err := c.Custom(&got); err != nil || got.Role != "admin-of-u1" {
		t.Errorf("custom claims from GuardianOptions.Claims = %+v, %v; want admin-of-u1", got, err)
	}
}

func TestSignInCustomScheme(t *testing.T) {
	gf := newTestGuardian(t, nil, &guardian.GuardianOptions[*member]{Scheme: "Token"})
	w := httptest.NewRecorder()
	pair, _, err := gf.g.SignIn(w, httptest.NewRequest(http.MethodPost, "/login", nil), members["u1"])
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Header().Get("Authorization"); got != "Token "+pair.Access.Raw {
		t.Errorf("Authorization = %q, want the Token scheme", got)
	}
}

func TestSignInCallbacks(t *testing.T) {
	errNoSubject := errors.New("user has no ID")
	errClaims := errors.New("roles unavailable")
	newG := func(t *testing.T, subject func(*member) (string, error), claims func(context.Context, *member) (any, error)) *guardian.Guardian[*member] {
		g, err := guardian.New(newFixture(t, nil).issuer, subject, loadMember, &guardian.GuardianOptions[*member]{Claims: claims})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	roleClaims := func(context.Context, *member) (any, error) { return map[string]string{"role": "from-callback"}, nil }

	t.Run("the claims callback is in both tokens", func(t *testing.T) {
		g := newG(t, memberSubject, roleClaims)
		pair, _, err := g.SignIn(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/login", nil), members["u1"])
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range []guardian.Token{pair.Access, pair.Refresh} {
			if got := roleOf(t, tok.Claims); got != "from-callback" {
				t.Errorf("%s token role %q, want from-callback", tok.Claims.Type, got)
			}
		}
	})
	tests := []struct {
		name    string
		subject func(*member) (string, error)
		claims  func(context.Context, *member) (any, error)
		want    error
	}{
		{name: "subject callback fails", subject: func(*member) (string, error) { return "", errNoSubject }, want: errNoSubject},
		{name: "empty subject", subject: func(*member) (string, error) { return "", nil }},
		{name: "claims callback fails", subject: memberSubject, claims: func(context.Context, *member) (any, error) { return nil, errClaims }, want: errClaims},
		{name: "claims callback names a registered claim", subject: memberSubject, claims: func(context.Context, *member) (any, error) { return map[string]any{"sub": "admin"}, nil }},
		{name: "claims callback returns a non-object", subject: memberSubject, claims: func(context.Context, *member) (any, error) { return []string{"admin"}, nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newG(t, tt.subject, tt.claims)
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/login", nil)
			pair, r2, err := g.SignIn(w, r, members["u1"])
			if err == nil || pair.Access.Raw != "" {
				t.Fatalf("SignIn = %q, %v; want an error", pair.Access.Raw, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("got %v, want it to wrap %v", err, tt.want)
			}
			if w.Header().Get("Authorization") != "" || w.Header().Get("X-Expires") != "" {
				t.Errorf("a failed SignIn set headers: %v", w.Header())
			}
			if _, ok := guardian.CurrentClaims(r2.Context()); ok {
				t.Errorf("a failed SignIn authenticated the request")
			}
		})
	}
}

// signedIn returns a request that went through VerifyHeader with raw.
func signedIn(t *testing.T, g *guardian.Guardian[*member], raw string) *http.Request {
	t.Helper()
	var out *http.Request
	h := g.VerifyHeader(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { out = r }))
	h.ServeHTTP(httptest.NewRecorder(), request("Bearer "+raw))
	if out == nil {
		t.Fatal("VerifyHeader did not pass the request on")
	}
	return out
}

func TestSignOut(t *testing.T) {
	ctx := context.Background()
	t.Run("revokes the token and its family", func(t *testing.T) {
		gf := newTestGuardian(t, &guardian.IssuerOptions{Revoker: guardian.NewMemoryRevoker(nil)}, nil)
		u := members["u1"]
		w := httptest.NewRecorder()
		pair, r, err := gf.g.SignIn(w, httptest.NewRequest(http.MethodPost, "/login", nil), u)
		if err != nil {
			t.Fatal(err)
		}
		access, refresh := pair.Access, pair.Refresh
		otherDevice := guardiantest.Mint(t, gf.g, u).Access
		later := signedIn(t, gf.g, access.Raw) // a later request with the token
		if err := gf.g.SignOut(httptest.NewRecorder(), later); err != nil {
			t.Fatalf("SignOut: %v", err)
		}
		_, err = gf.issuer.Verify(ctx, access.Raw)
		wantTokenErr(t, err, guardian.ErrRevoked)
		_, err = gf.issuer.Verify(ctx, refresh.Raw, guardian.RefreshToken)
		wantTokenErr(t, err, guardian.ErrRevoked)
		_, err = gf.issuer.Refresh(ctx, refresh.Raw, nil)
		wantTokenErr(t, err, guardian.ErrRevoked)
		if _, err := gf.issuer.Verify(ctx, otherDevice.Raw); err != nil {
			t.Errorf("a token of another login: got %v, want untouched", err)
		}
		// SignIn's own request can sign out too.
		if err := gf.g.SignOut(httptest.NewRecorder(), r); err != nil {
			t.Errorf("SignOut(SignIn's request): %v", err)
		}
	})
	t.Run("without a token", func(t *testing.T) {
		gf := newTestGuardian(t, &guardian.IssuerOptions{Revoker: guardian.NewMemoryRevoker(nil)}, nil)
		for name, r := range map[string]*http.Request{
			"plain request": request(),
			"bad token":     signedIn(t, gf.g, "x.y.z"),
		} {
			if err := gf.g.SignOut(httptest.NewRecorder(), r); !errors.Is(err, guardian.ErrMissingToken) {
				t.Errorf("%s: SignOut = %v, want ErrMissingToken", name, err)
			}
		}
	})
	t.Run("without a Revoker", func(t *testing.T) {
		gf := newTestGuardian(t, nil, nil)
		err := gf.g.SignOut(httptest.NewRecorder(), signedIn(t, gf.g, gf.token(t, "u1", nil)))
		wantErr(t, err, guardian.ErrNoRevoker)
	})
	t.Run("store down", func(t *testing.T) {
		gf := newTestGuardian(t, &guardian.IssuerOptions{Revoker: downRevoker{}, RevokerFailOpen: true}, nil)
		err := gf.g.SignOut(httptest.NewRecorder(), signedIn(t, gf.g, gf.token(t, "u1", nil)))
		wantErr(t, err, guardian.ErrUnavailable)
	})
}

func TestNewRefuses(t *testing.T) {
	issuer := newFixture(t, nil).issuer
	tests := []struct {
		name     string
		issuer   *guardian.Issuer
		subject  func(*member) (string, error)
		resource func(context.Context, *guardian.Claims) (*member, error)
		opts     *guardian.GuardianOptions[*member]
	}{
		{name: "nil issuer", subject: memberSubject, resource: loadMember},
		{name: "nil subject callback", issuer: issuer, resource: loadMember},
		{name: "nil resource callback", issuer: issuer, subject: memberSubject},
		{name: "scheme with a space", issuer: issuer, subject: memberSubject, resource: loadMember, opts: &guardian.GuardianOptions[*member]{Scheme: "Bearer Token"}},
		{name: "scheme with a colon", issuer: issuer, subject: memberSubject, resource: loadMember, opts: &guardian.GuardianOptions[*member]{Scheme: "Bearer:"}},
		{name: "scheme with a line break", issuer: issuer, subject: memberSubject, resource: loadMember, opts: &guardian.GuardianOptions[*member]{Scheme: "Bearer\r\nSet-Cookie:"}},
		{name: "realm with a quote", issuer: issuer, subject: memberSubject, resource: loadMember, opts: &guardian.GuardianOptions[*member]{Realm: `api", error="none`}},
		{name: "realm with a backslash", issuer: issuer, subject: memberSubject, resource: loadMember, opts: &guardian.GuardianOptions[*member]{Realm: `a\b`}},
		{name: "realm with a line break", issuer: issuer, subject: memberSubject, resource: loadMember, opts: &guardian.GuardianOptions[*member]{Realm: "api\r\nSet-Cookie: x=y"}},
		{name: "realm with non-ASCII", issuer: issuer, subject: memberSubject, resource: loadMember, opts: &guardian.GuardianOptions[*member]{Realm: "café"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := guardian.New(tt.issuer, tt.subject, tt.resource, tt.opts)
			if err == nil || g != nil {
				t.Fatalf("New = %v, %v; want an error", g, err)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		g, err := guardian.New(issuer, memberSubject, loadMember, &guardian.GuardianOptions[*member]{})
		if err != nil {
			t.Fatal(err)
		}
		if g.Issuer() != issuer {
			t.Errorf("Issuer() is not the issuer given")
		}
		w := serve(g.EnsureAuthenticated(nil)(http.NotFoundHandler()), request())
		if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="api"` {
			t.Errorf("default challenge = %q", got)
		}
	})
}

// TestGuardianWithExpiry runs a token through the whole chain on a moving
// clock: the middleware uses the issuer's clock.
func TestGuardianWithExpiry(t *testing.T) {
	gf := newTestGuardian(t, nil, nil)
	raw := gf.token(t, "u1", nil)
	h := chain(new(probe).handler(gf.g), gf.g.VerifyHeader(nil), gf.g.EnsureAuthenticated(nil))
	if w := serve(h, request("Bearer "+raw)); w.Code != 200 {
		t.Fatalf("fresh token: %d", w.Code)
	}
	gf.clock.Advance(guardian.DefaultAccessTTL - time.Second)
	if w := serve(h, request("Bearer "+raw)); w.Code != 200 {
		t.Fatalf("a second before exp: %d", w.Code)
	}
	gf.clock.Advance(time.Second)
	if w := serve(h, request("Bearer "+raw)); w.Code != 401 {
		t.Fatalf("at exp: %d, want 401", w.Code)
	}
}
