package guardian_test

// Tests of Guardian.Slot: two identities on one request, each verified,
// loaded, ensured and required under its own name. The fixture below is
// shared with impersonate_test.go and session_test.go.

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/guardiantest"
)

// impHeader is the header of the impersonation slot.
const impHeader = "X-Impersonate"

// grantTable is the app's permission "database": what each member is
// granted now. Tests change it between a login and a refresh.
type grantTable struct {
	mu     sync.Mutex
	grants map[string][]string // member ID -> permissions; a nil entry: the callback returns nil
	err    error               // returned by the callback when set
}

func (gt *grantTable) set(id string, perms []string) {
	gt.mu.Lock()
	defer gt.mu.Unlock()
	gt.grants[id] = perms
}

func (gt *grantTable) fail(err error) {
	gt.mu.Lock()
	defer gt.mu.Unlock()
	gt.err = err
}

func (gt *grantTable) of(id string) ([]string, error) {
	gt.mu.Lock()
	defer gt.mu.Unlock()
	if gt.err != nil {
		return nil, gt.err
	}
	return slices.Clone(gt.grants[id]), nil
}

// authzFixture is a Guardian for members with a real revoker, a permission
// declaration, the claims and permissions callbacks (counted), all on a
// fake clock, and its impersonation slot.
type authzFixture struct {
	clock   *guardiantest.Clock
	revoker *guardian.MemoryRevoker
	issuer  *guardian.Issuer
	perms   *guardian.Permissions
	grants  *grantTable
	g       *guardian.Guardian[*member]
	imp     *guardian.Guardian[*member] // g.Slot("impersonated", impHeader)

	claimsCalls, permsCalls atomic.Int64
	claimsErr               atomic.Pointer[error] // returned by the claims callback when set
}

// authzPermissions is the fixture's declaration.
var authzPermissions = map[string][]string{
	"admin":   {"users_read", "users_write", "impersonate"},
	"default": {"profile"},
}

// newAuthzFixture builds the fixture. cookies may be nil.
func newAuthzFixture(tb testing.TB, cookies *guardian.CookieOptions) *authzFixture {
	tb.Helper()
	perms, err := guardian.NewPermissions(authzPermissions)
	if err != nil {
		tb.Fatalf("NewPermissions: %v", err)
	}
	f := &authzFixture{clock: guardiantest.NewClock(t0), perms: perms}
	f.revoker = guardiantest.NewRevoker(f.clock)
	f.grants = &grantTable{grants: map[string][]string{
		"u1": {"admin.users_read", "admin.users_write", "admin.impersonate"},
		"u2": {"default.profile"},
	}}
	keys := mustKeySet(tb, mustHMACKey(tb, testKID, guardian.HS256, randomSecret(tb)))
	f.issuer = mustIssuer(tb, keys, &guardian.IssuerOptions{Clock: f.clock.Now, Revoker: f.revoker, Permissions: perms})
	f.g, err = guardian.New(f.issuer, memberSubject, loadMember, &guardian.GuardianOptions[*member]{
		Cookies: cookies,
		Logger:  slog.New(slog.DiscardHandler), // keep 5xx causes out of the test output
		Claims: func(_ context.Context, m *member) (any, error) {
			f.claimsCalls.Add(1)
			if e := f.claimsErr.Load(); e != nil {
				return nil, *e
			}
			return map[string]string{"name": m.Name}, nil
		},
		Permissions: func(_ context.Context, m *member) ([]string, error) {
			f.permsCalls.Add(1)
			return f.grants.of(m.ID)
		},
	})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	if f.imp, err = f.g.Slot("impersonated", impHeader); err != nil {
		tb.Fatalf("Slot: %v", err)
	}
	return f
}

