package frameworks_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/guardiantest"
)

type user struct{ ID, Name string }

var (
	alice = &user{ID: "u1", Name: "alice"}
	bob   = &user{ID: "u2", Name: "bob"}
)

// newGuardian returns a Guardian that knows alice and bob, with opts (nil
// for defaults).
func newGuardian(t *testing.T, opts *guardian.GuardianOptions[*user]) *guardian.Guardian[*user] {
	t.Helper()
	g, err := guardian.New(guardiantest.NewIssuer(t, nil),
		func(u *user) (string, error) { return u.ID, nil },
		func(_ context.Context, c *guardian.Claims) (*user, error) {
			for _, u := range []*user{alice, bob} {
				if u.ID == c.Subject {
					return u, nil
				}
			}
			return nil, guardian.ErrResourceNotFound
		}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// hits counts the requests that reached the handlers.
type hits int

// name returns the name of the request's user, "anonymous" without one.
func name(g *guardian.Guardian[*user], r *http.Request) string {
	if u, ok := g.CurrentResource(r.Context()); ok {
		return u.Name
	}
	return "anonymous"
}

// check is one request to a router and the answer it must get.
type check struct {
	name   string
	req    *http.Request
	status int
	body   string // "" for any
	reach  bool   // whether a handler must run
}

// run sends each check's request to h and compares the answer; count is
// the number of handler runs, which h's handlers increment.
func run(t *testing.T, h http.Handler, count *hits, checks []check) {
	t.Helper()
	for _, c := range checks {
		before := *count
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, c.req)
		if rec.Code != c.status || (c.body != "" && rec.Body.String() != c.body) {
			t.Errorf("%s: got %d %q, want %d %q", c.name, rec.Code, rec.Body, c.status, c.body)
		}
		if reached := *count != before; reached != c.reach {
			t.Errorf("%s: a handler ran: %t, want %t", c.name, reached, c.reach)
		}
		if c.status == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without a WWW-Authenticate challenge", c.name)
		}
	}
}

// anon is a request without a token.
func anon(method, target string) *http.Request { return httptest.NewRequest(method, target, nil) }

// as is a request with a fresh access token for u.
func as(t *testing.T, g *guardian.Guardian[*user], u *user, method, target string) *http.Request {
	return guardiantest.NewRequest(t, g, u, method, target, nil)
}
