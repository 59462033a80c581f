package benchmarks

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/guardian-go/guardian"
)

// The claims every token carries, and what every verifier is configured
// to expect.
const (
	issuer   = "https://auth.example.com"
	audience = "https://api.example.com"
	subject  = "user-42"
	// kid is the kid header of every token, of every algorithm. One kid for
	// all four keys makes a token of another algorithm reach each
	// verifier's algorithm check instead of failing on an unknown kid.
	kid = "bench-key"
	// path is the route of every request.
	path = "/api/me"
)

// algs are the algorithms measured, in table order.
var algs = []guardian.Algorithm{guardian.HS256, guardian.ES256, guardian.EdDSA, guardian.RS256}

// algFixture is one algorithm's key and the tokens presented to verifiers
// of that algorithm. Every token string is minted once and shared by every
// case.
type algFixture struct {
	alg    guardian.Algorithm
	key    *guardian.Key     // guardian's signing key
	secret []byte            // HS256 only
	priv   crypto.Signer     // asymmetric only
	pub    crypto.PublicKey  // asymmetric only
	method jwt.SigningMethod // for forging tokens in tests

	good     string // the benchmarked token: {sub, iss, aud, iat, nbf, exp: +1h, jti, typ: access, fam}
	badSig   string // good with one bit of the signature flipped
	expired  string // issued 2h ago, expired 1h ago
	wrongIss string // signed by the right key for another issuer
	wrongAud string // signed by the right key for another audience
	noExp    string // good's payload without exp (informational, see requiresExp)
	otherKid string // good's payload under kid "other-key", same key (informational, see checksKid)
	algNone  string // good's payload with alg "none" and no signature
	// confused are HS256 tokens keyed with the public key (DER, PEM, raw):
	// the algorithm-confusion attack. Asymmetric algorithms only.
	confused []string
}

// verifyKey is the key a peer verifies with: the secret, or the public key.
func (f *algFixture) verifyKey() any {
	if f.secret != nil {
		return f.secret
	}
	return f.pub
}

// fixtureSet maps each algorithm to its fixture.
type fixtureSet map[guardian.Algorithm]*algFixture

var fixturesOnce = sync.OnceValues(newFixtures)

// fixtures returns the keys and tokens of this process, made on first use.
func fixtures(tb testing.TB) fixtureSet {
	tb.Helper()
	fs, err := fixturesOnce()
	if err != nil {
		tb.Fatal(err)
	}
	return fs
}

func newFixtures() (fixtureSet, error) {
	fs := fixtureSet{}
	for _, alg := range algs {
		f, err := newAlgFixture(alg)
		if err != nil {
			return nil, fmt.Errorf("%s fixture: %w", alg, err)
		}
		fs[alg] = f
	}
	return fs, nil
}

