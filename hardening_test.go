package guardian_test

// Tests of the hardening found by an adversarial review: each stops one
// attack or one way of losing a revocation.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/guardiantest"
)

// TestSubjectCutoffCoversLeeway: a token issued by a server whose clock runs
// ahead (its iat in our future, within the leeway) is revoked by a "log out
// everywhere" made in that gap. Before, it survived for its whole life.
func TestSubjectCutoffCoversLeeway(t *testing.T) {
	ctx := context.Background()
	store := guardian.NewMemoryRevoker(nil)
	defer store.Close()
	f := newFixture(t, &guardian.IssuerOptions{Revoker: store, Leeway: 30 * time.Second})
	ahead := newFixture(t, &guardian.IssuerOptions{Revoker: store, Leeway: 30 * time.Second})
	ahead.clock.Set(t0.Add(20 * time.Second)) // another instance, 20 s ahead
	tok := ahead.issue(t, "u1", nil)
	if _, err := f.issuer.Verify(ctx, tok.Raw); err != nil {
		t.Fatalf("a token from 20 s ahead, within the leeway: %v", err)
	}
	if err := f.issuer.RevokeSubject(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	for _, fx := range []*fixture{f, ahead} {
		_, err := fx.issuer.Verify(ctx, tok.Raw)
		wantTokenErr(t, err, guardian.ErrRevoked)
	}
	f.clock.Advance(time.Minute) // past the cut-off: new logins work again
	wantErr(t, func() error { _, err := f.issuer.Verify(ctx, f.issue(t, "u1", nil).Raw); return err }())
}

// TestIssueRefusesUnrevocableIDs: subjects and families that two different
// byte strings could spell, that a store cannot hold, or that are too long
// to index are refused when the token is issued, not found out at logout.
func TestIssueRefusesUnrevocableIDs(t *testing.T) {
	f := newFixture(t, &guardian.IssuerOptions{Revoker: guardian.NewMemoryRevoker(nil)})
	for _, tt := range []struct {
		name    string
		subject string
		opts    *guardian.IssueOptions
	}{
		{name: "invalid UTF-8 subject", subject: "user\xff"},
		{name: "NUL in the subject", subject: "user\x00admin"},
		{name: "subject over 1024 bytes", subject: strings.Repeat("u", guardian.MaxIDLength+1)},
		{name: "invalid UTF-8 family", subject: "u1", opts: &guardian.IssueOptions{Family: "fam\xc3"}},
		{name: "NUL in the family", subject: "u1", opts: &guardian.IssueOptions{Family: "fam\x00"}},
		{name: "family over 1024 bytes", subject: "u1", opts: &guardian.IssueOptions{Family: strings.Repeat("f", guardian.MaxIDLength+1)}},
		{name: "NUL in the type", subject: "u1", opts: &guardian.IssueOptions{Type: "access\x00"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := f.issuer.Issue(context.Background(), tt.subject, tt.opts)
			if !errors.Is(err, guardian.ErrInvalidID) || tok.Raw != "" {
				t.Fatalf("Issue = %q, %v; want an error wrapping ErrInvalidID", tok.Raw, err)
			}
		})
	}
	// The longest valid subject still works, end to end.
	long := strings.Repeat("é", guardian.MaxIDLength/2)
	tok := f.issue(t, long, nil)
	if err := f.issuer.RevokeSubject(context.Background(), long); err != nil {
		t.Fatal(err)
	}
	_, err := f.issuer.Verify(context.Background(), tok.Raw)
	wantTokenErr(t, err, guardian.ErrRevoked)
}

// TestInvalidRevocationIsNotAnOutage: a revocation the store refuses as
// invalid is the caller's mistake, reported as such, never as
// ErrUnavailable (a 503 that invites retrying forever).
func TestInvalidRevocationIsNotAnOutage(t *testing.T) {
	f := newFixture(t, &guardian.IssuerOptions{Revoker: guardian.NewMemoryRevoker(nil)})
	for name, err := range map[string]error{
		"RevokeSubject(invalid UTF-8)": f.issuer.RevokeSubject(context.Background(), "u\xff"),
		"RevokeFamily(NUL)":            f.issuer.RevokeFamily(context.Background(), "f\x00"),
		"RevokeSubject(empty)":         f.issuer.RevokeSubject(context.Background(), ""),
	} {
		if !errors.Is(err, guardian.ErrInvalidRevocation) || errors.Is(err, guardian.ErrUnavailable) {
			t.Errorf("%s = %v; want ErrInvalidRevocation and not ErrUnavailable", name, err)
		}
		if status, _ := guardian.ErrorStatus(err); status == http.StatusServiceUnavailable {
			t.Errorf("%s answers %d", name, status)
		}
	}
}

// TestRefreshIgnoresCaseVariantsOfClaims: a payload whose custom members
// are case variants of registered claims ("Sub", "EXP") must not set the
// successor's sub or exp (encoding/json matches names case-insensitively,
// so copying them would let "Sub" override "sub").
func TestRefreshIgnoresCaseVariantsOfClaims(t *testing.T) {
	f := newFixture(t, &guardian.IssuerOptions{Revoker: guardian.NewMemoryRevoker(nil)})
	raw := craft(testSecret, defaultHeader, payloadJSON(map[string]any{
		"typ": "refresh",
		"Sub": "admin", "EXP": t0.Add(1000 * 24 * time.Hour).Unix(), "Typ": "access",
	}))
	pair, err := f.issuer.Refresh(context.Background(), raw, nil)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	for _, tok := range []guardian.Token{pair.Access, pair.Refresh} {
		c, err := f.issuer.Verify(context.Background(), tok.Raw, tok.Claims.Type)
		if err != nil {
			t.Fatal(err)
		}
		if c.Subject != "u1" || c.ExpiresAt.After(t0.Add(guardian.DefaultFamilyLifetime)) {
			t.Errorf("successor sub %q exp %v: a case variant of a registered claim leaked into it", c.Subject, c.ExpiresAt)
		}
		p := payloadOf(t, tok.Raw)
		for _, name := range []string{"Sub", "EXP", "Typ"} {
			if _, ok := p[name]; ok {
				t.Errorf("successor payload carries %q: %v", name, p)
			}
		}
	}
}

// hungRevoker answers nothing until its ctx is done, like a frozen
// database behind a driver that honours deadlines.
type hungRevoker struct{}

func (hungRevoker) Revoke(ctx context.Context, _ guardian.Revocation) error {
	<-ctx.Done()
	return ctx.Err()
}

func (hungRevoker) Revoked(ctx context.Context, _ *guardian.Claims) (bool, error) {
	<-ctx.Done()
	return false, ctx.Err()
}

func (hungRevoker) Consume(ctx context.Context, _ guardian.Revocation) (bool, error) {
	<-ctx.Done()
	return false, ctx.Err()
}

// TestRevokerTimeout: a hung store costs a request the Revoker timeout,
// answered 503 with Retry-After, never a hang.
func TestRevokerTimeout(t *testing.T) {
	for _, tt := range []struct {
		name    string
		timeout time.Duration
		bound   time.Duration
	}{
		{name: "default", timeout: 0, bound: guardian.DefaultRevokerTimeout},
		{name: "configured", timeout: 50 * time.Millisecond, bound: 50 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gf := newTestGuardian(t, &guardian.IssuerOptions{Revoker: hungRevoker{}, RevokerTimeout: tt.timeout}, nil)
			tok := gf.token(t, "u1", nil)
			refresh := gf.token(t, "u1", &guardian.IssueOptions{Type: guardian.RefreshToken})
			ctx := context.Background()
			for name, call := range map[string]func() error{
				"Verify":        func() error { _, err := gf.issuer.Verify(ctx, tok); return err },
				"Revoke":        func() error { return gf.issuer.Revoke(ctx, tok) },
				"RevokeSubject": func() error { return gf.issuer.RevokeSubject(ctx, "u1") },
				"Refresh": func() error {
					_, err := gf.issuer.Refresh(ctx, refresh, nil)
					return err
				},
			} {
				start := time.Now()
				err := call()
				took := time.Since(start)
				if !errors.Is(err, guardian.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("%s with a hung store = %v, want ErrUnavailable wrapping context.DeadlineExceeded", name, err)
				}
				if took < tt.bound || took > tt.bound+time.Second {
					t.Errorf("%s took %v, want about %v", name, took, tt.bound)
				}
			}
			h := gf.g.VerifyHeader(nil)(gf.g.EnsureAuthenticated(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				t.Error("the handler ran although the store could not answer")
			})))
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
				t.Errorf("answer = %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
			}
		})
	}
	t.Run("negative: no bound", func(t *testing.T) {
		f := newFixture(t, &guardian.IssuerOptions{Revoker: hungRevoker{}, RevokerTimeout: -1})
		tok := f.issue(t, "u1", nil)
		ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := f.issuer.Verify(ctx, tok.Raw)
		if took := time.Since(start); took < 550*time.Millisecond || !errors.Is(err, guardian.ErrUnavailable) {
			t.Errorf("Verify without a bound returned after %v with %v; want the caller's 600 ms deadline", took, err)
		}
	})
}