// signIn signs m in through the default slot.
func (f *authzFixture) signIn(tb testing.TB, m *member, opts *guardian.SignInOptions) guardian.TokenPair {
	tb.Helper()
	pair, _, err := f.g.SignInWith(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/login", nil), m, opts)
	if err != nil {
		tb.Fatalf("SignInWith(%s): %v", m.ID, err)
	}
	return pair
}

// impersonate has the holder of actor's claims impersonate target.
func (f *authzFixture) impersonate(tb testing.TB, actor *guardian.Claims, target *member) guardian.Token {
	tb.Helper()
	tok, err := f.g.Impersonate(context.Background(), actor, target)
	if err != nil {
		tb.Fatalf("Impersonate(%s as %s): %v", actor.Subject, target.ID, err)
	}
	return tok
}

// verify verifies raw, of type typ, with the fixture's issuer.
func (f *authzFixture) verify(raw string, typ guardian.TokenType) error {
	_, err := f.issuer.Verify(context.Background(), raw, typ)
	return err
}

// twoSlots returns a GET request with admin's token in Authorization and
// slot's in X-Impersonate; an empty string leaves its header out.
func twoSlots(admin, slot string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/admin/as-user", nil)
	if admin != "" {
		r.Header.Set("Authorization", "Bearer "+admin)
	}
	if slot != "" {
		r.Header.Set(impHeader, "Bearer "+slot)
	}
	return r
}

// twoViews is what a handler behind both slots saw.
type twoViews struct {
	reached             bool
	admin, user         *member
	adminOK, userOK     bool
	pkgClaims, impClaim *guardian.Claims
	gClaims             *guardian.Claims
	pkgToken, impToken  string
}

func (v *twoViews) handler(f *authzFixture) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		v.reached = true
		v.admin, v.adminOK = f.g.CurrentResource(ctx)
		v.user, v.userOK = f.imp.CurrentResource(ctx)
		v.pkgClaims, _ = guardian.CurrentClaims(ctx)
		v.gClaims, _ = f.g.CurrentClaims(ctx)
		v.impClaim, _ = f.imp.CurrentClaims(ctx)
		v.pkgToken, _ = guardian.CurrentToken(ctx)
		v.impToken, _ = f.imp.CurrentToken(ctx)
		w.WriteHeader(http.StatusNoContent)
	})
}

// wwwAuthenticate returns the challenge of a refusal.
func wwwAuthenticate(rec *httptest.ResponseRecorder) string {
	return rec.Header().Get("WWW-Authenticate")
}

