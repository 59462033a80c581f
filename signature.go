package guardian

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"sync"
)

// sign returns the signature of the JWS signing input.
func (k *Key) sign(signingInput string) ([]byte, error) {
	if k.hmac != nil {
		buf := []byte(signingInput)
		return append([]byte(nil), k.hmac.sum(buf, len(buf))...), nil
	}
	if k.signer == nil {
		return nil, fmt.Errorf("%w: key %q cannot sign", ErrKey, k.id)
	}
	return k.method.Sign(signingInput, k.signer)
}

// verifyWith checks sig over the signing input, with buffers from sc.
func (k *Key) verifyWith(signingInput string, sig []byte, sc *scratch) error {
	if k.hmac != nil {
		if len(sig) != k.hmac.size {
			return invalid(ErrInvalidSignature, "")
		}
		sc.mac = append(sc.mac[:0], signingInput...)
		sum := k.hmac.sum(sc.mac, len(sc.mac))
		if !hmac.Equal(sum, sig) {
			return invalid(ErrInvalidSignature, "")
		}
		return nil
	}
	sc.mac = append(sc.mac[:0], signingInput...)
	if !verifyAsymmetric(k.alg, k.public, sc.mac, sig, sc) {
		return invalid(ErrInvalidSignature, "")
	}
	return nil
}

// hmacPool reuses keyed HMAC states: hmac.New per request costs more than
// the hash itself for short tokens.
type hmacPool struct {
	pool sync.Pool
	size int
}

// sum computes the MAC of buf[:n] and appends it to buf, returning the MAC
// (a subslice of the grown buf).
func (p *hmacPool) sum(buf []byte, n int) []byte {
	h := p.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(buf[:n])
	buf = h.Sum(buf[:n])
	p.pool.Put(h)
	return buf[n:]
}

// verifyAsymmetric checks a JWS signature made with an RSA, ECDSA or
// Ed25519 key, straight on the standard library and without allocating
// beyond what the primitives do. msg is the signing input.
func verifyAsymmetric(alg Algorithm, pub crypto.PublicKey, msg, sig []byte, sc *scratch) bool {
	info := algorithms[alg]
	switch info.family {
	case familyEdDSA:
		return ed25519.Verify(pub.(ed25519.PublicKey), msg, sig)
	case familyRSA:
		return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), info.hash, digest(info.hash, msg, sc), sig) == nil
	case familyPSS:
		return rsa.VerifyPSS(pub.(*rsa.PublicKey), info.hash, digest(info.hash, msg, sc), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
	case familyECDSA:
		ek := pub.(*ecdsa.PublicKey)
		size := (ek.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size { // JWS carries r||s, each of fixed size (RFC 7518 §3.4)
			return false
		}
		d := digest(info.hash, msg, sc)
		sc.der = derSignature(sc.der[:0], sig[:size], sig[size:])
		return ecdsa.VerifyASN1(ek, d, sc.der)
	}
	return false
}

// digest hashes msg with h into sc.sum, without allocating.
func digest(h crypto.Hash, msg []byte, sc *scratch) []byte {
	switch h {
	case crypto.SHA384:
		sum := sha512.Sum384(msg)
		return append(sc.sum[:0], sum[:]...)
	case crypto.SHA512:
		sum := sha512.Sum512(msg)
		return append(sc.sum[:0], sum[:]...)
	}
	sum := sha256.Sum256(msg)
	return append(sc.sum[:0], sum[:]...)
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
