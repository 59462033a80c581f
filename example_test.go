package guardian_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/guardiantest"
)

// User is the app's own user type; Guardian is generic over it.
type User struct {
	ID, Email, PasswordHash string
}

// users stands in for the app's database.
var users = map[string]*User{}

// newGuardian wires the library the way an app does once at start-up: a
// key set, an issuer with a revoker, and the two callbacks that turn users
// into subjects and back.
func newGuardian(revoker guardian.Revoker) *guardian.Guardian[*User] {
	key, err := guardian.NewHMACKey("2026-11", guardian.HS256, []byte("an example secret of 32 bytes!!!"))
	if err != nil {
		panic(err)
	}
	keys, err := guardian.NewKeySet(key)
	if err != nil {
		panic(err)
	}
	issuer, err := guardian.NewIssuer(keys, &guardian.IssuerOptions{
		Issuer:   "https://api.example.com",
		Audience: []string{"example-app"},
		Revoker:  revoker,
	})
	if err != nil {
		panic(err)
	}
	g, err := guardian.New(issuer,
		func(u *User) (string, error) { return u.ID, nil },
		func(ctx context.Context, c *guardian.Claims) (*User, error) {
			for _, u := range users {
				if u.ID == c.Subject {
					return u, nil
				}
			}
			return nil, guardian.ErrResourceNotFound
		}, nil)
	if err != nil {
		panic(err)
	}
	return g
}

