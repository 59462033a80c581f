package guardian

import (
	"errors"
	"fmt"
)

// Every failure the library reports wraps one of these sentinels; test for
// them with [errors.Is]. Token failures also wrap [ErrInvalidToken], so a
// handler can treat them as one class and still tell them apart.
var (
	// ErrMissingToken: the request carries no token where one is required.
	ErrMissingToken = errors.New("guardian: no token")
	// ErrMalformedRequest: the credentials are present but cannot be
	// read: an Authorization header not of the form "<scheme> <token>",
	// repeated headers or cookies, a cookie or query parameter that holds
	// no token, or a refresh request body that is not what Refresh reads.
	// RFC 6750 calls this invalid_request (400).
	ErrMalformedRequest = errors.New("guardian: malformed request")

	// ErrInvalidToken is wrapped by every failure of the token itself.
	ErrInvalidToken = errors.New("guardian: invalid token")
	// ErrMalformedToken: not a compact JWS, bad base64 or JSON, a claim of
	// the wrong JSON type, or a token over the size bound.
	ErrMalformedToken = errors.New("guardian: malformed token")
	// ErrUnsupportedHeader: the JOSE header asks for something this library
	// refuses by design (jku, x5u, x5c, jwk, crit, an unexpected typ).
	ErrUnsupportedHeader = errors.New("guardian: unsupported token header")
	// ErrUnknownKey: no verification key has the token's kid.
	ErrUnknownKey = errors.New("guardian: unknown signing key")
	// ErrAlgorithm: the token's alg is not the algorithm its key is pinned to.
	ErrAlgorithm = errors.New("guardian: unexpected signing algorithm")
	// ErrInvalidSignature: the signature does not verify.
	ErrInvalidSignature = errors.New("guardian: invalid signature")
	// ErrMissingClaim: a required claim (exp, and jti and iat when revocation
	// is on) is absent.
	ErrMissingClaim = errors.New("guardian: missing required claim")
	// ErrExpired: exp has passed (beyond the leeway).
	ErrExpired = errors.New("guardian: token expired")
	// ErrNotYetValid: nbf is in the future (beyond the leeway).
	ErrNotYetValid = errors.New("guardian: token not valid yet")
	// ErrIssuedInFuture: iat is in the future (beyond the leeway).
	ErrIssuedInFuture = errors.New("guardian: token issued in the future")
	// ErrIssuer: iss is not the configured issuer.
	ErrIssuer = errors.New("guardian: wrong issuer")
	// ErrAudience: aud does not name any configured audience, or names
	// audiences while none is configured.
	ErrAudience = errors.New("guardian: wrong audience")
	// ErrTokenType: typ is not one of the types the caller accepts.
	ErrTokenType = errors.New("guardian: wrong token type")
	// ErrRevoked: the Revoker says the token, its subject or its family was
	// revoked.
	ErrRevoked = errors.New("guardian: token revoked")
	// ErrResourceNotFound: the token is valid but its resource (the user)
	// could not be loaded.
	ErrResourceNotFound = errors.New("guardian: resource not found")

	// ErrAlreadyAuthenticated: a valid token was presented to a route
	// guarded by EnsureNotAuthenticated.
	ErrAlreadyAuthenticated = errors.New("guardian: already authenticated")
	// ErrUnavailable: the Revoker could not answer, or the keys of the
	// token's issuer could not be loaded, so the token is refused (fail
	// closed). The default handler answers 503.
	ErrUnavailable = errors.New("guardian: unavailable")
	// ErrRevokerUnavailable: the Revoker could not answer in time. It
	// comes wrapped with ErrUnavailable (503), never alone.
	ErrRevokerUnavailable = errors.New("guardian: revocation store unavailable")
	// ErrKeysUnavailable: the token's issuer's keys could not be fetched
	// (see [RemoteKeys]), so whether the token is good cannot be told. It
	// comes wrapped with ErrUnavailable (503), never alone.
	ErrKeysUnavailable = errors.New("guardian: issuer keys unavailable")
	// ErrInvalidRevocation: a Revocation cannot be recorded as given (see
	// Revocation.Validate). It is the caller's mistake, never an outage:
	// the Issuer does not report it as ErrUnavailable.
	ErrInvalidRevocation = errors.New("guardian: invalid revocation")
	// ErrInvalidID: a subject, family or jti is empty, longer than
	// MaxIDLength, not valid UTF-8, or holds a NUL byte (see CheckID).
	ErrInvalidID = errors.New("guardian: invalid ID")
	// ErrCrossSite: a request authenticated by a cookie, with a method
	// other than GET, HEAD or OPTIONS, came from another site (CSRF; see
	// CookieOptions). The default handler answers 403.
	ErrCrossSite = errors.New("guardian: cross-site request")
	// ErrInsufficientScope: the token is valid but lacks a permission the
	// route requires. RFC 6750 calls this insufficient_scope (403).
	ErrInsufficientScope = errors.New("guardian: insufficient scope")
	// ErrInsufficientUserAuthentication: the token is valid but its user
	// authenticated too long ago, or not strongly enough, for the route
	// (RFC 9470): they must authenticate again. The default handler
	// answers 401 insufficient_user_authentication.
	ErrInsufficientUserAuthentication = errors.New("guardian: insufficient user authentication")
	// ErrInvalidDPoPProof: a DPoP proof (RFC 9449) is malformed, does not
	// verify, does not match the request or the token, is too old, or was
	// seen before (see [DPoPVerifier]).
	ErrInvalidDPoPProof = errors.New("guardian: invalid DPoP proof")
	// ErrTokenBinding: a token's DPoP binding (cnf.jkt, RFC 9449) does not
	// fit the request: a bound token without the DPoP scheme (§7.2), the
	// DPoP scheme with a token that is not bound, a route that takes bound
	// tokens only, or a refresh token bound to another key. It comes with
	// ErrInvalidToken (401 invalid_token).
	ErrTokenBinding = errors.New("guardian: token binding does not fit the request")
	// ErrUseDPoPNonce: server nonces are on (DPoPOptions.NonceSecret) and
	// a DPoP proof carries no nonce, or one that is unknown or too old
	// (RFC 9449 §8, §9). It comes with ErrInvalidDPoPProof; the refusal
	// (use_dpop_nonce) hands out the nonce to use in a DPoP-Nonce header,
	// see [DPoPNonceOf].
	ErrUseDPoPNonce = errors.New("guardian: use the DPoP nonce")
	// ErrKey is wrapped by every error about a key given to a constructor
	// or read from a JWK set.
	ErrKey = errors.New("guardian: unusable key")
	// ErrNoRevoker is returned by operations that revoke when the Issuer
	// has no Revoker.
	ErrNoRevoker = errors.New("guardian: no Revoker configured")
	// ErrConfig: a constructor was given settings it cannot work with
	// (NewIssuer, New, NewMirror, CookieOptions, JWKSOptions).
	ErrConfig = errors.New("guardian: invalid configuration")
	// ErrInvalidArgument: an operation was given an argument it cannot
	// use: custom claims that are not a JSON object or name a registered
	// claim, a TTL out of bounds, a token type without a TTL.
	ErrInvalidArgument = errors.New("guardian: invalid argument")
	// ErrInvalidCredentials: a password check failed, or the user is unknown;
	// the two are deliberately the same error.
	ErrInvalidCredentials = errors.New("guardian: invalid credentials")
)

