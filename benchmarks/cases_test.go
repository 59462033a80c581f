package benchmarks

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"slices"
	"strings"
	"sync"
	"unsafe"

	jwtmiddleware "github.com/auth0/go-jwt-middleware/v2"
	"github.com/auth0/go-jwt-middleware/v2/validator"
	"github.com/go-chi/jwtauth/v5"
	"github.com/golang-jwt/jwt/v5"
	"github.com/guardian-go/guardian"
	echojwt "github.com/labstack/echo-jwt/v4"
	"github.com/labstack/echo/v4"
	jwxjwt "github.com/lestrrat-go/jwx/v2/jwt"
	jose "gopkg.in/go-jose/go-jose.v2"
)

// caseKind says which checks a case must pass before it may be timed.
type caseKind int

const (
	// verifier: a real authentication middleware. It must refuse every bad
	// token of TestEveryCaseChecks.
	verifier caseKind = iota
	// floor: the bare signature check. It must refuse every token whose
	// signature does not verify under the key, and nothing more: claims
	// are not its business.
	floor
	// baseline: no middleware at all; it accepts anything.
	baseline
)

// A benchCase is one column of the comparison: a way to put a handler
// behind JWT authentication.
type benchCase struct {
	name string
	kind caseKind
	// requiresExp records whether the case refuses a well-signed token
	// without exp. It is asserted by TestEveryCaseChecks, and reported in
	// README.md, but does not exclude a case.
	requiresExp bool
	// checksKid records whether the case refuses a token whose kid names
	// no key it has, even when its one key would verify it. Asserted and
	// reported like requiresExp.
	checksKid bool
	// excluded, when set, says why the case posts no number: it failed a
	// check it must pass. TestEveryCaseChecks asserts that it still does.
	excluded string
	// build returns the protected handler for one algorithm, or an error
	// wrapping errUnsupported when the case cannot do the algorithm.
	build func(f *algFixture) (http.Handler, error)
}

// errUnsupported marks an algorithm a case cannot verify.
var errUnsupported = errors.New("algorithm not supported")

// cases are the columns, in table order.
var cases = []benchCase{
	{name: "guardian", kind: verifier, requiresExp: true, checksKid: true, build: buildGuardian(0)},
	{name: "guardian-cached", kind: verifier, requiresExp: true, checksKid: true, build: buildGuardian(1000)},
	{name: "golangjwt", kind: verifier, requiresExp: true, checksKid: true, build: buildGolangJWT},
	{name: "jwtauth", kind: verifier, requiresExp: false, checksKid: false, build: buildJWTAuth},
	{name: "auth0", kind: verifier, requiresExp: false, checksKid: true, build: buildAuth0},
	{name: "echojwt", kind: verifier, requiresExp: false, checksKid: true, build: buildEchoJWT},
	{name: "floor", kind: floor, build: buildFloor},
	{name: "none", kind: baseline, build: buildNone},
}

// wrongClaims answers a request whose handler did not find the claims it
// expected: the status is one no check accepts.
func wrongClaims(w http.ResponseWriter) {
	http.Error(w, "claims missing from the context", http.StatusInternalServerError)
}

func refuse(w http.ResponseWriter) {
	http.Error(w, "unauthorized", http.StatusUnauthorized)
}

// user is the resource guardian's loader returns.
type user struct{ id string }

var theUser = &user{id: subject}

// buildGuardian is guardian's full chain: VerifyHeader → LoadResource (a
// trivial loader) → EnsureAuthenticated, with the memory Revoker on and
// iss and aud configured; with a verified-token cache of cacheSize tokens
// when it is positive.
func buildGuardian(cacheSize int) func(f *algFixture) (http.Handler, error) {
	return func(f *algFixture) (http.Handler, error) { return guardianChain(f, cacheSize) }
}

