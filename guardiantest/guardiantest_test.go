package guardiantest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/guardiantest"
	"github.com/guardian-go/guardian/internal/testclock"
)

type user struct{ ID string }

func newGuardian(t *testing.T, issuer *guardian.Issuer) *guardian.Guardian[*user] {
	t.Helper()
	g, err := guardian.New(issuer,
		func(u *user) (string, error) { return u.ID, nil },
		func(_ context.Context, c *guardian.Claims) (*user, error) { return &user{ID: c.Subject}, nil },
		nil)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// fakeTB records Fatalf instead of stopping the test.
type fakeTB struct {
	failed []string
}

func (*fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = append(f.failed, fmt.Sprintf(format, args...))
}

func TestNewIssuer(t *testing.T) {
	ctx := context.Background()
	clock := guardiantest.NewClock(testclock.Now().Truncate(time.Second))
	issuer := guardiantest.NewIssuer(t, &guardian.IssuerOptions{Issuer: "test", Clock: clock.Now})
	tok, err := issuer.Issue(ctx, "u1", nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := issuer.Verify(ctx, tok.Raw)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.Issuer != "test" || !c.IssuedAt.Equal(clock.Now()) {
		t.Errorf("claims %+v do not follow the options", c)
	}
	if k := issuer.Keys().SigningKey(); k.Algorithm() != guardian.HS256 || !k.CanSign() {
		t.Errorf("signing key %s, can sign %v", k.Algorithm(), k.CanSign())
	}
	// Each issuer has its own random key.
	other := guardiantest.NewIssuer(t, nil)
	if _, err := other.Verify(ctx, tok.Raw); !errors.Is(err, guardian.ErrInvalidSignature) {
		t.Errorf("another test issuer verified the token: %v", err)
	}
	if guardiantest.NewIssuer(t, nil) == nil {
		t.Error("NewIssuer(nil options) = nil")
	}
	fake := &fakeTB{}
	guardiantest.NewIssuer(fake, &guardian.IssuerOptions{Leeway: -time.Second})
	if len(fake.failed) == 0 {
		t.Error("NewIssuer with bad options did not fail the test")
	}
}

func TestMint(t *testing.T) {
	ctx := context.Background()
	issuer := guardiantest.NewIssuer(t, nil)
	g := newGuardian(t, issuer)
	pair := guardiantest.Mint(t, g, &user{ID: "u7"})
	c, err := issuer.Verify(ctx, pair.Access.Raw)
	if err != nil || c.Subject != "u7" || c.Type != guardian.AccessToken {
		t.Fatalf("minted access token: %+v, %v", c, err)
	}
	if c, err := issuer.Verify(ctx, pair.Refresh.Raw, guardian.RefreshToken); err != nil || c.Family != pair.Access.Claims.Family {
		t.Fatalf("minted refresh token: %+v, %v; want one of the same login", c, err)
	}
	type key struct{}
	var seen any
	g2, err := guardian.New(issuer,
		func(u *user) (string, error) { return u.ID, nil },
		func(_ context.Context, c *guardian.Claims) (*user, error) { return &user{ID: c.Subject}, nil },
		&guardian.GuardianOptions[*user]{Claims: func(ctx context.Context, u *user) (any, error) { seen = ctx.Value(key{}); return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	guardiantest.MintContext(t, context.WithValue(ctx, key{}, "v"), g2, &user{ID: "u7"})
	if seen != "v" {
		t.Errorf("the claims callback saw ctx value %v, want the MintContext one", seen)
	}
	fake := &fakeTB{}
	guardiantest.Mint(fake, g, &user{ID: ""})
	if len(fake.failed) == 0 {
		t.Error("Mint for a user without subject did not fail the test")
	}
}

// TestAuthorizeUsesTheScheme: a Guardian with its own scheme gets requests
// with that scheme (the kit used to write "Bearer" whatever the Guardian).
func TestAuthorizeUsesTheScheme(t *testing.T) {
	issuer := guardiantest.NewIssuer(t, nil)
	g, err := guardian.New(issuer,
		func(u *user) (string, error) { return u.ID, nil },
		func(_ context.Context, c *guardian.Claims) (*user, error) { return &user{ID: c.Subject}, nil },
		&guardian.GuardianOptions[*user]{Scheme: "Token"})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	g.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})).ServeHTTP(rec, guardiantest.NewRequest(t, g, &user{ID: "u1"}, "GET", "/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("a kit request to a Guardian with scheme Token: %d, want 200", rec.Code)
	}
}

func TestAuthorizeAndNewRequest(t *testing.T) {
	issuer := guardiantest.NewIssuer(t, nil)
	g := newGuardian(t, issuer)
	var seen string
	h := g.VerifyHeader(nil)(g.EnsureAuthenticated(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := guardian.CurrentClaims(r.Context())
		seen = c.Subject
	})))

	r := httptest.NewRequest(http.MethodGet, "/me", nil)
	guardiantest.Authorize(t, r, g, &user{ID: "u1"})
	if got := r.Header.Get("Authorization"); !strings.HasPrefix(got, "Bearer ") {
		t.Fatalf("Authorization = %q", got)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || seen != "u1" {
		t.Fatalf("Authorize: status %d, subject %q", w.Code, seen)
	}

	r = guardiantest.NewRequest(t, g, &user{ID: "u2"}, http.MethodPost, "/orders", strings.NewReader("{}"))
	if r.Method != http.MethodPost || r.URL.Path != "/orders" {
		t.Fatalf("NewRequest = %s %s", r.Method, r.URL)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || seen != "u2" {
		t.Fatalf("NewRequest: status %d, subject %q", w.Code, seen)
	}
}

func TestClock(t *testing.T) {
	start := testclock.Now()
	c := guardiantest.NewClock(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now = %v, want %v", got, start)
	}
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("the clock moved by itself: %v", got)
	}
	c.Advance(90 * time.Second)
	if got := c.Now(); !got.Equal(start.Add(90 * time.Second)) {
		t.Fatalf("after Advance: %v", got)
	}
	c.Set(start.Add(-time.Hour))
	if got := c.Now(); !got.Equal(start.Add(-time.Hour)) {
		t.Fatalf("after Set: %v", got)
	}

	// Expiry follows the clock.
	issuer := guardiantest.NewIssuer(t, &guardian.IssuerOptions{Clock: c.Now})
	tok, err := issuer.Issue(context.Background(), "u1", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Advance(guardian.DefaultAccessTTL)
	if _, err := issuer.Verify(context.Background(), tok.Raw); !errors.Is(err, guardian.ErrExpired) {
		t.Fatalf("after the TTL: %v, want ErrExpired", err)
	}

	// Safe for concurrent use (run with -race).
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Advance(time.Millisecond)
				c.Now()
			}
		})
	}
	wg.Wait()
}

