package guardian_test

// Tests of the session life of a login: SignInWith, Guardian.Refresh and
// Issuer.Refresh carrying how the user authenticated and recomputing what
// they may do, and Reauthenticate's step-up in the same family.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
)

func TestSignInWithSetsAuthentication(t *testing.T) {
	tests := []struct {
		name      string
		opts      *guardian.SignInOptions
		wantACR   string
		wantAMR   []string
		wantScope []string
	}{
		{name: "nil options"},
		{name: "zero options", opts: &guardian.SignInOptions{}},
		{name: "mfa", opts: &guardian.SignInOptions{ACR: "mfa", AMR: []string{"pwd", "otp"}, Scope: []string{"read", "write"}},
			wantACR: "mfa", wantAMR: []string{"pwd", "otp"}, wantScope: []string{"read", "write"}},
		{name: "scope only", opts: &guardian.SignInOptions{Scope: []string{"read"}}, wantScope: []string{"read"}},
		{name: "hardware key", opts: &guardian.SignInOptions{ACR: "phr", AMR: []string{"hwk"}}, wantACR: "phr", wantAMR: []string{"hwk"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAuthzFixture(t, nil)
			w := httptest.NewRecorder()
			pair, r, err := f.g.SignInWith(w, httptest.NewRequest(http.MethodPost, "/login", nil), members["u1"], tt.opts)
			if err != nil {
				t.Fatalf("SignInWith: %v", err)
			}
			if got, want := w.Header().Get("Authorization"), "Bearer "+pair.Access.Raw; got != want {
				t.Errorf("got Authorization %q, want %q", got, want)
			}
			if c, ok := guardian.CurrentClaims(r.Context()); !ok || c.ID != pair.Access.Claims.ID {
				t.Errorf("got CurrentClaims %+v, %v; want the new access token's", c, ok)
			}
			for _, tok := range []guardian.Token{pair.Access, pair.Refresh} {
				verified, err := f.issuer.Verify(context.Background(), tok.Raw, tok.Claims.Type)
				if err != nil {
					t.Fatalf("Verify(%s): %v", tok.Claims.Type, err)
				}
				for name, c := range map[string]*guardian.Claims{"returned": tok.Claims, "verified": verified} {
					if c.ACR != tt.wantACR || !slices.Equal(c.AMR, tt.wantAMR) || !slices.Equal(c.Scope, tt.wantScope) {
						t.Errorf("%s %s: got acr %q amr %q scope %q, want %q %q %q", name, c.Type, c.ACR, c.AMR, c.Scope, tt.wantACR, tt.wantAMR, tt.wantScope)
					}
					if !c.AuthTime.Equal(t0) {
						t.Errorf("%s %s: got auth_time %v, want now %v", name, c.Type, c.AuthTime, t0)
					}
				}
			}
		})
	}
}

// TestSessionRefreshKeepsAuthentication: a refresh is no authentication:
// acr, amr, scope and auth_time go on unchanged.
func TestSessionRefreshKeepsAuthentication(t *testing.T) {
	f := newAuthzFixture(t, nil)
	login := f.signIn(t, members["u1"], &guardian.SignInOptions{ACR: "mfa", AMR: []string{"pwd", "otp"}, Scope: []string{"read"}})
	f.clock.Advance(20 * time.Minute)
	w := httptest.NewRecorder()
	pair, err := f.g.Refresh(w, refreshRequest(login.Refresh.Raw))
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	for _, c := range []*guardian.Claims{pair.Access.Claims, pair.Refresh.Claims} {
		if c.ACR != "mfa" || !slices.Equal(c.AMR, []string{"pwd", "otp"}) || !slices.Equal(c.Scope, []string{"read"}) {
			t.Errorf("%s: got acr %q amr %q scope %q, want the login's mfa [pwd otp] [read]", c.Type, c.ACR, c.AMR, c.Scope)
		}
		if !c.AuthTime.Equal(t0) {
			t.Errorf("%s: got auth_time %v, want the login's %v", c.Type, c.AuthTime, t0)
		}
		if got, want := c.IssuedAt, at(20*time.Minute); !got.Equal(want) {
			t.Errorf("%s: got iat %v, want %v", c.Type, got, want)
		}
		if c.Family != login.Access.Claims.Family {
			t.Errorf("%s: got fam %q, want the login's", c.Type, c.Family)
		}
	}
	if got := w.Header().Get("Authorization"); got != "Bearer "+pair.Access.Raw {
		t.Errorf("got Authorization %q, want the new access token", got)
	}
}

