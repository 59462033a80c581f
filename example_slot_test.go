package guardian_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/guardian-go/guardian"
)

// Account is the user type of the impersonation example.
type Account struct {
	ID, Name string
	Perms    []string
}

// ExampleGuardian_Impersonate shows support staff acting as a user: the
// admin's own token stays in Authorization, the impersonation token goes in
// X-Impersonate (a slot), and one handler reads both identities. Signing
// the impersonation out ends it alone: the admin stays signed in.
func ExampleGuardian_Impersonate() {
	accounts := map[string]*Account{
		"a1": {ID: "a1", Name: "Alice (support)", Perms: []string{"admin.impersonate"}},
		"u7": {ID: "u7", Name: "Bob", Perms: []string{"default.profile"}},
	}
	perms, err := guardian.NewPermissions(map[string][]string{"admin": {"impersonate"}, "default": {"profile"}})
	if err != nil {
		panic(err)
	}
	key, _ := guardian.NewHMACKey("k1", guardian.HS256, []byte("an example secret of 32 bytes!!!"))
	keys, _ := guardian.NewKeySet(key)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) // a fixed clock, for the example
	issuer, err := guardian.NewIssuer(keys, &guardian.IssuerOptions{
		Clock:       func() time.Time { return now },
		Revoker:     guardian.NewMemoryRevoker(nil),
		Permissions: perms,
	})
	if err != nil {
		panic(err)
	}
	g, err := guardian.New(issuer,
		func(a *Account) (string, error) { return a.ID, nil },
		func(ctx context.Context, c *guardian.Claims) (*Account, error) {
			if a, ok := accounts[c.Subject]; ok {
				return a, nil
			}
			return nil, guardian.ErrResourceNotFound
		},
		&guardian.GuardianOptions[*Account]{
			Permissions: func(ctx context.Context, a *Account) ([]string, error) { return a.Perms, nil },
		})
	if err != nil {
		panic(err)
	}
	imp, err := g.Slot("impersonated", "X-Impersonate")
	if err != nil {
		panic(err)
	}

	// Only an admin acting as themselves may start an impersonation.
	mayImpersonate, err := g.Require(perms.All("admin.impersonate"), guardian.NotImpersonated())
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /impersonate/{id}", g.Authenticated()(mayImpersonate(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			target, ok := accounts[r.PathValue("id")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			admin, _ := guardian.CurrentClaims(r.Context())
			tok, err := g.Impersonate(r.Context(), admin, target)
			if err != nil {
				http.Error(w, "cannot impersonate", http.StatusBadRequest)
				return
			}
			fmt.Fprint(w, tok.Raw)
		}))))
	// Both identities in one handler: the admin in the default slot, the
	// user they act as in the slot (if any).
	mux.Handle("GET /whoami", g.Authenticated()(imp.Optional()(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			admin, _ := g.CurrentResource(r.Context())
			if user, ok := imp.CurrentResource(r.Context()); ok {
				c, _ := imp.CurrentClaims(r.Context())
				fmt.Fprintf(w, "%s acting as %s (act.sub=%s)", admin.Name, user.Name, c.Actor.Subject)
				return
			}
			fmt.Fprintf(w, "%s as themselves", admin.Name)
		}))))
	mux.Handle("DELETE /impersonate", g.Authenticated()(imp.Authenticated()(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			if imp.SignOut(w, r) == nil {
				w.WriteHeader(http.StatusNoContent)
			}
		}))))

	do := func(method, path, admin, slot string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, nil)
		r.Header.Set("Authorization", "Bearer "+admin)
		if slot != "" {
			r.Header.Set("X-Impersonate", "Bearer "+slot)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}

	login, _, err := g.SignIn(httptest.NewRecorder(), httptest.NewRequest("POST", "/login", nil), accounts["a1"])
	if err != nil {
		panic(err)
	}
	admin := login.Access.Raw
	w := do("POST", "/impersonate/u7", admin, "")
	fmt.Println("impersonate:", w.Code)
	asBob := w.Body.String()

	fmt.Println(do("GET", "/whoami", admin, asBob).Body.String())
	fmt.Println("nested impersonation:", do("POST", "/impersonate/u7", asBob, "").Code)
	fmt.Println("stop impersonating:", do("DELETE", "/impersonate", admin, asBob).Code)
	// The revoked token is refused (Optional treats it as absent), and the
	// admin's own login goes on.
	fmt.Println(do("GET", "/whoami", admin, asBob).Body.String())
	fmt.Println("stop again:", do("DELETE", "/impersonate", admin, asBob).Code)
	// Output:
	// impersonate: 200
	// Alice (support) acting as Bob (act.sub=a1)
	// nested impersonation: 403
	// stop impersonating: 204
	// Alice (support) as themselves
	// stop again: 401
}
