package guardian

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Default settings of a [DPoPVerifier].
const (
	// DefaultDPoPMaxAge is DPoPOptions.MaxAge when zero.
	DefaultDPoPMaxAge = 300 * time.Second
	// DefaultDPoPLeeway is DPoPOptions.Leeway when zero.
	DefaultDPoPLeeway = 5 * time.Second
	// DefaultMaxDPoPProofSize is DPoPOptions.MaxProofSize when zero.
	DefaultMaxDPoPProofSize = 4 << 10
)

// DefaultDPoPAlgorithms are the proof algorithms a DPoPVerifier accepts
// unless DPoPOptions.Algorithms says otherwise: asymmetric only (RFC 9449
// §4.3 point 5).
var DefaultDPoPAlgorithms = []Algorithm{ES256, EdDSA, Ed25519, ES384, PS256, RS256}

// proofAlgorithm is the algorithm a proof's alg names: Ed25519 (RFC 9864)
// is EdDSA with an Ed25519 key.
func proofAlgorithm(a Algorithm) Algorithm {
	if a == Ed25519 {
		return EdDSA
	}
	return a
}

// DPoPOptions configures a [DPoPVerifier]; nil means defaults.
type DPoPOptions struct {
	// Algorithms are the signature algorithms a proof may use; only
	// asymmetric ones are allowed. Default: [DefaultDPoPAlgorithms].
	Algorithms []Algorithm
	// MaxAge is how old a proof's iat may be. It is also how long a
	// proof's jti is remembered against replay. Default:
	// [DefaultDPoPMaxAge].
	MaxAge time.Duration
	// Leeway is how far in the future a proof's iat may lie, for the
	// client's clock running ahead. Default: [DefaultDPoPLeeway].
	Leeway time.Duration
	// MaxProofSize bounds a proof, checked before any decoding. Default:
	// [DefaultMaxDPoPProofSize].
	MaxProofSize int
	// Replay remembers the proofs seen, so that none is accepted twice.
	// Give every instance of a service the same shared store for replay
	// protection across them. Default: a [MemoryReplayCache] of this
	// process.
	Replay ReplayCache
	// NonceSecret, when set, turns server nonces on (RFC 9449 §8, §9):
	// every proof must then carry a nonce the server handed out in a
	// DPoP-Nonce header. A proof without one, or with one that is unknown
	// or too old, is refused with [ErrUseDPoPNonce] (use_dpop_nonce), and
	// the refusal hands out the nonce to use; the client retries with it.
	// The nonces are made from the secret and the time, without state:
	// give every instance the same secret, at least 32 random bytes, and
	// each accepts the nonces of the others (their clocks within Leeway
	// of each other). Default: nil, no nonces (the proof's iat and jti
	// bound its use).
	NonceSecret []byte
	// NonceRotation is how often the nonce changes. A nonce is handed out
	// during its period and accepted until the end of the next one (plus
	// Leeway), and a request whose nonce is not the newest gets the newest
	// in a DPoP-Nonce header, so a client that keeps up is never refused.
	// At least 10 s and twice the Leeway. Default:
	// [DefaultDPoPNonceRotation].
	NonceRotation time.Duration
	// ReplayTimeout bounds each call to the Replay cache, so that a store
	// that hangs fails the proof (503) instead of holding the request.
	// Default: [DefaultRevokerTimeout].
	ReplayTimeout time.Duration
	// Clock returns the current time. Default: time.Now.
	Clock func() time.Time
}

// A DPoPVerifier checks DPoP proofs (RFC 9449 §4.3): the proof a client
// sends in the DPoP header to show it holds the private key a token is
// bound to. It is safe for concurrent use.
type DPoPVerifier struct {
	algs    []Algorithm
	maxAge  time.Duration
	leeway  time.Duration
	maxSize int
	replay  ReplayCache
	timeout time.Duration // ReplayTimeout
	now     func() time.Time
	// keys remembers the keys of recent proofs by their jwk, since a
	// client signs every proof with the same one.
	keys    proofKeys
	headers proofHeaders
	// nonces makes and checks server nonces; nil: none.
	nonces *dpopNonces
}