// TestSessionRefreshRecomputesPermissions: the permissions callback runs
// again on refresh, so a permission withdrawn since the login is gone.
func TestSessionRefreshRecomputesPermissions(t *testing.T) {
	tests := []struct {
		name    string
		now     []string // the user's grants at refresh time; nil: the callback returns nil
		want    []string // what the new tokens grant
		wantPem bool
	}{
		{name: "unchanged", now: []string{"admin.users_read", "admin.users_write", "admin.impersonate"},
			want: []string{"admin.users_read", "admin.users_write", "admin.impersonate"}, wantPem: true},
		{name: "one withdrawn", now: []string{"admin.users_read", "admin.impersonate"},
			want: []string{"admin.users_read", "admin.impersonate"}, wantPem: true},
		{name: "group changed", now: []string{"default.profile"}, want: []string{"default.profile"}, wantPem: true},
		{name: "all withdrawn", now: []string{}},
		{name: "callback returns nil", now: nil},
		{name: "whole group granted", now: []string{"admin.*"},
			want: []string{"admin.users_read", "admin.users_write", "admin.impersonate"}, wantPem: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAuthzFixture(t, nil)
			login := f.signIn(t, members["u1"], nil)
			if got, want := f.perms.Granted(login.Access.Claims), []string{"admin.users_read", "admin.users_write", "admin.impersonate"}; !slices.Equal(got, want) {
				t.Fatalf("login grants %q, want %q", got, want)
			}
			f.grants.set("u1", tt.now)
			f.clock.Advance(time.Minute)
			pair, err := f.g.Refresh(httptest.NewRecorder(), refreshRequest(login.Refresh.Raw))
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			for _, tok := range []guardian.Token{pair.Access, pair.Refresh} {
				c, err := f.issuer.Verify(context.Background(), tok.Raw, tok.Claims.Type)
				if err != nil {
					t.Fatalf("Verify(%s): %v", tok.Claims.Type, err)
				}
				if got := f.perms.Granted(c); !slices.Equal(got, tt.want) {
					t.Errorf("%s: got permissions %q, want %q", c.Type, got, tt.want)
				}
				if _, hasPem := payloadOf(t, tok.Raw)["pem"]; hasPem != tt.wantPem {
					t.Errorf("%s: got a pem claim %v, want %v", c.Type, hasPem, tt.wantPem)
				}
			}
			if got, want := f.perms.Has(pair.Access.Claims, "admin.users_write"), slices.Contains(tt.want, "admin.users_write"); got != want {
				t.Errorf("got Has(admin.users_write) %v, want %v", got, want)
			}
		})
	}
	t.Run("callback fails", func(t *testing.T) {
		f := newAuthzFixture(t, nil)
		login := f.signIn(t, members["u1"], nil)
		errStore := errors.New("permission store down")
		f.grants.fail(errStore)
		rec := httptest.NewRecorder()
		_, err := f.g.Refresh(rec, refreshRequest(login.Refresh.Raw))
		wantErr(t, err, errStore)
		if rec.Code != http.StatusInternalServerError {
			t.Errorf("got status %d, want 500", rec.Code)
		}
		if strings.Contains(rec.Body.String(), errStore.Error()) {
			t.Errorf("got body %q, want the cause kept from the client", rec.Body.String())
		}
		f.grants.fail(nil)
		if _, err := f.g.Refresh(httptest.NewRecorder(), refreshRequest(login.Refresh.Raw)); err != nil {
			t.Errorf("got the retry %v, want the refresh token still usable", err)
		}
	})
}

