package guardian

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
)

// verifyAsymmetric checks a JWS signature made with an RSA, ECDSA or
// Ed25519 key, straight on the standard library and without allocating
// beyond what the primitives do. msg is the signing input.
func verifyAsymmetric(alg Algorithm, pub crypto.PublicKey, msg, sig []byte, sc *scratch) bool {
	switch alg {
	case EdDSA:
		return ed25519.Verify(pub.(ed25519.PublicKey), msg, sig)
	case RS256, RS384, RS512:
		h, digest := hashOf(alg, msg, sc)
		return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), h, digest, sig) == nil
	case PS256, PS384, PS512:
		h, digest := hashOf(alg, msg, sc)
		return rsa.VerifyPSS(pub.(*rsa.PublicKey), h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
	case ES256, ES384, ES512:
		ek := pub.(*ecdsa.PublicKey)
		size := (ek.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size { // JWS carries r||s, each of fixed size (RFC 7518 §3.4)
			return false
		}
		_, digest := hashOf(alg, msg, sc)
		sc.der = derSignature(sc.der[:0], sig[:size], sig[size:])
		return ecdsa.VerifyASN1(ek, digest, sc.der)
	}
	return false
}

// hashOf hashes msg with the hash of alg into sc.sum.
func hashOf(alg Algorithm, msg []byte, sc *scratch) (crypto.Hash, []byte) {
	switch alg {
	case RS384, PS384, ES384:
		sum := sha512.Sum384(msg)
		return crypto.SHA384, append(sc.sum[:0], sum[:]...)
	case RS512, PS512, ES512:
		sum := sha512.Sum512(msg)
		return crypto.SHA512, append(sc.sum[:0], sum[:]...)
	}
	sum := sha256.Sum256(msg)
	return crypto.SHA256, append(sc.sum[:0], sum[:]...)
}

// derSignature appends the DER encoding of the ECDSA signature (r, s),
// given as unsigned big-endian integers, to dst: SEQUENCE { INTEGER r,
// INTEGER s }.
func derSignature(dst, r, s []byte) []byte {
	r, s = trimZeros(r), trimZeros(s)
	content := derIntegerLen(r) + derIntegerLen(s)
	dst = append(dst, 0x30)
	dst = derLength(dst, content)
	dst = derInteger(dst, r)
	return derInteger(dst, s)
}

func trimZeros(b []byte) []byte {
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// derIntegerLen is the encoded size of an INTEGER holding b (at most 127
// content bytes, as for every JWS curve).
func derIntegerLen(b []byte) int {
	n := len(b) + int(b[0]>>7) // a leading 0 keeps a high bit positive
	return 2 + n
}

func derInteger(dst, b []byte) []byte {
	dst = append(dst, 0x02, byte(len(b)+int(b[0]>>7)))
	if b[0]&0x80 != 0 {
		dst = append(dst, 0)
	}
	return append(dst, b...)
}

func derLength(dst []byte, n int) []byte {
	if n < 0x80 {
		return append(dst, byte(n))
	}
	return append(dst, 0x81, byte(n)) // n < 256 for every JWS curve
}
