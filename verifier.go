package guardian

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"
)

// A TokenVerifier verifies a token and returns its claims, as
// [Issuer.Verify] does. [*Issuer] and [*Verifier] are ones; the
// middleware uses GuardianOptions.Verifier.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string, types ...TokenType) (*Claims, error)
}

var (
	_ TokenVerifier = (*Issuer)(nil)
	_ TokenVerifier = (*Verifier)(nil)
)

// A Verifier accepts the tokens of several issuers: its own [Issuer] and
// external ones ([NewRemoteIssuer]), each with its own keys, audience,
// algorithms, leeway and token types. A token is routed by its iss claim
// before anything else is checked, so a token naming an issuer the
// Verifier does not trust is refused (ErrIssuer) without a fetch, and a
// token never meets the keys of another issuer. It is safe for concurrent
// use.
type Verifier struct {
	byName  map[string]*Issuer
	ordered []*Issuer
	maxSize int
	// routes maps the encoded JOSE header of tokens that verified to
	// their issuer, so that the next tokens with that header skip reading
	// the payload to route them. Copied on write; learned only from
	// tokens that verified, so its size is bounded by the trusted
	// issuers' keys, and by maxRoutes.
	routes   atomic.Pointer[map[string]*Issuer]
	routesMu sync.Mutex
}

// maxRoutes bounds Verifier.routes.
const maxRoutes = 256

// NewVerifier returns a Verifier trusting each of issuers, which must
// name distinct, non-empty issuers (IssuerOptions.Issuer).
func NewVerifier(issuers ...*Issuer) (*Verifier, error) {
	if len(issuers) == 0 {
		return nil, fmt.Errorf("%w: NewVerifier needs at least one issuer", ErrConfig)
	}
	v := &Verifier{byName: make(map[string]*Issuer, len(issuers))}
	v.routes.Store(&map[string]*Issuer{})
	for _, i := range issuers {
		switch {
		case i == nil:
			return nil, fmt.Errorf("%w: nil issuer", ErrConfig)
		case i.iss == "":
			return nil, fmt.Errorf("%w: an issuer of a Verifier needs IssuerOptions.Issuer, which its tokens are routed by", ErrConfig)
		case v.byName[i.iss] != nil:
			return nil, fmt.Errorf("%w: two issuers named %q", ErrConfig, i.iss)
		}
		v.byName[i.iss] = i
		v.ordered = append(v.ordered, i)
		v.maxSize = max(v.maxSize, i.maxSize)
	}
	return v, nil
}

// Issuer returns the trusted issuer named iss.
func (v *Verifier) Issuer(iss string) (*Issuer, bool) {
	i, ok := v.byName[iss]
	return i, ok
}

// Issuers returns the trusted issuers, in the order given.
func (v *Verifier) Issuers() []*Issuer { return append([]*Issuer(nil), v.ordered...) }

// MaxTokenSize returns the longest token any of the issuers reads.
func (v *Verifier) MaxTokenSize() int { return v.maxSize }

// Ready returns nil when every issuer can verify now, else the failures of
// those that cannot (see [Issuer.Ready]), each naming its issuer.
func (v *Verifier) Ready() error {
	var errs []error
	for _, i := range v.ordered {
		if err := i.Ready(); err != nil {
			errs = append(errs, fmt.Errorf("issuer %s: %w", i.iss, err))
		}
	}
	return errors.Join(errs...)
}