// TestSessionIssuerRefreshPermissions: Issuer.Refresh carries the old pem on
// unless SuccessorOptions.Permissions computes it afresh.
func TestSessionIssuerRefreshPermissions(t *testing.T) {
	all := []string{"admin.users_read", "admin.users_write", "admin.impersonate"}
	tests := []struct {
		name string
		opts *guardian.SuccessorOptions
		want []string
	}{
		{name: "nil options", want: all},
		{name: "custom claims only", opts: &guardian.SuccessorOptions{
			Custom: func(context.Context, *guardian.Claims) (any, error) { return map[string]string{"name": "Ada"}, nil },
		}, want: all},
		{name: "permissions afresh", opts: &guardian.SuccessorOptions{
			Permissions: func(context.Context, *guardian.Claims) ([]string, error) { return []string{"admin.users_read"}, nil },
		}, want: []string{"admin.users_read"}},
		{name: "permissions afresh: none", opts: &guardian.SuccessorOptions{
			Permissions: func(context.Context, *guardian.Claims) ([]string, error) { return []string{}, nil },
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAuthzFixture(t, nil)
			login := f.signIn(t, members["u1"], nil)
			f.grants.set("u1", nil) // Issuer.Refresh never asks the Guardian's callback
			pair, err := f.issuer.Refresh(context.Background(), login.Refresh.Raw, tt.opts)
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			for _, c := range []*guardian.Claims{pair.Access.Claims, pair.Refresh.Claims} {
				if got := f.perms.Granted(c); !slices.Equal(got, tt.want) {
					t.Errorf("%s: got permissions %q, want %q", c.Type, got, tt.want)
				}
			}
		})
	}
}

// reauthRequest is a later request carrying raw, verified in the default
// slot, on the fixture's Guardian.
func (f *authzFixture) reauthRequest(t *testing.T, raw string) *http.Request {
	t.Helper()
	var out *http.Request
	serve(f.g.Optional()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { out = r })), twoSlots(raw, ""))
	if out == nil {
		t.Fatal("Optional did not pass the request on")
	}
	return out
}