// NewDPoPVerifier returns a DPoPVerifier with opts.
func NewDPoPVerifier(opts *DPoPOptions) (*DPoPVerifier, error) {
	o := DPoPOptions{}
	if opts != nil {
		o = *opts
	}
	v := &DPoPVerifier{algs: slices.Clone(o.Algorithms), maxAge: o.MaxAge, leeway: o.Leeway, maxSize: o.MaxProofSize, replay: o.Replay, now: o.Clock}
	if len(v.algs) == 0 {
		v.algs = slices.Clone(DefaultDPoPAlgorithms)
	}
	for _, a := range v.algs {
		if info, ok := algorithms[proofAlgorithm(a)]; !ok || info.family == familyHMAC {
			return nil, fmt.Errorf("%w: DPoP algorithm %q is not an asymmetric algorithm this library verifies", ErrConfig, a)
		}
	}
	switch {
	case v.maxAge == 0:
		v.maxAge = DefaultDPoPMaxAge
	case v.maxAge < time.Second:
		return nil, fmt.Errorf("%w: DPoP MaxAge %v is under a second", ErrConfig, v.maxAge)
	}
	switch {
	case v.leeway == 0:
		v.leeway = DefaultDPoPLeeway
	case v.leeway < 0:
		return nil, fmt.Errorf("%w: negative DPoP leeway %v", ErrConfig, v.leeway)
	}
	switch {
	case v.maxSize == 0:
		v.maxSize = DefaultMaxDPoPProofSize
	case v.maxSize < 0:
		return nil, fmt.Errorf("%w: negative DPoP MaxProofSize %d", ErrConfig, v.maxSize)
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.replay == nil {
		v.replay = NewMemoryReplayCache(0)
	}
	switch v.timeout = o.ReplayTimeout; {
	case v.timeout == 0:
		v.timeout = DefaultRevokerTimeout
	case v.timeout < 0:
		return nil, fmt.Errorf("%w: negative DPoP ReplayTimeout %v", ErrConfig, v.timeout)
	}
	if o.NonceSecret != nil {
		if len(o.NonceSecret) < minNonceSecret {
			return nil, fmt.Errorf("%w: DPoP NonceSecret of %d bytes, want at least %d", ErrConfig, len(o.NonceSecret), minNonceSecret)
		}
		rot := o.NonceRotation
		switch {
		case rot == 0:
			rot = DefaultDPoPNonceRotation
		case rot < 10*time.Second || rot < 2*v.leeway:
			return nil, fmt.Errorf("%w: DPoP NonceRotation %v, want at least 10s and twice the Leeway", ErrConfig, rot)
		}
		v.nonces = newDPoPNonces(o.NonceSecret, rot, v.leeway, v.now)
	} else if o.NonceRotation != 0 {
		return nil, fmt.Errorf("%w: DPoP NonceRotation without a NonceSecret", ErrConfig)
	}
	return v, nil
}

// Nonce returns the server nonce to hand out now, for a DPoP-Nonce header
// (RFC 9449 §8.2), or "" when server nonces are off. The Guardian hands it
// out itself when a request needs it; an app may also send it ahead, e.g.
// on the page that logs in, to save the client a round trip.
func (v *DPoPVerifier) Nonce() string {
	if v.nonces == nil {
		return ""
	}
	return v.nonces.current()
}

// Algorithms returns the proof algorithms v accepts, for the algs
// parameter of a DPoP challenge (RFC 9449 §7.1).
func (v *DPoPVerifier) Algorithms() []Algorithm { return slices.Clone(v.algs) }

// DPoPRequest is what a proof must match: the request it comes with, and
// the token it is presented with.
type DPoPRequest struct {
	// Method is the request's method, for htm.
	Method string
	// URL is the request's absolute URL (scheme and host included), for
	// htu; its query and fragment are ignored (RFC 9449 §4.3 point 9).
	URL *url.URL
	// AccessToken, when set, is the token presented with the proof: the
	// proof's ath must be its SHA-256 hash (§4.3 point 12).
	AccessToken string
	// JKT, when set, is the thumbprint the token is bound to (cnf.jkt):
	// the proof's key must have it (§4.3 point 12, §6.1).
	JKT string
	// Nonce, when set, is the server nonce the proof must carry (§8), for
	// apps that keep nonces of their own; with DPoPOptions.NonceSecret the
	// verifier's nonces are required as well.
	Nonce string
}

// A DPoPProof is a proof that verified.
type DPoPProof struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of the proof's key: what a
	// token issued for it is bound to (cnf.jkt).
	JKT string
	// ID is the proof's jti.
	ID string
	// IssuedAt is the proof's iat.
	IssuedAt time.Time
	// NextNonce, with server nonces on, is a newer nonce the client should
	// use from now on, for the DPoP-Nonce header of the answer (RFC 9449
	// §8.2); empty when the proof's nonce is the newest.
	NextNonce string
}