func TestSlotTwoIdentities(t *testing.T) {
	f := newAuthzFixture(t, nil)
	admin := f.signIn(t, members["u1"], nil)
	impTok := f.impersonate(t, admin.Access.Claims, members["u2"])
	userOwn := f.signIn(t, members["u2"], nil) // u2's own login, presented in the slot
	gone := f.issue(t, "gone")

	tests := []struct {
		name       string
		admin      string // Authorization token
		slot       string // X-Impersonate token
		rawSlot    []string
		wantStatus int
		wantCode   string // "error" of the challenge; "" for none
		wantActor  string // act.sub of the slot's claims
	}{
		{name: "admin and impersonation", admin: admin.Access.Raw, slot: impTok.Raw, wantStatus: http.StatusNoContent, wantActor: "u1"},
		{name: "admin and the user's own token", admin: admin.Access.Raw, slot: userOwn.Access.Raw, wantStatus: http.StatusNoContent},
		{name: "bad token in the slot", admin: admin.Access.Raw, slot: "x.y.z", wantStatus: http.StatusUnauthorized, wantCode: "invalid_token"},
		{name: "refresh token in the slot", admin: admin.Access.Raw, slot: userOwn.Refresh.Raw, wantStatus: http.StatusUnauthorized, wantCode: "invalid_token"},
		{name: "slot user gone", admin: admin.Access.Raw, slot: gone, wantStatus: http.StatusUnauthorized, wantCode: "invalid_token"},
		{name: "no slot header", admin: admin.Access.Raw, wantStatus: http.StatusUnauthorized},
		{name: "another scheme in the slot header", admin: admin.Access.Raw, rawSlot: []string{"Basic dTI6cHc="}, wantStatus: http.StatusUnauthorized},
		{name: "repeated slot header", admin: admin.Access.Raw, rawSlot: []string{"Bearer " + impTok.Raw, "Bearer " + impTok.Raw}, wantStatus: http.StatusBadRequest, wantCode: "invalid_request"},
		{name: "slot token without the default one", slot: impTok.Raw, wantStatus: http.StatusUnauthorized},
		{name: "bad default token, good slot", admin: "x.y.z", slot: impTok.Raw, wantStatus: http.StatusUnauthorized, wantCode: "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v twoViews
			h := chain(v.handler(f), f.g.Authenticated(), f.imp.Authenticated())
			r := twoSlots(tt.admin, tt.slot)
			for _, h := range tt.rawSlot {
				r.Header.Add(impHeader, h)
			}
			rec := serve(h, r)
			if rec.Code != tt.wantStatus {
				t.Fatalf("got status %d, want %d (%s)", rec.Code, tt.wantStatus, wwwAuthenticate(rec))
			}
			if tt.wantStatus != http.StatusNoContent {
				if v.reached {
					t.Errorf("got the handler reached, want the request refused")
				}
				challenge := wwwAuthenticate(rec)
				if tt.wantStatus == http.StatusUnauthorized && !strings.HasPrefix(challenge, `Bearer realm="api"`) {
					t.Errorf("got challenge %q, want a Bearer challenge", challenge)
				}
				if got := strings.Contains(challenge, "error="); got != (tt.wantCode != "") {
					t.Errorf("got challenge %q, want error code %q", challenge, tt.wantCode)
				}
				if tt.wantCode != "" {
					if got := errorCode(t, rec); got != tt.wantCode {
						t.Errorf("got error %q, want %q", got, tt.wantCode)
					}
				}
				return
			}
			if !v.adminOK || v.admin.ID != "u1" {
				t.Errorf("got g.CurrentResource %+v, %v; want u1", v.admin, v.adminOK)
			}
			if !v.userOK || v.user.ID != "u2" {
				t.Errorf("got imp.CurrentResource %+v, %v; want u2", v.user, v.userOK)
			}
			if v.pkgClaims == nil || v.pkgClaims.Subject != "u1" || v.gClaims != v.pkgClaims {
				t.Errorf("got package CurrentClaims %+v (g's %+v), want the admin's", v.pkgClaims, v.gClaims)
			}
			if v.impClaim == nil || v.impClaim.Subject != "u2" {
				t.Fatalf("got imp.CurrentClaims %+v, want u2's", v.impClaim)
			}
			if got := actorOf(v.impClaim); got != tt.wantActor {
				t.Errorf("got slot act.sub %q, want %q", got, tt.wantActor)
			}
			if v.pkgToken != tt.admin || v.impToken != tt.slot {
				t.Errorf("got tokens (%.12s…, %.12s…), want the admin's in the default slot and the slot's in the slot", v.pkgToken, v.impToken)
			}
		})
	}
}

// actorOf returns act.sub of c, or "".
func actorOf(c *guardian.Claims) string {
	if c == nil || c.Actor == nil {
		return ""
	}
	return c.Actor.Subject
}

func TestSlotOptional(t *testing.T) {
	f := newAuthzFixture(t, nil)
	admin := f.signIn(t, members["u1"], nil)
	impTok := f.impersonate(t, admin.Access.Claims, members["u2"])
	tests := []struct {
		name       string
		slot       string
		wantUser   string
		wantReason error
	}{
		{name: "anonymous slot"},
		{name: "impersonation", slot: impTok.Raw, wantUser: "u2"},
		{name: "bad slot token", slot: "x.y.z", wantReason: guardian.ErrInvalidToken},
		{name: "slot user gone", slot: f.issue(t, "gone")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v twoViews
			var slotReason, pkgReason error
			h := chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				slotReason, pkgReason = f.imp.FailureReason(r.Context()), guardian.FailureReason(r.Context())
				v.handler(f).ServeHTTP(w, r)
			}), f.g.Authenticated(), f.imp.Optional())
			rec := serve(h, twoSlots(admin.Access.Raw, tt.slot))
			if rec.Code != http.StatusNoContent || !v.reached {
				t.Fatalf("got status %d, want the request through", rec.Code)
			}
			gotUser := ""
			if v.userOK {
				gotUser = v.user.ID
			}
			if gotUser != tt.wantUser {
				t.Errorf("got slot user %q, want %q", gotUser, tt.wantUser)
			}
			if tt.wantUser == "" && v.impClaim != nil && tt.wantReason != nil {
				t.Errorf("got slot claims %+v for a refused token, want none", v.impClaim)
			}
			if !v.adminOK || v.admin.ID != "u1" || v.pkgClaims.Subject != "u1" {
				t.Errorf("got default slot %+v / %+v, want the admin", v.admin, v.pkgClaims)
			}
			if tt.wantReason == nil && slotReason != nil || tt.wantReason != nil && !errors.Is(slotReason, tt.wantReason) {
				t.Errorf("got imp.FailureReason %v, want %v", slotReason, tt.wantReason)
			}
			if pkgReason != nil {
				t.Errorf("got package FailureReason %v, want nil: the default slot verified", pkgReason)
			}
		})
	}
}

