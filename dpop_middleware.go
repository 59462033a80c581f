package guardian

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// checkBinding applies the rules of RFC 9449 §7 to a verified token: a
// DPoP-bound token (cnf.jkt) needs the DPoP scheme and a proof, made by
// its key, for this request; the DPoP scheme needs a bound token; and
// where DPoP is required, a token that is not bound is refused. It
// returns the newer server nonce to hand out, if any.
func (g *Guardian[U]) checkBinding(r *http.Request, cred credential, c *Claims, requireDPoP bool) (nextNonce string, err error) {
	jkt := c.Confirmation.JWKThumbprint
	switch {
	case cred.dpop && jkt == "":
		return "", invalid(ErrTokenBinding, "the DPoP scheme with a token that is not DPoP-bound")
	case !cred.dpop && jkt != "":
		return "", invalid(ErrTokenBinding, "a DPoP-bound token needs the DPoP scheme and a proof")
	case !cred.dpop && requireDPoP:
		return "", invalid(ErrTokenBinding, "this route accepts DPoP-bound tokens only")
	case !cred.dpop:
		return "", nil
	}
	if g.dpop == nil { // a route's RequireDPoP without GuardianOptions.DPoP
		return "", invalid(ErrTokenBinding, "DPoP is not configured")
	}
	proofs := r.Header.Values("DPoP")
	if len(proofs) != 1 {
		return "", invalidProof("want exactly one DPoP header, got %d", len(proofs))
	}
	p, err := g.dpop.Verify(r.Context(), proofs[0], DPoPRequest{Method: r.Method, URL: g.urlOf(r), AccessToken: cred.raw, JKT: jkt})
	if err != nil {
		return "", err
	}
	return p.NextNonce, nil
}

// setNextNonce hands out a newer server nonce on the answer (RFC 9449
// §8.2), when there is one.
func setNextNonce(w http.ResponseWriter, nonce string) {
	if nonce != "" {
		w.Header().Set("DPoP-Nonce", nonce)
	}
}

// tokenRequestError is a DPoP proof refused at a token request (SignIn,
// Refresh): RFC 9449 §5 and §8 answer it as RFC 6749 §5.2 does, 400,
// rather than with the 401 of a resource request.
type tokenRequestError struct{ err error }

func (e *tokenRequestError) Error() string { return e.err.Error() }
func (e *tokenRequestError) Unwrap() error { return e.err }

// atTokenRequest marks err, a DPoP proof's refusal, as one of a token
// request.
func atTokenRequest(err error) error {
	if err == nil || !errors.Is(err, ErrInvalidDPoPProof) {
		return err
	}
	return &tokenRequestError{err}
}

// urlOf is the URL the client used for r (GuardianOptions.RequestURL).
func (g *Guardian[U]) urlOf(r *http.Request) *url.URL {
	if g.requestURL != nil {
		return g.requestURL(r)
	}
	return defaultRequestURL(r)
}

// challenge is one WWW-Authenticate challenge of a refusal: its scheme,
// and whether it carries the refusal's error parameters.
type challenge struct {
	scheme string
	params bool
}

// challenges are the WWW-Authenticate challenges of a refusal (RFC 9449
// §7.1): with DPoP off, the Guardian's scheme; where DPoP is required, or
// the request used it or its proof failed, DPoP; else (DPoP allowed) the
// Guardian's scheme with the error and a DPoP challenge with its algs, so
// that a client learns it may, or for a bound token must, use DPoP.
func (g *Guardian[U]) challenges(r *http.Request, proofFailed bool) []challenge {
	switch {
	case g.dpop == nil:
		return []challenge{{g.scheme, true}}
	case g.requireDPoP || proofFailed || usedDPoPScheme(r, g.header):
		return []challenge{{"DPoP", true}}
	}
	return []challenge{{g.scheme, true}, {"DPoP", false}}
}

// usedDPoPScheme reports whether r's header presents the DPoP scheme,
// with or without a token.
func usedDPoPScheme(r *http.Request, header string) bool {
	v := strings.TrimLeft(r.Header.Get(header), " \t")
	return len(v) >= 4 && strings.EqualFold(v[:4], "DPoP") && (len(v) == 4 || v[4] == ' ' || v[4] == '\t')
}

// dpopAlgs is the algs parameter of a DPoP challenge (RFC 9449 §7.1).
func (g *Guardian[U]) dpopAlgs() string {
	algs := make([]string, len(g.dpop.algs))
	for i, a := range g.dpop.algs {
		algs[i] = string(a)
	}
	return `algs="` + strings.Join(algs, " ") + `"`
}

// signInBinding is the key a login's tokens are bound to: the key of the
// request's DPoP proof (checked for this request, with no token), or none
// without a proof or with DPoP off. It hands out a newer server nonce on
// w, if any.
func (g *Guardian[U]) signInBinding(w http.ResponseWriter, r *http.Request) (Confirmation, error) {
	proofs := r.Header.Values("DPoP")
	if g.dpop == nil || len(proofs) == 0 {
		return Confirmation{}, nil
	}
	if st := stateOf(r.Context(), g.slot); st != nil && st.claims != nil && st.claims.Confirmation.JWKThumbprint != "" {
		// A signed-in request's proof was checked, and spent, on its bound
		// token: the new login stays bound to that key.
		return st.claims.Confirmation, nil
	}
	if len(proofs) != 1 {
		return Confirmation{}, atTokenRequest(invalidProof("want exactly one DPoP header, got %d", len(proofs)))
	}
	p, err := g.dpop.Verify(r.Context(), proofs[0], DPoPRequest{Method: r.Method, URL: g.urlOf(r)})
	if err != nil {
		return Confirmation{}, atTokenRequest(err)
	}
	setNextNonce(w, p.NextNonce)
	return Confirmation{JWKThumbprint: p.JKT}, nil
}

// refreshBinding checks the DPoP proof of a refresh: a bound refresh
// token needs a proof of its key, so that a stolen one is useless (RFC
// 9449 §5, §5.2); with an unbound one, a proof binds the new tokens to its
// key. It returns the binding to ask of Issuer.Refresh, and hands out a
// newer server nonce on w, if any.
func (g *Guardian[U]) refreshBinding(w http.ResponseWriter, r *http.Request, raw string) (*Confirmation, error) {
	_, old, err := g.issuer.Peek(r.Context(), raw) // Refresh verifies it
	if err != nil || old.Type != RefreshToken {
		return nil, nil // Refresh refuses it, for what it is
	}
	jkt := old.Confirmation.JWKThumbprint
	proofs := r.Header.Values("DPoP")
	switch {
	case jkt == "" && (g.dpop == nil || len(proofs) == 0):
		return nil, nil
	case g.dpop == nil:
		return nil, invalid(ErrTokenBinding, "a DPoP-bound refresh token, and DPoP is off")
	case len(proofs) != 1:
		return nil, atTokenRequest(invalidProof("want exactly one DPoP header, got %d", len(proofs)))
	}
	p, err := g.dpop.Verify(r.Context(), proofs[0], DPoPRequest{Method: r.Method, URL: g.urlOf(r), JKT: jkt})
	if err != nil {
		return nil, atTokenRequest(err)
	}
	setNextNonce(w, p.NextNonce)
	return &Confirmation{JWKThumbprint: p.JKT}, nil
}
