package main

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/guardian-go/guardian"
)

// The metrics GET /metrics serves, in the Prometheus text format, from a
// registry of the server's own (never the global one):
//
//	guardian_refusals_total{reason}                      refused requests of the routes with a token, of /api/refresh, and logins with a bad DPoP proof
//	guardian_verifications_total                         requests whose token verified
//	guardian_logins_total{outcome}                       ok, invalid_credentials, rate_limited, invalid_request, invalid_dpop_proof, error
//	guardian_reauths_total{outcome}                      the same, for POST /api/reauth
//	guardian_refreshes_total{outcome}                    ok, or the reason of the refusal
//	guardian_revocation_store_duration_seconds{operation,outcome}
//	                                                     store calls: revoke, revoked, consume, use (a DPoP proof's jti); ok or error
//	guardian_login_limiter_keys{scope}                   buckets held: account, address
//
// plus the Go runtime's go_* and the process's process_* metrics. A reason
// is one of reasonLabels' values, or "other".
//
// /metrics is not authenticated: in production, serve it where only the
// monitoring can reach it.
type metrics struct {
	registry      *prometheus.Registry
	refusals      *prometheus.CounterVec
	verifications prometheus.Counter
	logins        *prometheus.CounterVec
	reauths       *prometheus.CounterVec
	refreshes     *prometheus.CounterVec
	storeDuration *prometheus.HistogramVec
}

// Login outcomes, of reauthentications too.
const (
	loginOK             = "ok"
	loginInvalid        = "invalid_credentials"
	loginRateLimited    = "rate_limited"
	loginInvalidRequest = "invalid_request"
	loginInvalidProof   = "invalid_dpop_proof"
	loginError          = "error"
)

// reasonLabels names, for the metrics, each sentinel that
// guardian.Reason can report for a refused request: a small fixed set.
var reasonLabels = map[error]string{
	guardian.ErrMissingToken:                   "missing_token",
	guardian.ErrMalformedRequest:               "malformed_request",
	guardian.ErrMalformedToken:                 "malformed_token",
	guardian.ErrUnsupportedHeader:              "unsupported_header",
	guardian.ErrUnknownKey:                     "unknown_key",
	guardian.ErrAlgorithm:                      "algorithm",
	guardian.ErrInvalidSignature:               "invalid_signature",
	guardian.ErrMissingClaim:                   "missing_claim",
	guardian.ErrExpired:                        "expired",
	guardian.ErrNotYetValid:                    "not_yet_valid",
	guardian.ErrIssuedInFuture:                 "issued_in_future",
	guardian.ErrIssuer:                         "issuer",
	guardian.ErrAudience:                       "audience",
	guardian.ErrTokenType:                      "token_type",
	guardian.ErrRevoked:                        "revoked",
	guardian.ErrResourceNotFound:               "resource_not_found",
	guardian.ErrCrossSite:                      "cross_site",
	guardian.ErrInsufficientScope:              "insufficient_scope",
	guardian.ErrInsufficientUserAuthentication: "insufficient_user_authentication",
	guardian.ErrAlreadyAuthenticated:           "already_authenticated",
	guardian.ErrInvalidDPoPProof:               "invalid_dpop_proof",
	guardian.ErrTokenBinding:                   "token_binding",
	guardian.ErrUnavailable:                    "unavailable",
	guardian.ErrRevokerUnavailable:             "store_unavailable",
	guardian.ErrKeysUnavailable:                "keys_unavailable",
	guardian.ErrInvalidToken:                   "invalid_token",
}

// reasonOther is the label of any other reason (an internal error).
const reasonOther = "other"

// reasonLabel is the metric label of a reason that guardian.Reason
// returned.
func reasonLabel(reason error) string {
	if l, ok := reasonLabels[reason]; ok {
		return l
	}
	return reasonOther
}

