package guardian_test

// Tests of Guardian.Impersonate: the token it issues, what it refuses, and
// how it ends with the impersonator's login.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
)

func TestImpersonateClaims(t *testing.T) {
	mfa := &guardian.SignInOptions{ACR: "mfa", AMR: []string{"pwd", "otp"}, Scope: []string{"admin"}}
	tests := []struct {
		name string
		// actor returns the admin's access token claims, made at t0.
		actor   func(t *testing.T, f *authzFixture) *guardian.Claims
		advance time.Duration // between the admin's login and Impersonate
		wantExp time.Time
	}{
		{name: "fresh admin token", actor: func(t *testing.T, f *authzFixture) *guardian.Claims {
			return f.signIn(t, members["u1"], mfa).Access.Claims
		}, wantExp: at(guardian.DefaultAccessTTL)},
		{name: "admin token with 5 minutes left: its exp", actor: func(t *testing.T, f *authzFixture) *guardian.Claims {
			return f.signIn(t, members["u1"], mfa).Access.Claims
		}, advance: 10 * time.Minute, wantExp: at(guardian.DefaultAccessTTL)},
		{name: "admin token with 1 second left", actor: func(t *testing.T, f *authzFixture) *guardian.Claims {
			return f.signIn(t, members["u1"], mfa).Access.Claims
		}, advance: guardian.DefaultAccessTTL - time.Second, wantExp: at(guardian.DefaultAccessTTL)},
		{name: "admin token outliving the access TTL: capped by it", actor: func(t *testing.T, f *authzFixture) *guardian.Claims {
			tok, err := f.issuer.Issue(context.Background(), "u1", &guardian.IssueOptions{TTL: 2 * time.Hour, ACR: "mfa", AMR: []string{"pwd", "otp"}})
			if err != nil {
				t.Fatal(err)
			}
			return tok.Claims
		}, advance: 10 * time.Minute, wantExp: at(10*time.Minute + guardian.DefaultAccessTTL)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAuthzFixture(t, nil)
			actor := tt.actor(t, f)
			f.clock.Advance(tt.advance)
			tok := f.impersonate(t, actor, members["u2"])

			// What Impersonate returns, and what a verifier reads back.
			verified, err := f.issuer.Verify(context.Background(), tok.Raw)
			if err != nil {
				t.Fatalf("Verify(impersonation token): %v", err)
			}
			for name, c := range map[string]*guardian.Claims{"returned": tok.Claims, "verified": verified} {
				if c.Subject != "u2" || c.Type != guardian.AccessToken {
					t.Errorf("%s: got sub %q typ %q, want u2's access token", name, c.Subject, c.Type)
				}
				if c.Actor == nil || *c.Actor != (guardian.Actor{Subject: "u1"}) {
					t.Errorf("%s: got act %+v, want {sub: u1}", name, c.Actor)
				}
				if c.Family != actor.Family {
					t.Errorf("%s: got fam %q, want the admin's %q", name, c.Family, actor.Family)
				}
				if !c.ExpiresAt.Equal(tt.wantExp) || c.ExpiresAt.After(actor.ExpiresAt) {
					t.Errorf("%s: got exp %v, want %v (admin's exp %v)", name, c.ExpiresAt, tt.wantExp, actor.ExpiresAt)
				}
				if got, want := c.IssuedAt, at(tt.advance); !got.Equal(want) {
					t.Errorf("%s: got iat %v, want now %v", name, got, want)
				}
				if !c.AuthTime.Equal(actor.AuthTime) || !c.AuthTime.Equal(t0) {
					t.Errorf("%s: got auth_time %v, want the admin's %v", name, c.AuthTime, actor.AuthTime)
				}
				if c.ACR != "mfa" || !slices.Equal(c.AMR, []string{"pwd", "otp"}) {
					t.Errorf("%s: got acr %q amr %q, want the admin's mfa [pwd otp]", name, c.ACR, c.AMR)
				}
				if got, want := f.perms.Granted(c), []string{"default.profile"}; !slices.Equal(got, want) {
					t.Errorf("%s: got permissions %q, want the target's %q", name, got, want)
				}
				if len(c.Scope) != 0 {
					t.Errorf("%s: got scope %q, want none: the admin's scopes are not the target's", name, c.Scope)
				}
				var custom struct{ Name string }
				if err := c.Custom(&custom); err != nil || custom.Name != "Grace" {
					t.Errorf("%s: got custom claims %+v, %v; want the target's name Grace", name, custom, err)
				}
			}
			if got, want := wireJSON(t, payloadOf(t, tok.Raw)["act"]), `{"sub":"u1"}`; got != want {
				t.Errorf("got act on the wire %s, want %s", got, want)
			}
		})
	}
}

