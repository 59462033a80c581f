// Package guardiantest helps apps test code that sits behind guardian's
// middleware: build an issuer with a throwaway key, mint tokens for users,
// attach them to requests, and control the clock.
//
//	func TestProfile(t *testing.T) {
//		g := newGuardian(guardiantest.NewIssuer(t, nil)) // the app's own constructor
//		req := guardiantest.NewRequest(t, g, alice, http.MethodGet, "/api/me", nil)
//		rec := httptest.NewRecorder()
//		app.ServeHTTP(rec, req)
//		// ...
//	}
package guardiantest

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/guardian-go/guardian"
)

// TB is the part of testing.TB the kit uses; *testing.T, *testing.B and
// *testing.F satisfy it.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// NewIssuer returns an Issuer that signs with a random HS256 key made for
// this test. opts may be nil.
func NewIssuer(tb TB, opts *guardian.IssuerOptions) *guardian.Issuer {
	tb.Helper()
	secret := make([]byte, 32)
	rand.Read(secret)
	key, err := guardian.NewHMACKey("test", guardian.HS256, secret)
	if err != nil {
		tb.Fatalf("guardiantest: %v", err)
	}
	keys, err := guardian.NewKeySet(key)
	if err != nil {
		tb.Fatalf("guardiantest: %v", err)
	}
	issuer, err := guardian.NewIssuer(keys, opts)
	if err != nil {
		tb.Fatalf("guardiantest: %v", err)
	}
	return issuer
}

// Mint signs user in through g, as a login would, and returns the access
// and refresh tokens (the Guardian's claims callback included). It fails
// the test on error.
func Mint[U any](tb TB, g *guardian.Guardian[U], user U) guardian.TokenPair {
	tb.Helper()
	return MintContext(tb, context.Background(), g, user)
}

// MintContext is Mint with a context, for callbacks that read it.
func MintContext[U any](tb TB, ctx context.Context, g *guardian.Guardian[U], user U) guardian.TokenPair {
	tb.Helper()
	return MintWith(tb, ctx, g, user, nil)
}

// MintWith is MintContext with the settings of a sign-in (acr, amr,
// scopes; see guardian.SignInOptions), for routes with ACR or scope
// requirements. Permissions come from the Guardian's Permissions
// callback, as at a real login; for a MaxAge route, advance the issuer's
// Clock past the age to get a token whose authentication is too old.
func MintWith[U any](tb TB, ctx context.Context, g *guardian.Guardian[U], user U, opts *guardian.SignInOptions) guardian.TokenPair {
	tb.Helper()
	pair, _, err := g.SignInWith(httptest.NewRecorder(), httptest.NewRequestWithContext(ctx, http.MethodPost, "/", nil), user, opts)
	if err != nil {
		tb.Fatalf("guardiantest: mint tokens: %v", err)
	}
	return pair
}

// Authorize sets the Authorization header of r as the Guardian's clients
// send it ("<scheme> <access token>", the Guardian's scheme), with a fresh
// token for user.
func Authorize[U any](tb TB, r *http.Request, g *guardian.Guardian[U], user U) {
	tb.Helper()
	w := httptest.NewRecorder()
	if _, _, err := g.SignIn(w, httptest.NewRequestWithContext(r.Context(), http.MethodPost, "/", nil), user); err != nil {
		tb.Fatalf("guardiantest: mint tokens: %v", err)
	}
	r.Header.Set("Authorization", w.Header().Get("Authorization"))
}

// NewRequest returns an httptest request carrying a fresh access token for
// user.
func NewRequest[U any](tb TB, g *guardian.Guardian[U], user U, method, target string, body io.Reader) *http.Request {
	tb.Helper()
	return NewRequestWithContext(tb, context.Background(), g, user, method, target, body)
}

// NewRequestWithContext is NewRequest with a context.
func NewRequestWithContext[U any](tb TB, ctx context.Context, g *guardian.Guardian[U], user U, method, target string, body io.Reader) *http.Request {
	tb.Helper()
	r := httptest.NewRequestWithContext(ctx, method, target, body)
	Authorize(tb, r, g, user)
	return r
}

// NewRevoker returns a MemoryRevoker that measures how long it holds
// records on clock, for an issuer on the same clock: advancing the clock
// past a token's life then also expires its revocation, as real time
// would. (A revoker on the wall clock next to an issuer on a Clock is
// correct too, since records count elapsed time, but it does not follow the
// Clock's jumps.) A nil clock means the wall clock.
func NewRevoker(clock *Clock) *guardian.MemoryRevoker {
	var opts *guardian.MemoryRevokerOptions
	if clock != nil {
		opts = &guardian.MemoryRevokerOptions{Clock: clock.Now}
	}
	return guardian.NewMemoryRevoker(opts)
}

// Clock is a settable clock for Options.Clock and friends. It is safe for
// concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time; pass the method value as Options.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
