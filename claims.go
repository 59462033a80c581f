package guardian

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TokenType is the value of the typ claim: what a token may be used for.
type TokenType string

const (
	// Access tokens authenticate requests. Middleware accepts only these by
	// default.
	AccessToken TokenType = "access"
	// Refresh tokens are exchanged for new access tokens and are refused by
	// the middleware unless a route asks for them.
	RefreshToken TokenType = "refresh"
)

// registeredNames are the claims the library owns; custom claims may not use
// them.
var registeredNames = map[string]bool{
	"iss": true, "sub": true, "aud": true, "typ": true, "jti": true,
	"fam": true, "iat": true, "nbf": true, "exp": true, "auth_time": true,
	"scope": true, "scp": true, "client_id": true, "azp": true, "acr": true,
	"amr": true, "cnf": true, "pem": true, "act": true,
}

// Claims are the registered claims of a verified (or peeked) token. Custom
// claims stay in the payload and are read with [Claims.Custom].
type Claims struct {
	Issuer   string    // iss
	Subject  string    // sub: the resource, as the subject callback names it
	Audience []string  // aud: one or more audiences
	Type     TokenType // typ: access, refresh, or an app-defined type
	ID       string    // jti: 128 random bits, base64url
	Family   string    // fam: the login a token descends from (refresh rotation, logout)
	IssuedAt time.Time // iat, whole seconds
	// NotBefore is nbf; zero when the token has none.
	NotBefore time.Time
	// ExpiresAt is exp; verification requires it.
	ExpiresAt time.Time
	// AuthTime is auth_time (OpenID Connect, RFC 9470): when the user last
	// proved who they are, by a login. Refresh keeps it, and a family
	// lives IssuerOptions.FamilyLifetime from it; zero when the token has none.
	AuthTime time.Time

	// Scope lists the scopes granted: the space-separated scope claim
	// (RFC 9068 §2.2.3, RFC 8693 §4.2) and the scp array some issuers
	// send instead, as one list without repeats.
	Scope []string
	// ClientID is client_id: the OAuth client the token was issued to
	// (RFC 9068 §2.2).
	ClientID string
	// AuthorizedParty is azp (OpenID Connect Core §2).
	AuthorizedParty string
	// ACR is acr: the authentication context class the user satisfied.
	ACR string
	// AMR is amr: the authentication methods used (RFC 8176).
	AMR []string
	// Confirmation is cnf (RFC 7800): the key a sender-constrained token
	// is bound to. Zero for a bearer token.
	Confirmation Confirmation
	// Permissions is pem: the permission groups granted, each with the
	// mask of its permissions (Elixir Guardian's encoding), sorted by
	// group. Check them with a [Permissions] declaration.
	Permissions []PermissionBits
	// Actor is act (RFC 8693 §4.1): who is acting on behalf of the
	// subject, on a token of [Guardian.Impersonate]. Nil on a token the
	// subject uses themselves.
	Actor *Actor

	// by is the Issuer that issued or verified the claims: its clock and
	// leeway judge max_age (see MaxAge).
	by *Issuer

	payload string    // the decoded JSON payload, for Custom
	aud1    [1]string // backs Audience when there is one audience
	// header is the typ of the token's JOSE header, for the TypePolicy.
	header headerType
}

// Confirmation is the cnf claim of a sender-constrained token (RFC 7800).
type Confirmation struct {
	// JWKThumbprint is jkt: the RFC 7638 SHA-256 thumbprint of the DPoP
	// key the token is bound to (RFC 9449 §6.1).
	JWKThumbprint string `json:"jkt,omitempty"`
	// X509Thumbprint is x5t#S256: the SHA-256 thumbprint of the client
	// certificate of a mutual-TLS bound token (RFC 8705 §3.1).
	X509Thumbprint string `json:"x5t#S256,omitempty"`
}

// Actor is the act claim (RFC 8693 §4.1): the party acting on behalf of a
// token's subject, and who acted for it in turn (a chain, most recent
// first).
type Actor struct {
	// Subject is the actor's sub.
	Subject string `json:"sub"`
	// Issuer is the actor's iss, when it is not the token's.
	Issuer string `json:"iss,omitempty"`
	// Actor is the prior actor in a delegation chain, or nil.
	Actor *Actor `json:"act,omitempty"`
}

// clone copies the chain.
func (a *Actor) clone() *Actor {
	if a == nil {
		return nil
	}
	d := *a
	d.Actor = a.Actor.clone()
	return &d
}

// IsZero reports whether the token carries no confirmation: a bearer token.
func (c Confirmation) IsZero() bool { return c == Confirmation{} }

// HasScope reports whether the token grants scope s.
func (c *Claims) HasScope(s string) bool {
	for _, x := range c.Scope {
		if x == s {
			return true
		}
	}
	return false
}