func TestSlotRequire(t *testing.T) {
	f := newAuthzFixture(t, nil)
	admin := f.signIn(t, members["u1"], nil) // admin.* granted, no default.profile
	impTok := f.impersonate(t, admin.Access.Claims, members["u2"])
	userOwn := f.signIn(t, members["u2"], nil) // default.profile only

	must := func(mw func(http.Handler) http.Handler, err error) func(http.Handler) http.Handler {
		t.Helper()
		if err != nil {
			t.Fatalf("Require: %v", err)
		}
		return mw
	}
	tests := []struct {
		name       string
		require    func(http.Handler) http.Handler
		slot       string
		wantStatus int
		wantScope  string // scope of the challenge
	}{
		{name: "slot lacks the admin's permission", require: must(f.imp.Require(f.perms.All("admin.users_read"))), slot: impTok.Raw, wantStatus: http.StatusForbidden, wantScope: "admin.users_read"},
		{name: "default slot has the admin's permission", require: must(f.g.Require(f.perms.All("admin.users_read"))), slot: impTok.Raw, wantStatus: http.StatusNoContent},
		{name: "slot has the user's permission", require: must(f.imp.Require(f.perms.All("default.profile"))), slot: impTok.Raw, wantStatus: http.StatusNoContent},
		{name: "default slot lacks the user's permission", require: must(f.g.Require(f.perms.All("default.profile"))), slot: impTok.Raw, wantStatus: http.StatusForbidden, wantScope: "default.profile"},
		{name: "slot with any of two", require: must(f.imp.Require(f.perms.Any("admin.users_write", "default.profile"))), slot: userOwn.Access.Raw, wantStatus: http.StatusNoContent},
		{name: "slot impersonated", require: must(f.imp.Require(guardian.NotImpersonated())), slot: impTok.Raw, wantStatus: http.StatusForbidden},
		{name: "slot not impersonated", require: must(f.imp.Require(guardian.NotImpersonated())), slot: userOwn.Access.Raw, wantStatus: http.StatusNoContent},
		{name: "default slot not impersonated", require: must(f.g.Require(guardian.NotImpersonated())), slot: impTok.Raw, wantStatus: http.StatusNoContent},
		{name: "no slot token", require: must(f.imp.Require(f.perms.All("default.profile"))), wantStatus: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v twoViews
			h := chain(v.handler(f), f.g.Authenticated(), f.imp.Optional(), tt.require)
			rec := serve(h, twoSlots(admin.Access.Raw, tt.slot))
			if rec.Code != tt.wantStatus {
				t.Fatalf("got status %d, want %d (%s)", rec.Code, tt.wantStatus, wwwAuthenticate(rec))
			}
			if tt.wantScope != "" {
				if got, want := wwwAuthenticate(rec), `Bearer realm="api", error="insufficient_scope", scope="`+tt.wantScope+`"`; got != want {
					t.Errorf("got challenge %q, want %q", got, want)
				}
			}
		})
	}
}