// dpopHeader is the JOSE header of a proof.
type dpopHeader struct {
	Typ  string          `json:"typ"`
	Alg  string          `json:"alg"`
	Jwk  json.RawMessage `json:"jwk"`
	Kid  json.RawMessage `json:"kid"`
	Jku  json.RawMessage `json:"jku"`
	X5u  json.RawMessage `json:"x5u"`
	X5c  json.RawMessage `json:"x5c"`
	Crit json.RawMessage `json:"crit"`
	B64  json.RawMessage `json:"b64"`
	Zip  json.RawMessage `json:"zip"`
}

// dpopClaims are the claims of a proof.
type dpopClaims struct {
	Jti   string       `json:"jti"`
	Htm   string       `json:"htm"`
	Htu   string       `json:"htu"`
	Iat   *numericDate `json:"iat"`
	Ath   *string      `json:"ath"`
	Nonce *string      `json:"nonce"`
}

// maxProofIDLength bounds a proof's jti.
const maxProofIDLength = 256

// Verify checks proof against req, in the order of RFC 9449 §4.3: one
// JWS of at most MaxProofSize; typ dpop+jwt; an allowed asymmetric alg; a
// public jwk (never a private one) that verifies the signature; jti, htm,
// htu and iat present; htm and htu those of the request; iat within MaxAge
// before now and Leeway after; ath, the key's thumbprint and the nonce as
// req asks; the server nonce (DPoPOptions.NonceSecret); and last, the jti never seen before within MaxAge (the
// ReplayCache). A failure wraps [ErrInvalidDPoPProof] (and [ErrUseDPoPNonce]
// for a nonce: see [DPoPNonceOf]), or [ErrUnavailable]
// when the ReplayCache cannot answer: the proof is then refused too.
func (v *DPoPVerifier) Verify(ctx context.Context, proof string, req DPoPRequest) (*DPoPProof, error) {
	if len(proof) > v.maxSize {
		return nil, invalidProof("longer than %d bytes", v.maxSize)
	}
	hSeg, pSeg, sSeg, err := splitToken(proof)
	if err != nil {
		return nil, invalidProof("not a compact JWS")
	}
	key, jkt, ok := v.headers.get(hSeg)
	if !ok {
		var h dpopHeader
		if err := decodeProofHeader(hSeg, &h); err != nil {
			return nil, invalidProof("header is not a base64url JSON object")
		}
		switch {
		case h.Typ != "dpop+jwt":
			return nil, invalidProof("typ is not dpop+jwt")
		case h.Jku != nil, h.X5u != nil, h.X5c != nil, h.Kid != nil:
			return nil, invalidProof("the key must be the jwk header, and only it")
		case h.Crit != nil, h.B64 != nil, h.Zip != nil:
			return nil, invalidProof("crit, b64 and zip are not supported")
		case !slices.Contains(v.algs, Algorithm(h.Alg)):
			return nil, invalidProof("alg %s is not allowed", strconv.QuoteToASCII(truncate(h.Alg, 16)))
		case h.Jwk == nil:
			return nil, invalidProof("no jwk header")
		}
		key, jkt, err = v.keys.get(h.Jwk, proofAlgorithm(Algorithm(h.Alg)))
		if err != nil {
			return nil, err
		}
		v.headers.put(hSeg, key, jkt)
	}
	var sigBuf [maxProofSignature]byte
	sig, err := decodeProofSignature(sigBuf[:], sSeg)
	if err != nil {
		return nil, invalidProof("signature is not base64url")
	}
	sc := getScratch()
	err = key.verifyWith(proof[:len(hSeg)+1+len(pSeg)], sig, sc)
	putScratch(sc)
	if err != nil {
		return nil, invalidProof("the signature does not verify with its jwk")
	}
	var c dpopClaims
	if err := decodeProofClaims(pSeg, &c); err != nil {
		return nil, invalidProof("payload is not a base64url JSON object with string jti, htm, htu and a numeric iat")
	}
	switch {
	case c.Jti == "" || len(c.Jti) > maxProofIDLength:
		return nil, invalidProof("jti missing or longer than %d bytes", maxProofIDLength)
	case c.Htm == "" || c.Htu == "" || c.Iat == nil:
		return nil, invalidProof("htm, htu or iat missing")
	case c.Htm != req.Method:
		return nil, invalidProof("htm is not the request's method")
	}
	if !sameHTU(c.Htu, req.URL) {
		return nil, invalidProof("htu is not the request's URL")
	}
	now := v.now()
	iat := c.Iat.t
	switch {
	case iat.After(now.Add(v.leeway)):
		return nil, invalidProof("iat is in the future")
	case iat.Before(now.Add(-v.maxAge)):
		return nil, invalidProof("iat is older than %v", v.maxAge)
	}
	if req.AccessToken != "" {
		if !athMatches(c.Ath, req.AccessToken) {
			return nil, invalidProof("ath is not the hash of the access token")
		}
	}
	if req.JKT != "" && !equalStrings(jkt, req.JKT) {
		return nil, invalidProof("the proof's key is not the one the token is bound to")
	}
	if req.Nonce != "" && (c.Nonce == nil || !equalStrings(*c.Nonce, req.Nonce)) {
		return nil, &nonceError{reason: "the proof's nonce is not the server's", nonce: req.Nonce}
	}
	var next string
	if v.nonces != nil {
		if c.Nonce == nil {
			return nil, &nonceError{reason: "the proof has no nonce", nonce: v.nonces.current()}
		}
		ok, fresh := v.nonces.check(*c.Nonce)
		if !ok {
			return nil, &nonceError{reason: "the proof's nonce is unknown or too old", nonce: fresh}
		}
		next = fresh
	}
	// Last: a proof that fails any check above is not remembered, so
	// garbage cannot fill the cache. The key is the thumbprint and the
	// jti: one client's jti never blocks another's.
	first, err := v.use(ctx, proofReplayKey(jkt, c.Jti))
	if err != nil {
		return nil, fmt.Errorf("%w: DPoP replay cache: %w", ErrUnavailable, err)
	}
	if !first {
		return nil, invalidProof("replayed: its jti was seen before")
	}
	return &DPoPProof{JKT: jkt, ID: c.Jti, IssuedAt: iat, NextNonce: next}, nil
}