func guardianChain(f *algFixture, cacheSize int) (http.Handler, error) {
	keys, err := guardian.NewKeySet(f.key)
	if err != nil {
		return nil, err
	}
	iss, err := guardian.NewIssuer(keys, &guardian.IssuerOptions{
		Issuer:    issuer,
		Audience:  []string{audience},
		Revoker:   guardian.NewMemoryRevoker(nil),
		CacheSize: cacheSize,
	})
	if err != nil {
		return nil, err
	}
	g, err := guardian.New(iss,
		func(u *user) (string, error) { return u.id, nil },
		func(_ context.Context, c *guardian.Claims) (*user, error) {
			if c.Subject != theUser.id {
				return nil, guardian.ErrResourceNotFound
			}
			return theUser, nil
		}, nil)
	if err != nil {
		return nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := guardian.CurrentClaims(r.Context())
		if !ok || c.Subject != subject {
			wrongClaims(w)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	return g.VerifyHeader(nil)(g.LoadResource(nil)(g.EnsureAuthenticated(nil)(h))), nil
}

type golangJWTKey struct{}

// buildGolangJWT is the reference: the minimal middleware a team writes on
// golang-jwt/v5, with the algorithm pinned, the kid looked up, and iss, aud
// and exp required.
func buildGolangJWT(f *algFixture) (http.Handler, error) {
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{string(f.alg)}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
	)
	key := f.verifyKey()
	keyFunc := func(t *jwt.Token) (any, error) {
		if t.Header["kid"] != kid {
			return nil, fmt.Errorf("unknown kid %v", t.Header["kid"])
		}
		return key, nil
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := r.Context().Value(golangJWTKey{}).(*jwt.RegisteredClaims)
		if !ok || c.Subject != subject {
			wrongClaims(w)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			refuse(w)
			return
		}
		claims := new(jwt.RegisteredClaims)
		if _, err := parser.ParseWithClaims(raw, claims, keyFunc); err != nil {
			refuse(w)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), golangJWTKey{}, claims)))
	}), nil
}

// buildJWTAuth is go-chi/jwtauth v5 (on lestrrat-go/jwx v2): Verifier then
// Authenticator, with iss and aud validated. jwtauth verifies with its one
// key and ignores kid.
func buildJWTAuth(f *algFixture) (http.Handler, error) {
	ja := jwtauth.New(string(f.alg), nil, f.verifyKey(),
		jwxjwt.WithIssuer(issuer), jwxjwt.WithAudience(audience))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The token itself, not jwtauth.FromContext: FromContext also
		// copies every claim into a map, which a handler needing one
		// claim would not pay for.
		tok, ok := r.Context().Value(jwtauth.TokenCtxKey).(jwxjwt.Token)
		if !ok || tok.Subject() != subject {
			wrongClaims(w)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	return jwtauth.Verifier(ja)(jwtauth.Authenticator(ja)(h)), nil
}

// buildAuth0 is auth0/go-jwt-middleware v2 with its validator (on
// go-jose v2), issuer and audience configured. The key is given as a JSON
// Web Key Set, as its JWKS provider gives it, so go-jose matches the kid.
func buildAuth0(f *algFixture) (http.Handler, error) {
	key := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: f.verifyKey(), KeyID: kid, Algorithm: string(f.alg), Use: "sig"}}}
	v, err := validator.New(
		func(context.Context) (any, error) { return key, nil },
		validator.SignatureAlgorithm(f.alg), issuer, []string{audience})
	if err != nil {
		return nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := r.Context().Value(jwtmiddleware.ContextKey{}).(*validator.ValidatedClaims)
		if !ok || c.RegisteredClaims.Subject != subject {
			wrongClaims(w)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	return jwtmiddleware.New(v.ValidateToken).CheckJWT(h), nil
}

// echoClaims are the registered claims plus the iss and aud checks, which
// echo-jwt's parser does not take as options: golang-jwt calls Validate
// after its own checks.
type echoClaims struct {
	jwt.RegisteredClaims
}

func (c *echoClaims) Validate() error {
	if c.Issuer != issuer {
		return jwt.ErrTokenInvalidIssuer
	}
	if !slices.Contains(c.Audience, audience) {
		return jwt.ErrTokenInvalidAudience
	}
	return nil
}

// buildEchoJWT is labstack/echo-jwt v4 (on golang-jwt v5) inside an echo
// instance, so the route's cost includes echo's router and context: the
// method pinned, the key looked up by kid, iss and aud checked by the
// claims type.
func buildEchoJWT(f *algFixture) (http.Handler, error) {
	mw, err := echojwt.Config{
		SigningMethod: string(f.alg),
		SigningKeys:   map[string]any{kid: f.verifyKey()},
		NewClaimsFunc: func(echo.Context) jwt.Claims { return new(echoClaims) },
	}.ToMiddleware()
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.GET(path, func(c echo.Context) error {
		tok, ok := c.Get("user").(*jwt.Token)
		if !ok {
			return c.NoContent(http.StatusInternalServerError)
		}
		if cl, ok := tok.Claims.(*echoClaims); !ok || cl.Subject != subject {
			return c.NoContent(http.StatusInternalServerError)
		}
		return c.NoContent(http.StatusOK)
	}, mw)
	return e, nil
}

// buildFloor is the crypto floor: take the token from the header, decode
// its signature and verify it over the signing input with the standard
// library; nothing else: no header, no claims, and no allocation outside
// the crypto package that it can avoid. The handler finds nothing in the
// context.
func buildFloor(f *algFixture) (http.Handler, error) {
	verify, err := floorVerifier(f)
	if err != nil {
		return nil, err
	}
	pool := &sync.Pool{New: func() any { return new(floorState) }}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		dot := strings.LastIndexByte(raw, '.')
		if !ok || dot < 0 {
			refuse(w)
			return
		}
		st := pool.Get().(*floorState)
		defer pool.Put(st)
		if len(raw)-dot-1 > len(st.enc) {
			refuse(w)
			return
		}
		n := copy(st.enc[:], raw[dot+1:])
		n, err := base64.RawURLEncoding.Decode(st.sig[:], st.enc[:n])
		if err != nil || !verify(st, raw[:dot], st.sig[:n]) {
			refuse(w)
			return
		}
		w.WriteHeader(http.StatusOK)
	}), nil
}

