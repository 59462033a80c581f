package guardian_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"testing"

	"github.com/guardian-go/guardian"
)

// equaler is what every crypto public key implements.
type equaler interface{ Equal(crypto.PublicKey) bool }

func TestParsePrivateKeyPEM(t *testing.T) {
	tests := []struct {
		file    string
		pubFile string // the public half, as PKIX
		check   func(crypto.Signer) error
	}{
		{file: "rsa2048_pkcs1.pem", pubFile: "rsa2048_pub.pem", check: isRSA(2048)},
		{file: "rsa2048_pkcs8.pem", pubFile: "rsa2048_pub.pem", check: isRSA(2048)},
		{file: "rsa1024_pkcs8.pem", check: isRSA(1024)},
		{file: "ec_p256_sec1.pem", pubFile: "ec_p256_pub.pem", check: isEC(elliptic.P256())},
		{file: "ec_p256_pkcs8.pem", pubFile: "ec_p256_pub.pem", check: isEC(elliptic.P256())},
		{file: "ec_p384_sec1.pem", pubFile: "ec_p384_pub.pem", check: isEC(elliptic.P384())},
		{file: "ec_p384_pkcs8.pem", pubFile: "ec_p384_pub.pem", check: isEC(elliptic.P384())},
		{file: "ec_p521_sec1.pem", pubFile: "ec_p521_pub.pem", check: isEC(elliptic.P521())},
		{file: "ec_p521_pkcs8.pem", pubFile: "ec_p521_pub.pem", check: isEC(elliptic.P521())},
		{file: "ed25519_pkcs8.pem", pubFile: "ed25519_pub.pem", check: isEd25519},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			k, err := guardian.ParsePrivateKeyPEM(readTestdata(t, tt.file))
			if err != nil {
				t.Fatalf("ParsePrivateKeyPEM: %v", err)
			}
			if err := tt.check(k); err != nil {
				t.Fatal(err)
			}
			if tt.pubFile == "" {
				return
			}
			pub := loadPublic(t, tt.pubFile)
			if !pub.(equaler).Equal(k.Public()) {
				t.Errorf("the public half of %s is not the key of %s", tt.file, tt.pubFile)
			}
		})
	}
}

func isRSA(bits int) func(crypto.Signer) error {
	return func(k crypto.Signer) error {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return fmt.Errorf("got %T, want *rsa.PrivateKey", k)
		}
		if got := rk.N.BitLen(); got != bits {
			return fmt.Errorf("got %d bits, want %d", got, bits)
		}
		return nil
	}
}

func isEC(curve elliptic.Curve) func(crypto.Signer) error {
	return func(k crypto.Signer) error {
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return fmt.Errorf("got %T, want *ecdsa.PrivateKey", k)
		}
		if ek.Curve != curve {
			return fmt.Errorf("got curve %s, want %s", ek.Curve.Params().Name, curve.Params().Name)
		}
		return nil
	}
}

func isEd25519(k crypto.Signer) error {
	if _, ok := k.(ed25519.PrivateKey); !ok {
		return fmt.Errorf("got %T, want ed25519.PrivateKey", k)
	}
	return nil
}

func TestParsePublicKeyPEM(t *testing.T) {
	tests := []struct {
		file     string
		sameAsOf string // a private key file whose public half this is
	}{
		{file: "rsa2048_pub.pem", sameAsOf: "rsa2048_pkcs8.pem"},
		{file: "rsa2048_pub_pkcs1.pem", sameAsOf: "rsa2048_pkcs8.pem"},
		{file: "rsa2048_cert.pem", sameAsOf: "rsa2048_pkcs1.pem"},
		{file: "ec_p256_pub.pem", sameAsOf: "ec_p256_sec1.pem"},
		{file: "ec_p384_pub.pem", sameAsOf: "ec_p384_sec1.pem"},
		{file: "ec_p521_pub.pem", sameAsOf: "ec_p521_sec1.pem"},
		{file: "ed25519_pub.pem", sameAsOf: "ed25519_pkcs8.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			pub, err := guardian.ParsePublicKeyPEM(readTestdata(t, tt.file))
			if err != nil {
				t.Fatalf("ParsePublicKeyPEM: %v", err)
			}
			want := loadSigner(t, tt.sameAsOf).Public()
			if !want.(equaler).Equal(pub) {
				t.Errorf("got a %T that is not the public half of %s", pub, tt.sameAsOf)
			}
		})
	}
}

