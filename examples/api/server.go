package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/prometheus/client_golang/prometheus"
)

// maxBody bounds request bodies: logins and refreshes are small.
const maxBody = 4 << 10

// server is the example API.
type server struct {
	g         *guardian.Guardian[*user]
	users     *userStore
	passwords guardian.Passwords
	// checkPassword is passwords.Check; tests count its calls.
	checkPassword func(hash, password string) error
	limiter       *loginLimiter
	perms         *guardian.Permissions
	health        *healthCheck
	metrics       *metrics
	logger        *slog.Logger
	mux           *http.ServeMux
}

// The demo users. Both have the password "correct horse battery staple".
var demoUsers = []struct {
	id, email string
	perms     []string
}{
	{"1", "alice@example.com", []string{"default.profile"}},
	{"2", "root@example.com", []string{"default.profile", "admin.users_read"}},
}

const demoPassword = "correct horse battery staple"

// newServer wires the library: issuer with the store as Revoker, DPoP
// with the store as ReplayCache (dpop.go), the Guardian over the demo
// users, and the routes. The store's calls are timed into m when
// openStore was given m.timeRevoker.
func newServer(keys *guardian.KeySet, st *store, m *metrics, logger *slog.Logger) (*server, error) {
	return newServerWith(keys, st, m, logger, time.Now, guardian.Passwords{})
}

// newServerWith is newServer with the clock of the issuer and of the
// login limiter, and the password hashing: tests pass a fake clock and a
// cheap bcrypt cost.
func newServerWith(keys *guardian.KeySet, st *store, m *metrics, logger *slog.Logger, clock func() time.Time, passwords guardian.Passwords) (*server, error) {
	perms, err := guardian.NewPermissions(map[string][]string{
		"admin":   {"users_read", "users_write"},
		"default": {"profile"},
	})
	if err != nil {
		return nil, err
	}
	issuer, err := guardian.NewIssuer(keys, &guardian.IssuerOptions{
		Issuer:      "guardian-example",
		Audience:    []string{"guardian-example"},
		Revoker:     st.revoker,
		Leeway:      5 * time.Second,
		Clock:       clock,
		Permissions: perms,
		// Clients send the same access token for many requests: remember
		// verified tokens (expiry, type and revocation are still checked on
		// every request).
		CacheSize: 10_000,
		// The contract: a refresh token presented a second time is reuse,
		// answered 401, and revokes its family, however soon it comes. No
		// window in which the same pair is handed out again.
		RefreshRetryWindow: -1,
	})
	if err != nil {
		return nil, err
	}
	s := &server{
		users:     newUserStore(),
		passwords: passwords,
		limiter:   newLoginLimiter(clock),
		perms:     perms,
		health:    &healthCheck{ping: st.ping, timeout: healthTimeout, logger: logger},
		metrics:   m,
		logger:    logger,
		mux:       http.NewServeMux(),
	}
	s.checkPassword = s.passwords.Check
	m.watchLimiter(s.limiter)
	// One bcrypt hash for the demo users' one password: start-up pays
	// for it once.
	hash, err := s.passwords.Hash(demoPassword)
	if err != nil {
		return nil, err
	}
	for _, d := range demoUsers {
		s.users.add(d.id, d.email, hash, d.perms)
	}
	dpop, err := newDPoP(st, m, clock)
	if err != nil {
		return nil, err
	}
	s.g, err = guardian.New(issuer,
		func(u *user) (string, error) { return u.ID, nil },
		s.loadUser,
		&guardian.GuardianOptions[*user]{
			// The password version of the user goes into every token
			// (see loadUser); Refresh asks again.
			Claims:      func(_ context.Context, u *user) (any, error) { return claimsOf(u), nil },
			Permissions: func(_ context.Context, u *user) ([]string, error) { return permissionsOf(u), nil },
			// A login or refresh with a DPoP proof gets tokens bound to
			// its key; bound tokens need a proof on every route.
			DPoP: dpop,
			// Refusals get the library's answers (DefaultErrorHandler).
			OnRefused:       s.refused,
			OnAuthenticated: func(*http.Request, *guardian.Claims) { m.verifications.Inc() },
			// The causes of 5xx answers (a store outage), which clients
			// are never shown, go to the server's log.
			Logger: logger,
		})
	if err != nil {
		return nil, err
	}
	// protect verifies the access token, loads its user and refuses the
	// request without both, then checks reqs.
	protect := func(h http.HandlerFunc, reqs ...guardian.Requirement) (http.Handler, error) {
		var next http.Handler = h
		if len(reqs) > 0 {
			require, err := s.g.Require(reqs...)
			if err != nil {
				return nil, err
			}
			next = require(next)
		}
		return s.g.VerifyHeader(nil)(s.g.LoadResource(nil)(s.g.EnsureAuthenticated(nil)(next))), nil
	}
	s.mux.HandleFunc("POST /api/login", s.login)
	s.mux.HandleFunc("POST /api/refresh", s.refresh)
	for _, r := range []struct {
		pattern string
		h       http.HandlerFunc
		reqs    []guardian.Requirement
	}{
		{"GET /api/me", s.me, nil},
		{"POST /api/logout", s.logout, nil},
		{"GET /api/admin/users", s.adminUsers, []guardian.Requirement{perms.All("admin.users_read")}},
		// An impersonator cannot step up as the user, and must not learn
		// whether a password is the user's: refused before the check.
		{"POST /api/reauth", s.reauth, []guardian.Requirement{guardian.NotImpersonated()}},
		{"POST /api/password", s.changePassword, []guardian.Requirement{guardian.MaxAge(passwordMaxAge), guardian.NotImpersonated()}},
	} {
		h, err := protect(r.h, r.reqs...)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", r.pattern, err)
		}
		s.mux.Handle(r.pattern, h)
	}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.Handle("GET /metrics", m.handler())
	if keys.SigningKey().Public() != nil { // asymmetric: publish the public key
		jwks, err := guardian.JWKSHandler(issuer, 5*time.Minute)
		if err != nil {
			return nil, err
		}
		s.mux.Handle("GET /.well-known/jwks.json", jwks)
	}
	return s, nil
}

