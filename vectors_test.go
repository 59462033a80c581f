package guardian_test

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
)

// RFC 7515 Appendix A.1: a JWS using HMAC SHA-256, the JWK's "k" and the
// complete compact serialization, copied from the RFC. The header is
// {"typ":"JWT",\r\n "alg":"HS256"} (no kid); the payload is
// {"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}.
const (
	rfc7515A1Key   = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
	rfc7515A1Token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9" +
		".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ" +
		".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	rfc7515A1Exp = 1300819380 // 2011-03-22T18:43:00Z
)

// rfc7515Issuer verifies the RFC 7515 A.1 token: its key has no ID (the
// header has no kid), iss is "joe", and the clock is set to now.
func rfc7515Issuer(t *testing.T, now time.Time) *guardian.Issuer {
	t.Helper()
	secret, err := base64.RawURLEncoding.DecodeString(rfc7515A1Key)
	if err != nil {
		t.Fatalf("decode the RFC's k: %v", err)
	}
	key := mustHMACKey(t, "", guardian.HS256, secret)
	return mustIssuer(t, mustKeySet(t, key), &guardian.IssuerOptions{
		Issuer: "joe",
		Clock:  func() time.Time { return now },
	})
}

// TestRFC7515AppendixA1 verifies the RFC's HS256 example through the public
// Verify, so that every step a real token goes through is exercised: the
// size bound, a header whose JSON holds CR LF, the lookup of a key without
// kid, the signature, exp and iss.
//
// The token has no typ claim, so its Type is "": Verify accepts it only
// when "" is among the accepted types, and Verify(ctx, raw, "") says so
// explicitly. (Verifying the signature alone through an internal test would
// skip the claims checks; the signing side is checked there instead, see
// TestRFC7515AppendixA1Sign.) By default, Verify accepts access tokens only,
// and refuses this one with ErrTokenType.
func TestRFC7515AppendixA1(t *testing.T) {
	ctx := context.Background()
	exp := time.Unix(rfc7515A1Exp, 0)

	issuer := rfc7515Issuer(t, exp.Add(-time.Second))
	c, err := issuer.Verify(ctx, rfc7515A1Token, "")
	if err != nil {
		t.Fatalf("Verify(RFC 7515 A.1) = %v, want the token accepted", err)
	}
	if c.Issuer != "joe" {
		t.Errorf("Issuer = %q, want joe", c.Issuer)
	}
	if !c.ExpiresAt.Equal(exp) {
		t.Errorf("ExpiresAt = %v, want %v", c.ExpiresAt, exp)
	}
	if c.Type != "" || c.Subject != "" || c.ID != "" || !c.IssuedAt.IsZero() || !c.NotBefore.IsZero() {
		t.Errorf("got claims %+v, want only iss and exp set", c)
	}
	var custom map[string]any
	if err := c.Custom(&custom); err != nil {
		t.Fatalf("Custom: %v", err)
	}
	if got := custom["http://example.com/is_root"]; got != true {
		t.Errorf(`custom claim "http://example.com/is_root" = %v, want true`, got)
	}

	t.Run("access tokens only by default", func(t *testing.T) {
		_, err := issuer.Verify(ctx, rfc7515A1Token)
		wantTokenErr(t, err, guardian.ErrTokenType)
	})
	t.Run("expired at exp", func(t *testing.T) {
		_, err := rfc7515Issuer(t, exp).Verify(ctx, rfc7515A1Token, "")
		wantTokenErr(t, err, guardian.ErrExpired)
	})
	t.Run("another issuer", func(t *testing.T) {
		other := rfc7515Issuer(t, exp.Add(-time.Hour))
		secret, _ := base64.RawURLEncoding.DecodeString(rfc7515A1Key)
		strict := mustIssuer(t, mustKeySet(t, mustHMACKey(t, "", guardian.HS256, secret)), &guardian.IssuerOptions{
			Issuer: "jane",
			Clock:  func() time.Time { return exp.Add(-time.Hour) },
		})
		if _, err := other.Verify(ctx, rfc7515A1Token, ""); err != nil {
			t.Fatalf("an hour before exp: %v", err)
		}
		_, err := strict.Verify(ctx, rfc7515A1Token, "")
		wantTokenErr(t, err, guardian.ErrIssuer)
	})
	t.Run("one bit of the key changed", func(t *testing.T) {
		secret, _ := base64.RawURLEncoding.DecodeString(rfc7515A1Key)
		secret[0] ^= 1
		wrong := mustIssuer(t, mustKeySet(t, mustHMACKey(t, "", guardian.HS256, secret)), &guardian.IssuerOptions{
			Clock: func() time.Time { return exp.Add(-time.Second) },
		})
		_, err := wrong.Verify(ctx, rfc7515A1Token, "")
		wantTokenErr(t, err, guardian.ErrInvalidSignature)
	})
}