func newAlgFixture(alg guardian.Algorithm) (*algFixture, error) {
	f := &algFixture{alg: alg, method: jwt.GetSigningMethod(string(alg))}
	var err error
	switch alg {
	case guardian.HS256:
		f.secret = make([]byte, 32)
		rand.Read(f.secret)
		f.key, err = guardian.NewHMACKey(kid, alg, f.secret)
	case guardian.ES256:
		f.priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case guardian.EdDSA:
		_, f.priv, err = ed25519.GenerateKey(rand.Reader)
	case guardian.RS256:
		f.priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		err = fmt.Errorf("no fixture for %s", alg)
	}
	if err != nil {
		return nil, err
	}
	if f.priv != nil {
		f.pub = f.priv.Public()
		if f.key, err = guardian.NewSigningKey(kid, alg, f.priv); err != nil {
			return nil, err
		}
	}

	now := time.Now()
	mint := func(iss, aud string, at time.Time) (string, error) {
		keys, err := guardian.NewKeySet(f.key)
		if err != nil {
			return "", err
		}
		i, err := guardian.NewIssuer(keys, &guardian.IssuerOptions{
			Issuer:   iss,
			Audience: []string{aud},
			TTL:      map[guardian.TokenType]time.Duration{guardian.AccessToken: time.Hour},
			Clock:    func() time.Time { return at },
		})
		if err != nil {
			return "", err
		}
		tok, err := i.Issue(context.Background(), subject, nil)
		return tok.Raw, err
	}
	if f.good, err = mint(issuer, audience, now); err != nil {
		return nil, err
	}
	if f.expired, err = mint(issuer, audience, now.Add(-2*time.Hour)); err != nil {
		return nil, err
	}
	if f.wrongIss, err = mint("https://other.example.com", audience, now); err != nil {
		return nil, err
	}
	if f.wrongAud, err = mint(issuer, "https://other-api.example.com", now); err != nil {
		return nil, err
	}
	if f.badSig, err = flipSignatureBit(f.good); err != nil {
		return nil, err
	}

	hdr, payload, err := decodeParts(f.good)
	if err != nil {
		return nil, err
	}
	if hdr["kid"] != kid || hdr["alg"] != string(alg) {
		return nil, fmt.Errorf("guardian minted header %v; want alg %s, kid %s", hdr, alg, kid)
	}
	delete(payload, "exp")
	if f.noExp, err = forge(hdr, payload, f.method, signingKey(f)); err != nil {
		return nil, err
	}
	_, payload, _ = decodeParts(f.good)
	hdr["kid"] = "other-key"
	if f.otherKid, err = forge(hdr, payload, f.method, signingKey(f)); err != nil {
		return nil, err
	}
	f.algNone = encodeSegment(map[string]any{"alg": "none", "typ": "JWT", "kid": kid}) + "." + encodeSegment(payload) + "."
	if f.pub != nil {
		secrets, err := publicKeyBytes(f.pub)
		if err != nil {
			return nil, err
		}
		for _, s := range secrets {
			tok, err := forge(map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, payload, jwt.SigningMethodHS256, s)
			if err != nil {
				return nil, err
			}
			f.confused = append(f.confused, tok)
		}
	}
	return f, nil
}

// signingKey is the key golang-jwt signs forged tokens with.
func signingKey(f *algFixture) any {
	if f.secret != nil {
		return f.secret
	}
	return f.priv
}

// flipSignatureBit decodes the signature, flips its lowest bit and encodes
// it again. (Flipping a bit of the base64 text could touch only the
// trailing padding bits, which lenient decoders ignore.)
func flipSignatureBit(tok string) (string, error) {
	dot := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
	if err != nil || len(sig) == 0 {
		return "", fmt.Errorf("signature of %q: %v", tok, err)
	}
	sig[0] ^= 1
	return tok[:dot+1] + base64.RawURLEncoding.EncodeToString(sig), nil
}

// decodeParts returns a token's header and payload as JSON objects.
func decodeParts(tok string) (hdr, payload map[string]any, err error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, nil, fmt.Errorf("token has %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&hdr, &payload} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, nil, err
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return nil, nil, err
		}
	}
	return hdr, payload, nil
}

func encodeSegment(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// forge signs an arbitrary header and payload.
func forge(hdr, payload map[string]any, m jwt.SigningMethod, key any) (string, error) {
	input := encodeSegment(hdr) + "." + encodeSegment(payload)
	sig, err := m.Sign(input, key)
	if err != nil {
		return "", err
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// publicKeyBytes are the spellings of a public key that a verifier taking
// the algorithm from the token might use as an HMAC secret.
func publicKeyBytes(pub crypto.PublicKey) ([][]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	out := [][]byte{der, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})}
	switch k := pub.(type) {
	case ed25519.PublicKey:
		out = append(out, []byte(k))
	case *rsa.PublicKey:
		out = append(out, x509.MarshalPKCS1PublicKey(k))
	case *ecdsa.PublicKey:
		ecdhKey, err := k.ECDH()
		if err != nil {
			return nil, err
		}
		out = append(out, ecdhKey.Bytes())
	}
	return out, nil
}