// Custom decodes the token's payload into v, a pointer to a struct (or map)
// describing the app's custom claims. Fields named like registered claims
// receive their values too; leave them out of v to ignore them.
func (c *Claims) Custom(v any) error {
	if len(c.payload) == 0 {
		return fmt.Errorf("%w: claims carry no payload", ErrInvalidArgument)
	}
	if err := json.Unmarshal([]byte(c.payload), v); err != nil {
		return fmt.Errorf("guardian: decode custom claims: %w", err)
	}
	return nil
}

// clone returns a copy of c that shares no mutable memory with it, so that
// claims kept by the verified-token cache are never changed by a request.
func (c *Claims) clone() *Claims {
	d := *c
	switch {
	case len(c.Audience) == 1:
		d.aud1[0] = c.Audience[0]
		d.Audience = d.aud1[:]
	case len(c.Audience) > 1:
		d.Audience = append([]string(nil), c.Audience...)
	}
	d.Scope = cloneStrings(c.Scope)
	d.AMR = cloneStrings(c.AMR)
	if c.Permissions != nil {
		d.Permissions = append([]PermissionBits(nil), c.Permissions...)
	}
	d.Actor = c.Actor.clone()
	return &d
}

// cloneStrings copies a list, keeping nil nil.
func cloneStrings(list []string) []string {
	if list == nil {
		return nil
	}
	return append([]string{}, list...)
}

// HasAudience reports whether aud names a.
func (c *Claims) HasAudience(a string) bool {
	for _, x := range c.Audience {
		if x == a {
			return true
		}
	}
	return false
}

// isRegisteredName reports whether name matches a registered claim under
// encoding/json's case folding ("EXP", "ſub").
func isRegisteredName(name string) bool {
	for reg := range registeredNames {
		if strings.EqualFold(name, reg) {
			return true
		}
	}
	return false
}

// wireClaims is the JSON form of the registered claims.
type wireClaims struct {
	Iss string    `json:"iss,omitempty"`
	Sub string    `json:"sub,omitempty"`
	Aud audience  `json:"aud,omitempty"`
	Typ TokenType `json:"typ,omitempty"`
	Jti string    `json:"jti,omitempty"`
	Fam string    `json:"fam,omitempty"`
	// Dates are values, not pointers: encoding/json sets a nil pointer for
	// a JSON null without calling UnmarshalJSON, which would let "exp":
	// null pass as a missing claim instead of a malformed one.
	Iat numericDate `json:"iat,omitzero"`
	Nbf numericDate `json:"nbf,omitzero"`
	Exp numericDate `json:"exp,omitzero"`
	// AuthTime is auth_time.
	AuthTime numericDate `json:"auth_time,omitzero"`
	// Scope is scope, written space-separated; Scp is scp, read only.
	Scope    scopeClaim    `json:"scope,omitempty"`
	Scp      scopeClaim    `json:"scp,omitempty"`
	ClientID string        `json:"client_id,omitempty"`
	Azp      string        `json:"azp,omitempty"`
	Acr      string        `json:"acr,omitempty"`
	Amr      []string      `json:"amr,omitempty"`
	Cnf      *Confirmation `json:"cnf,omitempty"`
	Pem      pemClaim      `json:"pem,omitempty"`
	Act      *Actor        `json:"act,omitempty"`
}

// scopeClaim is a scope or scp claim: scopes separated by spaces (RFC 6749
// §3.3), or an array of scopes, as some issuers send. It is written as a
// string.
type scopeClaim []string

func (s scopeClaim) MarshalJSON() ([]byte, error) {
	return json.Marshal(strings.Join(s, " "))
}

func (s *scopeClaim) UnmarshalJSON(b []byte) error {
	list, err := stringOrList(b, splitScope)
	*s = list
	return err
}

// stringOrList decodes a claim that is a string (made a list by one) or
// an array of strings; null is nil.
func stringOrList(b []byte, one func(string) []string) ([]string, error) {
	if string(b) == "null" {
		return nil, nil
	}
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		return one(v), nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, err
	}
	return list, nil
}

// splitScope splits a scope claim into its scopes, dropping empty ones.
func splitScope(s string) []string {
	if s == "" {
		return nil
	}
	n := strings.Count(s, " ") + 1
	list := make([]string, 0, n)
	for s != "" {
		var v string
		v, s, _ = strings.Cut(s, " ")
		if v != "" {
			list = append(list, v)
		}
	}
	return list
}

// mergeScopes adds the scopes of more that list lacks, and no empty one.
func mergeScopes(list, more []string) []string {
	for _, v := range more {
		if v != "" && !slices.Contains(list, v) {
			list = append(list, v)
		}
	}
	return list
}