// wireJSON is v encoded again as JSON, members sorted.
func wireJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestImpersonateNoRefresh: an impersonation comes with no refresh token,
// and cannot be refreshed itself.
func TestImpersonateNoRefresh(t *testing.T) {
	f := newAuthzFixture(t, nil)
	admin := f.signIn(t, members["u1"], nil)
	tok := f.impersonate(t, admin.Access.Claims, members["u2"])
	_, err := f.issuer.Refresh(context.Background(), tok.Raw, nil)
	wantTokenErr(t, err, guardian.ErrTokenType)
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/refresh", nil)
	r.Header.Set("Authorization", "Bearer "+tok.Raw)
	if _, err := f.g.Refresh(rec, r); !errors.Is(err, guardian.ErrTokenType) || rec.Code != http.StatusUnauthorized {
		t.Errorf("got Guardian.Refresh %v answered %d, want ErrTokenType answered 401", err, rec.Code)
	}
}

func TestImpersonateErrors(t *testing.T) {
	errPerms := errors.New("permission store down")
	errClaims := errors.New("profile store down")
	type setup struct {
		f     *authzFixture
		admin guardian.TokenPair
	}
	tests := []struct {
		name    string
		prepare func(t *testing.T, s *setup) // changes the fixture before the call
		actor   func(t *testing.T, s *setup) *guardian.Claims
		target  *member
		g       func(t *testing.T, s *setup) *guardian.Guardian[*member] // nil: s.f.g
		want    []error
	}{
		{name: "nil actor", actor: func(*testing.T, *setup) *guardian.Claims { return nil }, target: members["u2"], want: []error{guardian.ErrInvalidArgument}},
		{name: "refresh-token actor", actor: func(_ *testing.T, s *setup) *guardian.Claims { return s.admin.Refresh.Claims }, target: members["u2"], want: []error{guardian.ErrInvalidArgument}},
		{name: "verified refresh-token actor", actor: func(t *testing.T, s *setup) *guardian.Claims {
			c, err := s.f.issuer.Verify(context.Background(), s.admin.Refresh.Raw, guardian.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}, target: members["u2"], want: []error{guardian.ErrInvalidArgument}},
		{name: "claims of another issuer", actor: func(t *testing.T, _ *setup) *guardian.Claims {
			return newAuthzFixture(t, nil).signIn(t, members["u1"], nil).Access.Claims
		}, target: members["u2"], want: []error{guardian.ErrInvalidArgument}},
		{name: "hand-made claims", actor: func(_ *testing.T, s *setup) *guardian.Claims {
			c := *s.admin.Access.Claims // a copy the issuer never verified
			return &guardian.Claims{Subject: c.Subject, Type: c.Type, Family: c.Family, ID: c.ID, IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt}
		}, target: members["u2"], want: []error{guardian.ErrInvalidArgument}},
		{name: "self-impersonation", actor: func(_ *testing.T, s *setup) *guardian.Claims { return s.admin.Access.Claims }, target: members["u1"], want: []error{guardian.ErrInvalidArgument}},
		{name: "target without an ID", actor: func(_ *testing.T, s *setup) *guardian.Claims { return s.admin.Access.Claims }, target: &member{}, want: []error{guardian.ErrInvalidID}},
		{name: "actor token expiring now", prepare: func(_ *testing.T, s *setup) { s.f.clock.Set(s.admin.Access.Claims.ExpiresAt) },
			actor: func(_ *testing.T, s *setup) *guardian.Claims { return s.admin.Access.Claims }, target: members["u2"], want: []error{guardian.ErrExpired}},
		{name: "actor token expired", prepare: func(_ *testing.T, s *setup) { s.f.clock.Advance(time.Hour) },
			actor: func(_ *testing.T, s *setup) *guardian.Claims { return s.admin.Access.Claims }, target: members["u2"], want: []error{guardian.ErrExpired}},
		{name: "verify-only Guardian", actor: func(_ *testing.T, s *setup) *guardian.Claims { return s.admin.Access.Claims }, target: members["u2"],
			g: func(t *testing.T, s *setup) *guardian.Guardian[*member] {
				g, err := guardian.New[*member](nil, nil, loadMember, &guardian.GuardianOptions[*member]{Verifier: s.f.issuer})
				if err != nil {
					t.Fatal(err)
				}
				return g
			}, want: []error{guardian.ErrConfig}},
		{name: "permissions callback fails", prepare: func(_ *testing.T, s *setup) { s.f.grants.fail(errPerms) },
			actor: func(_ *testing.T, s *setup) *guardian.Claims { return s.admin.Access.Claims }, target: members["u2"], want: []error{errPerms}},
		{name: "claims callback fails", prepare: func(_ *testing.T, s *setup) { s.f.claimsErr.Store(&errClaims) },
			actor: func(_ *testing.T, s *setup) *guardian.Claims { return s.admin.Access.Claims }, target: members["u2"], want: []error{errClaims}},
		{name: "undeclared permission", prepare: func(_ *testing.T, s *setup) { s.f.grants.set("u2", []string{"billing.pay"}) },
			actor: func(_ *testing.T, s *setup) *guardian.Claims { return s.admin.Access.Claims }, target: members["u2"], want: []error{guardian.ErrInvalidArgument}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAuthzFixture(t, nil)
			s := &setup{f: f, admin: f.signIn(t, members["u1"], nil)}
			if tt.prepare != nil {
				tt.prepare(t, s)
			}
			g := f.g
			if tt.g != nil {
				g = tt.g(t, s)
			}
			tok, err := g.Impersonate(context.Background(), tt.actor(t, s), tt.target)
			wantErr(t, err, tt.want...)
			if tok.Raw != "" || tok.Claims != nil {
				t.Errorf("got token %+v with the error, want the zero Token", tok)
			}
		})
	}
}

