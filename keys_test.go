package guardian_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"math/big"
	"strconv"
	"testing"

	"github.com/guardian-go/guardian"
)

// asymmetricKeyFiles names the asymmetric keys of testdata, by algorithm.
func asymmetricKeyFiles() []struct {
	alg  guardian.Algorithm
	priv string
	pub  string
} {
	return []struct {
		alg  guardian.Algorithm
		priv string
		pub  string
	}{
		{alg: guardian.RS256, priv: "rsa2048_pkcs1.pem", pub: "rsa2048_pub.pem"},
		{alg: guardian.RS384, priv: "rsa2048_pkcs8.pem", pub: "rsa2048_pub.pem"},
		{alg: guardian.RS512, priv: "rsa2048_pkcs8.pem", pub: "rsa2048_cert.pem"},
		{alg: guardian.PS256, priv: "rsa2048_pkcs8.pem", pub: "rsa2048_pub_pkcs1.pem"},
		{alg: guardian.PS384, priv: "rsa2048_pkcs1.pem", pub: "rsa2048_pub.pem"},
		{alg: guardian.PS512, priv: "rsa2048_pkcs8.pem", pub: "rsa2048_pub.pem"},
		{alg: guardian.ES256, priv: "ec_p256_sec1.pem", pub: "ec_p256_pub.pem"},
		{alg: guardian.ES384, priv: "ec_p384_pkcs8.pem", pub: "ec_p384_pub.pem"},
		{alg: guardian.ES512, priv: "ec_p521_sec1.pem", pub: "ec_p521_pub.pem"},
		{alg: guardian.EdDSA, priv: "ed25519_pkcs8.pem", pub: "ed25519_pub.pem"},
	}
}

func TestEveryAlgorithmRoundTrips(t *testing.T) {
	ctx := context.Background()
	type keyCase struct {
		name    string
		alg     guardian.Algorithm
		signing func(t *testing.T) *guardian.Key
		// verifyOnly, when set, is the same key without its private half.
		verifyOnly func(t *testing.T) *guardian.Key
	}
	var tests []keyCase
	for _, h := range []struct {
		alg  guardian.Algorithm
		size int
	}{{alg: guardian.HS256, size: 32}, {alg: guardian.HS384, size: 48}, {alg: guardian.HS512, size: 64}} {
		tests = append(tests, keyCase{
			name: string(h.alg),
			alg:  h.alg,
			signing: func(t *testing.T) *guardian.Key {
				return mustHMACKey(t, "sig", h.alg, bytes.Repeat([]byte{0x5a}, h.size))
			},
		})
	}
	for _, k := range asymmetricKeyFiles() {
		tests = append(tests, keyCase{
			name: string(k.alg),
			alg:  k.alg,
			signing: func(t *testing.T) *guardian.Key {
				return mustSigningKey(t, "sig", k.alg, loadSigner(t, k.priv))
			},
			verifyOnly: func(t *testing.T) *guardian.Key {
				vk, err := guardian.NewVerificationKey("sig", k.alg, loadPublic(t, k.pub))
				if err != nil {
					t.Fatalf("NewVerificationKey(%s, %s): %v", k.alg, k.pub, err)
				}
				return vk
			},
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := tt.signing(t)
			if got := key.Algorithm(); got != tt.alg {
				t.Errorf("Algorithm() = %s, want %s", got, tt.alg)
			}
			if !key.CanSign() {
				t.Errorf("CanSign() = false for a signing key, want true")
			}
			issuer := mustIssuer(t, mustKeySet(t, key), nil)
			tok, err := issuer.Issue(ctx, "u1", nil)
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			if got := headerOf(t, tok.Raw)["alg"]; got != string(tt.alg) {
				t.Errorf("header alg = %v, want %s", got, tt.alg)
			}
			c, err := issuer.Verify(ctx, tok.Raw)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Subject != "u1" {
				t.Errorf("Subject = %q, want u1", c.Subject)
			}
			if tt.verifyOnly == nil {
				return
			}
			// A verifier holding only the public key accepts the token:
			// the public half is what other services are given.
			vk := tt.verifyOnly(t)
			if vk.CanSign() {
				t.Errorf("CanSign() = true for a verification key, want false")
			}
			if vk.Public() == nil {
				t.Errorf("Public() = nil for an asymmetric key")
			}
			other := mustHMACKey(t, "other", guardian.HS256, testSecret)
			verifier := mustIssuer(t, mustKeySet(t, other, vk), nil)
			if _, err := verifier.Verify(ctx, tok.Raw); err != nil {
				t.Errorf("Verify with the public key only: %v", err)
			}
		})
	}
}