// floorState is the scratch space of one floor check, reused so that the
// floor pays for no buffer.
type floorState struct {
	enc, sig [512]byte // room for an RSA-4096 signature
	sum      [sha256.Size]byte
	der      [2 + 2*(2+1+32)]byte // an ASN.1 ECDSA P-256 signature
	mac      hash.Hash            // a keyed HMAC-SHA256 state, HS256 only
}

// bytesOf views s as bytes without copying; the callers only read them.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// floorVerifier returns the signature check of the crypto floor.
func floorVerifier(f *algFixture) (func(st *floorState, input string, sig []byte) bool, error) {
	switch f.alg {
	case guardian.HS256:
		return func(st *floorState, input string, sig []byte) bool {
			// The keyed state is made once per floorState: hmac.New per
			// request would cost more than the hash of a short token.
			if st.mac == nil {
				st.mac = hmac.New(sha256.New, f.secret)
			}
			st.mac.Reset()
			st.mac.Write(bytesOf(input))
			return hmac.Equal(st.mac.Sum(st.sum[:0]), sig)
		}, nil
	case guardian.ES256:
		pub := f.pub.(*ecdsa.PublicKey)
		return func(st *floorState, input string, sig []byte) bool {
			// JWS carries r||s; the standard library takes ASN.1.
			if len(sig) != 64 {
				return false
			}
			st.sum = sha256.Sum256(bytesOf(input))
			return ecdsa.VerifyASN1(pub, st.sum[:], asn1Signature(st.der[:0], sig[:32], sig[32:]))
		}, nil
	case guardian.EdDSA:
		pub := f.pub.(ed25519.PublicKey)
		return func(_ *floorState, input string, sig []byte) bool {
			return ed25519.Verify(pub, bytesOf(input), sig)
		}, nil
	case guardian.RS256:
		pub := f.pub.(*rsa.PublicKey)
		return func(st *floorState, input string, sig []byte) bool {
			st.sum = sha256.Sum256(bytesOf(input))
			return rsa.VerifyPKCS1v15(pub, crypto.SHA256, st.sum[:], sig) == nil
		}, nil
	}
	return nil, fmt.Errorf("%w: %s", errUnsupported, f.alg)
}

// asn1Signature appends the DER SEQUENCE of the INTEGERs r and s (big
// endian, at most 32 bytes each) to dst.
func asn1Signature(dst, r, s []byte) []byte {
	integer := func(b []byte) []byte {
		for len(b) > 1 && b[0] == 0 {
			b = b[1:]
		}
		return b
	}
	r, s = integer(r), integer(s)
	size := func(b []byte) int { return 2 + len(b) + int(b[0]>>7) }
	dst = append(dst, 0x30, byte(size(r)+size(s)))
	for _, b := range [][]byte{r, s} {
		dst = append(dst, 0x02, byte(len(b)+int(b[0]>>7)))
		if b[0]&0x80 != 0 {
			dst = append(dst, 0)
		}
		dst = append(dst, b...)
	}
	return dst
}

// buildNone is the handler alone, without authentication.
func buildNone(*algFixture) (http.Handler, error) {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}), nil
}
