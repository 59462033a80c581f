package guardian

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrorStatus maps an error of this package, or a sentinel [Reason]
// returned for it, to its HTTP status and its RFC 6750 error code (empty
// when the answer carries none):
//
//	ErrMissingToken          401 ""  (a challenge without error code)
//	ErrMalformedRequest       400 invalid_request
//	ErrInvalidToken (any), ErrResourceNotFound
//	                         401 invalid_token
//	ErrInsufficientScope     403 insufficient_scope
//	ErrInsufficientUserAuthentication
//	                         401 insufficient_user_authentication
//	ErrInvalidDPoPProof      401 invalid_dpop_proof (RFC 9449 §7.1); 400
//	                         at a token request (SignIn, Refresh: §5)
//	ErrUseDPoPNonce          401 use_dpop_nonce (§9); 400 at a token
//	                         request (§8)
//	ErrCrossSite             403 cross_site_request
//	ErrAlreadyAuthenticated  403 already_authenticated
//	ErrUnavailable           503 temporarily_unavailable
//	anything else            500 server_error
func ErrorStatus(err error) (status int, code string) {
	switch {
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable, "temporarily_unavailable"
	case errors.Is(err, ErrMalformedRequest):
		return http.StatusBadRequest, "invalid_request"
	case errors.Is(err, ErrMissingToken):
		return http.StatusUnauthorized, ""
	case errors.Is(err, ErrInsufficientUserAuthentication):
		return http.StatusUnauthorized, "insufficient_user_authentication"
	case errors.Is(err, ErrInvalidDPoPProof):
		status := http.StatusUnauthorized
		var tr *tokenRequestError
		if errors.As(err, &tr) {
			status = http.StatusBadRequest // RFC 9449 §5, §8: RFC 6749 §5.2
		}
		if errors.Is(err, ErrUseDPoPNonce) {
			return status, "use_dpop_nonce"
		}
		return status, "invalid_dpop_proof"
	case errors.Is(err, ErrInvalidToken), errors.Is(err, ErrResourceNotFound), isTokenKind(err):
		return http.StatusUnauthorized, "invalid_token"
	case errors.Is(err, ErrInsufficientScope):
		return http.StatusForbidden, "insufficient_scope"
	case errors.Is(err, ErrCrossSite):
		return http.StatusForbidden, "cross_site_request"
	case errors.Is(err, ErrAlreadyAuthenticated):
		return http.StatusForbidden, "already_authenticated"
	}
	return http.StatusInternalServerError, "server_error"
}

// describe returns a fixed, safe description of err: the text of its most
// specific sentinel, never details that echo client input or internals.
func describe(err error) string {
	if s := Reason(err); s != nil && s != ErrInvalidRevocation && s != ErrInvalidID && s != ErrKey && s != ErrNoRevoker && s != ErrConfig && s != ErrInvalidArgument {
		return strings.TrimPrefix(s.Error(), "guardian: ")
	}
	return "internal error"
}

// tokenKinds are the sentinels of token failures: a tokenError wraps one
// and ErrInvalidToken, and a bare one (from Reason) means the same.
var tokenKinds = []error{
	ErrMalformedToken, ErrUnsupportedHeader, ErrUnknownKey, ErrAlgorithm,
	ErrInvalidSignature, ErrMissingClaim, ErrExpired, ErrNotYetValid,
	ErrIssuedInFuture, ErrIssuer, ErrAudience, ErrTokenType, ErrRevoked,
	ErrTokenBinding,
}

func isTokenKind(err error) bool {
	for _, k := range tokenKinds {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// retryAfterSeconds is the Retry-After of a 503 answer.
const retryAfterSeconds = "1"

// errorBody is the JSON body of a refused request.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// DefaultErrorHandler answers a refused request as RFC 6750 says (see
// [ErrorStatus]): the status, a WWW-Authenticate challenge with the realm
// (and the error code, when there is one) on 400, 401 and
// insufficient_scope, "Retry-After: 1" on 503, and a JSON
// body {"error": code, "error_description": text}. A request without
// credentials gets the code "unauthorized" in its body only. The
// description names the failure (e.g. "token expired") and never echoes
// the token or internal errors.
func (g *Guardian[U]) DefaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	status, code := ErrorStatus(err)
	if status >= 500 {
		g.logger.ErrorContext(r.Context(), "guardian: request refused", "status", status, "method", r.Method, "path", r.URL.Path, "err", err)
	}
	desc := describe(err)
	h := w.Header()
	if status == http.StatusBadRequest || status == http.StatusUnauthorized || code == "insufficient_scope" {
		var b strings.Builder
		var scopeErr *ScopeError
		var stepUp *StepUpError
		switch {
		case errors.As(err, &scopeErr):
			// RFC 6750 §3: the scope the route needs says it all. Scope
			// tokens hold no quote or backslash (AllScopes, Permissions).
			b.WriteString(`, error="` + code + `", scope="` + strings.Join(scopeErr.Required, " ") + `"`)
		case errors.As(err, &stepUp):
			// RFC 9470 §3. ACR values are scope tokens (ACR).
			b.WriteString(`, error="` + code + `", error_description="` + stepUpDescription(stepUp) + `"`)
			if stepUp.MaxAge > 0 {
				b.WriteString(`, max_age="` + strconv.FormatInt(int64(stepUp.MaxAge/time.Second), 10) + `"`)
			}
			if len(stepUp.ACRValues) > 0 {
				b.WriteString(`, acr_values="` + strings.Join(stepUp.ACRValues, " ") + `"`)
			}
		case code != "":
			b.WriteString(`, error="` + code + `", error_description="` + desc + `"`)
		}
		params := b.String()
		h.Del("WWW-Authenticate")
		for _, c := range g.challenges(r, errors.Is(err, ErrInvalidDPoPProof)) {
			v := c.scheme + ` realm="` + g.realm + `"`
			if c.scheme == "DPoP" {
				v += ", " + g.dpopAlgs()
			}
			if c.params {
				v += params
			}
			h.Add("WWW-Authenticate", v)
		}
	}
	if code == "" {
		code = "unauthorized"
	}
	body, _ := json.Marshal(errorBody{Error: code, Description: desc})
	if status == http.StatusServiceUnavailable {
		// The store's outage is usually brief; RFC 9110 §10.2.3.
		h.Set("Retry-After", retryAfterSeconds)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// stepUpDescription is the error_description of a step-up challenge.
func stepUpDescription(e *StepUpError) string {
	if e.MaxAge > 0 {
		return "a more recent authentication is required"
	}
	return "a stronger authentication is required"
}