func TestSlotConfig(t *testing.T) {
	f := newAuthzFixture(t, nil)
	tests := []struct {
		name, slot, header string
		wantErr            error
		wantHeader         string // header Authenticated reads, canonical
	}{
		{name: "good", slot: "impersonated", header: "X-Impersonate", wantHeader: "X-Impersonate"},
		{name: "header canonicalized", slot: "on-behalf", header: "x-on-behalf-of", wantHeader: "X-On-Behalf-Of"},
		{name: "empty name", slot: "", header: "X-Impersonate", wantErr: guardian.ErrConfig},
		{name: "name with a space", slot: "as user", header: "X-Impersonate", wantErr: guardian.ErrConfig},
		{name: "empty header", slot: "impersonated", header: "", wantErr: guardian.ErrConfig},
		{name: "header with a space", slot: "impersonated", header: "X Impersonate", wantErr: guardian.ErrConfig},
		{name: "header with a colon", slot: "impersonated", header: "X-Impersonate:", wantErr: guardian.ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := f.g.Slot(tt.slot, tt.header)
			if tt.wantErr != nil {
				wantErr(t, err, tt.wantErr)
				if s != nil {
					t.Errorf("got a Guardian %v with the error, want nil", s)
				}
				return
			}
			wantErr(t, err)
			if got := s.SlotName(); got != tt.slot {
				t.Errorf("got SlotName %q, want %q", got, tt.slot)
			}
			tok := f.signIn(t, members["u2"], nil).Access.Raw
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set(tt.wantHeader, "Bearer "+tok)
			var sub string
			rec := serve(s.Authenticated()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, _ := s.CurrentClaims(r.Context())
				sub = c.Subject
			})), r)
			if rec.Code != http.StatusOK || sub != "u2" {
				t.Errorf("got %d for %s, subject %q; want 200 for u2", rec.Code, tt.wantHeader, sub)
			}
		})
	}
}

// TestDefaultSlotUnchanged: making a slot changes nothing for g, and the
// slots do not read each other's headers or state.
func TestDefaultSlotUnchanged(t *testing.T) {
	f := newAuthzFixture(t, nil)
	admin := f.signIn(t, members["u1"], nil)
	impTok := f.impersonate(t, admin.Access.Claims, members["u2"])
	if got := f.g.SlotName(); got != "" {
		t.Errorf("got default SlotName %q, want empty", got)
	}
	tests := []struct {
		name         string
		mw           func(http.Handler) http.Handler
		admin, slot  string
		wantStatus   int
		wantDefault  string // subject seen by CurrentClaims, g.CurrentResource
		wantSlotUser string
	}{
		{name: "default slot reads Authorization", mw: f.g.Authenticated(), admin: admin.Access.Raw, wantStatus: http.StatusNoContent, wantDefault: "u1"},
		{name: "default slot ignores the slot header", mw: f.g.Authenticated(), slot: impTok.Raw, wantStatus: http.StatusUnauthorized},
		{name: "default Optional ignores the slot header", mw: f.g.Optional(), slot: impTok.Raw, wantStatus: http.StatusNoContent},
		{name: "slot ignores Authorization", mw: f.imp.Authenticated(), admin: admin.Access.Raw, wantStatus: http.StatusUnauthorized},
		{name: "slot Optional ignores Authorization", mw: f.imp.Optional(), admin: admin.Access.Raw, wantStatus: http.StatusNoContent},
		{name: "slot alone leaves the default slot empty", mw: f.imp.Authenticated(), slot: impTok.Raw, wantStatus: http.StatusNoContent, wantSlotUser: "u2"},
		{name: "default VerifyHeader chain", mw: func(h http.Handler) http.Handler {
			return chain(h, f.g.VerifyHeader(nil), f.g.LoadResource(nil), f.g.EnsureAuthenticated(nil))
		}, admin: admin.Access.Raw, slot: impTok.Raw, wantStatus: http.StatusNoContent, wantDefault: "u1"},
		{name: "slot VerifyHeader chain reads the slot header", mw: func(h http.Handler) http.Handler {
			return chain(h, f.imp.VerifyHeader(nil), f.imp.LoadResource(nil), f.imp.EnsureAuthenticated(nil))
		}, admin: admin.Access.Raw, slot: impTok.Raw, wantStatus: http.StatusNoContent, wantSlotUser: "u2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v twoViews
			rec := serve(tt.mw(v.handler(f)), twoSlots(tt.admin, tt.slot))
			if rec.Code != tt.wantStatus {
				t.Fatalf("got status %d, want %d", rec.Code, tt.wantStatus)
			}
			if !v.reached {
				return
			}
			gotDefault := ""
			if v.pkgClaims != nil {
				gotDefault = v.pkgClaims.Subject
			}
			if gotDefault != tt.wantDefault || v.adminOK != (tt.wantDefault != "") {
				t.Errorf("got default slot %q (resource %v), want %q", gotDefault, v.adminOK, tt.wantDefault)
			}
			gotSlot := ""
			if v.userOK {
				gotSlot = v.user.ID
			}
			if gotSlot != tt.wantSlotUser {
				t.Errorf("got slot user %q, want %q", gotSlot, tt.wantSlotUser)
			}
		})
	}
}

