package guardian

import (
	"slices"
	"strconv"
)

// A TypePolicy says how an issuer's tokens show what they are for, and so
// which of them the middleware takes as access tokens. Tokens of another
// kind that the same issuer signs with the same keys (ID tokens, refresh
// tokens, logout tokens) must never pass for access tokens (RFC 8725
// §3.11): pick the strictest policy the issuer allows.
type TypePolicy uint8

const (
	// TypeFromClaim is guardian's own typing: the typ claim names the
	// token type (access, refresh, or an app's type), and the JOSE header's
	// typ is JWT or absent. The default of [NewIssuer].
	TypeFromClaim TypePolicy = iota + 1
	// TypeRFC9068 requires the JOSE header typ "at+jwt" (or
	// "application/at+jwt"), as RFC 9068 §4 asks of a resource server:
	// every such token is an access token. The default of
	// [NewRemoteIssuer].
	TypeRFC9068
	// TypeRFC9068OrJWT takes tokens typed at+jwt, and also plain JWT access
	// tokens (header typ JWT or absent) of issuers that do not type them,
	// such as many OAuth servers before RFC 9068. Keep Audience specific to
	// this API: an ID token of the same issuer is a plain JWT too, told
	// apart only by its audience (the client's ID).
	TypeRFC9068OrJWT
)

// String names the policy as its constant does.
func (p TypePolicy) String() string {
	switch p {
	case TypeFromClaim:
		return "TypeFromClaim"
	case TypeRFC9068:
		return "TypeRFC9068"
	case TypeRFC9068OrJWT:
		return "TypeRFC9068OrJWT"
	}
	return "TypePolicy(" + strconv.Itoa(int(p)) + ")"
}

// typeRule is an Issuer's TypePolicy with its list of typ claims that
// still mean an access token.
type typeRule struct {
	policy TypePolicy
	// accessTypes are typ claim values taken as an access token under the
	// RFC 9068 policies (IssuerOptions.AccessTypeClaims).
	accessTypes []string
}

// resolve checks c's header and typ claim against the rule and, under the
// RFC 9068 policies, sets c.Type to AccessToken: from then on the
// middleware's type checks apply to third-party tokens unchanged.
func (t *typeRule) resolve(c *Claims) error {
	switch t.policy {
	case TypeFromClaim:
		if c.header == headerATJWT {
			return invalid(ErrTokenType, "header typ at+jwt, but this issuer types tokens with the typ claim")
		}
		return nil
	case TypeRFC9068:
		if c.header != headerATJWT {
			return invalid(ErrTokenType, "header typ is not at+jwt (RFC 9068)")
		}
	case TypeRFC9068OrJWT:
	}
	if c.Type != "" && !slices.Contains(t.accessTypes, string(c.Type)) {
		return invalid(ErrTokenType, "the typ claim does not name an access token")
	}
	c.Type = AccessToken
	return nil
}
