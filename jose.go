package guardian

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// Header is the JOSE header of a token, as [Issuer.Peek] reports it.
type Header struct {
	Algorithm Algorithm // alg
	KeyID     string    // kid
	Type      string    // typ
}

// joseHeader is the JSON form of a JOSE header. The members this library
// refuses are kept raw only to notice that they are present.
type joseHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ,omitempty"`
	Kid string `json:"kid,omitempty"`

	Jku  json.RawMessage `json:"jku,omitempty"`
	X5u  json.RawMessage `json:"x5u,omitempty"`
	X5c  json.RawMessage `json:"x5c,omitempty"`
	X5t  json.RawMessage `json:"x5t,omitempty"`
	X5tS json.RawMessage `json:"x5t#S256,omitempty"`
	Jwk  json.RawMessage `json:"jwk,omitempty"`
	Crit json.RawMessage `json:"crit,omitempty"`
	B64  json.RawMessage `json:"b64,omitempty"`
	Zip  json.RawMessage `json:"zip,omitempty"`
	Enc  json.RawMessage `json:"enc,omitempty"`
}

// b64 is the strict unpadded base64url of JWS compact serialization: it
// refuses padding and non-zero trailing bits. It skips CR and LF, as every
// encoding/base64 decoder does, so splitToken refuses them first: one token
// has one spelling.
var b64 = base64.RawURLEncoding.Strict()

// splitToken splits a compact JWS into its three parts.
func splitToken(raw string) (header, payload, sig string, err error) {
	h, rest, ok := strings.Cut(raw, ".")
	if !ok {
		return "", "", "", invalid(ErrMalformedToken, "not a compact JWS (no dot)")
	}
	p, s, ok := strings.Cut(rest, ".")
	if !ok || strings.IndexByte(s, '.') >= 0 {
		return "", "", "", invalid(ErrMalformedToken, "not a compact JWS (want three parts)")
	}
	if h == "" || p == "" || s == "" {
		return "", "", "", invalid(ErrMalformedToken, "empty part")
	}
	// base64 decoding skips line breaks, even in strict mode: refuse them,
	// so one token has one spelling.
	if strings.IndexByte(raw, '\n') >= 0 || strings.IndexByte(raw, '\r') >= 0 {
		return "", "", "", invalid(ErrMalformedToken, "line break in token")
	}
	return h, p, s, nil
}

// headerType is the typ of a token's JOSE header, as far as it matters:
// none, JWT, or RFC 9068's at+jwt.
type headerType uint8

const (
	headerNoType headerType = iota
	headerJWT
	headerATJWT
)

// parseHeaderType reads a typ value: media types are compared without
// case, and "application/" may be left out (RFC 7515 §4.1.9). Any other
// type (an ID token's, a DPoP proof's, a logout token's) is not an
// access token of any policy, and is refused (RFC 8725 §3.11).
func parseHeaderType(typ string) (headerType, bool) {
	if len(typ) > len("application/") && strings.EqualFold(typ[:len("application/")], "application/") {
		typ = typ[len("application/"):]
	}
	switch {
	case typ == "":
		return headerNoType, true
	case strings.EqualFold(typ, "JWT"):
		return headerJWT, true
	case strings.EqualFold(typ, "at+jwt"):
		return headerATJWT, true
	}
	return headerNoType, false
}

// decodeHeader decodes and screens a JOSE header (RFC 8725 §2.3, §3.1):
// keys are never fetched from or embedded in a token, critical extensions
// are not understood, and only JWT and at+jwt typing are accepted (the
// Issuer's TypePolicy decides between them).
func decodeHeader(seg string) (joseHeader, error) {
	var h joseHeader
	buf, err := b64.DecodeString(seg)
	if err != nil {
		return h, invalid(ErrMalformedToken, "header is not base64url")
	}
	if err := json.Unmarshal(buf, &h); err != nil {
		return h, invalid(ErrMalformedToken, "header is not a JSON object")
	}
	switch {
	case h.Jku != nil, h.X5u != nil:
		return h, invalid(ErrUnsupportedHeader, "key URLs (jku, x5u) are never fetched")
	case h.X5c != nil, h.Jwk != nil, h.X5t != nil, h.X5tS != nil:
		return h, invalid(ErrUnsupportedHeader, "embedded keys and certificates (jwk, x5c, x5t) are not trusted")
	case h.Crit != nil:
		return h, invalid(ErrUnsupportedHeader, "critical header extensions are not supported")
	case h.B64 != nil, h.Zip != nil, h.Enc != nil:
		return h, invalid(ErrUnsupportedHeader, "b64, zip and enc are not supported")
	case !validHeaderType(h.Typ):
		return h, invalid(ErrUnsupportedHeader, "typ is neither JWT nor at+jwt")
	case h.Alg == "":
		return h, invalid(ErrMalformedToken, "header has no alg")
	}
	return h, nil
}

func validHeaderType(typ string) bool {
	_, ok := parseHeaderType(typ)
	return ok
}