func TestReauthenticate(t *testing.T) {
	ctx := context.Background()
	f := newAuthzFixture(t, nil)
	login := f.signIn(t, members["u1"], &guardian.SignInOptions{AMR: []string{"pwd"}, Scope: []string{"read"}})
	f.clock.Advance(40 * time.Minute)
	// The access token has expired meanwhile; the app refreshed it.
	refreshed, err := f.g.Refresh(httptest.NewRecorder(), refreshRequest(login.Refresh.Raw))
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	reauthAt := at(41 * time.Minute)

	w := httptest.NewRecorder()
	pair, r, err := f.g.Reauthenticate(w, f.reauthRequest(t, refreshed.Access.Raw), members["u1"],
		&guardian.SignInOptions{ACR: "mfa", AMR: []string{"pwd", "otp"}, Scope: []string{"read"}})
	if err != nil {
		t.Fatalf("Reauthenticate: %v", err)
	}
	for _, c := range []*guardian.Claims{pair.Access.Claims, pair.Refresh.Claims} {
		if !c.AuthTime.Equal(reauthAt) || !c.IssuedAt.Equal(reauthAt) {
			t.Errorf("%s: got auth_time %v iat %v, want now %v", c.Type, c.AuthTime, c.IssuedAt, reauthAt)
		}
		if c.Family != login.Access.Claims.Family {
			t.Errorf("%s: got fam %q, want the login's %q", c.Type, c.Family, login.Access.Claims.Family)
		}
		if c.ACR != "mfa" || !slices.Equal(c.AMR, []string{"pwd", "otp"}) || !slices.Equal(c.Scope, []string{"read"}) {
			t.Errorf("%s: got acr %q amr %q scope %q, want mfa [pwd otp] [read]", c.Type, c.ACR, c.AMR, c.Scope)
		}
		if got, want := f.perms.Granted(c), []string{"admin.users_read", "admin.users_write", "admin.impersonate"}; !slices.Equal(got, want) {
			t.Errorf("%s: got permissions %q, want %q", c.Type, got, want)
		}
	}
	if pair.Access.Claims.ID == refreshed.Access.Claims.ID || pair.Refresh.Claims.ID == refreshed.Refresh.Claims.ID {
		t.Errorf("got the presented tokens back, want a new pair")
	}
	if got := w.Header().Get("Authorization"); got != "Bearer "+pair.Access.Raw {
		t.Errorf("got Authorization %q, want the new access token", got)
	}
	if c, ok := guardian.CurrentClaims(r.Context()); !ok || c.ID != pair.Access.Claims.ID {
		t.Errorf("got CurrentClaims %+v, %v; want the new access token's", c, ok)
	}
	if u, ok := f.g.CurrentResource(r.Context()); !ok || u.ID != "u1" {
		t.Errorf("got CurrentResource %+v, %v; want u1", u, ok)
	}

	// The tokens already out keep their auth_time, and MaxAge tells them apart.
	old, err := f.issuer.Verify(ctx, refreshed.Access.Raw)
	if err != nil {
		t.Fatalf("Verify(old access): %v", err)
	}
	if !old.AuthTime.Equal(t0) {
		t.Errorf("got the old token's auth_time %v, want the login's %v", old.AuthTime, t0)
	}
	fresh, err := f.issuer.Verify(ctx, pair.Access.Raw)
	if err != nil {
		t.Fatalf("Verify(new access): %v", err)
	}
	recent := guardian.MaxAge(5 * time.Minute)
	if err := recent.Check(fresh); err != nil {
		t.Errorf("got MaxAge(5m) on the new token %v, want nil", err)
	}
	if err := recent.Check(old); !errors.Is(err, guardian.ErrInsufficientUserAuthentication) {
		t.Errorf("got MaxAge(5m) on the old token %v, want ErrInsufficientUserAuthentication", err)
	}

	// One login: signing out with the new token ends the old tokens too.
	if err := f.g.SignOut(httptest.NewRecorder(), f.reauthRequest(t, pair.Access.Raw)); err != nil {
		t.Fatalf("SignOut: %v", err)
	}
	for name, tok := range map[string]guardian.Token{
		"old access": refreshed.Access, "old refresh": refreshed.Refresh, "new access": pair.Access, "new refresh": pair.Refresh,
	} {
		if err := f.verify(tok.Raw, tok.Claims.Type); !errors.Is(err, guardian.ErrRevoked) {
			t.Errorf("%s after the logout: got %v, want ErrRevoked", name, err)
		}
	}
}

// TestReauthenticateOldLogoutEndsNew: the other way round, signing out
// with the tokens from before the step-up ends the new ones.
func TestReauthenticateOldLogoutEndsNew(t *testing.T) {
	f := newAuthzFixture(t, nil)
	login := f.signIn(t, members["u1"], nil)
	f.clock.Advance(5 * time.Minute)
	pair, _, err := f.g.Reauthenticate(httptest.NewRecorder(), f.reauthRequest(t, login.Access.Raw), members["u1"], nil)
	if err != nil {
		t.Fatalf("Reauthenticate: %v", err)
	}
	if c := pair.Access.Claims; !c.AuthTime.Equal(at(5*time.Minute)) || c.ACR != "" || c.AMR != nil {
		t.Errorf("got auth_time %v acr %q amr %q with nil options, want now and none", c.AuthTime, c.ACR, c.AMR)
	}
	if err := f.g.SignOut(httptest.NewRecorder(), f.reauthRequest(t, login.Access.Raw)); err != nil {
		t.Fatalf("SignOut: %v", err)
	}
	wantTokenErr(t, f.verify(pair.Access.Raw, guardian.AccessToken), guardian.ErrRevoked)
	wantTokenErr(t, f.verify(pair.Refresh.Raw, guardian.RefreshToken), guardian.ErrRevoked)
}

