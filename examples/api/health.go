package main

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// healthTimeout bounds a health check's ping of the store: a store that
// has not answered by then is down, as far as /healthz tells.
const healthTimeout = time.Second

// healthCheck pings the store for GET /healthz. At most one ping is in
// flight: the requests that come meanwhile share its answer, so a flood
// of health checks costs the store one ping at a time. The ping is not
// tied to any one request, so a client that gives up cancels nothing for
// the others.
type healthCheck struct {
	ping    func(context.Context) error
	timeout time.Duration
	logger  *slog.Logger

	mu       sync.Mutex
	inflight *healthCall
	down     bool // the last ping failed: log the change only
}

type healthCall struct {
	done chan struct{}
	err  error
}

// check pings the store, or waits for the ping in flight, and returns its
// error; ctx's error when ctx is done first.
func (h *healthCheck) check(ctx context.Context) error {
	h.mu.Lock()
	c := h.inflight
	if c == nil {
		c = &healthCall{done: make(chan struct{})}
		h.inflight = c
		go h.run(c)
	}
	h.mu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *healthCheck) run(c *healthCall) {
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	c.err = h.ping(ctx)
	cancel()
	h.mu.Lock()
	h.inflight = nil
	switch down := c.err != nil; {
	case down && !h.down:
		h.logger.Warn("health: the revocation store does not answer", "err", c.err)
	case !down && h.down:
		h.logger.Info("health: the revocation store answers again")
	}
	h.down = c.err != nil
	h.mu.Unlock()
	close(c.done)
}

// healthz answers 200 {"status":"ok"} when the store answers its ping, and
// 503 {"status":"unavailable", ...} with Retry-After when it does not.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.health.check(r.Context()); err != nil {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{
			"status":            "unavailable",
			"error":             "temporarily_unavailable",
			"error_description": "the revocation store does not answer",
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