func TestParsePEMRefusesWhatIsNotAKey(t *testing.T) {
	block := func(typ string, der []byte) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	}
	der := func(file string) []byte {
		b, _ := pem.Decode(readTestdata(t, file))
		return b.Bytes
	}
	tests := []struct {
		name    string
		data    []byte
		private bool // run ParsePrivateKeyPEM, else ParsePublicKeyPEM
	}{
		{name: "private: nil", data: nil, private: true},
		{name: "private: empty", data: []byte{}, private: true},
		{name: "private: garbage", data: []byte("this is not PEM at all\x00\xff"), private: true},
		{name: "private: DER without PEM armor", data: der("ec_p256_pkcs8.pem"), private: true},
		{name: "private: truncated armor", data: readTestdata(t, "ec_p256_pkcs8.pem")[:60], private: true},
		{name: "private: a public key block", data: readTestdata(t, "ec_p256_pub.pem"), private: true},
		{name: "private: a certificate", data: readTestdata(t, "rsa2048_cert.pem"), private: true},
		{name: "private: encrypted", data: block("ENCRYPTED PRIVATE KEY", der("ec_p256_pkcs8.pem")), private: true},
		{name: "private: unknown block type", data: block("OPENSSH PRIVATE KEY", der("ed25519_pkcs8.pem")), private: true},
		{name: "private: PKCS#8 DER in a PKCS#1 block", data: block("RSA PRIVATE KEY", der("rsa2048_pkcs8.pem")), private: true},
		{name: "private: SEC 1 DER in a PKCS#8 block", data: block("PRIVATE KEY", der("ec_p256_sec1.pem")), private: true},
		{name: "private: corrupt DER", data: block("PRIVATE KEY", []byte{0x30, 0x03, 0x02, 0x01}), private: true},
		{name: "private: empty DER", data: block("EC PRIVATE KEY", nil), private: true},
		{name: "public: nil", data: nil},
		{name: "public: empty", data: []byte{}},
		{name: "public: garbage", data: []byte("-----BEGIN nothing")},
		{name: "public: a private key block", data: readTestdata(t, "ec_p256_pkcs8.pem")},
		{name: "public: a PKCS#1 private key", data: readTestdata(t, "rsa2048_pkcs1.pem")},
		{name: "public: unknown block type", data: block("SSH PUBLIC KEY", der("ed25519_pub.pem"))},
		{name: "public: PKIX DER in a PKCS#1 block", data: block("RSA PUBLIC KEY", der("rsa2048_pub.pem"))},
		{name: "public: corrupt certificate", data: block("CERTIFICATE", der("rsa2048_pub.pem"))},
		{name: "public: corrupt DER", data: block("PUBLIC KEY", []byte("nope"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			var got any
			if tt.private {
				got, err = guardian.ParsePrivateKeyPEM(tt.data)
			} else {
				got, err = guardian.ParsePublicKeyPEM(tt.data)
			}
			wantErr(t, err, guardian.ErrKey)
			if got != nil {
				t.Errorf("got key %T with the error, want none", got)
			}
		})
	}
}

// TestParsedKeysBuildKeys: what the PEM parsers return is what the key
// constructors take.
func TestParsedKeysBuildKeys(t *testing.T) {
	for _, k := range asymmetricKeyFiles() {
		t.Run(string(k.alg), func(t *testing.T) {
			if _, err := guardian.NewSigningKey("k", k.alg, loadSigner(t, k.priv)); err != nil {
				t.Errorf("NewSigningKey with %s: %v", k.priv, err)
			}
			if _, err := guardian.NewVerificationKey("k", k.alg, loadPublic(t, k.pub)); err != nil {
				t.Errorf("NewVerificationKey with %s: %v", k.pub, err)
			}
		})
	}
}