// TestRouteTypesRuleAfterAnAppWideVerify: an app-wide VerifyHeader that
// accepts refresh tokens (for a refresh route) must not make an access-only
// route accept them: each route's Verify enforces its own types.
func TestRouteTypesRuleAfterAnAppWideVerify(t *testing.T) {
	gf := newTestGuardian(t, nil, nil)
	reached := false
	route := gf.g.VerifyHeader(nil)(gf.g.EnsureAuthenticated(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = true
	})))
	app := gf.g.VerifyHeader(&guardian.VerifyOptions{Types: []guardian.TokenType{guardian.AccessToken, guardian.RefreshToken}})(route)
	for _, tt := range []struct {
		name string
		typ  guardian.TokenType
		want int
	}{
		{name: "access token", typ: guardian.AccessToken, want: http.StatusOK},
		{name: "refresh token", typ: guardian.RefreshToken, want: http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reached = false
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Authorization", "Bearer "+gf.token(t, "u1", &guardian.IssueOptions{Type: tt.typ}))
			rec := httptest.NewRecorder()
			app.ServeHTTP(rec, req)
			if rec.Code != tt.want || reached != (tt.want == http.StatusOK) {
				t.Fatalf("status %d (handler reached: %v), want %d", rec.Code, reached, tt.want)
			}
			if tt.want != http.StatusOK && !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate = %q, want invalid_token", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

// refreshRequest is a refresh request with raw in its JSON body.
func refreshRequest(raw string) *http.Request {
	r := httptest.NewRequest("POST", "/refresh", strings.NewReader(`{"refresh_token":"`+raw+`"}`))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// TestGuardianRefreshReloadsTheUser: refresh goes through the user, so a
// deleted user gets 401 instead of 30 more days of tokens, and a role
// withdrawn since the login is gone from the new tokens.
func TestGuardianRefreshReloadsTheUser(t *testing.T) {
	roles := map[string]string{"u1": "admin", "u2": "admin"}
	aopts := &guardian.GuardianOptions[*member]{Claims: func(ctx context.Context, m *member) (any, error) {
		return map[string]string{"role": roles[m.ID]}, nil
	}}
	gf := newTestGuardian(t, &guardian.IssuerOptions{Revoker: guardian.NewMemoryRevoker(nil)}, aopts)
	refresh := guardiantest.Mint(t, gf.g, members["u1"]).Refresh.Raw
	roles["u1"] = "viewer" // withdrawn after login
	rec := httptest.NewRecorder()
	pair, err := gf.g.Refresh(rec, refreshRequest(refresh))
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []guardian.Token{pair.Access, pair.Refresh} {
		if got := roleOf(t, tok.Claims); got != "viewer" {
			t.Errorf("%s token after refresh has role %q, want the user's current viewer", tok.Claims.Type, got)
		}
	}
	if got := rec.Header().Get("Authorization"); got != "Bearer "+pair.Access.Raw {
		t.Errorf("Authorization = %q, want the new access token", got)
	}
	if rec.Header().Get("X-Expires") == "" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v, want X-Expires and Cache-Control: no-store", rec.Header())
	}

	gone := gf.token(t, "gone", &guardian.IssueOptions{Type: guardian.RefreshToken}) // no such member
	_, err = gf.g.Refresh(httptest.NewRecorder(), refreshRequest(gone))
	if !errors.Is(err, guardian.ErrResourceNotFound) {
		t.Fatalf("refresh for a deleted user = %v, want ErrResourceNotFound", err)
	}
	if status, _ := guardian.ErrorStatus(err); status != http.StatusUnauthorized {
		t.Errorf("refresh for a deleted user answers %d, want 401", status)
	}
	// Refused before consuming: the token is not spent by the refusal.
	if _, err := gf.issuer.Verify(context.Background(), gone, guardian.RefreshToken); err != nil {
		t.Errorf("the refused refresh token: %v", err)
	}
}