func TestReauthenticateErrors(t *testing.T) {
	tests := []struct {
		name string
		// request returns the request Reauthenticate gets.
		request func(t *testing.T, f *authzFixture) *http.Request
		user    *member
		g       func(t *testing.T, f *authzFixture) *guardian.Guardian[*member] // nil: f.g
		want    []error
		wantAct bool // a *ClaimError for act
	}{
		{name: "no token", request: func(*testing.T, *authzFixture) *http.Request { return request() }, user: members["u1"], want: []error{guardian.ErrMissingToken}},
		{name: "bad token", request: func(t *testing.T, f *authzFixture) *http.Request { return f.reauthRequest(t, "x.y.z") },
			user: members["u1"], want: []error{guardian.ErrInvalidToken, guardian.ErrMalformedToken}},
		{name: "wrong user", request: func(t *testing.T, f *authzFixture) *http.Request {
			return f.reauthRequest(t, f.signIn(t, members["u1"], nil).Access.Raw)
		}, user: members["u2"], want: []error{guardian.ErrInvalidArgument}},
		{name: "impersonation token", request: func(t *testing.T, f *authzFixture) *http.Request {
			admin := f.signIn(t, members["u1"], nil)
			return f.reauthRequest(t, f.impersonate(t, admin.Access.Claims, members["u2"]).Raw)
		}, user: members["u2"], want: []error{guardian.ErrInsufficientScope}, wantAct: true},
		{name: "impersonation token, as the admin", request: func(t *testing.T, f *authzFixture) *http.Request {
			admin := f.signIn(t, members["u1"], nil)
			return f.reauthRequest(t, f.impersonate(t, admin.Access.Claims, members["u2"]).Raw)
		}, user: members["u1"], want: []error{guardian.ErrInsufficientScope}, wantAct: true},
		{name: "refresh token", request: func(t *testing.T, f *authzFixture) *http.Request {
			var out *http.Request
			h := f.g.VerifyHeader(&guardian.VerifyOptions{Types: []guardian.TokenType{guardian.RefreshToken}})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { out = r }))
			serve(h, twoSlots(f.signIn(t, members["u1"], nil).Refresh.Raw, ""))
			return out
		}, user: members["u1"], want: []error{guardian.ErrInvalidArgument}},
		{name: "token of another issuer", request: func(t *testing.T, f *authzFixture) *http.Request {
			other := newAuthzFixture(t, nil)
			return other.reauthRequest(t, other.signIn(t, members["u1"], nil).Access.Raw)
		}, user: members["u1"], want: []error{guardian.ErrInvalidArgument}},
		{name: "token only in another slot", request: func(t *testing.T, f *authzFixture) *http.Request {
			var out *http.Request
			serve(f.imp.Optional()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { out = r })),
				twoSlots("", f.signIn(t, members["u1"], nil).Access.Raw))
			return out
		}, user: members["u1"], want: []error{guardian.ErrMissingToken}},
		{name: "verify-only Guardian", request: func(t *testing.T, f *authzFixture) *http.Request {
			return f.reauthRequest(t, f.signIn(t, members["u1"], nil).Access.Raw)
		}, user: members["u1"], g: func(t *testing.T, f *authzFixture) *guardian.Guardian[*member] {
			g, err := guardian.New[*member](nil, nil, loadMember, &guardian.GuardianOptions[*member]{Verifier: f.issuer})
			if err != nil {
				t.Fatal(err)
			}
			return g
		}, want: []error{guardian.ErrConfig}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAuthzFixture(t, nil)
			g := f.g
			if tt.g != nil {
				g = tt.g(t, f)
			}
			r := tt.request(t, f)
			w := httptest.NewRecorder()
			pair, r2, err := g.Reauthenticate(w, r, tt.user, nil)
			wantErr(t, err, tt.want...)
			var ce *guardian.ClaimError
			if got := errors.As(err, &ce) && ce.Claim == "act"; got != tt.wantAct {
				t.Errorf("got error %v (a ClaimError for act: %v), want one: %v", err, got, tt.wantAct)
			}
			if pair.Access.Raw != "" || pair.Refresh.Raw != "" {
				t.Errorf("got tokens with the error, want none")
			}
			if r2 != r {
				t.Errorf("got another request with the error, want the one given")
			}
			if len(w.Header()) != 0 {
				t.Errorf("got headers %v with the error, want none", w.Header())
			}
		})
	}
}

