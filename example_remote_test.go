package guardian_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guardian-go/guardian"
)

// ExampleNewRemoteIssuer verifies the access tokens of an external
// authorization server, found through its discovery document. The server
// here is a stand-in started by the example: it publishes its metadata and
// its public key, and signs an RFC 9068 access token (header typ at+jwt)
// for this API.
//
// Audience is required: a token the issuer minted for another API must not
// pass here. NewResourceServer's Guardian has no key of its own: it only
// verifies, and RequireScopes answers 403 insufficient_scope for a token without the
// scope.
func ExampleNewRemoteIssuer() {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := guardian.NewVerificationKey("as-key-1", guardian.ES256, priv.Public())
	published, _ := guardian.NewVerifyKeySet(pub)
	jwks, _ := published.JWKS()
	mux := http.NewServeMux()
	as := httptest.NewServer(mux)
	defer as.Close()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, as.URL, as.URL+"/jwks")
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Write(jwks)
	})

	// The resource server.
	keys, err := guardian.DiscoverKeys(as.URL, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer keys.Close()
	issuer, err := guardian.NewRemoteIssuer(keys, &guardian.IssuerOptions{Audience: []string{"https://api.example.com"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	g, _ := guardian.NewResourceServer(issuer, nil)
	write, _ := g.RequireScopes("write")
	items := g.Protect(write(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := guardian.CurrentClaims(r.Context())
		fmt.Fprintf(w, "created by %s with %v", c.ClientID, c.Scope)
	})))

	// A client-credentials token, as the authorization server issues it.
	mint := func(scope string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
			"iss": as.URL, "aud": "https://api.example.com", "sub": "svc-1", "client_id": "svc-1",
			"scope": scope, "jti": "1", "iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix(),
		})
		tok.Header["typ"], tok.Header["kid"] = "at+jwt", "as-key-1"
		raw, _ := tok.SignedString(priv)
		return raw
	}
	for _, scope := range []string{"read write", "read"} {
		r := httptest.NewRequestWithContext(context.Background(), "POST", "/api/items", nil)
		r.Header.Set("Authorization", "Bearer "+mint(scope))
		w := httptest.NewRecorder()
		items.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"), w.Body.String())
	}
	// Output:
	// 200  created by svc-1 with [read write]
	// 403 Bearer realm="api", error="insufficient_scope", scope="write" {"error":"insufficient_scope","error_description":"insufficient scope"}
}
