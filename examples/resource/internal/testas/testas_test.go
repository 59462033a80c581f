package testas

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestProvider drives the whole life of a provider: tokens of both
// algorithms, a key rotation, dropping the old keys, an outage and a restart.
func TestProvider(t *testing.T) {
	p := Start(t)
	if !strings.HasPrefix(p.Issuer(), "http://127.0.0.1:") {
		t.Fatalf("Issuer() = %q", p.Issuer())
	}
	if got, want := p.KeyIDs(), []string{"rs-1", "es-1"}; !slices.Equal(got, want) {
		t.Fatalf("KeyIDs() = %v, want %v", got, want)
	}

	rs := checkToken(t, p, ClientRS, "RS256", "read write", Audience)
	es := checkToken(t, p, ClientES, "ES256", "read write", Audience)
	if rs != "rs-1" || es != "es-1" {
		t.Fatalf("signing kids = %s, %s; want rs-1, es-1", rs, es)
	}
	// Another audience and a narrower scope come through as asked.
	checkToken(t, p, ClientRS, "RS256", "read", "https://other.example.com/api")

	// Rotate: the new keys sign, the JWKS publishes old and new.
	newKIDs := p.Rotate(t)
	if want := []string{"rs-2", "es-2"}; !slices.Equal(newKIDs, want) {
		t.Fatalf("Rotate() = %v, want %v", newKIDs, want)
	}
	if got, want := p.KeyIDs(), []string{"rs-2", "es-2", "rs-1", "es-1"}; !slices.Equal(got, want) {
		t.Fatalf("KeyIDs() after Rotate = %v, want %v", got, want)
	}
	if kid := checkToken(t, p, ClientRS, "RS256", "read write", Audience); kid != "rs-2" {
		t.Errorf("RS256 token after Rotate has kid %q, want rs-2", kid)
	}
	if kid := checkToken(t, p, ClientES, "ES256", "write", Audience); kid != "es-2" {
		t.Errorf("ES256 token after Rotate has kid %q, want es-2", kid)
	}
	if got, want := jwksKIDs(t, p), []string{"rs-2", "es-2", "rs-1", "es-1"}; !slices.Equal(got, want) {
		t.Errorf("JWKS after Rotate lists %v, want %v", got, want)
	}

	// DropOldKeys: only the new keys are left.
	p.DropOldKeys(t)
	if got, want := jwksKIDs(t, p), []string{"rs-2", "es-2"}; !slices.Equal(got, want) {
		t.Errorf("JWKS after DropOldKeys lists %v, want %v", got, want)
	}
	if got, want := p.KeyIDs(), []string{"rs-2", "es-2"}; !slices.Equal(got, want) {
		t.Errorf("KeyIDs() after DropOldKeys = %v, want %v", got, want)
	}

	// Stop: the issuer is down.
	p.Stop(t)
	if resp, err := http.Get(p.Issuer() + "/.well-known/openid-configuration"); err == nil {
		resp.Body.Close()
		t.Fatalf("discovery after Stop answered %s, want a connection error", resp.Status)
	}
	p.Stop(t) // stopping twice is harmless

	// Restart: same issuer, same keys.
	p.Restart(t)
	if got, want := jwksKIDs(t, p), []string{"rs-2", "es-2"}; !slices.Equal(got, want) {
		t.Errorf("JWKS after Restart lists %v, want %v", got, want)
	}
	if kid := checkToken(t, p, ClientES, "ES256", "read write", Audience); kid != "es-2" {
		t.Errorf("ES256 token after Restart has kid %q, want es-2", kid)
	}
}

// TestDefaultAudience: a request without a resource gets Audience, and one
// without scope gets a token without a scope claim.
func TestDefaultAudience(t *testing.T) {
	p := Start(t)
	_, claims := decode(t, p.Token(t, ClientES, "", ""))
	if claims["aud"] != Audience {
		t.Errorf("aud = %v, want %s", claims["aud"], Audience)
	}
	if _, ok := claims["scope"]; ok {
		t.Errorf("scope = %v, want none", claims["scope"])
	}
}

