package main

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"

	"github.com/guardian-go/guardian"
)

// loadKeys builds the key set: HS256 with AUTH_SECRET (or a random secret),
// or the -alg algorithm with the -key PEM private key.
func loadKeys(cfg config, logger *slog.Logger) (*guardian.KeySet, error) {
	var key *guardian.Key
	var err error
	switch cfg.alg {
	case "", "HS256":
		if cfg.key != "" {
			return nil, fmt.Errorf("-key needs -alg EdDSA, ES256 or RS256")
		}
		secret := []byte(cfg.secret)
		if len(secret) == 0 {
			logger.Warn("AUTH_SECRET is not set: signing with a random key; tokens will not survive a restart")
			secret = make([]byte, 32)
			rand.Read(secret)
		} else if len(secret) < 32 {
			return nil, fmt.Errorf("AUTH_SECRET must be at least 32 bytes for HS256, got %d", len(secret))
		}
		key, err = guardian.NewHMACKey("hs256", guardian.HS256, secret)
	case "EdDSA", "ES256", "RS256":
		if cfg.key == "" {
			return nil, fmt.Errorf("-alg %s needs -key PATH (a PEM private key)", cfg.alg)
		}
		pem, rerr := os.ReadFile(cfg.key)
		if rerr != nil {
			return nil, rerr
		}
		priv, perr := guardian.ParsePrivateKeyPEM(pem)
		if perr != nil {
			return nil, fmt.Errorf("%s: %w", cfg.key, perr)
		}
		kid, kerr := keyID(priv.Public())
		if kerr != nil {
			return nil, kerr
		}
		key, err = guardian.NewSigningKey(kid, guardian.Algorithm(cfg.alg), priv)
	default:
		return nil, fmt.Errorf("-alg %q: want EdDSA, ES256 or RS256", cfg.alg)
	}
	if err != nil {
		return nil, err
	}
	return guardian.NewKeySet(key)
}

// keyID names a public key by a digest of its encoding, so the same key
// always has the same kid.
func keyID(pub any) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:12]), nil
}