// use records a proof's key in the replay cache, within ReplayTimeout (a
// MemoryReplayCache never waits, and needs no timer).
func (v *DPoPVerifier) use(ctx context.Context, key string) (bool, error) {
	ttl := v.maxAge + v.leeway
	if m, ok := v.replay.(*MemoryReplayCache); ok {
		return m.Use(ctx, key, ttl)
	}
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	return v.replay.Use(ctx, key, ttl)
}

// invalidProof is a refused proof.
func invalidProof(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidDPoPProof, fmt.Sprintf(format, args...))
}

// decodeSegment decodes a base64url segment holding one JSON object into v.
func decodeSegment(seg string, v any) error {
	b, err := b64.DecodeString(seg)
	if err != nil {
		return err
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return ErrMalformedToken
	}
	return json.Unmarshal(b, v)
}

// privateJWKMembers are the members that make a JWK private (RFC 7518 §6).
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// proofKey makes the verification key of a proof's jwk, pinned to alg,
// and returns its thumbprint. A private or symmetric key is refused.
func proofKey(raw json.RawMessage, alg Algorithm) (*Key, string, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, "", invalidProof("jwk is not a JSON object")
	}
	for _, m := range privateJWKMembers {
		if _, ok := members[m]; ok {
			return nil, "", invalidProof("jwk holds a private or symmetric key")
		}
	}
	var j jwk
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, "", invalidProof("jwk members of the wrong type")
	}
	key, err := parseJWK(j, alg, minRSABits, maxRSABits)
	if err != nil {
		return nil, "", fmt.Errorf("%w: jwk: %w", ErrInvalidDPoPProof, err)
	}
	jkt, err := thumbprint(j)
	if err != nil {
		return nil, "", fmt.Errorf("%w: jwk: %w", ErrInvalidDPoPProof, err)
	}
	return key, jkt, nil
}

// maxProofKeys bounds the proof keys a DPoPVerifier remembers.
const maxProofKeys = 4096

// proofKeys is a bounded cache of parsed proof keys, by alg and jwk.
type proofKeys struct {
	mu   sync.RWMutex
	byID map[string]proofKeyEntry
}

type proofKeyEntry struct {
	key *Key
	jkt string
}

// get returns the key of jwk pinned to alg, parsing it on a miss. Only
// keys that parse are remembered; when full, the cache starts over.
func (p *proofKeys) get(jwk json.RawMessage, alg Algorithm) (*Key, string, error) {
	if e, ok := p.lookup(jwk, alg); ok {
		return e.key, e.jkt, nil
	}
	id := string(alg) + "\x00" + string(jwk)
	key, jkt, err := proofKey(jwk, alg)
	if err != nil {
		return nil, "", err
	}
	p.mu.Lock()
	if p.byID == nil || len(p.byID) >= maxProofKeys {
		p.byID = make(map[string]proofKeyEntry)
	}
	p.byID[id] = proofKeyEntry{key, jkt}
	p.mu.Unlock()
	return key, jkt, nil
}

// equalStrings compares in constant time for equal lengths.
func equalStrings(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
