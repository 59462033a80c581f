package guardiangin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/guardiangin"
)

// User is the app's own user type.
type User struct{ ID, Name string }

// Example protects a gin route group with a Guardian and serves a public
// route that greets signed-in users by name.
func Example() {
	gin.SetMode(gin.ReleaseMode) // no route listing on stdout

	// Once at start-up: the keys, the issuer and the Guardian.
	key, _ := guardian.NewHMACKey("2026-11", guardian.HS256, []byte("an example secret of 32 bytes!!!"))
	keys, _ := guardian.NewKeySet(key)
	issuer, _ := guardian.NewIssuer(keys, nil)
	users := map[string]*User{"u1": {ID: "u1", Name: "Alice"}}
	g, err := guardian.New(issuer,
		func(u *User) (string, error) { return u.ID, nil },
		func(_ context.Context, c *guardian.Claims) (*User, error) {
			if u, ok := users[c.Subject]; ok {
				return u, nil
			}
			return nil, guardian.ErrResourceNotFound
		}, nil)
	if err != nil {
		panic(err)
	}

	r := gin.New()
	r.GET("/", guardiangin.Optional(g), func(c *gin.Context) {
		if u, ok := g.CurrentResource(c.Request.Context()); ok {
			c.String(http.StatusOK, "hello, %s", u.Name)
			return
		}
		c.String(http.StatusOK, "hello, stranger")
	})
	api := r.Group("/api", guardiangin.Authenticated(g))
	api.GET("/me", func(c *gin.Context) {
		u, _ := g.CurrentResource(c.Request.Context())
		claims, _ := guardian.CurrentClaims(c.Request.Context())
		c.JSON(http.StatusOK, gin.H{"id": u.ID, "name": u.Name, "type": claims.Type})
	})

	// A client that signed in earlier holds this token.
	pair, _, _ := g.SignIn(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/login", nil), users["u1"])
	tok := pair.Access

	for _, target := range []string{"/", "/api/me"} {
		for _, token := range []string{"", tok.Raw} {
			req := httptest.NewRequest(http.MethodGet, target, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)
			fmt.Printf("%s token=%t: %d %s\n", target, token != "", rec.Code, strings.TrimSpace(rec.Body.String()))
			if h := rec.Header().Get("WWW-Authenticate"); h != "" {
				fmt.Println("  WWW-Authenticate:", h)
			}
		}
	}
	// Output:
	// / token=false: 200 hello, stranger
	// / token=true: 200 hello, Alice
	// /api/me token=false: 401 {"error":"unauthorized","error_description":"no token"}
	//   WWW-Authenticate: Bearer realm="api"
	// /api/me token=true: 200 {"id":"u1","name":"Alice","type":"access"}
}