// Store operations and outcomes, the labels of the store histogram.
const (
	opRevoke  = "revoke"
	opRevoked = "revoked"
	opConsume = "consume"
	opUse     = "use" // ReplayCache.Use: a DPoP proof seen
)

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &metrics{
		registry: reg,
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "guardian_refusals_total",
			Help: "Requests refused by the authentication, by reason.",
		}, []string{"reason"}),
		verifications: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "guardian_verifications_total",
			Help: "Requests whose token verified.",
		}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "guardian_logins_total",
			Help: "Login attempts, by outcome.",
		}, []string{"outcome"}),
		reauths: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "guardian_reauths_total",
			Help: "Reauthentication attempts, by outcome.",
		}, []string{"outcome"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "guardian_refreshes_total",
			Help: "Refresh attempts, by outcome: ok, or the reason of the refusal.",
		}, []string{"outcome"}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "guardian_revocation_store_duration_seconds",
			Help: "Latency of the revocation store's calls, by operation and outcome.",
			// From a local round trip to the Revoker timeout (300 ms) and past it.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"operation", "outcome"}),
	}
	reg.MustRegister(m.refusals, m.verifications, m.logins, m.reauths, m.refreshes, m.storeDuration)
	// Every series exists from the start, at zero, so that rates and
	// alerts see the first event.
	for _, l := range reasonLabels {
		m.refusals.WithLabelValues(l)
		m.refreshes.WithLabelValues(l)
	}
	m.refusals.WithLabelValues(reasonOther)
	m.refreshes.WithLabelValues(reasonOther)
	m.refreshes.WithLabelValues("ok")
	for _, o := range []string{loginOK, loginInvalid, loginRateLimited, loginInvalidRequest, loginInvalidProof, loginError} {
		m.logins.WithLabelValues(o)
		m.reauths.WithLabelValues(o)
	}
	for _, op := range []string{opRevoke, opRevoked, opConsume, opUse} {
		m.storeDuration.WithLabelValues(op, "ok")
		m.storeDuration.WithLabelValues(op, "error")
	}
	return m
}

// watchLimiter exports the size of the login limiter's tables.
func (m *metrics) watchLimiter(l *loginLimiter) {
	gauge := func(scope string, f func() int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "guardian_login_limiter_keys",
			Help:        "Buckets the login limiter holds (accounts or addresses with recent failures).",
			ConstLabels: prometheus.Labels{"scope": scope},
		}, func() float64 { return float64(f()) })
	}
	m.registry.MustRegister(
		gauge("account", func() int { n, _ := l.size(); return n }),
		gauge("address", func() int { _, n := l.size(); return n }),
	)
}

// handler serves the registry.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// timeRevoker returns inner with every call timed into the store
// histogram. The result is a guardian.TokenConsumer when inner is one, and
// a guardian.Lister when inner is one (so that a guardian.Mirror can be
// put in front of it); it reports inner's AllowList, so that the Issuer
// and NewMirror see an allow-list store for what it is.
//
// The server times the store itself, not a Mirror in front of it: a
// Mirror answers Revoked from memory, which is not the store's latency,
// and a wrapper around the Mirror would hide that the Mirror answers
// locally, so the Issuer would put a deadline on every check of it. With
// the SQLite default, the histogram so shows the writes (a Mirror records
// its Consume with the store's Revoke) and no Revoked at all.
func (m *metrics) timeRevoker(inner guardian.Revoker) guardian.Revoker {
	t := &timedRevoker{inner: inner, hist: m.storeDuration}
	if f, ok := inner.(guardian.Feed); ok {
		tf := &timedFeed{timedConsumer{t, f}, f}
		if l, ok := inner.(guardian.Lister); ok {
			return &timedFeedLister{tf, l} // an SQLite file's Mirror lists it
		}
		return tf
	}
	c, consumer := inner.(guardian.TokenConsumer)
	l, lister := inner.(guardian.Lister)
	switch {
	case consumer && lister:
		return &timedConsumerLister{timedConsumer{t, c}, l}
	case consumer:
		return &timedConsumer{t, c}
	case lister:
		return &timedLister{t, l}
	}
	return t
}

