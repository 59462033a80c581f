package guardian

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// The bounds of an RSA public key, for every constructor and, unless
// [JWKSOptions] says otherwise, for [ParseJWKS].
const (
	// minRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3).
	minRSABits = 2048
	// maxRSABits is the largest: verifying costs grow with the square of
	// the modulus size, so a huge key in a JWK set would make every token
	// forged for it cost the verifier tens or hundreds of milliseconds.
	maxRSABits = 8192
	// maxRSAExponent is the largest public exponent, as in crypto/rsa,
	// which refuses larger ones (and even ones) at every verification.
	maxRSAExponent = 1<<31 - 1
)

// A Key signs or verifies tokens with exactly one algorithm. Build it with
// [NewHMACKey], [NewSigningKey] or [NewVerificationKey]. A Key is immutable
// and safe for concurrent use.
type Key struct {
	id     string
	alg    Algorithm
	method jwt.SigningMethod // asymmetric algorithms
	hmac   *hmacPool         // HMAC algorithms
	signer crypto.Signer     // nil for verification-only keys
	public crypto.PublicKey  // asymmetric verification key; nil for HMAC
}

// ID returns the key's kid ("" when it has none).
func (k *Key) ID() string { return k.id }

// Algorithm returns the algorithm the key is pinned to.
func (k *Key) Algorithm() Algorithm { return k.alg }

// Public returns the public key of an asymmetric key, or nil for HMAC keys.
func (k *Key) Public() crypto.PublicKey { return k.public }

// CanSign reports whether the key holds a private or secret key.
func (k *Key) CanSign() bool { return k.signer != nil || k.hmac != nil }

// NewHMACKey returns a key for HS256, HS384 or HS512 with the given kid
// (may be empty). The secret must be at least as long as the hash output
// (32, 48 or 64 bytes; RFC 7518 §3.2); it is copied.
func NewHMACKey(id string, alg Algorithm, secret []byte) (*Key, error) {
	info, ok := algorithms[alg]
	if !ok || info.family != familyHMAC {
		return nil, fmt.Errorf("%w: %q is not an HMAC algorithm", ErrKey, alg)
	}
	newHash := info.hash.New
	if size := info.hash.Size(); len(secret) < size {
		return nil, fmt.Errorf("%w: %s needs a secret of at least %d bytes, got %d", ErrKey, alg, size, len(secret))
	}
	secret = append([]byte(nil), secret...)
	pool := &hmacPool{size: newHash().Size()}
	pool.pool.New = func() any { return hmac.New(newHash, secret) }
	return &Key{id: id, alg: alg, hmac: pool}, nil
}

// NewSigningKey returns a key that signs with priv (an *rsa.PrivateKey,
// *ecdsa.PrivateKey or ed25519.PrivateKey) and verifies with its public half.
// The key type must fit alg: RSA of 2048 to 8192 bits for RS* and PS*, the
// matching curve for ES256/384/512, Ed25519 for EdDSA.
func NewSigningKey(id string, alg Algorithm, priv crypto.Signer) (*Key, error) {
	if priv == nil {
		return nil, fmt.Errorf("%w: nil private key", ErrKey)
	}
	k, err := NewVerificationKey(id, alg, priv.Public())
	if err != nil {
		return nil, err
	}
	switch priv.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
	default:
		return nil, fmt.Errorf("%w: unsupported private key type %T", ErrKey, priv)
	}
	k.signer = priv
	return k, nil
}

// NewVerificationKey returns a key that only verifies, with pub (an
// *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey) pinned to alg: a
// key of a rotated-out signer, or of another service. An RSA key must have
// an odd modulus of 2048 to 8192 bits and an odd public exponent from 3 to
// 2^31-1.
func NewVerificationKey(id string, alg Algorithm, pub crypto.PublicKey) (*Key, error) {
	return newVerificationKey(id, alg, pub, minRSABits, maxRSABits)
}

// newVerificationKey is NewVerificationKey with RSA moduli of minRSA to
// maxRSA bits.
func newVerificationKey(id string, alg Algorithm, pub crypto.PublicKey, minRSA, maxRSA int) (*Key, error) {
	info, ok := algorithms[alg]
	if !ok {
		return nil, fmt.Errorf("%w: unsupported algorithm %q", ErrKey, alg)
	}
	switch info.family {
	case familyRSA, familyPSS:
		rk, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%w: %s needs an RSA key, got %T", ErrKey, alg, pub)
		}
		if err := checkRSAPublicKey(rk, minRSA, maxRSA); err != nil {
			return nil, err
		}
	case familyECDSA:
		ek, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%w: %s needs an ECDSA key, got %T", ErrKey, alg, pub)
		}
		if ek.Curve != info.curve {
			return nil, fmt.Errorf("%w: %s needs curve %s, got %s", ErrKey, alg, info.curve.Params().Name, ek.Curve.Params().Name)
		}
	case familyEdDSA:
		ek, ok := pub.(ed25519.PublicKey)
		if !ok || len(ek) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: EdDSA needs an Ed25519 key, got %T", ErrKey, pub)
		}
	case familyHMAC:
		return nil, fmt.Errorf("%w: %s keys are secrets; use NewHMACKey", ErrKey, alg)
	}
	method := jwt.GetSigningMethod(string(alg))
	return &Key{id: id, alg: alg, method: method, public: pub}, nil
}

// checkRSAPublicKey is the one rule for RSA public keys: a positive, odd
// modulus of minBits to maxBits bits and an odd public exponent from 3 to
// 2^31-1. Errors wrap ErrKey.
func checkRSAPublicKey(pub *rsa.PublicKey, minBits, maxBits int) error {
	if pub == nil || pub.N == nil || pub.N.Sign() <= 0 {
		return fmt.Errorf("%w: RSA key without a positive modulus", ErrKey)
	}
	switch bits := pub.N.BitLen(); {
	case bits < minBits:
		return fmt.Errorf("%w: RSA key of %d bits; at least %d required", ErrKey, bits, minBits)
	case bits > maxBits:
		return fmt.Errorf("%w: RSA key of %d bits; at most %d accepted", ErrKey, bits, maxBits)
	case pub.N.Bit(0) == 0:
		return fmt.Errorf("%w: RSA modulus is even", ErrKey)
	case pub.E < 3 || pub.E%2 == 0 || pub.E > maxRSAExponent:
		return fmt.Errorf("%w: RSA public exponent %d; want an odd number from 3 to 2^31-1", ErrKey, pub.E)
	}
	return nil
}