// impersonation is an admin's login and an impersonation of u2 from it.
type impersonation struct {
	f     *authzFixture
	admin guardian.TokenPair
	imp   guardian.Token
}

func newImpersonation(t *testing.T) *impersonation {
	t.Helper()
	f := newAuthzFixture(t, nil)
	admin := f.signIn(t, members["u1"], nil)
	return &impersonation{f: f, admin: admin, imp: f.impersonate(t, admin.Access.Claims, members["u2"])}
}

// signOut signs out the request carrying the given tokens through the
// given view, behind both slots' Optional middleware, and fails the test
// unless it succeeds.
func (s *impersonation) signOut(t *testing.T, view *guardian.Guardian[*member], r *http.Request) {
	t.Helper()
	var err error
	rec := serve(chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err = view.SignOut(w, r); err == nil {
			w.WriteHeader(http.StatusNoContent)
		}
	}), s.f.g.Optional(), s.f.imp.Optional()), r)
	if err != nil || rec.Code != http.StatusNoContent {
		t.Fatalf("got SignOut %v answered %d, want nil answered 204", err, rec.Code)
	}
}

// status is the answer of a route behind both slots' Authenticated to a
// request with the given tokens ("" for none).
func (s *impersonation) status(admin, slot string) int {
	var v twoViews
	return serve(chain(v.handler(s.f), s.f.g.Authenticated(), s.f.imp.Authenticated()), twoSlots(admin, slot)).Code
}

// asUser is the answer of a route behind the default slot's Authenticated
// to a request with raw in Authorization.
func (s *impersonation) asUser(raw string) int {
	var v twoViews
	return serve(s.f.g.Authenticated()(v.handler(s.f)), twoSlots(raw, "")).Code
}