// Example tells the whole story: login with SignIn, the middleware chain in
// front of a protected handler that reads CurrentResource, and logout with
// SignOut, after which the same token is refused.
//
// The chain order matters: VerifyHeader finds and verifies the token,
// LoadResource turns its claims into the user, EnsureAuthenticated refuses
// what has no valid token. Login sits behind EnsureNotAuthenticated.
func Example() {
	passwords := guardian.Passwords{Cost: 4} // use the default (12) in production
	hash, _ := passwords.Hash("correct horse battery staple")
	users["alice@example.com"] = &User{ID: "u1", Email: "alice@example.com", PasswordHash: hash}

	g := newGuardian(guardian.NewMemoryRevoker(nil))
	protect := func(h http.HandlerFunc) http.Handler {
		return g.VerifyHeader(nil)(g.LoadResource(nil)(g.EnsureAuthenticated(nil)(h)))
	}

	mux := http.NewServeMux()
	mux.Handle("POST /login", g.VerifyHeader(nil)(g.EnsureNotAuthenticated(nil)(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			var in struct{ Email, Password string }
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
				http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
				return
			}
			u := users[in.Email]
			stored := ""
			if u != nil {
				stored = u.PasswordHash
			}
			// Check spends the same time for unknown users and wrong passwords.
			if err := passwords.Check(stored, in.Password); err != nil {
				http.Error(w, `{"error":"invalid_credentials"}`, http.StatusUnauthorized)
				return
			}
			pair, _, err := g.SignIn(w, r, u)
			if err != nil {
				http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"token": pair.Access.Raw, "refresh_token": pair.Refresh.Raw, "exp": pair.Access.Claims.ExpiresAt.Unix()})
		}))))
	mux.Handle("GET /me", protect(func(w http.ResponseWriter, r *http.Request) {
		u, _ := g.CurrentResource(r.Context())
		fmt.Fprintf(w, "hello %s", u.Email)
	}))
	mux.Handle("POST /logout", protect(func(w http.ResponseWriter, r *http.Request) {
		if err := g.SignOut(w, r); err != nil {
			g.DefaultErrorHandler(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))

	call := func(method, path, token, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}

	login := call("POST", "/login", "", `{"email":"alice@example.com","password":"correct horse battery staple"}`)
	token := strings.TrimPrefix(login.Header().Get("Authorization"), "Bearer ")
	fmt.Println("login:", login.Code, login.Header().Get("Cache-Control"))

	me := call("GET", "/me", token, "")
	fmt.Println("me:", me.Code, me.Body.String())

	fmt.Println("logout:", call("POST", "/logout", token, "").Code)

	again := call("GET", "/me", token, "")
	fmt.Println("me after logout:", again.Code, again.Header().Get("WWW-Authenticate"))

	fmt.Println("me without token:", call("GET", "/me", "", "").Code)
	// Output:
	// login: 200 no-store
	// me: 200 hello alice@example.com
	// logout: 204
	// me after logout: 401 Bearer realm="api", error="invalid_token", error_description="token revoked"
	// me without token: 401
}

// ExampleClaims_Custom shows custom claims: the app issues them from any
// value that encodes to a JSON object and reads them back into its own
// struct, without type assertions.
func ExampleClaims_Custom() {
	g := newGuardian(nil)
	type appClaims struct {
		Role   string `json:"role"`
		Tenant int    `json:"tenant"`
	}
	tok, err := g.Issuer().Issue(context.Background(), "u1", &guardian.IssueOptions{
		Custom: appClaims{Role: "admin", Tenant: 42},
	})
	if err != nil {
		panic(err)
	}
	claims, err := g.Issuer().Verify(context.Background(), tok.Raw)
	if err != nil {
		panic(err)
	}
	var mine appClaims
	if err := claims.Custom(&mine); err != nil {
		panic(err)
	}
	fmt.Println(claims.Subject, mine.Role, mine.Tenant)
	// Output: u1 admin 42
}

// ExampleGuardian_Refresh rotates a refresh token into a new pair in one
// call: the user is loaded again (a deleted user gets 401, not new
// tokens), the custom claims are computed again, and the old refresh token
// is consumed last. Once its successor has been used, presenting it again
// is taken as theft and revokes the whole family (RFC 9700 reuse
// detection); before that, and within IssuerOptions.RefreshRetryWindow, it is a
// client's retry and gets the same pair again.
func ExampleGuardian_Refresh() {
	users["u1@example.com"] = &User{ID: "u1", Email: "u1@example.com"}
	g := newGuardian(guardian.NewMemoryRevoker(nil))
	ctx := context.Background()
	login, _, _ := g.SignIn(httptest.NewRecorder(), httptest.NewRequest("POST", "/login", nil), users["u1@example.com"])
	refresh := func(raw string) (guardian.TokenPair, *httptest.ResponseRecorder, error) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/refresh", strings.NewReader(`{"refresh_token":"`+raw+`"}`))
		pair, err := g.Refresh(w, r) // the token from the body, a cookie, or the header
		return pair, w, err
	}

	pair, w, err := refresh(login.Refresh.Raw)
	fmt.Println("rotate:", err, pair.Access.Claims.Type, pair.Refresh.Claims.Type, pair.Refresh.Claims.Family == login.Access.Claims.Family)
	fmt.Println("header:", w.Header().Get("Authorization") == "Bearer "+pair.Access.Raw)

	retried, _, err := refresh(login.Refresh.Raw)
	fmt.Println("retry:", err, retried.Refresh.Claims.ID == pair.Refresh.Claims.ID)

	next, _, err := refresh(pair.Refresh.Raw) // the client moves on
	fmt.Println("next:", err)
	_, _, err = refresh(login.Refresh.Raw) // a thief replays the first token
	fmt.Println("reuse:", err)
	_, err = g.Issuer().Verify(ctx, next.Access.Raw)
	fmt.Println("family after reuse:", err)
	// Output:
	// rotate: <nil> access refresh true
	// header: true
	// retry: <nil> true
	// next: <nil>
	// reuse: guardian: token revoked
	// family after reuse: guardian: token revoked
}

// exampleT stands in for the *testing.T a real test passes.
type exampleT struct{}

func (exampleT) Helper()                           {}
func (exampleT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// Example_testing shows a test of the app's own: the guardiantest kit mints
// a token for a user and attaches it, with a fixed clock so expiry can be
// tested without waiting. In a real test, pass t where this passes t.
func Example_testing() {
	clock := guardiantest.NewClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	t := exampleT{}
	issuer := guardiantest.NewIssuer(t, &guardian.IssuerOptions{Clock: clock.Now})
	g, _ := guardian.New(issuer,
		func(u *User) (string, error) { return u.ID, nil },
		func(ctx context.Context, c *guardian.Claims) (*User, error) { return &User{ID: c.Subject}, nil }, nil)
	handler := g.VerifyHeader(nil)(g.EnsureAuthenticated(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := guardian.CurrentClaims(r.Context())
		fmt.Fprint(w, c.Subject)
	})))

	req := guardiantest.NewRequest(t, g, &User{ID: "u7"}, "GET", "/me", nil)
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, req)
	fmt.Println(w.Code, w.Body.String())

	clock.Advance(16 * time.Minute) // past the access TTL
	w = httptest.NewRecorder()
	handler.ServeHTTP(w, req)
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	// Output:
	// 200 u7
	// 401 Bearer realm="api", error="invalid_token", error_description="token expired"
}
