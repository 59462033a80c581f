package guardian

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"testing"
)

// The RFC 7515 A.1 values, repeated here because internal and external
// tests are separate packages.
const (
	a1Key          = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
	a1SigningInput = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9" +
		".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
	a1Signature = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)

// TestRFC7515AppendixA1Sign: our HMAC signing of the RFC's signing input
// gives the RFC's signature.
func TestRFC7515AppendixA1Sign(t *testing.T) {
	secret := mustDecode(t, a1Key)
	key, err := NewHMACKey("", HS256, secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := key.sign(a1SigningInput)
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.RawURLEncoding.EncodeToString(sig); got != a1Signature {
		t.Fatalf("HS256 signature = %s, want %s (RFC 7515 A.1)", got, a1Signature)
	}
	if err := key.verify(a1SigningInput, mustDecode(t, a1Signature)); err != nil {
		t.Fatalf("verify(RFC 7515 A.1) = %v", err)
	}
}

// RFC 8037 Appendix A: the Ed25519 private key d and public key x (A.1,
// A.2), and the JWS of A.4, which signs the payload "Example of Ed25519
// signing" under the header {"alg":"EdDSA"}. The payload is not a JWT.
const (
	rfc8037D         = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
	rfc8037X         = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
	rfc8037Header    = "eyJhbGciOiJFZERTQSJ9"
	rfc8037Payload   = "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
	rfc8037Signature = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)

func TestRFC8037AppendixA4(t *testing.T) {
	if got := string(mustDecode(t, rfc8037Header)); got != `{"alg":"EdDSA"}` {
		t.Fatalf("A.4 header = %s, want {\"alg\":\"EdDSA\"}", got)
	}
	if got := string(mustDecode(t, rfc8037Payload)); got != "Example of Ed25519 signing" {
		t.Fatalf("A.4 payload = %q", got)
	}
	priv := ed25519.NewKeyFromSeed(mustDecode(t, rfc8037D))
	x := mustDecode(t, rfc8037X)
	if !priv.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(x)) {
		t.Fatalf("the public key of d is not x (RFC 8037 A.2)")
	}
	input := rfc8037Header + "." + rfc8037Payload
	want := mustDecode(t, rfc8037Signature)

	signer, err := NewSigningKey("", EdDSA, priv)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := NewVerificationKey("", EdDSA, ed25519.PublicKey(x))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("verify", func(t *testing.T) {
		for name, k := range map[string]*Key{"signing key": signer, "verification key": verifier} {
			if err := k.verify(input, want); err != nil {
				t.Errorf("%s: verify(RFC 8037 A.4) = %v, want nil", name, err)
			}
		}
	})
	t.Run("sign is deterministic and matches", func(t *testing.T) {
		got, err := signer.sign(input)
		if err != nil {
			t.Fatal(err)
		}
		if enc := base64.RawURLEncoding.EncodeToString(got); enc != rfc8037Signature {
			t.Fatalf("Ed25519 signature = %s, want %s (RFC 8037 A.4)", enc, rfc8037Signature)
		}
	})
	t.Run("altered", func(t *testing.T) {
		bad := append([]byte(nil), want...)
		bad[10] ^= 0x40
		for name, in := range map[string]struct {
			input string
			sig   []byte
		}{
			"signature bit":   {input: input, sig: bad},
			"payload":         {input: rfc8037Header + "." + base64.RawURLEncoding.EncodeToString([]byte("Example of Ed25519 signinG")), sig: want},
			"short signature": {input: input, sig: want[:63]},
		} {
			err := verifier.verify(in.input, in.sig)
			if !errors.Is(err, ErrInvalidSignature) || !errors.Is(err, ErrInvalidToken) {
				t.Errorf("%s: verify = %v, want ErrInvalidSignature", name, err)
			}
		}
	})
	t.Run("through Verify", func(t *testing.T) {
		// The whole path takes the RFC's JWS past its signature (the header
		// has no kid and the key no ID), and only then refuses it: its
		// payload is not a JWT claims set.
		keys, err := NewKeySet(signer)
		if err != nil {
			t.Fatal(err)
		}
		issuer, err := NewIssuer(keys, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = issuer.Verify(context.Background(), input+"."+rfc8037Signature)
		if !errors.Is(err, ErrMalformedToken) {
			t.Fatalf("Verify(RFC 8037 A.4) = %v, want ErrMalformedToken (signature passed, payload not JSON)", err)
		}
		_, err = issuer.Verify(context.Background(), input+"."+base64.RawURLEncoding.EncodeToString(append(want[:63:63], want[63]^1)))
		if !errors.Is(err, ErrInvalidSignature) {
			t.Fatalf("Verify(RFC 8037 A.4, altered signature) = %v, want ErrInvalidSignature", err)
		}
	})
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return b
}

// verify checks sig over the signing input, as verification does.
func (k *Key) verify(signingInput string, sig []byte) error {
	sc := getScratch()
	defer putScratch(sc)
	return k.verifyWith(signingInput, sig, sc)
}