// encodePayload renders c, then merges the custom members (a JSON object or
// nil) into it.
func encodePayload(c *Claims, custom json.RawMessage) ([]byte, error) {
	w := wireClaims{
		Iss: c.Issuer, Sub: c.Subject, Aud: audience(c.Audience), Typ: c.Type,
		Jti: c.ID, Fam: c.Family,
		Iat: numericDate{c.IssuedAt}, Nbf: numericDate{c.NotBefore}, Exp: numericDate{c.ExpiresAt},
		AuthTime: numericDate{c.AuthTime},
		Scope:    scopeClaim(c.Scope),
		ClientID: c.ClientID, Azp: c.AuthorizedParty, Acr: c.ACR, Amr: c.AMR,
	}
	if !c.Confirmation.IsZero() {
		w.Cnf = &c.Confirmation
	}
	w.Pem, w.Act = pemClaim(c.Permissions), c.Actor
	out, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	custom = bytes.TrimSpace(custom)
	if len(custom) <= 2 { // nil, "{}"
		return out, nil
	}
	if len(out) == 2 { // "{}": no registered claim to splice after
		return append([]byte(nil), custom...), nil
	}
	// out ends in '}' and custom starts with '{': splice them.
	merged := make([]byte, 0, len(out)+len(custom))
	merged = append(merged, out[:len(out)-1]...)
	merged = append(merged, ',')
	merged = append(merged, custom[1:]...)
	return merged, nil
}

// encodeCustom marshals the app's custom claims to a JSON object and refuses
// names the library owns.
func encodeCustom(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	raw, ok := v.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("guardian: encode custom claims: %w", err)
		}
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, fmt.Errorf("guardian: custom claims must encode to a JSON object: %w", err)
	}
	if len(members) == 0 { // null, or an empty object such as "{ }"
		return nil, nil
	}
	for name := range members {
		// encoding/json matches names case-insensitively when decoding
		// (with Unicode folding: "ſub" is "sub"), so a custom "EXP" would
		// set exp. Refuse every name that folds to a registered one.
		if isRegisteredName(name) {
			return nil, fmt.Errorf("%w: custom claim %q is a registered claim; set it through the issuer", ErrInvalidArgument, name)
		}
	}
	return raw, nil
}

// decodePayload parses a JWT payload into Claims with encoding/json.
func decodePayload(payload string) (*Claims, error) {
	if t := strings.TrimLeft(payload, " \t\r\n"); t == "" || t[0] != '{' {
		return nil, invalid(ErrMalformedToken, "payload is not a JSON object")
	}
	var w wireClaims
	if err := json.Unmarshal([]byte(payload), &w); err != nil {
		return nil, invalid(ErrMalformedToken, "payload: "+jsonProblem(err))
	}
	c := &Claims{
		Issuer: w.Iss, Subject: w.Sub, Audience: []string(w.Aud), Type: w.Typ,
		ID: w.Jti, Family: w.Fam,
		IssuedAt: w.Iat.t, NotBefore: w.Nbf.t, ExpiresAt: w.Exp.t,
		AuthTime: w.AuthTime.t,
		Scope:    mergeScopes(mergeScopes(nil, w.Scope), w.Scp),
		ClientID: w.ClientID, AuthorizedParty: w.Azp, ACR: w.Acr, AMR: w.Amr,
		payload: payload,
	}
	if w.Cnf != nil {
		c.Confirmation = *w.Cnf
	}
	if len(w.Pem) > 0 {
		c.Permissions = []PermissionBits(w.Pem)
	}
	c.Actor = w.Act
	return c, nil
}

// jsonProblem describes a JSON decoding error without echoing input.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return "claim " + strconv.Quote(typeErr.Field) + " has the wrong type"
	}
	var dateErr *dateError
	if errors.As(err, &dateErr) {
		return dateErr.Error()
	}
	return "not a JSON object"
}

// audience is aud: a string or an array of strings on the wire. One audience
// is written as a plain string, as most verifiers expect.
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *audience) UnmarshalJSON(b []byte) error {
	list, err := stringOrList(b, func(s string) []string { return []string{s} })
	*a = audience(list)
	return err
}

// numericDate is a JSON NumericDate: seconds since the epoch, possibly with
// a fraction (RFC 7519 §2). Written as whole seconds.
type numericDate struct{ t time.Time }

// maxNumericDate bounds NumericDate values (exclusive) to what float64 holds exactly,
// far beyond any real expiry (year 285 million).
const maxNumericDate = 1 << 53

type dateError struct{}

func (e *dateError) Error() string { return "a date claim is not a valid NumericDate" }

// IsZero reports whether the date is unset, for omitzero.
func (d numericDate) IsZero() bool { return d.t.IsZero() }

func (d numericDate) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, d.t.Unix(), 10), nil
}

func (d *numericDate) UnmarshalJSON(b []byte) error {
	// b is one JSON value; only a number is a date. JSON numbers have no
	// NaN, Inf or hex forms, so ParseFloat sees decimal syntax only.
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return &dateError{}
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f < 0 || f >= maxNumericDate {
		return &dateError{}
	}
	sec, frac := math.Modf(f)
	d.t = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	return nil
}
