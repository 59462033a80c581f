package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/guardian-go/guardian"
)

const (
	// realm is the realm of the WWW-Authenticate challenges.
	realm = "api"
	// maxBody bounds request bodies: an item is a name.
	maxBody = 4 << 10
	// maxNameLen bounds an item's name, in bytes.
	maxNameLen = 200
)

// server is the example resource server: its routes and their handlers.
type server struct {
	trust  *trust
	items  *itemStore
	logger *slog.Logger
	mux    *http.ServeMux
}

// newServer builds a Guardian that only verifies (it has no issuer, no
// key to sign with: the tokens are those of tr's issuers) and the routes.
// Every route takes bearer tokens and DPoP-bound ones (RFC 9449) with
// their proofs, checked against publicURL (nil: the request's own URL).
// Refusals get the library's RFC 6750 and RFC 9449 answers
// (DefaultErrorHandler): 401 without or with a bad token or proof, 403
// insufficient_scope, 503 with Retry-After when an issuer's keys cannot
// be had; a 401 to a request without the DPoP scheme also carries a
// DPoP challenge with the proof algorithms.
func newServer(tr *trust, publicURL *url.URL, logger *slog.Logger) (*server, error) {
	s := &server{trust: tr, items: newItemStore(), logger: logger, mux: http.NewServeMux()}
	dpop, err := newDPoP()
	if err != nil {
		return nil, err
	}
	// The URL a proof must name (htu): the public one behind a proxy, else
	// the library's default, the request's own.
	var reqURL func(*http.Request) *url.URL
	if publicURL != nil {
		if reqURL, err = guardian.PublicURL(publicURL.String()); err != nil {
			return nil, err
		}
	}
	g, err := guardian.NewResourceServer(tr.verifier, &guardian.GuardianOptions[*guardian.Claims]{
		Realm:      realm,
		OnRefused:  s.refused,
		DPoP:       dpop,
		RequestURL: reqURL,
		// The causes of 5xx answers (an issuer that does not answer),
		// which clients are never shown, go to the server's log.
		Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	read, err := g.RequireScopes("read")
	if err != nil {
		return nil, err
	}
	write, err := g.RequireScopes("write")
	if err != nil {
		return nil, err
	}
	authenticated := g.Authenticated()
	s.mux.Handle("GET /api/whoami", authenticated(http.HandlerFunc(s.whoami)))
	s.mux.Handle("GET /api/items", authenticated(read(http.HandlerFunc(s.listItems))))
	s.mux.Handle("POST /api/items", authenticated(write(http.HandlerFunc(s.createItem))))
	s.mux.HandleFunc("GET /healthz", s.healthz)
	return s, nil
}

// refused notes a refused request's reason for its log line (see
// ServeHTTP). The library calls it (GuardianOptions.OnRefused) for every
// request the middleware refuses, before the error handler answers.
func (s *server) refused(r *http.Request, reason error) {
	if n, ok := r.Context().Value(noteKey{}).(*requestNote); ok {
		n.reason, n.route = reason, r.Pattern
	}
}

// requestNote is what the middleware tells ServeHTTP's log about a request.
type requestNote struct {
	reason error // a sentinel of the library; nil when not refused
	route  string
}

type noteKey struct{}

// ServeHTTP logs each request (never its token or body), with the reason
// of a refusal; every answer is Cache-Control no-store, the errors of the
// mux included. It recovers from panics with a bare 500.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	note := &requestNote{}
	r = r.WithContext(context.WithValue(r.Context(), noteKey{}, note))
	rec.Header().Set("Cache-Control", "no-store")
	defer func() {
		if p := recover(); p != nil {
			s.logger.Error("panic", "path", r.URL.Path, "panic", fmt.Sprint(p))
			if !rec.wrote {
				writeJSON(rec, http.StatusInternalServerError, errorJSON{Error: "server_error"})
			}
		}
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", rec.status, "duration_ms", milliseconds(time.Since(start))}
		level := slog.LevelInfo
		if note.reason != nil {
			// The reason's text is fixed by the library: it never holds
			// token bytes or client input.
			attrs = append(attrs, "refused", note.reason.Error(), "route", note.route)
			if rec.status >= 500 {
				level = slog.LevelWarn
			}
		}
		s.logger.Log(r.Context(), level, "request", attrs...)
	}()
	s.mux.ServeHTTP(rec, r)
}

// milliseconds is d in milliseconds, to the microsecond.
func milliseconds(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

type errorJSON struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// whoamiJSON is the answer of GET /api/whoami: who the token was issued
// to, by whom, for what.
type whoamiJSON struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	ClientID string   `json:"client_id"`
	Scope    []string `json:"scope"` // never null: [] when the token has none
}

// whoami tells the client what its token says.
func (s *server) whoami(w http.ResponseWriter, r *http.Request) {
	c, _ := guardian.CurrentClaims(r.Context()) // set: behind Authenticated
	scope := c.Scope
	if scope == nil {
		scope = []string{}
	}
	writeJSON(w, http.StatusOK, whoamiJSON{Issuer: c.Issuer, Subject: c.Subject, ClientID: c.ClientID, Scope: scope})
}

type itemsJSON struct {
	Items []item `json:"items"`
}

// listItems answers every item, the demo ones first.
func (s *server) listItems(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, itemsJSON{Items: s.items.list()})
}

// createItem adds the item of the body {"name": "..."} and answers it,
// 201, with its ID and the client that added it.
func (s *server) createItem(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name *string `json:"name"`
	}
	if err := decodeBody(w, r, &in); err != nil {
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: "invalid_request", Description: err.Error()})
		return
	}
	var name string
	if in.Name != nil {
		name = strings.TrimSpace(*in.Name)
	}
	switch {
	case name == "":
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: "invalid_request", Description: "name is required"})
		return
	case len(name) > maxNameLen || !utf8.ValidString(name):
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: "invalid_request", Description: fmt.Sprintf("name must be valid UTF-8 of at most %d bytes", maxNameLen)})
		return
	}
	c, _ := guardian.CurrentClaims(r.Context())
	by := c.ClientID
	if by == "" {
		by = c.Subject
	}
	it, err := s.items.add(name, by)
	if err != nil {
		writeJSON(w, http.StatusInsufficientStorage, errorJSON{Error: "store_full", Description: err.Error()})
		return
	}
	s.logger.Info("item added", "id", it.ID, "created_by", it.CreatedBy)
	writeJSON(w, http.StatusCreated, it)
}

// decodeBody reads one JSON object of at most maxBody bytes.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	if err := dec.Decode(v); err != nil {
		switch {
		case errors.As(err, &tooBig):
			return fmt.Errorf("body larger than %d bytes", maxBody)
		case errors.Is(err, io.EOF):
			return errors.New("empty body")
		}
		return errors.New(`body is not a JSON object {"name": "..."}`)
	}
	switch _, err := dec.Token(); {
	case errors.Is(err, io.EOF):
		return nil
	case errors.As(err, &tooBig):
		return fmt.Errorf("body larger than %d bytes", maxBody)
	}
	return errors.New("body holds more than one JSON value")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