// Verify routes raw to the issuer its iss claim names and verifies it
// there ([Issuer.Verify]). An issuer not trusted, or no iss, is ErrIssuer.
//
// Routing by a header seen before is a shortcut of routing by iss, and
// as safe: an issuer accepts only tokens that name it (iss) and carry its
// signature. A token refused on the shortcut is routed by its iss again,
// in case two issuers' headers look alike.
func (v *Verifier) Verify(ctx context.Context, raw string, types ...TokenType) (*Claims, error) {
	hSeg := raw
	if dot := strings.IndexByte(raw, '.'); dot >= 0 {
		hSeg = raw[:dot]
	}
	known := (*v.routes.Load())[hSeg]
	if known != nil {
		c, err := known.Verify(ctx, raw, types...)
		if err == nil || !errors.Is(err, ErrInvalidToken) {
			return c, err
		}
		i, rerr := v.route(raw)
		switch {
		case rerr != nil:
			return nil, rerr
		case i == known:
			return nil, err
		}
		return i.Verify(ctx, raw, types...)
	}
	i, err := v.route(raw)
	if err != nil {
		return nil, err
	}
	c, err := i.Verify(ctx, raw, types...)
	if err == nil {
		v.learn(hSeg, i)
	}
	return c, err
}

// learn records that tokens with header hSeg are routed to i.
func (v *Verifier) learn(hSeg string, i *Issuer) {
	v.routesMu.Lock()
	defer v.routesMu.Unlock()
	old := *v.routes.Load()
	if old[hSeg] != nil || len(old) >= maxRoutes {
		return
	}
	routes := make(map[string]*Issuer, len(old)+1)
	for k, x := range old {
		routes[k] = x
	}
	routes[strings.Clone(hSeg)] = i
	v.routes.Store(&routes)
}

// route finds the issuer a token names, reading only its iss claim. The
// token is not trusted yet: the chosen issuer checks everything,
// iss included, so a payload that reads differently to a full decoder is
// refused there, never accepted by another issuer.
func (v *Verifier) route(raw string) (*Issuer, error) {
	if len(raw) > v.maxSize {
		return nil, invalidf(ErrMalformedToken, "token longer than %d bytes", v.maxSize)
	}
	_, pSeg, _, err := splitToken(raw)
	if err != nil {
		return nil, err
	}
	sc := getScratch()
	defer putScratch(sc)
	payload, err := sc.decode(pSeg)
	if err != nil {
		return nil, invalid(ErrMalformedToken, "payload is not base64url")
	}
	// The scan reads the scratch buffer in place; nothing it returns
	// outlives this call (the map lookup copies nothing).
	iss, ok := scanIssuer(unsafe.String(unsafe.SliceData(payload), len(payload)))
	if !ok {
		var w struct {
			Iss string `json:"iss"`
		}
		if json.Unmarshal(payload, &w) != nil {
			return nil, invalid(ErrMalformedToken, "payload is not a JSON object with a string iss")
		}
		iss = w.Iss
	}
	if i, ok := v.byName[iss]; ok {
		return i, nil
	}
	if iss == "" {
		return nil, invalid(ErrIssuer, "no iss claim")
	}
	return nil, invalidf(ErrIssuer, "issuer %s is not trusted", strconv.QuoteToASCII(truncate(iss, 64)))
}

// scanIssuer reads the top-level iss member of a payload of the usual
// shape; ok is false when the payload is of another shape (escapes,
// repeated or case-folded names), left to encoding/json.
func scanIssuer(p string) (iss string, ok bool) {
	s := jsonScanner{s: p}
	s.space()
	if !s.consume('{') {
		return "", false
	}
	found := false
	s.space()
	if s.consume('}') {
		return "", s.end()
	}
	for {
		s.space()
		name, ok := s.plainString()
		if !ok {
			return "", false
		}
		s.space()
		if !s.consume(':') {
			return "", false
		}
		s.space()
		switch {
		case name == "iss":
			if found {
				return "", false
			}
			if iss, ok = s.plainString(); !ok {
				return "", false
			}
			found = true
		case foldsToIss(name):
			return "", false // "ISS", "iſs": encoding/json would read it as iss
		default:
			if !s.skipValue(0) {
				return "", false
			}
		}
		s.space()
		if s.consume(',') {
			continue
		}
		if s.consume('}') {
			return iss, s.end()
		}
		return "", false
	}
}

// foldsToIss reports whether encoding/json could match name to iss,
// being iss itself: any case of it, or a name with non-ASCII letters
// (which fold too, as 'ſ' to 's').
func foldsToIss(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			return true
		}
	}
	return strings.EqualFold(name, "iss")
}
