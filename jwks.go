package guardian

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// jwk is one JSON Web Key (RFC 7517) holding a public key.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	// KeyOps is key_ops; when present it must allow "verify".
	KeyOps []string `json:"key_ops,omitempty"`
	// RSA
	N string `json:"n,omitempty"`
	E string `json:"e,omitempty"`
	// EC and OKP
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	// D is read only to refuse private keys.
	D string `json:"d,omitempty"`
}

type jwkSet struct {
	Keys []jwk `json:"keys"`
}

// JWKS returns the public keys of the set as an RFC 7517 JWK set, each with
// kid, alg and use "sig". HMAC keys are secrets and never appear.
func (s *KeySet) JWKS() ([]byte, error) {
	set := jwkSet{Keys: []jwk{}}
	for _, k := range s.ordered {
		if k.public == nil {
			continue
		}
		j, err := publicJWK(k)
		if err != nil {
			return nil, err
		}
		set.Keys = append(set.Keys, j)
	}
	return json.Marshal(set)
}

func publicJWK(k *Key) (jwk, error) {
	j := jwk{Kid: k.id, Alg: string(k.alg), Use: "sig"}
	switch pub := k.public.(type) {
	case *rsa.PublicKey:
		j.Kty = "RSA"
		j.N = b64.EncodeToString(pub.N.Bytes())
		j.E = b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		point, err := pub.Bytes() // 0x04 || X || Y, fixed-size coordinates
		if err != nil {
			return jwk{}, fmt.Errorf("%w: %v", ErrKey, err)
		}
		size := (len(point) - 1) / 2
		j.Kty, j.Crv = "EC", pub.Curve.Params().Name
		j.X = b64.EncodeToString(point[1 : 1+size])
		j.Y = b64.EncodeToString(point[1+size:])
	case ed25519.PublicKey:
		j.Kty, j.Crv = "OKP", "Ed25519"
		j.X = b64.EncodeToString(pub)
	default:
		return jwk{}, fmt.Errorf("%w: no JWK form for %T", ErrKey, pub)
	}
	return j, nil
}

// A KeySource yields the current key set. An [*Issuer] is one, and follows
// [Issuer.Rotate]; [KeySetFunc] makes one of a function, or of a fixed set.
type KeySource interface {
	Keys() *KeySet
}

// KeySetFunc adapts a function to a [KeySource]. For a fixed set:
//
//	guardian.KeySetFunc(func() *guardian.KeySet { return keys })
type KeySetFunc func() *KeySet

// Keys returns f().
func (f KeySetFunc) Keys() *KeySet { return f() }

// jwksDoc is the encoded JWK set of one key set, as served.
type jwksDoc struct {
	keys *KeySet
	body []byte
	etag string
}

func newJWKSDoc(keys *KeySet) (*jwksDoc, error) {
	if keys == nil {
		return nil, fmt.Errorf("%w: nil key set", ErrKey)
	}
	body, err := keys.JWKS()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	return &jwksDoc{keys: keys, body: body, etag: `"` + b64.EncodeToString(sum[:16]) + `"`}, nil
}

// JWKSHandler returns an http.Handler serving the public keys of src's
// current key set as a JWK set (see [KeySet.JWKS]), for GET and HEAD, with
// "Cache-Control: public, max-age=<maxAge>" and an ETag, so verifiers cache
// it and revalidate cheaply. A maxAge of zero means five minutes.
//
// Pass the [*Issuer]: after [Issuer.Rotate] the handler serves the new set,
// with a new ETag. The set is encoded once per *KeySet that src returns,
// not per request. Verifiers may keep the old set for maxAge: keep
// rotated-out keys in the set until their last token has expired, and
// publish a new key as a verification key for maxAge before signing with
// it. JWKSHandler returns an error if src's current set cannot be encoded.
func JWKSHandler(src KeySource, maxAge time.Duration) (http.Handler, error) {
	if src == nil {
		return nil, fmt.Errorf("%w: nil key source", ErrKey)
	}
	first, err := newJWKSDoc(src.Keys())
	if err != nil {
		return nil, err
	}
	var current atomic.Pointer[jwksDoc]
	current.Store(first)
	if maxAge <= 0 {
		maxAge = 5 * time.Minute
	}
	cache := "public, max-age=" + strconv.Itoa(int(maxAge/time.Second))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		doc := current.Load()
		if keys := src.Keys(); keys != doc.keys {
			fresh, err := newJWKSDoc(keys)
			if err != nil {
				http.Error(w, "JWK set unavailable", http.StatusInternalServerError)
				return
			}
			current.CompareAndSwap(doc, fresh) // a concurrent request may have stored a newer one
			doc = fresh
		}
		h := w.Header()
		h.Set("Cache-Control", cache)
		h.Set("ETag", doc.etag)
		if r.Header.Get("If-None-Match") == doc.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", "application/jwk-set+json")
		h.Set("Content-Length", strconv.Itoa(len(doc.body)))
		if r.Method == http.MethodHead {
			return
		}
		w.Write(doc.body)
	}), nil
}

