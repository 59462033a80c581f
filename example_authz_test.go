package guardian_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/guardiantest"
)

// ExampleNewPermissions declares permission groups, issues a token that
// grants some of them, and reads them back. The pem claim is Elixir
// Guardian's: a group's value is the bitwise OR of its permissions'
// (1<<i for the permission at index i), and -1 grants the whole group.
func ExampleNewPermissions() {
	perms, err := guardian.NewPermissions(map[string][]string{
		"admin":   {"users_read", "users_write", "financials_read"},
		"default": {"read_profile", "write_profile"},
	})
	if err != nil {
		panic(err)
	}
	key, _ := guardian.NewHMACKey("k1", guardian.HS256, []byte("an example secret of 32 bytes!!!"))
	keys, _ := guardian.NewKeySet(key)
	clock := guardiantest.NewClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)) // a fixed clock, for the example
	issuer, err := guardian.NewIssuer(keys, &guardian.IssuerOptions{Clock: clock.Now, Permissions: perms})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	tok, err := issuer.Issue(ctx, "u1", &guardian.IssueOptions{
		Permissions: []string{"admin.users_read", "admin.financials_read", "default.*"},
	})
	if err != nil {
		panic(err)
	}

	// On the wire.
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok.Raw, ".")[1])
	var wire struct {
		Pem json.RawMessage `json:"pem"`
	}
	_ = json.Unmarshal(payload, &wire)
	fmt.Println("pem:", string(wire.Pem))

	// Read back from a verified token.
	c, err := issuer.Verify(ctx, tok.Raw)
	if err != nil {
		panic(err)
	}
	fmt.Println("granted:", perms.Granted(c))
	fmt.Println("admin.users_write:", perms.Has(c, "admin.users_write"))
	fmt.Println("all of users_read, financials_read:", perms.All("admin.users_read", "admin.financials_read").Check(c) == nil)
	// Output:
	// pem: {"admin":5,"default":-1}
	// granted: [admin.users_read admin.financials_read default.read_profile default.write_profile]
	// admin.users_write: false
	// all of users_read, financials_read: true
}

// ExampleGuardian_Require protects a route with a permission. The
// Guardian's Permissions callback decides what each user's tokens grant,
// at sign-in and again at every refresh; the route refuses a valid token
// without the permission with 403 insufficient_scope, naming what it needs.
func ExampleGuardian_Require() {
	type staff struct {
		ID    string
		Perms []string
	}
	people := map[string]*staff{
		"u1": {ID: "u1", Perms: []string{"admin.users_read"}},
		"u2": {ID: "u2", Perms: []string{"default.profile"}},
	}
	perms, err := guardian.NewPermissions(map[string][]string{
		"admin":   {"users_read", "users_write"},
		"default": {"profile"},
	})
	if err != nil {
		panic(err)
	}
	key, _ := guardian.NewHMACKey("k1", guardian.HS256, []byte("an example secret of 32 bytes!!!"))
	keys, _ := guardian.NewKeySet(key)
	clock := guardiantest.NewClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)) // a fixed clock, for the example
	issuer, err := guardian.NewIssuer(keys, &guardian.IssuerOptions{Clock: clock.Now, Permissions: perms})
	if err != nil {
		panic(err)
	}
	g, err := guardian.New(issuer,
		func(s *staff) (string, error) { return s.ID, nil },
		func(_ context.Context, c *guardian.Claims) (*staff, error) {
			if s, ok := people[c.Subject]; ok {
				return s, nil
			}
			return nil, guardian.ErrResourceNotFound
		},
		&guardian.GuardianOptions[*staff]{
			Permissions: func(_ context.Context, s *staff) ([]string, error) { return s.Perms, nil },
		})
	if err != nil {
		panic(err)
	}

	// Built once, at start-up: a bad requirement is an error here.
	canReadUsers, err := g.Require(perms.All("admin.users_read"))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /admin/users", g.Authenticated()(canReadUsers(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			s, _ := g.CurrentResource(r.Context())
			fmt.Fprintf(w, "the user list, for %s", s.ID)
		}))))

	for _, id := range []string{"u1", "u2"} {
		pair, _, err := g.SignIn(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/login", nil), people[id])
		if err != nil {
			panic(err)
		}
		r := httptest.NewRequest(http.MethodGet, "/admin/users", nil)
		r.Header.Set("Authorization", "Bearer "+pair.Access.Raw)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Println(id, w.Code, strings.TrimSpace(w.Body.String()))
		if c := w.Header().Get("WWW-Authenticate"); c != "" {
			fmt.Println("  WWW-Authenticate:", c)
		}
	}
	// Output:
	// u1 200 the user list, for u1
	// u2 403 {"error":"insufficient_scope","error_description":"insufficient scope"}
	//   WWW-Authenticate: Bearer realm="api", error="insufficient_scope", scope="admin.users_read"
}

// ExampleMaxAge asks for a recent authentication before a sensitive
// action (RFC 9470 step-up). Ten minutes after sign-in, the route answers
// 401 insufficient_user_authentication with max_age; the client has the
// user authenticate again (here, Reauthenticate after checking their
// password), and the new token, of the same login, passes.
func ExampleMaxAge() {
	type person struct{ ID string }
	alice := &person{ID: "u1"}
	key, _ := guardian.NewHMACKey("k1", guardian.HS256, []byte("an example secret of 32 bytes!!!"))
	keys, _ := guardian.NewKeySet(key)
	clock := guardiantest.NewClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)) // a fake clock, to let time pass
	issuer, err := guardian.NewIssuer(keys, &guardian.IssuerOptions{Clock: clock.Now, Revoker: guardiantest.NewRevoker(clock)})
	if err != nil {
		panic(err)
	}
	g, err := guardian.New(issuer,
		func(p *person) (string, error) { return p.ID, nil },
		func(_ context.Context, c *guardian.Claims) (*person, error) { return alice, nil }, nil)
	if err != nil {
		panic(err)
	}

	recent, err := g.Require(guardian.MaxAge(5 * time.Minute))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /account/email", g.Authenticated()(recent(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "email changed") }))))
	mux.Handle("POST /reauthenticate", g.Authenticated()(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			// ... check the password (or a second factor) first ...
			if _, _, err := g.Reauthenticate(w, r, alice, nil); err != nil {
				return // answered already
			}
			w.WriteHeader(http.StatusNoContent)
		})))
	call := func(path, token string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, nil)
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}

	pair, _, err := g.SignIn(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/login", nil), alice)
	if err != nil {
		panic(err)
	}
	w := call("/account/email", pair.Access.Raw)
	fmt.Println("just signed in:", w.Code, w.Body.String())

	clock.Advance(10 * time.Minute)
	w = call("/account/email", pair.Access.Raw)
	fmt.Println("ten minutes later:", w.Code)
	fmt.Println(w.Header().Get("WWW-Authenticate"))

	w = call("/reauthenticate", pair.Access.Raw)
	fresh := strings.TrimPrefix(w.Header().Get("Authorization"), "Bearer ")
	w = call("/account/email", fresh)
	fmt.Println("after reauthenticating:", w.Code, w.Body.String())
	// Output:
	// just signed in: 200 email changed
	// ten minutes later: 401
	// Bearer realm="api", error="insufficient_user_authentication", error_description="a more recent authentication is required", max_age="300"
	// after reauthenticating: 200 email changed
}
