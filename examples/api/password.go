package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/guardian-go/guardian"
)

// passwordMaxAge is how recent an authentication POST /api/password
// wants (then 401 insufficient_user_authentication, max_age="300").
const passwordMaxAge = 300 * time.Second

// A new password has 8 to 72 bytes (bcrypt reads no more than 72).
const (
	minPasswordBytes = 8
	maxPasswordBytes = 72
)

// pwvClaim is the custom claim of every token: the password version of
// its user when it was issued.
type pwvClaim struct {
	PWV *int `json:"pwv"`
}

// loadUser is the Guardian's resource callback: the user a token names,
// who must still have the password version the token carries. A token
// issued before a password change, of any login, so is refused at once
// (guardian.ErrResourceNotFound: 401 invalid_token), and so is the refresh
// of an old refresh token, since Refresh loads the user through here.
func (s *server) loadUser(_ context.Context, c *guardian.Claims) (*user, error) {
	u, err := s.users.byID(c.Subject)
	if err != nil {
		return nil, err
	}
	var pc pwvClaim
	if err := c.Custom(&pc); err != nil || pc.PWV == nil || *pc.PWV != u.pwv {
		return nil, fmt.Errorf("user %q: token of another password version: %w", u.ID, guardian.ErrResourceNotFound)
	}
	return u, nil
}

// changePassword sets the signed-in user's password and ends every login
// of theirs but a new one, which it answers with, as a login does. Its
// route wants an authentication of at most passwordMaxAge (see reauth)
// and no impersonation. The new login is bound to the key of the old one,
// if that was DPoP-bound.
//
// Users live in memory: a restart brings back the original passwords, and
// with them the tokens of the version before.
func (s *server) changePassword(w http.ResponseWriter, r *http.Request) {
	var in struct {
		NewPassword string `json:"new_password"`
	}
	if err := decodeBody(w, r, &in); err != nil {
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: "invalid_request", Description: err.Error()})
		return
	}
	if n := len(in.NewPassword); n < minPasswordBytes || n > maxPasswordBytes {
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: "invalid_request", Description: "new_password must have 8 to 72 bytes"})
		return
	}
	u, _ := s.g.CurrentResource(r.Context())
	c, _ := s.g.CurrentClaims(r.Context())
	hash, err := s.passwords.Hash(in.NewPassword)
	if err != nil {
		s.serverError(w, "hash password", err)
		return
	}
	// The caller's own login first: if the store fails (503), nothing has
	// changed yet and the client can retry.
	if err := s.g.Issuer().RevokeFamily(r.Context(), c.Family); err != nil {
		s.serverError(w, "revoke family", err)
		return
	}
	// The new version refuses every token out, of every login. Not
	// Issuer.RevokeSubject: its cut-off lies a leeway ahead, so the login
	// below would be refused for that long.
	nu, err := s.users.setPassword(u.ID, u.pwv, hash)
	if err != nil { // another change came first: this token is stale
		s.g.Refuse(w, r, err)
		return
	}
	s.logger.Info("password changed", "user", u.ID)
	// A DPoP-bound login's successor is bound to the same key (SignIn
	// keeps the binding of the request's token); an unbound one's is not.
	pair, _, err := s.g.SignIn(w, r, nu)
	if err != nil {
		s.serverError(w, "sign in", err)
		return
	}
	writeSignedIn(w, pair, nu)
}