// JWKSOptions configures [ParseJWKSWithOptions]. A nil *JWKSOptions, and
// every zero field, means the documented default.
type JWKSOptions struct {
	// MinRSABits is the smallest RSA modulus accepted, in bits. It can
	// raise the floor of 2048 bits (RFC 7518 §3.3), never lower it.
	// Default: 2048.
	MinRSABits int
	// MaxRSABits is the largest RSA modulus accepted, in bits. Checking a
	// signature costs time growing with the square of the modulus size,
	// for every token naming the key, forged or not: raise it only for a
	// peer known to use larger keys. Default: 8192.
	MaxRSABits int
}

// ParseJWKS parses an RFC 7517 JWK set into verification keys, each pinned
// to its alg member, for tokens of another service or of a rotated signer.
// Keys without alg are refused (their algorithm would have to be guessed),
// as are private keys, symmetric keys, keys whose use is not "sig", and
// RSA keys outside the bounds of [NewVerificationKey]: an odd modulus of
// 2048 to 8192 bits, an odd public exponent from 3 to 2^31-1. Every error
// wraps [ErrKey]. It is [ParseJWKSWithOptions] with nil options.
func ParseJWKS(data []byte) ([]*Key, error) {
	return ParseJWKSWithOptions(data, nil)
}

// ParseJWKSWithOptions is [ParseJWKS] with the RSA key sizes of opts, which
// may be nil. Errors about the document wrap [ErrKey]; invalid options
// are reported as such.
func ParseJWKSWithOptions(data []byte, opts *JWKSOptions) ([]*Key, error) {
	rules, err := newJWKRules(opts, nil)
	if err != nil {
		return nil, err
	}
	set, err := decodeJWKSet(data)
	if err != nil {
		return nil, err
	}
	keys := make([]*Key, 0, len(set.Keys))
	for i, j := range set.Keys {
		k, err := rules.parse(j)
		if err != nil {
			return nil, fmt.Errorf("JWK #%d (kid %q): %w", i, j.Kid, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// jwkRules are what a JWK must satisfy to become a verification key.
type jwkRules struct {
	minRSA, maxRSA int
	// algorithms, when not empty, are the only algorithms keys may be
	// pinned to, and give one to JWKs without alg: the first that fits.
	algorithms []Algorithm
}

func newJWKRules(opts *JWKSOptions, allowed []Algorithm) (jwkRules, error) {
	r := jwkRules{minRSA: minRSABits, maxRSA: maxRSABits, algorithms: allowed}
	if opts != nil {
		if opts.MinRSABits != 0 {
			r.minRSA = opts.MinRSABits
		}
		if opts.MaxRSABits != 0 {
			r.maxRSA = opts.MaxRSABits
		}
	}
	if r.minRSA < minRSABits {
		return r, fmt.Errorf("%w: JWKSOptions.MinRSABits %d is below the floor of %d", ErrConfig, r.minRSA, minRSABits)
	}
	if r.maxRSA < r.minRSA {
		return r, fmt.Errorf("%w: JWKSOptions.MaxRSABits %d is below the minimum of %d", ErrConfig, r.maxRSA, r.minRSA)
	}
	for _, a := range allowed {
		info, ok := algorithms[a]
		if !ok || info.family == familyHMAC {
			return r, fmt.Errorf("%w: %q is not an asymmetric algorithm this library verifies", ErrConfig, a)
		}
	}
	return r, nil
}

func decodeJWKSet(data []byte) (jwkSet, error) {
	var set jwkSet
	if err := json.Unmarshal(data, &set); err != nil {
		return set, fmt.Errorf("%w: JWK set is not valid JSON: %v", ErrKey, err)
	}
	if set.Keys == nil {
		return set, fmt.Errorf("%w: JWK set without a keys member", ErrKey)
	}
	return set, nil
}

// parse makes a verification key of j, or says why it cannot.
func (r jwkRules) parse(j jwk) (*Key, error) {
	alg, err := r.algorithm(j)
	if err != nil {
		return nil, err
	}
	return parseJWK(j, alg, r.minRSA, r.maxRSA)
}

// algorithm is the algorithm j's key is pinned to: its alg member, which
// must be allowed, or, without one, the first allowed algorithm that fits
// its key type. Never the token's.
func (r jwkRules) algorithm(j jwk) (Algorithm, error) {
	if j.Alg != "" {
		if len(r.algorithms) > 0 && !slices.Contains(r.algorithms, Algorithm(j.Alg)) {
			return "", fmt.Errorf("%w: JWK alg %.16q is not among the allowed algorithms", ErrKey, j.Alg)
		}
		return Algorithm(j.Alg), nil
	}
	if len(r.algorithms) == 0 {
		return "", fmt.Errorf("%w: JWK without alg (configure the issuer's algorithms to accept it)", ErrKey)
	}
	for _, a := range r.algorithms {
		info := algorithms[a]
		switch {
		case j.Kty == "RSA" && (info.family == familyRSA || info.family == familyPSS),
			j.Kty == "EC" && info.family == familyECDSA && info.crv == j.Crv,
			j.Kty == "OKP" && info.family == familyEdDSA && j.Crv == "Ed25519":
			return a, nil
		}
	}
	return "", fmt.Errorf("%w: JWK without alg, and no allowed algorithm fits its key type %.16q", ErrKey, j.Kty)
}

// parseJWK parses one JWK into a key pinned to alg, with an RSA modulus of
// minRSA to maxRSA bits. x5c and x5u members are never read or followed.
func parseJWK(j jwk, alg Algorithm, minRSA, maxRSA int) (*Key, error) {
	switch {
	case j.D != "":
		return nil, fmt.Errorf("%w: private key in a JWK set", ErrKey)
	case j.Use != "" && j.Use != "sig":
		return nil, fmt.Errorf("%w: JWK use %.16q is not sig", ErrKey, j.Use)
	case j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify"):
		return nil, fmt.Errorf("%w: JWK key_ops does not allow verify", ErrKey)
	}
	decode := func(field, v string) ([]byte, error) {
		b, err := b64.DecodeString(v)
		if err != nil || len(b) == 0 {
			return nil, fmt.Errorf("%w: JWK member %s is not base64url", ErrKey, field)
		}
		return b, nil
	}
	var pub any
	switch j.Kty {
	case "RSA":
		n, err := decode("n", j.N)
		if err != nil {
			return nil, err
		}
		e, err := decode("e", j.E)
		if err != nil {
			return nil, err
		}
		exp := new(big.Int).SetBytes(e)
		if exp.BitLen() > 31 { // past maxRSAExponent, and past int on 32-bit platforms
			return nil, fmt.Errorf("%w: RSA public exponent of %d bits; want an odd number from 3 to 2^31-1", ErrKey, exp.BitLen())
		}
		// The bounds of n and e are checked by checkRSAPublicKey.
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}
	case "EC":
		info := algorithms[alg]
		if info.family != familyECDSA || info.crv != j.Crv {
			return nil, fmt.Errorf("%w: curve %.16q does not fit alg %.16q", ErrKey, j.Crv, alg)
		}
		curve := info.curve
		x, err := decode("x", j.X)
		if err != nil {
			return nil, err
		}
		y, err := decode("y", j.Y)
		if err != nil {
			return nil, err
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(x) != size || len(y) != size {
			return nil, fmt.Errorf("%w: EC coordinates of the wrong size", ErrKey)
		}
		pk, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKey, err)
		}
		pub = pk
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, fmt.Errorf("%w: unsupported OKP curve %.16q", ErrKey, j.Crv)
		}
		x, err := decode("x", j.X)
		if err != nil {
			return nil, err
		}
		pub = ed25519.PublicKey(x)
	case "oct":
		return nil, fmt.Errorf("%w: symmetric key in a JWK set", ErrKey)
	default:
		return nil, fmt.Errorf("%w: unsupported key type %.16q", ErrKey, j.Kty)
	}
	return newVerificationKey(j.Kid, alg, pub, minRSA, maxRSA)
}
