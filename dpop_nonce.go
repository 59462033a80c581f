package guardian

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sync/atomic"
	"time"
)

// DefaultDPoPNonceRotation is DPoPOptions.NonceRotation when zero.
const DefaultDPoPNonceRotation = 5 * time.Minute

// minNonceSecret is the shortest DPoPOptions.NonceSecret accepted.
const minNonceSecret = 32

// dpopNonces makes and checks the server nonces of RFC 9449 §8 and §9
// without state: the nonce of the period n (the Unix time divided by the
// rotation) is n and an HMAC of n under the secret. Instances sharing the
// secret, with clocks within the leeway of each other, accept each other's
// nonces; no store is needed.
//
// A nonce is handed out during its period and accepted until the end of
// the next one, so that a client's nonce always lives at least one
// rotation, plus the leeway at each end for instances whose clocks
// differ. The nonces of the periods around now are computed once per
// period, so a check is a few string comparisons.
type dpopNonces struct {
	key      []byte
	rotation time.Duration
	leeway   time.Duration
	now      func() time.Time
	cur      atomic.Pointer[noncePeriod]
}

// noncePeriod holds the nonces of the periods around n.
type noncePeriod struct {
	n                    int64
	prev, current, after string
}

func newDPoPNonces(secret []byte, rotation, leeway time.Duration, now func() time.Time) *dpopNonces {
	return &dpopNonces{key: append([]byte(nil), secret...), rotation: rotation, leeway: leeway, now: now}
}

// nonceOf is the nonce of period n: 8 bytes of n and 16 of its MAC,
// base64url (32 characters, within the NQCHAR of RFC 9449 §8.1).
func (d *dpopNonces) nonceOf(n int64) string {
	var b [8 + 32]byte
	binary.BigEndian.PutUint64(b[:8], uint64(n))
	mac := hmac.New(sha256.New, d.key)
	mac.Write([]byte("guardian dpop nonce\x00"))
	mac.Write(b[:8])
	mac.Sum(b[:8])
	return b64.EncodeToString(b[:24])
}

// periodAt is the period of t.
func (d *dpopNonces) periodAt(t time.Time) int64 {
	return floorDiv(t.UnixNano(), int64(d.rotation))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// around returns the nonces of the periods around n, computing them when
// n is new.
func (d *dpopNonces) around(n int64) *noncePeriod {
	if p := d.cur.Load(); p != nil && p.n == n {
		return p
	}
	p := &noncePeriod{n: n, prev: d.nonceOf(n - 1), current: d.nonceOf(n), after: d.nonceOf(n + 1)}
	d.cur.Store(p)
	return p
}

// current is the nonce to hand out now.
func (d *dpopNonces) current() string {
	return d.around(d.periodAt(d.now())).current
}

// check reports whether nonce is one this verifier, or an instance
// sharing its secret, handed out and that is still accepted, and the
// nonce to hand out now when the client should switch to it ("" when
// nonce is the current one). The nonce of period m is accepted from the
// start of m, less the leeway, to the end of m+1, plus the leeway.
func (d *dpopNonces) check(nonce string) (ok bool, fresh string) {
	now := d.now()
	n := d.periodAt(now)
	p := d.around(n)
	if equalStrings(nonce, p.current) {
		return true, ""
	}
	rot := int64(d.rotation)
	into := now.UnixNano() - n*rot // how far into period n now is, in [0, rot)
	switch {
	case equalStrings(nonce, p.prev):
		return true, p.current
	case equalStrings(nonce, p.after) && rot-into <= int64(d.leeway):
		// Handed out by an instance whose clock is ahead.
		return true, ""
	case into <= int64(d.leeway) && equalStrings(nonce, d.nonceOf(n-2)):
		// Handed out by an instance whose clock is behind.
		return true, p.current
	}
	return false, p.current
}

// nonceError is a proof refused for its nonce: missing, unknown or too
// old. It wraps ErrUseDPoPNonce and ErrInvalidDPoPProof, and carries the
// nonce to use, which the refusal hands out in a DPoP-Nonce header.
type nonceError struct {
	reason string
	nonce  string
}

func (e *nonceError) Error() string {
	return ErrUseDPoPNonce.Error() + ": " + e.reason
}

func (e *nonceError) Unwrap() []error { return []error{ErrUseDPoPNonce, ErrInvalidDPoPProof} }

// DPoPNonceOf returns the server nonce a refusal for err should hand out
// in its DPoP-Nonce header (RFC 9449 §8, §9), and whether there is one:
// when err wraps [ErrUseDPoPNonce]. The Guardian sets the header itself
// before its error handler runs; this is for refusals written elsewhere.
func DPoPNonceOf(err error) (string, bool) {
	var ne *nonceError
	if errors.As(err, &ne) {
		return ne.nonce, true
	}
	return "", false
}
