package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/guardian-go/guardian/internal/faultproxy"
)

// End-to-end tests of what the server tells its operators: the refusal
// log lines, GET /metrics and GET /healthz, also during a store outage.

// scrape is GET /metrics, parsed as the Prometheus text format.
type scrape map[string]*dto.MetricFamily

func (s *apiServer) scrape(t *testing.T) scrape {
	t.Helper()
	r, _ := s.timed("GET", "/metrics", "", "")
	wantStatus(t, "metrics", r, http.StatusOK)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("metrics Content-Type = %q, want the Prometheus text format (text/plain)", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("metrics are not in the Prometheus text format: %v\n%s", err, r.body)
	}
	return families
}

// value is the value of the series of name with exactly labels (given as
// "k=v" strings): a counter's or gauge's value, a histogram's sample count.
// ok is false when there is no such series.
func (sc scrape) value(name string, labels ...string) (v float64, ok bool) {
	f := sc[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		var have []string
		for _, l := range m.GetLabel() {
			have = append(have, l.GetName()+"="+l.GetValue())
		}
		slices.Sort(have)
		want := slices.Sorted(slices.Values(labels))
		if !slices.Equal(have, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// want checks one series against a condition, such as "== 1" or ">= 1".
func (sc scrape) want(t *testing.T, cond string, name string, labels ...string) {
	t.Helper()
	v, ok := sc.value(name, labels...)
	if !ok {
		t.Errorf("no series %s{%s} in /metrics", name, strings.Join(labels, ","))
		return
	}
	var op string
	var target float64
	if _, err := fmt.Sscanf(cond, "%s %g", &op, &target); err != nil {
		t.Fatalf("condition %q: %v", cond, err)
	}
	good := map[string]bool{"==": v == target, ">=": v >= target}[op]
	if !good {
		t.Errorf("%s{%s} = %v, want %s", name, strings.Join(labels, ","), v, cond)
	}
}

const storeHistogram = "guardian_revocation_store_duration_seconds"

// logLinesOf returns the server's JSON log lines whose msg is msg. Call it
// once the server has stopped.
func (s *apiServer) logLinesOf(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(s.logs.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
			lines = append(lines, m)
		}
	}
	return lines
}

// After a login, a failed login, refused and accepted requests and a
// refresh, /metrics counts them with the right labels, times the store's
// calls, and has the Go and process collectors; the refusals are logged.
func TestMetrics(t *testing.T) {
	for name, spec := range stores(t) {
		t.Run(name, func(t *testing.T) {
			// -mirror=false: these tests watch the store's own calls and
			// outages (with the mirror, checks are answered from memory).
			s := startServer(t, "-store", spec, "-mirror=false")
			tok := s.login(t)
			wantStatus(t, "wrong password", s.do("POST", "/api/login", "", `{"email":"`+aliceEmail+`","password":"wrong"}`), http.StatusUnauthorized)
			wantStatus(t, "me without a token", s.do("GET", "/api/me", "", ""), http.StatusUnauthorized)
			wantStatus(t, "me", s.do("GET", "/api/me", tok.access, ""), http.StatusOK)
			wantStatus(t, "refresh", s.refresh(tok.refresh), http.StatusOK)
			wantStatus(t, "refresh token used twice", s.refresh(tok.refresh), http.StatusUnauthorized)

			m := s.scrape(t)
			m.want(t, "== 1", "guardian_logins_total", "outcome=ok")
			m.want(t, "== 1", "guardian_logins_total", "outcome=invalid_credentials")
			m.want(t, "== 0", "guardian_logins_total", "outcome=rate_limited")
			m.want(t, "== 1", "guardian_refusals_total", "reason=missing_token")
			m.want(t, "== 1", "guardian_refusals_total", "reason=revoked")
			m.want(t, "== 0", "guardian_refusals_total", "reason=expired")
			m.want(t, "== 1", "guardian_verifications_total")
			m.want(t, "== 1", "guardian_refreshes_total", "outcome=ok")
			m.want(t, "== 1", "guardian_refreshes_total", "outcome=revoked")
			m.want(t, "== 1", "guardian_login_limiter_keys", "scope=account")
			m.want(t, "== 1", "guardian_login_limiter_keys", "scope=address")
			// The reuse revoked the family: one write at least.
			m.want(t, ">= 1", storeHistogram, "operation=revoke", "outcome=ok")
			if name == "sqlite" {
				// The Mirror answers checks from memory and records
				// its consume with the store's Revoke: the file sees
				// writes only.
				m.want(t, ">= 2", storeHistogram, "operation=revoke", "outcome=ok")
				m.want(t, "== 0", storeHistogram, "operation=revoked", "outcome=ok")
				m.want(t, "== 0", storeHistogram, "operation=consume", "outcome=ok")
			} else {
				m.want(t, ">= 2", storeHistogram, "operation=revoked", "outcome=ok") // me, refresh
				m.want(t, "== 1", storeHistogram, "operation=consume", "outcome=ok")
			}
			for _, op := range []string{"revoke", "revoked", "consume"} {
				m.want(t, "== 0", storeHistogram, "operation="+op, "outcome=error")
			}
			for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "promhttp_metric_handler_errors_total"} {
				if m[name] == nil {
					t.Errorf("no %s in /metrics", name)
				}
			}
			if m[storeHistogram].GetType() != dto.MetricType_HISTOGRAM {
				t.Errorf("%s is a %v, want a histogram", storeHistogram, m[storeHistogram].GetType())
			}

			s.stop()
			type refusal struct {
				reason, route, method string
				status                float64
			}
			var got []refusal
			for _, l := range s.logLinesOf(t, "refused") {
				r, _ := l["reason"].(string)
				route, _ := l["route"].(string)
				method, _ := l["method"].(string)
				status, _ := l["status"].(float64)
				got = append(got, refusal{r, route, method, status})
			}
			want := []refusal{
				{"guardian: no token", "GET /api/me", "GET", 401},
				{"guardian: token revoked", "POST /api/refresh", "POST", 401},
			}
			if !slices.Equal(got, want) {
				t.Errorf("refusals logged: %v, want %v", got, want)
			}
			for _, secret := range []string{tok.access, tok.refresh, alicePassword} {
				if strings.Contains(s.logs.String(), secret) {
					t.Fatalf("the server logged a token or the password:\n%s", s.logs)
				}
			}
		})
	}
}

// healthz is GET /healthz; it checks the body against the status.
func (s *apiServer) healthz(t *testing.T) int {
	t.Helper()
	r, _ := s.timed("GET", "/healthz", "", "")
	status, _ := r.json(t)["status"].(string)
	switch {
	case r.status == http.StatusOK && status == "ok":
	case r.status == http.StatusServiceUnavailable && status == "unavailable":
	default:
		t.Fatalf("healthz: %d %s, want 200 {\"status\":\"ok\"} or 503 {\"status\":\"unavailable\",…}", r.status, r.body)
	}
	return r.status
}

// waitHealth polls /healthz until it answers want, for up to 20 s.
func (s *apiServer) waitHealth(t *testing.T, what string, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := s.healthz(t)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: healthz still %d after 20s, want %d", what, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// With the store cut off, /healthz answers 503 and /metrics still
// answers, with the store's errors; once the store is back, so is
// /healthz.
func TestHealthAndMetricsDuringStoreOutage(t *testing.T) {
	for name, spec := range networkStores(t) {
		t.Run(name, func(t *testing.T) {
			proxy, spec := throughProxy(t, spec)
			// -mirror=false: these tests watch the store's own calls and
			// outages (with the mirror, checks are answered from memory).
			s := startServer(t, "-store", spec, "-mirror=false")
			defer func() { proxy.Set(faultproxy.Pass); s.stop() }()
			s.waitHealth(t, "store up", http.StatusOK)
			tok := s.login(t)

			proxy.Set(faultproxy.Cut)
			s.waitHealth(t, "store cut off", http.StatusServiceUnavailable)
			wantUnavailable(t, "me while the store is down", s.do("GET", "/api/me", tok.access, ""))
			m := s.scrape(t)
			m.want(t, ">= 1", storeHistogram, "operation=revoked", "outcome=error")
			m.want(t, ">= 1", "guardian_refusals_total", "reason=store_unavailable")

			proxy.Set(faultproxy.Pass)
			s.waitHealth(t, "store back", http.StatusOK)
			wantStatus(t, "me once the store is back", s.do("GET", "/api/me", tok.access, ""), http.StatusOK)
			m = s.scrape(t)
			m.want(t, ">= 1", storeHistogram, "operation=revoked", "outcome=ok")
		})
	}
}