// TestSessionGrantCallbacks: the claims and permissions callbacks run once for
// each pair issued, and their errors come back wrapped.
func TestSessionGrantCallbacks(t *testing.T) {
	errCallback := errors.New("user store down")
	signInOp := func(t *testing.T, f *authzFixture) error {
		_, _, err := f.g.SignIn(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/login", nil), members["u1"])
		return err
	}
	tests := []struct {
		name string
		// prepare runs before the counters are reset; it returns what op uses.
		prepare   func(t *testing.T, f *authzFixture) guardian.TokenPair
		op        func(t *testing.T, f *authzFixture, login guardian.TokenPair) error
		wantCalls int64 // of each callback
	}{
		{name: "SignIn", op: func(t *testing.T, f *authzFixture, _ guardian.TokenPair) error { return signInOp(t, f) }, wantCalls: 1},
		{name: "SignInWith", op: func(t *testing.T, f *authzFixture, _ guardian.TokenPair) error {
			_, _, err := f.g.SignInWith(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/login", nil), members["u1"], &guardian.SignInOptions{ACR: "mfa"})
			return err
		}, wantCalls: 1},
		{name: "Reauthenticate", op: func(t *testing.T, f *authzFixture, login guardian.TokenPair) error {
			_, _, err := f.g.Reauthenticate(httptest.NewRecorder(), f.reauthRequest(t, login.Access.Raw), members["u1"], nil)
			return err
		}, wantCalls: 1},
		{name: "Impersonate", op: func(t *testing.T, f *authzFixture, login guardian.TokenPair) error {
			_, err := f.g.Impersonate(context.Background(), login.Access.Claims, members["u2"])
			return err
		}, wantCalls: 1},
		{name: "Guardian.Refresh", op: func(t *testing.T, f *authzFixture, login guardian.TokenPair) error {
			_, err := f.g.Refresh(httptest.NewRecorder(), refreshRequest(login.Refresh.Raw))
			return err
		}, wantCalls: 1},
	}
	for _, tt := range tests {
		for _, failing := range []string{"", "claims", "permissions"} {
			name := tt.name
			if failing != "" {
				name += ", " + failing + " callback fails"
			}
			t.Run(name, func(t *testing.T) {
				f := newAuthzFixture(t, nil)
				login := f.signIn(t, members["u1"], nil)
				f.claimsCalls.Store(0)
				f.permsCalls.Store(0)
				switch failing {
				case "claims":
					f.claimsErr.Store(&errCallback)
				case "permissions":
					f.grants.fail(errCallback)
				}
				err := tt.op(t, f, login)
				if failing == "" {
					wantErr(t, err)
					if got := f.claimsCalls.Load(); got != tt.wantCalls {
						t.Errorf("got %d claims callback calls, want %d", got, tt.wantCalls)
					}
					if got := f.permsCalls.Load(); got != tt.wantCalls {
						t.Errorf("got %d permissions callback calls, want %d", got, tt.wantCalls)
					}
					return
				}
				wantErr(t, err, errCallback)
				if want := "guardian: " + failing + " for user: "; !strings.Contains(err.Error(), want) {
					t.Errorf("got error %q, want it wrapped as %q", err, want+errCallback.Error())
				}
				if failing == "claims" && f.permsCalls.Load() != 0 {
					t.Errorf("got the permissions callback called after the claims one failed, want not")
				}
			})
		}
	}
}
