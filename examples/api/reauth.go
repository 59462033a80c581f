package main

import (
	"net/http"

	"github.com/guardian-go/guardian"
)

// reauth checks the password of the signed-in user again (the step-up a
// MaxAge requirement asks for) and answers like a login with a new pair
// whose auth_time is now, in the family of the request's token: logging
// out with either pair ends the login. Attempts are limited by the login
// limiter, per account and per client address. Its route refuses
// impersonation tokens (403) before any password check.
func (s *server) reauth(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Password string `json:"password"`
	}
	if err := decodeBody(w, r, &in); err != nil {
		s.metrics.reauths.WithLabelValues(loginInvalidRequest).Inc()
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: "invalid_request", Description: err.Error()})
		return
	}
	u, _ := s.g.CurrentResource(r.Context())
	address := addressKey(r.RemoteAddr)
	ticket, wait := s.limiter.reserve(accountKey(u.Email), address)
	if wait > 0 {
		s.metrics.reauths.WithLabelValues(loginRateLimited).Inc()
		s.logger.Warn("reauthentication rate limited", "address", address)
		tooManyAttempts(w, wait)
		return
	}
	if !s.passwordMatches(w, u.passwordHash, in.Password, s.metrics.reauths, "wrong password") {
		return
	}
	s.limiter.refund(ticket)
	pair, _, err := s.g.Reauthenticate(w, r, u, &guardian.SignInOptions{AMR: []string{"pwd"}})
	if err != nil {
		s.metrics.reauths.WithLabelValues(loginError).Inc()
		s.g.Refuse(w, r, err) // a *ClaimError for an impersonation token: 403
		return
	}
	s.metrics.reauths.WithLabelValues(loginOK).Inc()
	s.logger.Info("reauthenticated", "user", u.ID)
	writeSignedIn(w, pair, u)
}