// timedRevoker times a Revoker's calls.
type timedRevoker struct {
	inner guardian.Revoker
	hist  *prometheus.HistogramVec
}

func (t *timedRevoker) observe(op string, start time.Time, err error) {
	observeStore(t.hist, op, start, err)
}

// observeStore records into hist the store call op that started at start
// and returned err.
func observeStore(hist *prometheus.HistogramVec, op string, start time.Time, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	hist.WithLabelValues(op, outcome).Observe(time.Since(start).Seconds())
}

func (t *timedRevoker) Revoke(ctx context.Context, r guardian.Revocation) error {
	start := time.Now()
	err := t.inner.Revoke(ctx, r)
	t.observe(opRevoke, start, err)
	return err
}

func (t *timedRevoker) Revoked(ctx context.Context, c *guardian.Claims) (bool, error) {
	start := time.Now()
	revoked, err := t.inner.Revoked(ctx, c)
	t.observe(opRevoked, start, err)
	return revoked, err
}

// AllowList reports whether inner is a store in allow-list mode.
func (t *timedRevoker) AllowList() bool {
	al, ok := t.inner.(interface{ AllowList() bool })
	return ok && al.AllowList()
}

// timedConsumer is a timedRevoker over a guardian.TokenConsumer.
type timedConsumer struct {
	*timedRevoker
	consumer guardian.TokenConsumer
}

func (t *timedConsumer) Consume(ctx context.Context, r guardian.Revocation) (bool, error) {
	start := time.Now()
	first, err := t.consumer.Consume(ctx, r)
	t.observe(opConsume, start, err)
	return first, err
}

// timedLister is a timedRevoker over a guardian.Lister. Live, which a
// Mirror calls once at start-up, is not timed.
type timedLister struct {
	*timedRevoker
	lister guardian.Lister
}

func (t *timedLister) Live(ctx context.Context, fn func(guardian.Revocation) error) error {
	return t.lister.Live(ctx, fn)
}

// timedFeed is a timedConsumer over a guardian.Feed. Follow, the
// feed's long-running subscription, is not timed: the checks a
// FeedMirror sends to the store while it is not current are.
type timedFeed struct {
	timedConsumer
	feed guardian.Feed
}

func (t *timedFeed) Follow(ctx context.Context, sink guardian.FeedSink) error {
	return t.feed.Follow(ctx, sink)
}

// timedFeedLister is a timedFeed over a store that is a guardian.Lister
// too.
type timedFeedLister struct {
	*timedFeed
	lister guardian.Lister
}

func (t *timedFeedLister) Live(ctx context.Context, fn func(guardian.Revocation) error) error {
	return t.lister.Live(ctx, fn)
}

// timedConsumerLister is both.
type timedConsumerLister struct {
	timedConsumer
	lister guardian.Lister
}

func (t *timedConsumerLister) Live(ctx context.Context, fn func(guardian.Revocation) error) error {
	return t.lister.Live(ctx, fn)
}

// timeReplay returns inner with every Use timed into the store histogram
// (operation "use"): the DPoP replay cache is the store too.
func (m *metrics) timeReplay(inner guardian.ReplayCache) guardian.ReplayCache {
	return &timedReplay{inner: inner, hist: m.storeDuration}
}

// timedReplay times a ReplayCache's calls.
type timedReplay struct {
	inner guardian.ReplayCache
	hist  *prometheus.HistogramVec
}

func (t *timedReplay) Use(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	start := time.Now()
	first, err := t.inner.Use(ctx, key, ttl)
	observeStore(t.hist, opUse, start, err)
	return first, err
}

var (
	_ guardian.ReplayCache   = (*timedReplay)(nil)
	_ guardian.TokenConsumer = (*timedConsumer)(nil)
	_ guardian.Lister        = (*timedLister)(nil)
	_ guardian.TokenConsumer = (*timedConsumerLister)(nil)
	_ guardian.Lister        = (*timedConsumerLister)(nil)
)
