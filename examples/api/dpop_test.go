package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/guardian-go/guardian"
)

// In-process tests of the DPoP wiring (dpop.go); e2e_dpop_test.go walks
// the contract with the binary.

// hungReplay is a ReplayCache that never answers before its ctx ends.
type hungReplay struct{}

func (hungReplay) Use(ctx context.Context, _ string, _ time.Duration) (bool, error) {
	<-ctx.Done()
	return false, fmt.Errorf("%w: %w", guardian.ErrUnavailable, ctx.Err())
}

func TestTimeReplayObserves(t *testing.T) {
	m := newMetrics()
	r := m.timeReplay(guardian.NewMemoryReplayCache(0))
	ctx := context.Background()
	r.Use(ctx, "k", time.Minute)
	r.Use(ctx, "k", time.Minute) // a replay is an answer: ok
	down := m.timeReplay(hungReplay{})
	dctx, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	down.Use(dctx, "k", time.Minute)
	got := storeSamples(t, m)
	if got["use/ok"] != 2 || got["use/error"] != 1 {
		t.Errorf("store histogram counts = %v, want use/ok 2 and use/error 1", got)
	}
}

// A login whose proof the replay cache cannot check is answered 503 with
// Retry-After, and counted as an error: not a 500, not tokens.
func TestLoginWithAReplayCacheDown(t *testing.T) {
	key, err := guardian.NewHMACKey("hs256", guardian.HS256, []byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := guardian.NewKeySet(key)
	if err != nil {
		t.Fatal(err)
	}
	mem := guardian.NewMemoryRevoker(nil)
	t.Cleanup(func() { mem.Close() })
	m := newMetrics()
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	s, err := newServerWith(keys, &store{revoker: mem, replay: hungReplay{}, kind: "memory"}, m, logger, time.Now, guardian.Passwords{Cost: 4})
	if err != nil {
		t.Fatal(err)
	}
	client := newDPoPKey(t)
	req := httptest.NewRequest("POST", "http://api.test/api/login", strings.NewReader(credentialsOf(aliceEmail, alicePassword)))
	req.Header.Set("DPoP", client.proof(t, "POST", "http://api.test/api/login", ""))
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || rec.Header().Get("Authorization") != "" {
		t.Fatalf("login with the replay cache down: %d, Retry-After %q, Authorization %.20q; want 503 with Retry-After and no token",
			rec.Code, rec.Header().Get("Retry-After"), rec.Header().Get("Authorization"))
	}
	if got := testutil.ToFloat64(m.logins.WithLabelValues(loginError)); got != 1 {
		t.Errorf("logins{outcome=error} = %v, want 1", got)
	}
}
