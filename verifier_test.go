package guardian_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
)

// extIssuer is the name of the external issuer of these tests.
const extIssuer = "https://as.example.com"

// externalToken signs an access token as an external authorization server
// does (RFC 9068: header typ at+jwt, kid), with ES256 and the testdata key.
// claims override the defaults: iss extIssuer, aud "api", sub, client_id,
// jti, iat now, exp in 5 minutes. A nil value drops a claim.
func externalToken(tb testing.TB, header map[string]any, claims map[string]any) string {
	tb.Helper()
	now := testclock.Now()
	c := jwt.MapClaims{
		"iss": extIssuer, "aud": "api", "sub": "svc-1", "client_id": "svc-1",
		"jti": "j-" + now.Format("150405.000000000"), "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"scope": "read",
	}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tok.Header["typ"] = "at+jwt"
	tok.Header["kid"] = "as-1"
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	raw, err := tok.SignedString(loadSigner(tb, "ec_p256_pkcs8.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// externalIssuer verifies externalToken's tokens with a verify-only set
// holding the public key only.
func externalIssuer(tb testing.TB, opts *guardian.IssuerOptions) *guardian.Issuer {
	tb.Helper()
	pub, err := guardian.NewVerificationKey("as-1", guardian.ES256, loadPublic(tb, "ec_p256_pub.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := guardian.NewVerifyKeySet(pub)
	if err != nil {
		tb.Fatal(err)
	}
	o := guardian.IssuerOptions{Issuer: extIssuer, Audience: []string{"api"}, TokenTypes: guardian.TypeRFC9068}
	if opts != nil {
		o = *opts
	}
	if o.Clock == nil {
		o.Clock = testclock.Now // externalToken's clock
	}
	return mustIssuer(tb, keys, &o)
}

// TestVerifyOnlyKeySet: a service that only verifies needs no secret of
// its own. Before, it needed a dummy HMAC key, and a token signed with
// that dummy under its kid verified.
func TestVerifyOnlyKeySet(t *testing.T) {
	ctx := context.Background()
	iss := externalIssuer(t, nil)
	if iss.Keys().CanSign() || iss.Keys().SigningKey() != nil {
		t.Fatal("a verify-only set has a signing key")
	}
	if _, err := iss.Issue(ctx, "u1", nil); !errors.Is(err, guardian.ErrKey) {
		t.Fatalf("Issue on a verify-only issuer = %v, want ErrKey", err)
	}
	if _, err := iss.Verify(ctx, externalToken(t, nil, nil)); err != nil {
		t.Fatalf("Verify = %v", err)
	}
	// The attack: HS256 with 32 zero bytes, under the real kid and no kid.
	zero := make([]byte, 32)
	payload := b64(`{"iss":"` + extIssuer + `","aud":"api","sub":"admin","exp":4102444800}`)
	for _, header := range []string{`{"alg":"HS256","typ":"at+jwt","kid":"as-1"}`, `{"alg":"HS256","typ":"at+jwt"}`} {
		forged := signSegments(zero, b64(header), payload)
		if _, err := iss.Verify(ctx, forged); err == nil {
			t.Fatalf("a token forged with a zero HMAC key verified (header %s)", header)
		}
	}

	if _, err := guardian.NewKeySet(nil); !errors.Is(err, guardian.ErrKey) || !strings.Contains(err.Error(), "NewVerifyKeySet") {
		t.Fatalf("NewKeySet(nil) = %v, want ErrKey pointing to NewVerifyKeySet", err)
	}
	if _, err := guardian.NewVerifyKeySet(); !errors.Is(err, guardian.ErrKey) {
		t.Fatalf("NewVerifyKeySet() = %v, want ErrKey", err)
	}
}

// TestVerifierRoutesByIssuer: each token meets only the keys and rules of
// the issuer it names; an issuer not trusted is refused before any key.
func TestVerifierRoutesByIssuer(t *testing.T) {
	ctx := context.Background()
	own := newFixture(t, &guardian.IssuerOptions{Issuer: "https://us.example.com", Audience: []string{"api"}, Clock: testclock.Now})
	ext := externalIssuer(t, nil)
	v, err := guardian.NewVerifier(own.issuer, ext)
	if err != nil {
		t.Fatal(err)
	}
	ownTok := own.issue(t, "u1", nil).Raw
	tests := []struct {
		name string
		raw  string
		want error // nil: verifies
	}{
		{name: "first-party token", raw: ownTok},
		{name: "third-party token", raw: externalToken(t, nil, nil)},
		{name: "untrusted issuer", raw: externalToken(t, nil, map[string]any{"iss": "https://evil.example.com"}), want: guardian.ErrIssuer},
		{name: "no iss", raw: externalToken(t, nil, map[string]any{"iss": nil}), want: guardian.ErrIssuer},
		// Signed by the external issuer's key, but naming us: our keys
		// refuse it (HS256 issuer, ES256 token).
		{name: "third-party key naming the first party", raw: externalToken(t, nil, map[string]any{"iss": "https://us.example.com"}), want: guardian.ErrInvalidToken},
		{name: "iss not a string", raw: externalToken(t, nil, map[string]any{"iss": 7}), want: guardian.ErrMalformedToken},
		// The router reads names as the claims decoder does (encoding/json
		// folds case): both see "ISS" as iss, so they never disagree.
		{name: "ISS naming an untrusted issuer", raw: externalToken(t, nil, map[string]any{"iss": nil, "ISS": "https://evil.example.com"}), want: guardian.ErrIssuer},
		{name: "wrong audience", raw: externalToken(t, nil, map[string]any{"aud": "other"}), want: guardian.ErrAudience},
		{name: "header typ JWT under RFC 9068", raw: externalToken(t, map[string]any{"typ": "JWT"}, nil), want: guardian.ErrTokenType},
		{name: "ID token typed JWT", raw: externalToken(t, map[string]any{"typ": nil}, map[string]any{"aud": "client-1"}), want: guardian.ErrTokenType},
		{name: "not a JWS", raw: "a.b", want: guardian.ErrMalformedToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(ctx, tt.raw)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want it to pass", err)
				}
				if c.Type != guardian.AccessToken {
					t.Errorf("Type = %q, want access", c.Type)
				}
				return
			}
			wantErr(t, err, tt.want)
		})
	}

	c, err := v.Verify(ctx, externalToken(t, nil, map[string]any{"scope": "read write", "scp": []string{"admin", "read"}, "azp": "web", "acr": "urn:x:loa2", "amr": []string{"pwd", "otp"}, "cnf": map[string]string{"jkt": "abc"}}))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Scope, " "); got != "read write admin" || c.ClientID != "svc-1" || c.AuthorizedParty != "web" || c.ACR != "urn:x:loa2" || strings.Join(c.AMR, ",") != "pwd,otp" || c.Confirmation.JWKThumbprint != "abc" {
		t.Errorf("typed claims = scope %q client_id %q azp %q acr %q amr %v cnf %+v", got, c.ClientID, c.AuthorizedParty, c.ACR, c.AMR, c.Confirmation)
	}

	for _, bad := range [][]*guardian.Issuer{nil, {nil}, {own.issuer, own.issuer}, {newFixture(t, nil).issuer}} {
		if _, err := guardian.NewVerifier(bad...); !errors.Is(err, guardian.ErrConfig) {
			t.Errorf("NewVerifier(%d issuers) = %v, want ErrConfig", len(bad), err)
		}
	}
	if got, ok := v.Issuer(extIssuer); !ok || got != ext {
		t.Errorf("Issuer(%q) = %v, %v", extIssuer, got, ok)
	}
	if err := v.Ready(); err != nil {
		t.Errorf("Ready = %v, want nil for static keys", err)
	}
}

// TestTypePolicies: what each policy takes as an access token.
func TestTypePolicies(t *testing.T) {
	ctx := context.Background()
	jwtHeader := map[string]any{"typ": "JWT"}
	noHeader := map[string]any{"typ": nil}
	tests := []struct {
		name   string
		policy guardian.TypePolicy
		access []string
		header map[string]any
		claims map[string]any
		ok     bool
	}{
		{name: "RFC 9068 at+jwt", policy: guardian.TypeRFC9068, ok: true},
		{name: "RFC 9068 application/at+jwt", policy: guardian.TypeRFC9068, header: map[string]any{"typ": "application/AT+JWT"}, ok: true},
		{name: "RFC 9068 refuses JWT", policy: guardian.TypeRFC9068, header: jwtHeader},
		{name: "RFC 9068 refuses no typ", policy: guardian.TypeRFC9068, header: noHeader},
		{name: "RFC 9068 refuses a typ claim", policy: guardian.TypeRFC9068, claims: map[string]any{"typ": "refresh"}},
		{name: "or JWT: plain JWT", policy: guardian.TypeRFC9068OrJWT, header: jwtHeader, ok: true},
		{name: "or JWT: no header typ", policy: guardian.TypeRFC9068OrJWT, header: noHeader, ok: true},
		{name: "or JWT: at+jwt", policy: guardian.TypeRFC9068OrJWT, ok: true},
		{name: "or JWT: Keycloak Bearer refused by default", policy: guardian.TypeRFC9068OrJWT, header: jwtHeader, claims: map[string]any{"typ": "Bearer"}},
		{name: "or JWT: Keycloak Bearer listed", policy: guardian.TypeRFC9068OrJWT, access: []string{"Bearer"}, header: jwtHeader, claims: map[string]any{"typ": "Bearer"}, ok: true},
		{name: "or JWT: Keycloak Refresh", policy: guardian.TypeRFC9068OrJWT, access: []string{"Bearer"}, header: jwtHeader, claims: map[string]any{"typ": "Refresh"}},
		{name: "or JWT: ID token header", policy: guardian.TypeRFC9068OrJWT, header: map[string]any{"typ": "id_token+jwt"}},
		{name: "from claim refuses at+jwt", policy: guardian.TypeFromClaim, claims: map[string]any{"typ": "access"}},
		{name: "from claim", policy: guardian.TypeFromClaim, header: jwtHeader, claims: map[string]any{"typ": "access"}, ok: true},
		{name: "from claim refuses no typ claim", policy: guardian.TypeFromClaim, header: jwtHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss := externalIssuer(t, &guardian.IssuerOptions{Issuer: extIssuer, Audience: []string{"api"}, TokenTypes: tt.policy, AccessTypeClaims: tt.access})
			c, err := iss.Verify(ctx, externalToken(t, tt.header, tt.claims))
			if !tt.ok {
				if !errors.Is(err, guardian.ErrTokenType) && !errors.Is(err, guardian.ErrUnsupportedHeader) {
					t.Fatalf("Verify = %v, want a type refusal", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify = %v", err)
			}
			if c.Type != guardian.AccessToken {
				t.Errorf("Type = %q, want access", c.Type)
			}
			// The middleware's default (access only) takes it; a route for
			// refresh tokens does not.
			if _, err := iss.Verify(ctx, externalToken(t, tt.header, tt.claims), guardian.RefreshToken); !errors.Is(err, guardian.ErrTokenType) {
				t.Errorf("Verify(refresh) = %v, want ErrTokenType", err)
			}
		})
	}
	if _, err := guardian.NewIssuer(mustKeySet(t, mustHMACKey(t, "k", guardian.HS256, randomSecret(t))), &guardian.IssuerOptions{TokenTypes: 9}); !errors.Is(err, guardian.ErrConfig) {
		t.Errorf("TokenTypes 9 = %v, want ErrConfig", err)
	}
}

// TestGuardianFirstAndThirdParty: one middleware accepts our own tokens and
// an external issuer's, and requires scopes of both.
func TestGuardianFirstAndThirdParty(t *testing.T) {
	own := newFixture(t, &guardian.IssuerOptions{Issuer: "https://us.example.com", Audience: []string{"api"}, Clock: testclock.Now})
	v, err := guardian.NewVerifier(own.issuer, externalIssuer(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	g, err := guardian.New(own.issuer, memberSubject, func(ctx context.Context, c *guardian.Claims) (*member, error) {
		return &member{ID: c.Subject}, nil
	}, &guardian.GuardianOptions[*member]{Verifier: v, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	write, err := g.RequireScopes("write")
	if err != nil {
		t.Fatal(err)
	}
	h := g.Protect(write(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := g.CurrentResource(r.Context())
		w.Write([]byte(u.ID))
	})))
	ownWrite, err := own.issuer.Issue(context.Background(), "u1", &guardian.IssueOptions{Scope: []string{"write"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		token     string
		status    int
		challenge string
	}{
		{name: "own token with write", token: ownWrite.Raw, status: 200},
		{name: "own token without scopes", token: own.issue(t, "u1", nil).Raw, status: 403, challenge: `Bearer realm="api", error="insufficient_scope", scope="write"`},
		{name: "external token with write", token: externalToken(t, nil, map[string]any{"scope": "read write"}), status: 200},
		{name: "external token, scp array", token: externalToken(t, nil, map[string]any{"scope": nil, "scp": []string{"write"}}), status: 200},
		{name: "external token with read only", token: externalToken(t, nil, nil), status: 403, challenge: `Bearer realm="api", error="insufficient_scope", scope="write"`},
		{name: "untrusted issuer", token: externalToken(t, nil, map[string]any{"iss": "https://evil.example.com", "scope": "write"}), status: 401},
		{name: "no token", status: 401, challenge: `Bearer realm="api"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tt.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.token)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d (%s)", w.Code, tt.status, w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); tt.challenge != "" && got != tt.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
			if tt.status == 401 && tt.token != "" && !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate = %q, want invalid_token", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

// TestVerifyOnlyGuardian: a resource server's Guardian has no issuer, no
// subject and no resource callback; it refuses to sign in or out.
func TestVerifyOnlyGuardian(t *testing.T) {
	g, err := guardian.New[*guardian.Claims](nil, nil, nil, &guardian.GuardianOptions[*guardian.Claims]{Verifier: externalIssuer(t, nil), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h := g.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := guardian.CurrentClaims(r.Context())
		w.Write([]byte(c.ClientID))
	}))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+externalToken(t, nil, nil))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || w.Body.String() != "svc-1" {
		t.Fatalf("got %d %q, want 200 svc-1", w.Code, w.Body)
	}
	if _, _, err := g.SignIn(httptest.NewRecorder(), r, &guardian.Claims{}); !errors.Is(err, guardian.ErrConfig) {
		t.Errorf("SignIn = %v, want ErrConfig", err)
	}
	if err := g.SignOut(httptest.NewRecorder(), r); !errors.Is(err, guardian.ErrConfig) {
		t.Errorf("SignOut = %v, want ErrConfig", err)
	}
	if _, err := g.Refresh(httptest.NewRecorder(), r); !errors.Is(err, guardian.ErrConfig) {
		t.Errorf("Refresh = %v, want ErrConfig", err)
	}
	if _, err := guardian.New[*guardian.Claims](nil, nil, nil, nil); !errors.Is(err, guardian.ErrConfig) {
		t.Errorf("New without issuer or verifier = %v, want ErrConfig", err)
	}
	if _, err := guardian.NewResourceServer(nil, nil); !errors.Is(err, guardian.ErrConfig) {
		t.Errorf("NewResourceServer(nil, nil) = %v, want ErrConfig", err)
	}
	rs, err := guardian.NewResourceServer(externalIssuer(t, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	// rs alone verifies: a good token passes, a token of another
	// issuer and no token are refused.
	bare := rs.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := guardian.CurrentClaims(r.Context())
		w.Write([]byte(c.ClientID))
	}))
	for _, tt := range []struct {
		token  string
		status int
	}{
		{externalToken(t, nil, nil), 200},
		{externalToken(t, nil, map[string]any{"iss": "https://evil.example.com"}), 401},
		{"", 401},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tt.token != "" {
			r.Header.Set("Authorization", "Bearer "+tt.token)
		}
		w := httptest.NewRecorder()
		bare.ServeHTTP(w, r)
		if w.Code != tt.status || (tt.status == 200 && w.Body.String() != "svc-1") {
			t.Errorf("NewResourceServer: got %d %q, want %d", w.Code, w.Body, tt.status)
		}
	}
}

// TestVerifierFor: tenants chosen by host each trust their own issuer; a
// tenant's token is refused on another tenant's host.
func TestVerifierFor(t *testing.T) {
	tenantA := externalIssuer(t, nil)
	other := newFixture(t, &guardian.IssuerOptions{Issuer: "https://b.example.com", Clock: testclock.Now})
	byHost := map[string]guardian.TokenVerifier{"a.api.test": tenantA, "b.api.test": other.issuer}
	g, err := guardian.New[*guardian.Claims](nil, nil, nil, &guardian.GuardianOptions[*guardian.Claims]{
		VerifierFor: func(r *http.Request) guardian.TokenVerifier { return byHost[r.Host] },
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	h := g.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	aTok := externalToken(t, nil, nil)
	for _, tt := range []struct {
		host   string
		token  string
		status int
	}{
		{"a.api.test", aTok, 200},
		{"b.api.test", aTok, 401},
		{"b.api.test", other.issue(t, "u1", nil).Raw, 200},
		{"c.api.test", aTok, 401},
	} {
		r := httptest.NewRequest("GET", "http://"+tt.host+"/", nil)
		r.Header.Set("Authorization", "Bearer "+tt.token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.status {
			t.Errorf("host %s: status %d, want %d", tt.host, w.Code, tt.status)
		}
	}
}

// TestRequireScopes: all of, any of, and the refusals.
func TestRequireScopes(t *testing.T) {
	g, err := guardian.New[*guardian.Claims](nil, nil, nil, &guardian.GuardianOptions[*guardian.Claims]{Verifier: externalIssuer(t, nil), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	all, _ := g.RequireScopes("read", "write")
	anyOf, _ := g.RequireAnyScope("admin", "write")
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	tests := []struct {
		name      string
		mw        func(http.Handler) http.Handler
		scope     any
		status    int
		challenge string
	}{
		{name: "all of, granted", mw: all, scope: "write read", status: 200},
		{name: "all of, one missing", mw: all, scope: "read", status: 403, challenge: `Bearer realm="api", error="insufficient_scope", scope="read write"`},
		{name: "all of, none", mw: all, scope: nil, status: 403},
		{name: "any of, one", mw: anyOf, scope: "write", status: 200},
		{name: "any of, none", mw: anyOf, scope: "read", status: 403, challenge: `Bearer realm="api", error="insufficient_scope", scope="admin write"`},
		{name: "prefix is not the scope", mw: anyOf, scope: "writer admins", status: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer "+externalToken(t, nil, map[string]any{"scope": tt.scope}))
			w := httptest.NewRecorder()
			g.Protect(tt.mw(ok)).ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d", w.Code, tt.status)
			}
			if tt.challenge != "" && w.Header().Get("WWW-Authenticate") != tt.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", w.Header().Get("WWW-Authenticate"), tt.challenge)
			}
		})
	}
	// Without the verifying middleware in front: no token, 401.
	w := httptest.NewRecorder()
	all(ok).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 401 {
		t.Errorf("RequireScopes without a token: %d, want 401", w.Code)
	}
	for _, bad := range [][]string{nil, {""}, {"a b"}, {`a"b`}, {`a\b`}, {"é"}} {
		if _, err := g.RequireScopes(bad...); !errors.Is(err, guardian.ErrConfig) {
			t.Errorf("RequireScopes(%q) = %v, want ErrConfig", bad, err)
		}
	}
	if _, err := newFixture(t, nil).issuer.Issue(context.Background(), "u1", &guardian.IssueOptions{Scope: []string{"a b"}}); !errors.Is(err, guardian.ErrInvalidArgument) {
		t.Errorf("Issue with scope %q = %v, want ErrInvalidArgument", "a b", err)
	}
}

// TestVerifierHeaderShortcut: two issuers whose tokens have the same
// header (same kid and alg, other keys). After the first issuer's token
// taught the Verifier the header, the second's token still verifies
// with its own issuer, and a forger copying the header gets nowhere.
func TestVerifierHeaderShortcut(t *testing.T) {
	ctx := context.Background()
	a := externalIssuer(t, nil)
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bPub, err := guardian.NewVerificationKey("as-1", guardian.ES256, otherKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	bKeys, err := guardian.NewVerifyKeySet(bPub)
	if err != nil {
		t.Fatal(err)
	}
	b := mustIssuer(t, bKeys, &guardian.IssuerOptions{Issuer: "https://b.example.com", Audience: []string{"api"}, TokenTypes: guardian.TypeRFC9068, Clock: testclock.Now})
	v, err := guardian.NewVerifier(a, b)
	if err != nil {
		t.Fatal(err)
	}
	aTok := externalToken(t, nil, nil)
	if _, err := v.Verify(ctx, aTok); err != nil {
		t.Fatal(err)
	}
	bTok := signWith(t, otherKey, map[string]any{"iss": "https://b.example.com"})
	if strings.Split(aTok, ".")[0] != strings.Split(bTok, ".")[0] {
		t.Fatal("the two tokens' headers differ; the test needs them equal")
	}
	for range 2 {
		c, err := v.Verify(ctx, bTok)
		if err != nil || c.Issuer != "https://b.example.com" {
			t.Fatalf("B's token after A's taught the header: %v", err)
		}
		if _, err := v.Verify(ctx, aTok); err != nil {
			t.Fatalf("A's token: %v", err)
		}
	}
	wantErr(t, firstErr(v.Verify(ctx, signWith(t, otherKey, map[string]any{"iss": "https://evil.example.com"}))), guardian.ErrIssuer)
	wantErr(t, firstErr(v.Verify(ctx, signWith(t, otherKey, map[string]any{"iss": extIssuer}))), guardian.ErrInvalidSignature)
}

// signWith is externalToken signed by key.
func signWith(tb testing.TB, key crypto.Signer, claims map[string]any) string {
	tb.Helper()
	raw := externalToken(tb, nil, claims)
	h, p, _ := segments(tb, raw)
	tok, err := jwt.SigningMethodES256.Sign(h+"."+p, key)
	if err != nil {
		tb.Fatal(err)
	}
	return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(tok)
}

func firstErr(_ *guardian.Claims, err error) error { return err }