// refused counts a refused request by reason and notes it for the
// request's log line (see ServeHTTP). The library calls it
// (GuardianOptions.OnRefused) for every request that the middleware,
// Refresh or SignOut refuses, before the error handler answers.
func (s *server) refused(r *http.Request, reason error) {
	s.metrics.refusals.WithLabelValues(reasonLabel(reason)).Inc()
	if n, ok := r.Context().Value(noteKey{}).(*requestNote); ok {
		n.refused, n.reason, n.route = true, reason, r.Pattern
	}
}

// requestNote is what the handlers tell ServeHTTP's log about a request.
type requestNote struct {
	refused bool
	reason  error // a sentinel of the library, or nil
	route   string
}

type noteKey struct{}

// ServeHTTP logs each request (never its tokens or body), and each refused
// one with its reason, route, method and the status it got; it recovers
// from panics with a bare 500.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	note := &requestNote{}
	r = r.WithContext(context.WithValue(r.Context(), noteKey{}, note))
	defer func() {
		if p := recover(); p != nil {
			s.logger.Error("panic", "path", r.URL.Path, "panic", p)
			writeJSON(rec, http.StatusInternalServerError, errorJSON{Error: "server_error"})
		}
		if note.refused {
			// The reason's text is fixed by the library: it never holds
			// token bytes or client input.
			reason := "internal error"
			if note.reason != nil {
				reason = note.reason.Error()
			}
			level := slog.LevelInfo
			if rec.status >= 500 {
				level = slog.LevelWarn
			}
			s.logger.Log(r.Context(), level, "refused", "reason", reason, "route", note.route, "method", r.Method, "status", rec.status)
		}
		s.logger.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration_ms", milliseconds(time.Since(start)))
	}()
	s.mux.ServeHTTP(rec, r)
}

// milliseconds is d in milliseconds, to the microsecond: slog would write a
// time.Duration as integer nanoseconds.
func milliseconds(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

type errorJSON struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

type userJSON struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

type tokensJSON struct {
	Token        string    `json:"token"`
	TokenType    string    `json:"token_type"` // Bearer, or DPoP for tokens bound to a key
	RefreshToken string    `json:"refresh_token"`
	Exp          int64     `json:"exp"`
	User         *userJSON `json:"user,omitempty"`
}

// claimsOf is the custom claim of u's tokens: their password version.
func claimsOf(u *user) pwvClaim { return pwvClaim{PWV: &u.pwv} }

// permissionsOf is the permissions of u's tokens.
func permissionsOf(u *user) []string { return slices.Clone(u.perms) }

// login checks the password and answers with an access token and a refresh
// token of the same family. Failed logins are limited per account and per
// client address (see loginlimit.go): once either has spent its budget,
// the answer is 429 with Retry-After, before any password check.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := decodeBody(w, r, &in); err != nil {
		s.metrics.logins.WithLabelValues(loginInvalidRequest).Inc()
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: "invalid_request", Description: err.Error()})
		return
	}
	// The same for every account, known or not: the answer and its
	// timing do not tell who has one.
	address := addressKey(r.RemoteAddr)
	ticket, wait := s.limiter.reserve(accountKey(in.Email), address)
	if wait > 0 {
		s.metrics.logins.WithLabelValues(loginRateLimited).Inc()
		// Never the email: users type passwords into it by mistake.
		s.logger.Warn("login rate limited", "address", address)
		tooManyAttempts(w, wait)
		return
	}
	u, _ := s.users.byEmail(in.Email)
	hash := ""
	if u != nil {
		hash = u.passwordHash
	}
	// Check spends one bcrypt comparison whether or not the user exists.
	// A failure keeps the budget the attempt reserved.
	if !s.passwordMatches(w, hash, in.Password, s.metrics.logins, "wrong email or password") {
		return
	}
	s.limiter.refund(ticket) // a successful login spends no budget
	// With a DPoP header, SignIn checks the proof and binds the tokens to
	// its key. A bad proof is the client's mistake, answered as the
	// library answers a token request's (400 invalid_dpop_proof); a replay
	// cache that cannot answer is a 503 with Retry-After.
	pair, _, err := s.g.SignIn(w, r, u)
	if err != nil {
		switch {
		case errors.Is(err, guardian.ErrInvalidDPoPProof):
			s.metrics.logins.WithLabelValues(loginInvalidProof).Inc()
			s.g.Refuse(w, r, err)
		case errors.Is(err, guardian.ErrUnavailable):
			s.metrics.logins.WithLabelValues(loginError).Inc()
			s.g.Refuse(w, r, err) // logged by the error handler
		default:
			s.metrics.logins.WithLabelValues(loginError).Inc()
			s.serverError(w, "sign in", err)
		}
		return
	}
	s.metrics.logins.WithLabelValues(loginOK).Inc()
	s.logger.Info("login", "user", u.ID)
	writeSignedIn(w, pair, u)
}