func TestHMACSecretLength(t *testing.T) {
	tests := []struct {
		alg     guardian.Algorithm
		size    int
		wantErr bool
	}{
		{alg: guardian.HS256, size: 0, wantErr: true},
		{alg: guardian.HS256, size: 31, wantErr: true},
		{alg: guardian.HS256, size: 32},
		{alg: guardian.HS384, size: 32, wantErr: true},
		{alg: guardian.HS384, size: 47, wantErr: true},
		{alg: guardian.HS384, size: 48},
		{alg: guardian.HS512, size: 48, wantErr: true},
		{alg: guardian.HS512, size: 63, wantErr: true},
		{alg: guardian.HS512, size: 64},
		{alg: guardian.HS512, size: 100},
	}
	for _, tt := range tests {
		t.Run(string(tt.alg)+"/"+strconv.Itoa(tt.size), func(t *testing.T) {
			_, err := guardian.NewHMACKey("k", tt.alg, bytes.Repeat([]byte{1}, tt.size))
			if tt.wantErr {
				wantErr(t, err, guardian.ErrKey)
				return
			}
			wantErr(t, err)
		})
	}
}

func TestNewHMACKeyRefusesOtherAlgorithms(t *testing.T) {
	for _, alg := range []guardian.Algorithm{guardian.RS256, guardian.ES256, guardian.EdDSA, "none", "", "hs256"} {
		t.Run(string(alg), func(t *testing.T) {
			_, err := guardian.NewHMACKey("k", alg, bytes.Repeat([]byte{1}, 64))
			wantErr(t, err, guardian.ErrKey)
		})
	}
}

// TestHMACSecretIsCopied: a caller that reuses or wipes its buffer must not
// change the key.
func TestHMACSecretIsCopied(t *testing.T) {
	ctx := context.Background()
	secret := bytes.Repeat([]byte{7}, 32)
	key := mustHMACKey(t, "k", guardian.HS256, secret)
	clear(secret) // before the key was ever used
	tok, err := mustIssuer(t, mustKeySet(t, key), nil).Issue(ctx, "u1", nil)
	if err != nil {
		t.Fatal(err)
	}
	original := mustHMACKey(t, "k", guardian.HS256, bytes.Repeat([]byte{7}, 32))
	if _, err := mustIssuer(t, mustKeySet(t, original), nil).Verify(ctx, tok.Raw); err != nil {
		t.Fatalf("a token signed after the caller wiped its buffer does not verify under the original secret: %v", err)
	}
}

func TestRSAKeysUnder2048BitsRefused(t *testing.T) {
	small := loadSigner(t, "rsa1024_pkcs8.pem")
	if got := small.Public().(*rsa.PublicKey).N.BitLen(); got != 1024 {
		t.Fatalf("testdata key has %d bits, want 1024", got)
	}
	for _, alg := range []guardian.Algorithm{guardian.RS256, guardian.RS384, guardian.RS512, guardian.PS256, guardian.PS384, guardian.PS512} {
		t.Run(string(alg), func(t *testing.T) {
			_, err := guardian.NewSigningKey("k", alg, small)
			wantErr(t, err, guardian.ErrKey)
			_, err = guardian.NewVerificationKey("k", alg, small.Public())
			wantErr(t, err, guardian.ErrKey)
		})
	}
}

// TestNewVerificationKeyBoundsRSA: keys built in code or from PEM follow the
// same RSA rule as those of a JWK set (TestParseJWKSBoundsRSA).
func TestNewVerificationKeyBoundsRSA(t *testing.T) {
	real := loadPublic(t, "rsa2048_pub.pem").(*rsa.PublicKey)
	big16384 := new(big.Int).Lsh(big.NewInt(1), 16383)
	tests := []struct {
		name string
		pub  *rsa.PublicKey
	}{
		{name: "no modulus", pub: &rsa.PublicKey{E: 65537}},
		{name: "negative modulus", pub: &rsa.PublicKey{N: new(big.Int).Neg(real.N), E: 65537}},
		{name: "16384-bit modulus", pub: &rsa.PublicKey{N: big16384.SetBit(big16384, 0, 1), E: 65537}},
		{name: "even modulus", pub: &rsa.PublicKey{N: new(big.Int).Add(real.N, big.NewInt(1)), E: 65537}},
		{name: "e=1", pub: &rsa.PublicKey{N: real.N, E: 1}},
		{name: "e=-3", pub: &rsa.PublicKey{N: real.N, E: -3}},
		{name: "e=65536", pub: &rsa.PublicKey{N: real.N, E: 65536}},
		{name: "e=2^31+1", pub: &rsa.PublicKey{N: real.N, E: 1<<31 + 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := guardian.NewVerificationKey("k", guardian.RS256, tt.pub)
			wantErr(t, err, guardian.ErrKey)
		})
	}
	if _, err := guardian.NewVerificationKey("k", guardian.PS256, real); err != nil {
		t.Fatalf("NewVerificationKey(2048-bit testdata key) = %v", err)
	}
}

