package guardian_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/guardian-go/guardian"
)

// quickUser and quickDB stand in for the app's own user type and database
// in the README's quick start.
type quickUser struct{ ID, Email, Hash string }

type quickDB struct{ users []*quickUser }

func (d *quickDB) UserByEmail(email string) *quickUser {
	for _, u := range d.users {
		if u.Email == email {
			return u
		}
	}
	return nil
}

func (d *quickDB) UserByID(_ context.Context, id string) (*quickUser, error) {
	for _, u := range d.users {
		if u.ID == id {
			return u, nil
		}
	}
	return nil, guardian.ErrResourceNotFound
}

// quickStart is the README's quick start, verbatim between the markers;
// TestREADMEQuickStart keeps the two the same and runs it.
func quickStart(secret []byte, db *quickDB) http.Handler {
	type User = quickUser
	// quick start begins
	key, _ := guardian.NewHMACKey("2026-12", guardian.HS256, secret) // ≥ 32 random bytes
	keys, _ := guardian.NewKeySet(key)
	issuer, _ := guardian.NewIssuer(keys, &guardian.IssuerOptions{
		Revoker: guardian.NewMemoryRevoker(nil), // or sqlstore, redisstore
	})
	g, _ := guardian.New(issuer,
		func(u *User) (string, error) { return u.ID, nil }, // user → sub
		func(ctx context.Context, c *guardian.Claims) (*User, error) { // sub → user
			return db.UserByID(ctx, c.Subject) // wraps guardian.ErrResourceNotFound when gone
		}, nil)
	passwords := guardian.Passwords{} // bcrypt, cost 12

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		user, hash := db.UserByEmail(r.FormValue("email")), "" // nil when unknown
		if user != nil {
			hash = user.Hash
		}
		if passwords.Check(hash, r.FormValue("password")) != nil { // as slow for unknown users
			http.Error(w, "wrong email or password", http.StatusUnauthorized)
			return
		}
		pair, _, _ := g.SignIn(w, r, user) // an access and a refresh token
		json.NewEncoder(w).Encode(pair)    // {"access_token", "expires_in", "refresh_token", …}
	})
	mux.Handle("GET /me", g.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _ := g.CurrentResource(r.Context()) // Protect: always there
		json.NewEncoder(w).Encode(map[string]string{"id": user.ID, "email": user.Email})
	})))
	mux.HandleFunc("POST /refresh", func(w http.ResponseWriter, r *http.Request) {
		if pair, err := g.Refresh(w, r); err == nil { // {"refresh_token": …} in; else it answers 401
			json.NewEncoder(w).Encode(pair)
		}
	})
	mux.Handle("POST /logout", g.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.SignOut(w, r) == nil { // this login's tokens die, refresh tokens too
			w.WriteHeader(http.StatusNoContent)
		}
	})))
	// quick start ends
	return mux
}

// quickStartSource returns the lines of quickStart between the markers,
// one tab less indented, as the README shows them.
func quickStartSource(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("quickstart_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(src), "// quick start begins\n")
	body, _, _ := strings.Cut(rest, "\t// quick start ends\n")
	var out []string
	for _, line := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		out = append(out, strings.TrimPrefix(line, "\t"))
	}
	return strings.Join(out, "\n")
}

// TestREADMEQuickStart runs the README's quick start: login, a protected
// route, refresh, logout, and checks the README shows exactly this code.
func TestREADMEQuickStart(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := "```go\n" + quickStartSource(t) + "\n```"; !strings.Contains(string(readme), want) {
		t.Fatalf("README.md does not show the quick start of quickstart_test.go; want the block:\n%s", want)
	}

	hash, err := guardian.Passwords{Cost: 4}.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	app := quickStart([]byte("a quick start secret of 32 bytes"), &quickDB{users: []*quickUser{{ID: "u1", Email: "alice@example.com", Hash: hash}}})
	do := func(method, path, auth, contentType, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		if auth != "" {
			r.Header.Set("Authorization", "Bearer "+auth)
		}
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		app.ServeHTTP(rec, r)
		return rec
	}
	var login struct {
		Access    string `json:"access_token"`
		Type      string `json:"token_type"`
		ExpiresIn int    `json:"expires_in"`
		Refresh   string `json:"refresh_token"`
	}
	form := "application/x-www-form-urlencoded"
	if rec := do("POST", "/login", "", form, "email=alice@example.com&password=wrong"); rec.Code != http.StatusUnauthorized {
		t.Fatalf("login with a wrong password: %d", rec.Code)
	}
	rec := do("POST", "/login", "", form, "email=alice@example.com&password=correct+horse+battery+staple")
	if err := json.Unmarshal(rec.Body.Bytes(), &login); err != nil || rec.Code != http.StatusOK || login.Type != "Bearer" || login.ExpiresIn != 900 {
		t.Fatalf("login: %d %s (%v)", rec.Code, rec.Body, err)
	}
	if rec.Header().Get("Authorization") != "Bearer "+login.Access || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("login headers: %v", rec.Header())
	}
	if rec := do("GET", "/me", login.Access, "", ""); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "alice@example.com") {
		t.Fatalf("/me: %d %s", rec.Code, rec.Body)
	}
	if rec := do("GET", "/me", "", "", ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("/me without a token: %d", rec.Code)
	}
	var next struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	rec = do("POST", "/refresh", "", "application/json", `{"refresh_token":"`+login.Refresh+`"}`)
	if err := json.Unmarshal(rec.Body.Bytes(), &next); err != nil || rec.Code != http.StatusOK || next.Refresh == login.Refresh {
		t.Fatalf("refresh: %d %s", rec.Code, rec.Body)
	}
	if rec := do("POST", "/logout", next.Access, "", ""); rec.Code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", rec.Code, rec.Body)
	}
	for name, tok := range map[string]string{"login access": login.Access, "refreshed access": next.Access} {
		if rec := do("GET", "/me", tok, "", ""); rec.Code != http.StatusUnauthorized {
			t.Errorf("/me with the %s token after logout: %d", name, rec.Code)
		}
	}
	if rec := do("POST", "/refresh", "", "application/json", `{"refresh_token":"`+next.Refresh+`"}`); rec.Code != http.StatusUnauthorized {
		t.Errorf("refresh after logout: %d", rec.Code)
	}
}
