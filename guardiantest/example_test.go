package guardiantest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/guardiantest"
)

type account struct{ ID string }

// ExampleNewRequest tests a protected handler of an app the way a client
// reaches it: the kit signs the user in through the app's own Guardian (its
// scheme, its claims callback) and attaches the token. The Clock moves time
// past the token's life, and the revoker on the same clock makes logout
// testable too.
func ExampleNewRequest() {
	clock := guardiantest.NewClock(time.Now())
	issuer := guardiantest.NewIssuer(exampleT{}, &guardian.IssuerOptions{Clock: clock.Now, Revoker: guardiantest.NewRevoker(clock)})
	g, _ := guardian.New(issuer,
		func(a *account) (string, error) { return a.ID, nil },
		func(_ context.Context, c *guardian.Claims) (*account, error) { return &account{ID: c.Subject}, nil },
		&guardian.GuardianOptions[*account]{Scheme: "Token"})
	app := g.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, _ := g.CurrentResource(r.Context())
		fmt.Fprint(w, "hello ", a.ID)
	}))

	req := guardiantest.NewRequest(exampleT{}, g, &account{ID: "a1"}, "GET", "/me", nil)
	rec := httptest.NewRecorder()
	app.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Body.String())

	clock.Advance(time.Hour) // past the access token's 15 minutes
	rec = httptest.NewRecorder()
	app.ServeHTTP(rec, req)
	fmt.Println(rec.Code)
	// Output:
	// 200 hello a1
	// 401
}

// exampleT stands in for the *testing.T a real test passes.
type exampleT struct{}

func (exampleT) Helper()                           {}
func (exampleT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