func TestImpersonationLogout(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// signOut ends something, in its own way.
		signOut func(t *testing.T, s *impersonation)
		// What works afterwards.
		wantImp, wantAdminAccess, wantAdminRefresh error
	}{
		{name: "the impersonation, in its slot", signOut: func(t *testing.T, s *impersonation) {
			s.signOut(t, s.f.imp, twoSlots(s.admin.Access.Raw, s.imp.Raw))
		}, wantImp: guardian.ErrRevoked},
		{name: "the impersonation, in the default slot", signOut: func(t *testing.T, s *impersonation) {
			s.signOut(t, s.f.g, twoSlots(s.imp.Raw, ""))
		}, wantImp: guardian.ErrRevoked},
		{name: "the admin, next to the impersonation", signOut: func(t *testing.T, s *impersonation) {
			s.signOut(t, s.f.g, twoSlots(s.admin.Access.Raw, s.imp.Raw))
		}, wantImp: guardian.ErrRevoked, wantAdminAccess: guardian.ErrRevoked, wantAdminRefresh: guardian.ErrRevoked},
		{name: "the admin, alone", signOut: func(t *testing.T, s *impersonation) {
			s.signOut(t, s.f.g, twoSlots(s.admin.Access.Raw, ""))
		}, wantImp: guardian.ErrRevoked, wantAdminAccess: guardian.ErrRevoked, wantAdminRefresh: guardian.ErrRevoked},
		{name: "the admin, by RevokeFamily", signOut: func(t *testing.T, s *impersonation) {
			wantErr(t, s.f.issuer.RevokeFamily(ctx, s.admin.Access.Claims.Family))
		}, wantImp: guardian.ErrRevoked, wantAdminAccess: guardian.ErrRevoked, wantAdminRefresh: guardian.ErrRevoked},
		{name: "the admin's refresh token reused", signOut: func(t *testing.T, s *impersonation) {
			if _, err := s.f.issuer.Refresh(ctx, s.admin.Refresh.Raw, nil); err != nil {
				t.Fatal(err)
			}
			s.f.clock.Advance(time.Minute) // past the retry window
			_, err := s.f.issuer.Refresh(ctx, s.admin.Refresh.Raw, nil)
			wantTokenErr(t, err, guardian.ErrRevoked)
		}, wantImp: guardian.ErrRevoked, wantAdminAccess: guardian.ErrRevoked, wantAdminRefresh: guardian.ErrRevoked},
		{name: "the target's own logins", signOut: func(t *testing.T, s *impersonation) {
			own := s.f.signIn(t, members["u2"], nil)
			s.signOut(t, s.f.g, twoSlots(own.Access.Raw, ""))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newImpersonation(t)
			if got := s.status(s.admin.Access.Raw, s.imp.Raw); got != http.StatusNoContent {
				t.Fatalf("before: got status %d, want 204", got)
			}
			tt.signOut(t, s)
			wantTokenErr(t, s.f.verify(s.imp.Raw, guardian.AccessToken), tt.wantImp)
			wantTokenErr(t, s.f.verify(s.admin.Access.Raw, guardian.AccessToken), tt.wantAdminAccess)
			wantTokenErr(t, s.f.verify(s.admin.Refresh.Raw, guardian.RefreshToken), tt.wantAdminRefresh)

			// At once, at the middleware.
			wantStatus := func(err error) int {
				if err != nil {
					return http.StatusUnauthorized
				}
				return http.StatusNoContent
			}
			if got, want := s.asUser(s.imp.Raw), wantStatus(tt.wantImp); got != want {
				t.Errorf("impersonation in Authorization: got status %d, want %d", got, want)
			}
			if got, want := s.asUser(s.admin.Access.Raw), wantStatus(tt.wantAdminAccess); got != want {
				t.Errorf("admin alone: got status %d, want %d", got, want)
			}
			if got, want := s.status(s.admin.Access.Raw, s.imp.Raw), wantStatus(errors.Join(tt.wantImp, tt.wantAdminAccess)); got != want {
				t.Errorf("both slots: got status %d, want %d", got, want)
			}
			if tt.wantAdminRefresh == nil {
				// The admin's login goes on: its refresh token still turns.
				rec := httptest.NewRecorder()
				pair, err := s.f.g.Refresh(rec, refreshRequest(s.admin.Refresh.Raw))
				if err != nil {
					t.Fatalf("got the admin's Refresh %v (%d), want a new pair", err, rec.Code)
				}
				if got := s.asUser(pair.Access.Raw); got != http.StatusNoContent {
					t.Errorf("admin's refreshed token: got status %d, want 204", got)
				}
			}
		})
	}
	t.Run("the admin signs out with a refreshed token", func(t *testing.T) {
		s := newImpersonation(t)
		pair, err := s.f.g.Refresh(httptest.NewRecorder(), refreshRequest(s.admin.Refresh.Raw))
		if err != nil {
			t.Fatal(err)
		}
		if got := s.status(pair.Access.Raw, s.imp.Raw); got != http.StatusNoContent {
			t.Fatalf("after refresh: got status %d, want the impersonation to go on (204)", got)
		}
		s.signOut(t, s.f.g, twoSlots(pair.Access.Raw, ""))
		if got := s.asUser(s.imp.Raw); got != http.StatusUnauthorized {
			t.Errorf("impersonation after the admin's logout: got status %d, want 401", got)
		}
	})
}