// checkToken gets a token, checks its header and claims, verifies its
// signature with the key the JWKS publishes, and returns its kid.
func checkToken(t *testing.T, p *Provider, client, alg, scope, audience string) string {
	t.Helper()
	tok := p.Token(t, client, scope, audience)
	header, claims := decode(t, tok)

	if header["typ"] != "at+jwt" {
		t.Errorf("%s: typ = %v, want at+jwt", client, header["typ"])
	}
	if header["alg"] != alg {
		t.Errorf("%s: alg = %v, want %s", client, header["alg"], alg)
	}
	kid, _ := header["kid"].(string)
	if !slices.Contains(p.KeyIDs(), kid) {
		t.Errorf("%s: kid %q not in KeyIDs() %v", client, kid, p.KeyIDs())
	}

	for name, want := range map[string]string{
		"iss":       p.Issuer(),
		"aud":       audience,
		"client_id": client,
		"sub":       client,
		"scope":     scope,
	} {
		if got := claims[name]; got != want {
			t.Errorf("%s: %s = %v, want %q", client, name, got, want)
		}
	}
	if jti, _ := claims["jti"].(string); jti == "" {
		t.Errorf("%s: no jti", client)
	}
	iat, _ := claims["iat"].(float64)
	exp, _ := claims["exp"].(float64)
	if iat <= 0 || exp <= iat {
		t.Errorf("%s: iat = %v, exp = %v, want 0 < iat < exp", client, iat, exp)
	}

	verify(t, p, tok, kid, alg)
	return kid
}

// decode returns a JWT's header and claims, without verifying it.
func decode(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS compact serialization: %q", tok)
	}
	for i, v := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
	}
	return header, claims
}

// verify checks tok's signature with the public key kid of the JWKS: it
// proves the private JWKs written by this package are consistent.
func verify(t *testing.T, p *Provider, tok, kid, alg string) {
	t.Helper()
	var key *jwk
	for _, k := range jwks(t, p) {
		if k.Kid == kid {
			key = &k
		}
	}
	if key == nil {
		t.Fatalf("kid %q not in the JWKS", kid)
	}
	if key.D != "" || key.P != "" {
		t.Fatalf("JWKS publishes private key material for %q", kid)
	}
	i := strings.LastIndex(tok, ".")
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(tok[:i]))
	num := func(s string) *big.Int {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return new(big.Int).SetBytes(b)
	}
	switch alg {
	case "RS256":
		pub := &rsa.PublicKey{N: num(key.N), E: int(num(key.E).Int64())}
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			t.Errorf("RS256 signature by %s: %v", kid, err)
		}
	case "ES256":
		point := append([]byte{4}, num(key.X).FillBytes(make([]byte, 32))...)
		point = append(point, num(key.Y).FillBytes(make([]byte, 32))...)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			t.Fatalf("EC key %s: %v", kid, err)
		}
		if len(sig) != 64 || !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			t.Errorf("ES256 signature by %s does not verify", kid)
		}
	default:
		t.Fatalf("unexpected alg %s", alg)
	}
}

// jwks fetches the key set at the jwks_uri of the discovery document.
func jwks(t *testing.T, p *Provider) []jwk {
	t.Helper()
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, p.Issuer()+"/.well-known/openid-configuration", &doc)
	if doc.Issuer != p.Issuer() || doc.JWKSURI == "" {
		t.Fatalf("discovery: issuer %q, jwks_uri %q", doc.Issuer, doc.JWKSURI)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	getJSON(t, doc.JWKSURI, &set)
	return set.Keys
}

func jwksKIDs(t *testing.T, p *Provider) []string {
	t.Helper()
	return kidsOf(jwks(t, p))
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
