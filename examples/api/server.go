package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/guardian-go/guardian"
)

// maxBody bounds request bodies: logins and refreshes are small.
const maxBody = 4 << 10

// server is the example API.
type server struct {
	g         *guardian.Guardian[*user]
	users     *userStore
	passwords guardian.Passwords
	logger    *slog.Logger
	mux       *http.ServeMux
}

// newServer wires the library: issuer with the store as Revoker, the
// Guardian over the demo users, and the routes.
func newServer(keys *guardian.KeySet, revoker guardian.Revoker, logger *slog.Logger) (*server, error) {
	issuer, err := guardian.NewIssuer(keys, &guardian.IssuerOptions{
		Issuer:   "guardian-example",
		Audience: []string{"guardian-example"},
		Revoker:  revoker,
		Leeway:   5 * time.Second,
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
	s := &server{users: newUserStore(), passwords: guardian.Passwords{}, logger: logger, mux: http.NewServeMux()}
	if err := s.users.add("1", "alice@example.com", "correct horse battery staple", s.passwords); err != nil {
		return nil, err
	}
	s.g, err = guardian.New(issuer,
		func(u *user) (string, error) { return u.ID, nil },
		func(ctx context.Context, c *guardian.Claims) (*user, error) { return s.users.byID(c.Subject) },
		&guardian.GuardianOptions[*user]{ErrorHandler: s.authError})
	if err != nil {
		return nil, err
	}
	protect := func(h http.HandlerFunc) http.Handler {
		return s.g.VerifyHeader(nil)(s.g.LoadResource(nil)(s.g.EnsureAuthenticated(nil)(h)))
	}
	s.mux.HandleFunc("POST /api/login", s.login)
	s.mux.HandleFunc("POST /api/refresh", s.refresh)
	s.mux.Handle("GET /api/me", protect(s.me))
	s.mux.Handle("POST /api/logout", protect(s.logout))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	if keys.SigningKey().Public() != nil { // asymmetric: publish the public key
		jwks, err := guardian.JWKSHandler(issuer, 5*time.Minute)
		if err != nil {
			return nil, err
		}
		s.mux.Handle("GET /.well-known/jwks.json", jwks)
	}
	return s, nil
}

// ServeHTTP logs each request (never its tokens or body) and recovers from
// panics with a bare 500.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		if p := recover(); p != nil {
			s.logger.Error("panic", "path", r.URL.Path, "panic", p)
			writeJSON(rec, http.StatusInternalServerError, errorJSON{Error: "server_error"})
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
	RefreshToken string    `json:"refresh_token"`
	Exp          int64     `json:"exp"`
	User         *userJSON `json:"user,omitempty"`
}

// login checks the password and answers with an access token and a refresh
// token of the same family.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := decodeBody(w, r, &in); err != nil {
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: "invalid_request", Description: err.Error()})
		return
	}
	u, _ := s.users.byEmail(in.Email)
	hash := ""
	if u != nil {
		hash = u.passwordHash
	}
	// Check spends one bcrypt comparison whether or not the user exists.
	if err := s.passwords.Check(hash, in.Password); err != nil {
		if !errors.Is(err, guardian.ErrInvalidCredentials) {
			s.logger.Error("password check", "err", err)
		}
		writeJSON(w, http.StatusUnauthorized, errorJSON{Error: "invalid_credentials", Description: "wrong email or password"})
		return
	}
	pair, _, err := s.g.SignIn(w, r, u)
	if err != nil {
		s.serverError(w, "sign in", err)
		return
	}
	s.logger.Info("login", "user", u.ID)
	writeJSON(w, http.StatusOK, tokensJSON{
		Token: pair.Access.Raw, RefreshToken: pair.Refresh.Raw, Exp: pair.Access.Claims.ExpiresAt.Unix(),
		User: &userJSON{ID: u.ID, Email: u.Email},
	})
}

// refresh rotates a refresh token into a new access token and a new
// refresh token of the same family, in one operation that spends the
// presented token last: a failure (the store is down: 503) leaves it usable
// for a retry. The user is loaded again, so a user who is gone gets 401. A
// reused refresh token revokes its family.
func (s *server) refresh(w http.ResponseWriter, r *http.Request) {
	pair, err := s.g.Refresh(w, r) // the refresh_token of the JSON body
	if err != nil {
		if errors.Is(err, guardian.ErrRevoked) {
			s.logger.Warn("refresh token reuse: family revoked")
		}
		s.authError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tokensJSON{Token: pair.Access.Raw, RefreshToken: pair.Refresh.Raw, Exp: pair.Access.Claims.ExpiresAt.Unix()})
}

func (s *server) me(w http.ResponseWriter, r *http.Request) {
	u, _ := s.g.CurrentResource(r.Context())
	writeJSON(w, http.StatusOK, userJSON{ID: u.ID, Email: u.Email})
}

// logout revokes the access token and every token of its login.
func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.g.SignOut(w, r); err != nil {
		s.authError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// authError answers as the library's default handler does, and logs server
// failures (never the token).
func (s *server) authError(w http.ResponseWriter, r *http.Request, err error) {
	if status, _ := guardian.ErrorStatus(err); status >= 500 {
		s.logger.Error("auth", "path", r.URL.Path, "err", err)
	}
	s.g.DefaultErrorHandler(w, r, err)
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