// TestSlotIgnoresCookies: the cookies hold the default slot's tokens; a
// slot reads its header only, and its SignOut leaves the cookies alone.
func TestSlotIgnoresCookies(t *testing.T) {
	f := newAuthzFixture(t, &guardian.CookieOptions{RefreshPath: "/refresh", TrustedOrigins: []string{"https://app.example"}})
	w := httptest.NewRecorder()
	if _, _, err := f.g.SignIn(w, httptest.NewRequest(http.MethodPost, "/login", nil), members["u2"]); err != nil {
		t.Fatal(err)
	}
	access := cookiesOf(w)["access_token"]
	if access == nil {
		t.Fatalf("got cookies %v, want an access_token cookie", cookiesOf(w))
	}
	withCookie := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: access.Name, Value: access.Value})
		return r
	}
	tests := []struct {
		name       string
		mw         func(http.Handler) http.Handler
		wantStatus int
		wantUser   bool
		user       func(context.Context) (*member, bool)
	}{
		{name: "default slot reads the cookie", mw: f.g.Authenticated(), wantStatus: http.StatusNoContent, wantUser: true, user: f.g.CurrentResource},
		{name: "slot Authenticated does not", mw: f.imp.Authenticated(), wantStatus: http.StatusUnauthorized, user: f.imp.CurrentResource},
		{name: "slot Optional does not", mw: f.imp.Optional(), wantStatus: http.StatusNoContent, user: f.imp.CurrentResource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotUser := false
			rec := serve(tt.mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, gotUser = tt.user(r.Context())
				w.WriteHeader(http.StatusNoContent)
			})), withCookie())
			if rec.Code != tt.wantStatus || gotUser != tt.wantUser {
				t.Errorf("got status %d, user %v; want %d, %v", rec.Code, gotUser, tt.wantStatus, tt.wantUser)
			}
		})
	}
	t.Run("slot SignOut clears no cookie", func(t *testing.T) {
		admin := f.signIn(t, members["u1"], nil)
		impTok := f.impersonate(t, admin.Access.Claims, members["u2"])
		r := twoSlots("", impTok.Raw)
		r.AddCookie(&http.Cookie{Name: access.Name, Value: access.Value})
		var signOutErr error
		rec := serve(chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			signOutErr = f.imp.SignOut(w, r)
		}), f.g.Authenticated(), f.imp.Authenticated()), r)
		wantErr(t, signOutErr)
		if got := rec.Result().Cookies(); len(got) != 0 {
			t.Errorf("got Set-Cookie %v, want none: the cookies are the default slot's", got)
		}
		if err := f.verify(access.Value, guardian.AccessToken); err != nil {
			t.Errorf("got the cookie's token refused (%v), want it untouched", err)
		}
	})
}

