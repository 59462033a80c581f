package guardian

import (
	"crypto"
	"crypto/elliptic"
)

// Algorithm is a JWS alg value. Each [Key] is pinned to one.
type Algorithm string

// The algorithms a Key can be pinned to. "none" is not among them and never
// verifies.
const (
	HS256 Algorithm = "HS256"
	HS384 Algorithm = "HS384"
	HS512 Algorithm = "HS512"
	RS256 Algorithm = "RS256"
	RS384 Algorithm = "RS384"
	RS512 Algorithm = "RS512"
	PS256 Algorithm = "PS256"
	PS384 Algorithm = "PS384"
	PS512 Algorithm = "PS512"
	ES256 Algorithm = "ES256"
	ES384 Algorithm = "ES384"
	ES512 Algorithm = "ES512"
	EdDSA Algorithm = "EdDSA"
	// Ed25519 is EdDSA with an Ed25519 key under its fully-specified name
	// (RFC 9864), which DPoP client libraries sign proofs with. It is
	// accepted for DPoP proofs only (DPoPOptions.Algorithms).
	Ed25519 Algorithm = "Ed25519"
)

// algFamily is the kind of key an algorithm needs.
type algFamily uint8

const (
	familyHMAC algFamily = iota + 1
	familyRSA            // RSASSA-PKCS1-v1_5
	familyPSS            // RSASSA-PSS
	familyECDSA
	familyEdDSA
)

// algInfo is what the library knows of an algorithm: the one table every
// key constructor, signature check and JWK uses.
type algInfo struct {
	family algFamily
	hash   crypto.Hash    // 0 for EdDSA
	curve  elliptic.Curve // ECDSA only
	crv    string         // the JWK crv of the curve, ECDSA only
}

// algorithms is the table. An algorithm missing from it is unsupported.
var algorithms = map[Algorithm]algInfo{
	HS256: {family: familyHMAC, hash: crypto.SHA256},
	HS384: {family: familyHMAC, hash: crypto.SHA384},
	HS512: {family: familyHMAC, hash: crypto.SHA512},
	RS256: {family: familyRSA, hash: crypto.SHA256},
	RS384: {family: familyRSA, hash: crypto.SHA384},
	RS512: {family: familyRSA, hash: crypto.SHA512},
	PS256: {family: familyPSS, hash: crypto.SHA256},
	PS384: {family: familyPSS, hash: crypto.SHA384},
	PS512: {family: familyPSS, hash: crypto.SHA512},
	ES256: {family: familyECDSA, hash: crypto.SHA256, curve: elliptic.P256(), crv: "P-256"},
	ES384: {family: familyECDSA, hash: crypto.SHA384, curve: elliptic.P384(), crv: "P-384"},
	ES512: {family: familyECDSA, hash: crypto.SHA512, curve: elliptic.P521(), crv: "P-521"},
	EdDSA: {family: familyEdDSA},
}