func TestNotImpersonated(t *testing.T) {
	s := newImpersonation(t)
	own := s.f.signIn(t, members["u2"], nil)
	notImp, err := s.f.g.Require(guardian.NotImpersonated())
	if err != nil {
		t.Fatal(err)
	}
	h := chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }),
		s.f.g.Authenticated(), notImp)
	tests := []struct {
		name          string
		token         string
		wantStatus    int
		wantChallenge string
	}{
		{name: "the admin's own token", token: s.admin.Access.Raw, wantStatus: http.StatusNoContent},
		{name: "the user's own token", token: own.Access.Raw, wantStatus: http.StatusNoContent},
		{name: "impersonation token", token: s.imp.Raw, wantStatus: http.StatusForbidden,
			wantChallenge: `Bearer realm="api", error="insufficient_scope", error_description="insufficient scope"`},
		{name: "no token", wantStatus: http.StatusUnauthorized, wantChallenge: `Bearer realm="api"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(h, twoSlots(tt.token, ""))
			if rec.Code != tt.wantStatus {
				t.Fatalf("got status %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := wwwAuthenticate(rec); got != tt.wantChallenge {
				t.Errorf("got challenge %q, want %q", got, tt.wantChallenge)
			}
		})
	}
	var ce *guardian.ClaimError
	if err := guardian.NotImpersonated().Check(s.imp.Claims); !errors.As(err, &ce) || ce.Claim != "act" || !errors.Is(err, guardian.ErrInsufficientScope) {
		t.Errorf("got NotImpersonated().Check %v, want a *ClaimError for act matching ErrInsufficientScope", err)
	}
}

// TestImpersonateRefusesNested: an impersonation token cannot impersonate
// again, so a user impersonated by an admin cannot be used to reach anyone
// the user could, the admin's own account included.
func TestImpersonateRefusesNested(t *testing.T) {
	s := newImpersonation(t)
	for _, target := range []*member{{ID: "u3", Name: "Hedy"}, members["u1"]} {
		_, err := s.f.g.Impersonate(context.Background(), s.imp.Claims, target)
		wantErr(t, err, guardian.ErrInvalidArgument)
	}
}

// TestImpersonationSurvivesExchange: a token exchanged from an impersonation keeps
// act, so an impersonation cannot be laundered into a plain token of the
// user; and it stays in the admin's family.
func TestImpersonationSurvivesExchange(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		to   guardian.TokenType
		opts *guardian.SuccessorOptions
	}{
		{name: "access to access", to: guardian.AccessToken},
		{name: "with fresh custom claims", to: guardian.AccessToken, opts: &guardian.SuccessorOptions{
			Custom: func(context.Context, *guardian.Claims) (any, error) { return map[string]string{"name": "fresh"}, nil },
		}},
		{name: "with fresh permissions", to: guardian.AccessToken, opts: &guardian.SuccessorOptions{
			Permissions: func(context.Context, *guardian.Claims) ([]string, error) { return nil, nil },
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newImpersonation(t)
			next, err := s.f.issuer.Exchange(ctx, s.imp.Raw, []guardian.TokenType{guardian.AccessToken}, tt.to, tt.opts)
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			check := func(what string, c *guardian.Claims) {
				t.Helper()
				if c.Subject != "u2" || actorOf(c) != "u1" || c.Actor.Actor != nil {
					t.Errorf("%s: got sub %q act %+v, want u2 acted for by u1", what, c.Subject, c.Actor)
				}
				if c.Family != s.admin.Access.Claims.Family || !c.AuthTime.Equal(t0) {
					t.Errorf("%s: got fam %q auth_time %v, want the admin's", what, c.Family, c.AuthTime)
				}
			}
			check("exchanged", next.Claims)
			verified, err := s.f.issuer.Verify(ctx, next.Raw, tt.to)
			if err != nil {
				t.Fatalf("Verify(exchanged): %v", err)
			}
			check("exchanged, verified", verified)
			// Still the admin's login: their logout ends it.
			s.signOut(t, s.f.g, twoSlots(s.admin.Access.Raw, ""))
			wantTokenErr(t, s.f.verify(next.Raw, tt.to), guardian.ErrRevoked)
		})
	}
}

// TestImpersonationSurvivesRefresh: the successors of a refresh token that carries
// act (one an app issued with IssueOptions.Actor) carry it too.
func TestImpersonationSurvivesRefresh(t *testing.T) {
	ctx := context.Background()
	f := newAuthzFixture(t, nil)
	chainOf := &guardian.Actor{Subject: "u1", Actor: &guardian.Actor{Subject: "ops"}}
	tests := []struct {
		name    string
		refresh func(raw string) (guardian.TokenPair, error)
	}{
		{name: "Issuer.Refresh", refresh: func(raw string) (guardian.TokenPair, error) { return f.issuer.Refresh(ctx, raw, nil) }},
		{name: "Guardian.Refresh", refresh: func(raw string) (guardian.TokenPair, error) {
			return f.g.Refresh(httptest.NewRecorder(), refreshRequest(raw))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, err := f.issuer.Issue(ctx, "u2", &guardian.IssueOptions{Type: guardian.RefreshToken, Actor: chainOf})
			if err != nil {
				t.Fatal(err)
			}
			pair, err := tt.refresh(old.Raw)
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			for _, tok := range []guardian.Token{pair.Access, pair.Refresh} {
				c, err := f.issuer.Verify(ctx, tok.Raw, tok.Claims.Type)
				if err != nil {
					t.Fatalf("Verify(%s): %v", tok.Claims.Type, err)
				}
				if got, want := wireJSON(t, c.Actor), `{"sub":"u1","act":{"sub":"ops"}}`; got != want {
					t.Errorf("%s token: got act %s, want %s", tok.Claims.Type, got, want)
				}
			}
		})
	}
}

// TestImpersonationExchangeBounded: an exchange cannot stretch an
// impersonation past the admin's token, nor make it refreshable.
func TestImpersonationExchangeBounded(t *testing.T) {
	ctx := context.Background()
	s := newImpersonation(t)
	from := []guardian.TokenType{guardian.AccessToken}
	_, err := s.f.issuer.Exchange(ctx, s.imp.Raw, from, guardian.RefreshToken, nil)
	wantErr(t, err, guardian.ErrInvalidArgument)

	s.f.clock.Advance(s.imp.Claims.ExpiresAt.Sub(s.f.clock.Now()) - time.Minute)
	next, err := s.f.issuer.Exchange(ctx, s.imp.Raw, from, guardian.AccessToken, nil)
	if err != nil {
		t.Fatalf("Exchange a minute before the end: %v", err)
	}
	if got, want := next.Claims.ExpiresAt, s.imp.Claims.ExpiresAt; got.After(want) {
		t.Errorf("exchanged impersonation expires %v, after the impersonation's %v", got, want)
	}
}