func TestSlotSignOut(t *testing.T) {
	tests := []struct {
		name string
		// slot returns the slot's token and, when it has one, the refresh
		// token of its own login.
		slot            func(t *testing.T, f *authzFixture, admin guardian.TokenPair) (access, refresh string)
		wantSlotRefresh error // what becomes of the slot login's refresh token
	}{
		{name: "impersonation token", slot: func(t *testing.T, f *authzFixture, admin guardian.TokenPair) (string, string) {
			return f.impersonate(t, admin.Access.Claims, members["u2"]).Raw, ""
		}},
		{name: "the user's own token", slot: func(t *testing.T, f *authzFixture, _ guardian.TokenPair) (string, string) {
			p := f.signIn(t, members["u2"], nil)
			return p.Access.Raw, p.Refresh.Raw
		}, wantSlotRefresh: guardian.ErrRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAuthzFixture(t, nil)
			admin := f.signIn(t, members["u1"], nil)
			slotAccess, slotRefresh := tt.slot(t, f, admin)
			var signOutErr error
			rec := serve(chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if signOutErr = f.imp.SignOut(w, r); signOutErr == nil {
					w.WriteHeader(http.StatusNoContent)
				}
			}), f.g.Authenticated(), f.imp.Authenticated()), twoSlots(admin.Access.Raw, slotAccess))
			wantErr(t, signOutErr)
			if rec.Code != http.StatusNoContent {
				t.Fatalf("got status %d, want 204", rec.Code)
			}
			wantTokenErr(t, f.verify(slotAccess, guardian.AccessToken), guardian.ErrRevoked)
			if slotRefresh != "" {
				wantTokenErr(t, f.verify(slotRefresh, guardian.RefreshToken), tt.wantSlotRefresh)
			}
			if err := f.verify(admin.Access.Raw, guardian.AccessToken); err != nil {
				t.Errorf("got the admin's access token refused (%v), want it valid", err)
			}
			if err := f.verify(admin.Refresh.Raw, guardian.RefreshToken); err != nil {
				t.Errorf("got the admin's refresh token refused (%v), want it valid", err)
			}
		})
	}
	t.Run("no slot token", func(t *testing.T) {
		f := newAuthzFixture(t, nil)
		admin := f.signIn(t, members["u1"], nil)
		var signOutErr error
		rec := serve(chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			signOutErr = f.imp.SignOut(w, r)
		}), f.g.Authenticated(), f.imp.Optional()), twoSlots(admin.Access.Raw, ""))
		wantErr(t, signOutErr, guardian.ErrMissingToken)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("got status %d, want 401", rec.Code)
		}
		if err := f.verify(admin.Access.Raw, guardian.AccessToken); err != nil {
			t.Errorf("got the admin's token refused (%v), want it untouched", err)
		}
	})
}

// issue issues a plain access token for sub (who need not exist).
func (f *authzFixture) issue(tb testing.TB, sub string) string {
	tb.Helper()
	tok, err := f.issuer.Issue(context.Background(), sub, nil)
	if err != nil {
		tb.Fatalf("Issue(%s): %v", sub, err)
	}
	return tok.Raw
}

// at is t0 plus d, for the fixture's clock.
func at(d time.Duration) time.Time { return t0.Add(d) }

// TestSlotViewsShareState: slots match by name, so a view made by another
// Slot call with the same name reads the state another one's middleware
// put on the request, and a slot of another name does not.
func TestSlotViewsShareState(t *testing.T) {
	f := newAuthzFixture(t, nil)
	admin := f.signIn(t, members["u1"], nil)
	impTok := f.impersonate(t, admin.Access.Claims, members["u2"])
	tests := []struct {
		name, slot, header string
		wantUser           string
	}{
		{name: "same name and header", slot: "impersonated", header: impHeader, wantUser: "u2"},
		{name: "same name, another header", slot: "impersonated", header: "X-Other", wantUser: "u2"},
		{name: "another name", slot: "other", header: impHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			view, err := f.g.Slot(tt.slot, tt.header)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			var ensured bool
			h := f.imp.Authenticated()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if u, ok := view.CurrentResource(r.Context()); ok {
					got = u.ID
				}
				view.EnsureAuthenticated(nil)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ensured = true })).ServeHTTP(w, r)
			}))
			serve(h, twoSlots("", impTok.Raw))
			if got != tt.wantUser || ensured != (tt.wantUser != "") {
				t.Errorf("got user %q (ensured %v) through the %q view, want %q", got, ensured, tt.slot, tt.wantUser)
			}
		})
	}
}