func TestKeyMustFitAlgorithm(t *testing.T) {
	rsaKey := loadSigner(t, "rsa2048_pkcs8.pem")
	p256 := loadSigner(t, "ec_p256_pkcs8.pem")
	p384 := loadSigner(t, "ec_p384_sec1.pem")
	p521 := loadSigner(t, "ec_p521_pkcs8.pem")
	ed := loadSigner(t, "ed25519_pkcs8.pem")
	tests := []struct {
		name string
		alg  guardian.Algorithm
		priv crypto.Signer
	}{
		{name: "ES256 with P-384", alg: guardian.ES256, priv: p384},
		{name: "ES256 with P-521", alg: guardian.ES256, priv: p521},
		{name: "ES384 with P-256", alg: guardian.ES384, priv: p256},
		{name: "ES512 with P-384", alg: guardian.ES512, priv: p384},
		{name: "ES256 with RSA", alg: guardian.ES256, priv: rsaKey},
		{name: "ES256 with Ed25519", alg: guardian.ES256, priv: ed},
		{name: "RS256 with P-256", alg: guardian.RS256, priv: p256},
		{name: "PS256 with Ed25519", alg: guardian.PS256, priv: ed},
		{name: "EdDSA with RSA", alg: guardian.EdDSA, priv: rsaKey},
		{name: "EdDSA with P-256", alg: guardian.EdDSA, priv: p256},
		{name: "none", alg: "none", priv: ed},
		{name: "empty algorithm", alg: "", priv: p256},
		{name: "lower-case es256", alg: "es256", priv: p256},
		{name: "HS256 with RSA", alg: guardian.HS256, priv: rsaKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := guardian.NewSigningKey("k", tt.alg, tt.priv)
			wantErr(t, err, guardian.ErrKey)
			_, err = guardian.NewVerificationKey("k", tt.alg, tt.priv.Public())
			wantErr(t, err, guardian.ErrKey)
		})
	}
}

func TestNewVerificationKeyRefusesHMAC(t *testing.T) {
	for _, alg := range []guardian.Algorithm{guardian.HS256, guardian.HS384, guardian.HS512} {
		t.Run(string(alg), func(t *testing.T) {
			for _, pub := range []crypto.PublicKey{bytes.Repeat([]byte{1}, 64), nil, loadPublic(t, "rsa2048_pub.pem")} {
				_, err := guardian.NewVerificationKey("k", alg, pub)
				wantErr(t, err, guardian.ErrKey)
			}
		})
	}
}

func TestNewVerificationKeyRefusesOddKeys(t *testing.T) {
	tests := []struct {
		name string
		alg  guardian.Algorithm
		pub  crypto.PublicKey
	}{
		{name: "nil RSA", alg: guardian.RS256, pub: nil},
		{name: "nil EC", alg: guardian.ES256, pub: nil},
		{name: "nil Ed25519", alg: guardian.EdDSA, pub: nil},
		{name: "short Ed25519", alg: guardian.EdDSA, pub: ed25519.PublicKey(make([]byte, 31))},
		{name: "Ed25519 private key as public", alg: guardian.EdDSA, pub: ed25519.NewKeyFromSeed(make([]byte, 32))},
		{name: "EC private key as public", alg: guardian.ES256, pub: loadSigner(t, "ec_p256_sec1.pem")},
		{name: "RSA private key as public", alg: guardian.RS256, pub: loadSigner(t, "rsa2048_pkcs1.pem")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := guardian.NewVerificationKey("k", tt.alg, tt.pub)
			wantErr(t, err, guardian.ErrKey)
		})
	}
}

// opaqueSigner is a crypto.Signer of a type the library does not know (an
// HSM handle, say), with a perfectly good RSA public key.
type opaqueSigner struct{ inner crypto.Signer }

func (s opaqueSigner) Public() crypto.PublicKey { return s.inner.Public() }
func (s opaqueSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return s.inner.Sign(r, d, o)
}

func TestNewSigningKeyRefusesNilAndUnknownSigners(t *testing.T) {
	_, err := guardian.NewSigningKey("k", guardian.ES256, nil)
	wantErr(t, err, guardian.ErrKey)
	_, err = guardian.NewSigningKey("k", guardian.RS256, opaqueSigner{loadSigner(t, "rsa2048_pkcs8.pem")})
	wantErr(t, err, guardian.ErrKey)
}