// tooManyAttempts answers an attempt the login limiter refused: 429 with
// Retry-After, the same for every account.
func tooManyAttempts(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter(wait)))
	writeJSON(w, http.StatusTooManyRequests, errorJSON{Error: "too_many_attempts", Description: "too many failed logins; try again later"})
}

// writeSignedIn answers a login, a reauthentication or a password change
// with the new pair and its user (SignIn has set the headers).
func writeSignedIn(w http.ResponseWriter, pair guardian.TokenPair, u *user) {
	body := tokensOf(pair)
	body.User = &userJSON{ID: u.ID, Email: u.Email}
	writeJSON(w, http.StatusOK, body)
}

// tokensOf is the body of an answer that hands out pair, without a user.
func tokensOf(pair guardian.TokenPair) tokensJSON {
	return tokensJSON{
		Token: pair.Access.Raw, TokenType: pair.TokenType(), RefreshToken: pair.Refresh.Raw,
		Exp: pair.Access.Claims.ExpiresAt.Unix(),
	}
}

// passwordMatches checks password against hash; on a mismatch (or a
// failing check) it counts the outcome in outcomes and answers 401 with
// description.
func (s *server) passwordMatches(w http.ResponseWriter, hash, password string, outcomes *prometheus.CounterVec, description string) bool {
	err := s.checkPassword(hash, password)
	if err == nil {
		return true
	}
	outcome := loginInvalid
	if !errors.Is(err, guardian.ErrInvalidCredentials) {
		outcome = loginError
		s.logger.Error("password check", "err", err)
	}
	outcomes.WithLabelValues(outcome).Inc()
	writeJSON(w, http.StatusUnauthorized, errorJSON{Error: "invalid_credentials", Description: description})
	return false
}

// refresh rotates a refresh token into a new access token and a new
// refresh token of the same family, in one operation that spends the
// presented token last: a failure (the store is down: 503) leaves it usable
// for a retry. The user is loaded again, so a user who is gone gets 401. A
// reused refresh token revokes its family. A DPoP-bound refresh token needs
// a proof of its key (else 400 invalid_dpop_proof, and it is not spent);
// the new pair stays bound. An unbound one with a proof gets a pair bound
// to the proof's key.
func (s *server) refresh(w http.ResponseWriter, r *http.Request) {
	// The refresh_token of the JSON or form body. A failure is answered
	// already, through the error handler (after OnRefused).
	pair, err := s.g.Refresh(w, r)
	if err != nil {
		if errors.Is(err, guardian.ErrRevoked) {
			s.logger.Warn("refresh token reuse: family revoked")
		}
		s.metrics.refreshes.WithLabelValues(reasonLabel(guardian.Reason(err))).Inc()
		return
	}
	s.metrics.refreshes.WithLabelValues("ok").Inc()
	writeJSON(w, http.StatusOK, tokensOf(pair))
}

func (s *server) me(w http.ResponseWriter, r *http.Request) {
	u, _ := s.g.CurrentResource(r.Context())
	writeJSON(w, http.StatusOK, userJSON{ID: u.ID, Email: u.Email})
}

// logout revokes the access token and every token of its login.
func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.g.SignOut(w, r); err != nil {
		return // answered through the error handler, after OnRefused
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) serverError(w http.ResponseWriter, what string, err error) {
	s.logger.Error(what, "err", err)
	status := http.StatusInternalServerError
	code := "server_error"
	if errors.Is(err, guardian.ErrUnavailable) {
		status, code = http.StatusServiceUnavailable, "temporarily_unavailable"
	}
	writeJSON(w, status, errorJSON{Error: code})
}

// decodeBody reads one JSON object of at most maxBody bytes.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return errors.New("body too large")
		case errors.Is(err, io.EOF):
			return errors.New("empty body")
		}
		return errors.New("body is not the expected JSON object")
	}
	if dec.More() {
		return errors.New("body holds more than one JSON value")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