// TestNewRevoker: logout through an issuer on a Clock works, and the
// revocation lives as long as the token on that Clock: it is forgotten
// once the Clock passes the token's life (plus twice the leeway and the
// refresh retry window).
func TestNewRevoker(t *testing.T) {
	ctx := context.Background()
	clock := guardiantest.NewClock(testclock.Now().Add(-3 * 365 * 24 * time.Hour)) // anywhere
	revoker := guardiantest.NewRevoker(clock)
	defer revoker.Close()
	issuer := guardiantest.NewIssuer(t, &guardian.IssuerOptions{Clock: clock.Now, Revoker: revoker, Leeway: time.Second})
	tok, err := issuer.Issue(ctx, "u1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := issuer.Revoke(ctx, tok.Raw); err != nil {
		t.Fatal(err)
	}
	if _, err := issuer.Verify(ctx, tok.Raw); !errors.Is(err, guardian.ErrRevoked) {
		t.Fatalf("Verify after Revoke = %v, want ErrRevoked", err)
	}
	clock.Advance(guardian.DefaultAccessTTL) // exp, within the leeway
	if _, err := issuer.Verify(ctx, tok.Raw); !errors.Is(err, guardian.ErrRevoked) {
		t.Fatalf("Verify at exp, within the leeway = %v, want ErrRevoked", err)
	}
	if revoker.Len() != 1 {
		t.Fatalf("Len() = %d, want the record kept", revoker.Len())
	}
	// Past exp plus twice the leeway, plus the refresh retry window (a
	// retry's copy of a token may expire that much later).
	clock.Advance(2*time.Second + guardian.DefaultRefreshRetryWindow + time.Second + time.Millisecond)
	revoker.Sweep()
	if revoker.Len() != 0 {
		t.Fatalf("Len() after the token's life on the clock = %d, want 0", revoker.Len())
	}
}

// TestMintWithStepUp mints tokens for routes with ACR and MaxAge
// requirements: MintWith sets acr, and advancing the issuer's clock ages
// the authentication until the route asks for a new one.
func TestMintWithStepUp(t *testing.T) {
	ctx := context.Background()
	clock := guardiantest.NewClock(testclock.Now().Truncate(time.Second))
	issuer := guardiantest.NewIssuer(t, &guardian.IssuerOptions{Clock: clock.Now, TTL: map[guardian.TokenType]time.Duration{guardian.AccessToken: time.Hour}})
	g := newGuardian(t, issuer)
	strong, err := g.Require(guardian.ACR("mfa"), guardian.MaxAge(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	h := g.Authenticated()(strong(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	status := func(pair guardian.TokenPair) int {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Bearer "+pair.Access.Raw)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	weak := guardiantest.MintWith(t, ctx, g, &user{ID: "u1"}, nil)
	mfa := guardiantest.MintWith(t, ctx, g, &user{ID: "u1"}, &guardian.SignInOptions{ACR: "mfa", AMR: []string{"pwd", "otp"}})
	if got := mfa.Access.Claims.ACR; got != "mfa" {
		t.Fatalf("acr %q, want mfa", got)
	}
	if got, want := status(weak), http.StatusUnauthorized; got != want {
		t.Errorf("token without acr: got %d, want %d", got, want)
	}
	if got, want := status(mfa), http.StatusOK; got != want {
		t.Errorf("fresh mfa token: got %d, want %d", got, want)
	}
	clock.Advance(5*time.Minute + time.Second)
	if got, want := status(mfa), http.StatusUnauthorized; got != want {
		t.Errorf("mfa token authenticated 5m1s ago: got %d, want %d", got, want)
	}
}
