package guardian

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"time"
)

// jwk is one JSON Web Key (RFC 7517) holding a public key.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg"`
	Use string `json:"use"`
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

// JWKSHandler returns an http.Handler serving the set's public keys as a
// JWK set (see [KeySet.JWKS]), for GET and HEAD, with
// "Cache-Control: public, max-age=<maxAge>" and an ETag, so verifiers cache
// it and revalidate cheaply. A maxAge of zero means five minutes. Keep
// rotated-out keys in the set until their last token has expired.
func JWKSHandler(keys *KeySet, maxAge time.Duration) (http.Handler, error) {
	body, err := keys.JWKS()
	if err != nil {
		return nil, err
	}
	if maxAge <= 0 {
		maxAge = 5 * time.Minute
	}
	sum := sha256.Sum256(body)
	etag := `"` + b64.EncodeToString(sum[:16]) + `"`
	cache := "public, max-age=" + strconv.Itoa(int(maxAge/time.Second))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Cache-Control", cache)
		h.Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", "application/jwk-set+json")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodHead {
			return
		}
		w.Write(body)
	}), nil
}

// ParseJWKS parses an RFC 7517 JWK set into verification keys, each pinned
// to its alg member, for tokens of another service or of a rotated signer.
// Keys without alg are refused (their algorithm would have to be guessed),
// as are private keys, symmetric keys and keys whose use is not "sig".
func ParseJWKS(data []byte) ([]*Key, error) {
	var set jwkSet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("%w: JWK set is not valid JSON: %v", ErrKey, err)
	}
	keys := make([]*Key, 0, len(set.Keys))
	for i, j := range set.Keys {
		k, err := parseJWK(j)
		if err != nil {
			return nil, fmt.Errorf("JWK #%d (kid %q): %w", i, j.Kid, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func parseJWK(j jwk) (*Key, error) {
	switch {
	case j.D != "":
		return nil, fmt.Errorf("%w: private key in a JWK set", ErrKey)
	case j.Alg == "":
		return nil, fmt.Errorf("%w: JWK without alg", ErrKey)
	case j.Use != "" && j.Use != "sig":
		return nil, fmt.Errorf("%w: JWK use %q is not sig", ErrKey, j.Use)
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
		if len(e) > 4 || new(big.Int).SetBytes(e).Int64() < 3 {
			return nil, fmt.Errorf("%w: unusable RSA exponent", ErrKey)
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	case "EC":
		curve := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}[j.Crv]
		if curve == nil {
			return nil, fmt.Errorf("%w: unsupported curve %q", ErrKey, j.Crv)
		}
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
			return nil, fmt.Errorf("%w: unsupported OKP curve %q", ErrKey, j.Crv)
		}
		x, err := decode("x", j.X)
		if err != nil {
			return nil, err
		}
		pub = ed25519.PublicKey(x)
	default:
		return nil, fmt.Errorf("%w: unsupported key type %q", ErrKey, j.Kty)
	}
	return NewVerificationKey(j.Kid, Algorithm(j.Alg), pub)
}