func TestNewKeySet(t *testing.T) {
	hs := func(id string) *guardian.Key { return mustHMACKey(t, id, guardian.HS256, testSecret) }
	verifyOnly, err := guardian.NewVerificationKey("v", guardian.ES256, loadPublic(t, "ec_p256_pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	verifyOnlyNoID, err := guardian.NewVerificationKey("", guardian.ES256, loadPublic(t, "ec_p256_pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		signing *guardian.Key
		others  []*guardian.Key
		wantErr bool
	}{
		{name: "one key", signing: hs("a")},
		{name: "one key without ID", signing: hs("")},
		{name: "rotation", signing: hs("new"), others: []*guardian.Key{hs("old"), verifyOnly}},
		{name: "one empty ID among others", signing: hs("a"), others: []*guardian.Key{verifyOnlyNoID}},
		{name: "nil signing key", signing: nil, wantErr: true},
		{name: "verify-only signing key", signing: verifyOnly, wantErr: true},
		{name: "nil verification key", signing: hs("a"), others: []*guardian.Key{nil}, wantErr: true},
		{name: "duplicate kid", signing: hs("a"), others: []*guardian.Key{hs("b"), hs("a")}, wantErr: true},
		{name: "duplicate kid of another type", signing: hs("v"), others: []*guardian.Key{verifyOnly}, wantErr: true},
		{name: "two keys without ID", signing: hs(""), others: []*guardian.Key{verifyOnlyNoID}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := guardian.NewKeySet(tt.signing, tt.others...)
			if tt.wantErr {
				wantErr(t, err, guardian.ErrKey)
				if ks != nil {
					t.Errorf("got a key set with the error, want nil")
				}
				return
			}
			wantErr(t, err)
			if ks.SigningKey() != tt.signing {
				t.Errorf("SigningKey() is not the signing key given")
			}
			keys := ks.Keys()
			if len(keys) != 1+len(tt.others) || keys[0] != tt.signing {
				t.Fatalf("Keys() = %d keys, signing first %v; want %d, signing first", len(keys), keys[0] == tt.signing, 1+len(tt.others))
			}
			for i, k := range tt.others {
				if keys[i+1] != k {
					t.Errorf("Keys()[%d] is not the %d-th verification key", i+1, i)
				}
			}
			keys[0] = nil // a copy: the set is immutable
			if ks.Keys()[0] == nil {
				t.Errorf("Keys() returned the set's own slice")
			}
		})
	}
}

func TestNewIssuerRefusesNilKeySet(t *testing.T) {
	_, err := guardian.NewIssuer(nil, nil)
	wantErr(t, err, guardian.ErrKey)
}

// TestVerificationUsesTheKeyTheKidNames: during rotation, tokens of the old
// key verify with it, and a token signed by the old key but claiming the
// new kid fails.
func TestVerificationUsesTheKeyTheKidNames(t *testing.T) {
	ctx := context.Background()
	oldKey := mustSigningKey(t, "old", guardian.ES256, loadSigner(t, "ec_p256_sec1.pem"))
	newKey := mustSigningKey(t, "new", guardian.EdDSA, loadSigner(t, "ed25519_pkcs8.pem"))
	oldIssuer := mustIssuer(t, mustKeySet(t, oldKey), nil)
	rotated := mustIssuer(t, mustKeySet(t, newKey, oldKey), nil)

	oldTok, err := oldIssuer.Issue(ctx, "u1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rotated.Verify(ctx, oldTok.Raw); err != nil {
		t.Fatalf("a token of the rotated-out key: got %v, want it accepted", err)
	}
	newTok, err := rotated.Issue(ctx, "u1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := headerOf(t, newTok.Raw)["kid"]; got != "new" {
		t.Errorf("new token kid = %v, want new", got)
	}
	if _, err := oldIssuer.Verify(ctx, newTok.Raw); !errors.Is(err, guardian.ErrUnknownKey) {
		t.Errorf("the old verifier and a new-key token: got %v, want ErrUnknownKey", err)
	}
	// Same algorithm, another key under the same kid: the signature fails.
	impostor := mustSigningKey(t, "old", guardian.ES256, mustECKey(t))
	forged, err := mustIssuer(t, mustKeySet(t, impostor), nil).Issue(ctx, "admin", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rotated.Verify(ctx, forged.Raw)
	wantTokenErr(t, err, guardian.ErrInvalidSignature)
}

// mustECKey returns a fresh P-256 key, distinct from the testdata one.
func mustECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
