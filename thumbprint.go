package guardian

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
)

// thumbprint is the RFC 7638 SHA-256 thumbprint of a public JWK: the hash
// of its required members only, in lexicographic order, without white
// space. The key has been parsed, so its members are well formed.
func thumbprint(j jwk) (string, error) {
	var canonical []byte
	var err error
	switch j.Kty {
	case "EC":
		canonical, err = json.Marshal(struct {
			Crv string `json:"crv"`
			Kty string `json:"kty"`
			X   string `json:"x"`
			Y   string `json:"y"`
		}{j.Crv, j.Kty, j.X, j.Y})
	case "RSA":
		canonical, err = json.Marshal(struct {
			E   string `json:"e"`
			Kty string `json:"kty"`
			N   string `json:"n"`
		}{j.E, j.Kty, j.N})
	case "OKP":
		canonical, err = json.Marshal(struct {
			Crv string `json:"crv"`
			Kty string `json:"kty"`
			X   string `json:"x"`
		}{j.Crv, j.Kty, j.X})
	default:
		return "", fmt.Errorf("%w: no thumbprint for key type %.16q", ErrKey, j.Kty)
	}
	if err != nil {
		return "", fmt.Errorf("%w: thumbprint: %w", ErrKey, err)
	}
	sum := sha256.Sum256(canonical)
	return b64.EncodeToString(sum[:]), nil
}