// reasons are the sentinels Reason reports, the most specific first.
var reasons = []error{
	ErrMalformedToken, ErrUnsupportedHeader, ErrUnknownKey, ErrAlgorithm,
	ErrInvalidSignature, ErrMissingClaim, ErrExpired, ErrNotYetValid,
	ErrIssuedInFuture, ErrIssuer, ErrAudience, ErrTokenType, ErrRevoked,
	ErrResourceNotFound, ErrMalformedRequest, ErrMissingToken, ErrCrossSite,
	ErrInsufficientScope, ErrInsufficientUserAuthentication, ErrTokenBinding, ErrUseDPoPNonce, ErrInvalidDPoPProof, ErrAlreadyAuthenticated, ErrKeysUnavailable, ErrRevokerUnavailable, ErrUnavailable,
	ErrInvalidToken, ErrInvalidRevocation, ErrInvalidID, ErrKey,
	ErrNoRevoker, ErrInvalidCredentials, ErrConfig, ErrInvalidArgument,
}

// Reason returns the most specific sentinel error of the package that err
// wraps (ErrExpired rather than ErrInvalidToken), or nil when it wraps
// none. Its text is fixed and safe to log or to use as a metric label: it
// never holds token bytes or client input.
func Reason(err error) error {
	if err == nil {
		return nil
	}
	for _, s := range reasons {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}

// tokenError is a failure of the token itself: it matches ErrInvalidToken
// and its specific sentinel.
type tokenError struct {
	kind   error
	detail string
}

func (e *tokenError) Error() string {
	if e.detail == "" {
		return e.kind.Error()
	}
	return e.kind.Error() + ": " + e.detail
}

func (e *tokenError) Unwrap() []error { return []error{ErrInvalidToken, e.kind} }

// invalid returns a token failure of the given kind.
func invalid(kind error, detail string) error {
	return &tokenError{kind: kind, detail: detail}
}

// invalidf is invalid with a formatted detail.
func invalidf(kind error, format string, args ...any) error {
	return &tokenError{kind: kind, detail: fmt.Sprintf(format, args...)}
}

// keysUnavailable reports that an issuer's keys could not be had, because
// of cause (which may be nil).
func keysUnavailable(cause error) error {
	if cause == nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, ErrKeysUnavailable)
	}
	if errors.Is(cause, ErrKeysUnavailable) {
		if errors.Is(cause, ErrUnavailable) {
			return cause
		}
		return fmt.Errorf("%w: %w", ErrUnavailable, cause)
	}
	return fmt.Errorf("%w: %w: %w", ErrUnavailable, ErrKeysUnavailable, cause)
}
