package guardian

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of [RemoteKeysOptions].
const (
	// DefaultRemoteKeysTimeout bounds one fetch (discovery and JWKS).
	DefaultRemoteKeysTimeout = 5 * time.Second
	// DefaultMaxJWKSSize bounds a JWK set or discovery document, in bytes.
	DefaultMaxJWKSSize = 1 << 20
	// DefaultRefetchInterval is the least time between two fetches that
	// tokens under an unknown kid can cause.
	DefaultRefetchInterval = 15 * time.Second
	// DefaultKeysTTL is how long keys are fresh when the answer has no
	// caching headers.
	DefaultKeysTTL = 15 * time.Minute
	// DefaultMinKeysTTL and DefaultMaxKeysTTL clamp the freshness the
	// issuer's caching headers ask for.
	DefaultMinKeysTTL = time.Minute
	DefaultMaxKeysTTL = 24 * time.Hour
	// DefaultMaxStale is how long keys keep verifying past their freshness
	// while the issuer's endpoint fails.
	DefaultMaxStale = 24 * time.Hour
)

// RemoteKeysOptions configures [NewRemoteKeys] and [DiscoverKeys]. A nil
// *RemoteKeysOptions, and every zero field, means the documented default.
type RemoteKeysOptions struct {
	// Client makes the requests; a Client without CheckRedirect gets one
	// that refuses redirects from https to http. Default: a client with
	// Timeout that follows up to 5 redirects, never from https to http.
	Client *http.Client
	// Timeout bounds each fetch, discovery included. Default:
	// [DefaultRemoteKeysTimeout].
	Timeout time.Duration
	// MaxBodySize bounds the JWK set and the discovery document, in
	// bytes; a larger answer is a failed fetch. Default:
	// [DefaultMaxJWKSSize] (1 MiB).
	MaxBodySize int64
	// RefetchInterval is the least time between two fetches caused by
	// tokens whose kid is not in the set (the issuer rotated its key, or a
	// forger made one up): at most one per interval, and concurrent misses
	// share that fetch. It also spaces the retries of a failing endpoint,
	// which start at one second and double up to it. Default:
	// [DefaultRefetchInterval].
	RefetchInterval time.Duration
	// TTL is how long a fetched set is fresh when the answer says nothing
	// (no Cache-Control max-age, no Expires). Default: [DefaultKeysTTL].
	TTL time.Duration
	// MinTTL and MaxTTL clamp the freshness the answer's Cache-Control
	// max-age or Expires asks for (no-cache and no-store count as zero).
	// Defaults: [DefaultMinKeysTTL], [DefaultMaxKeysTTL].
	MinTTL, MaxTTL time.Duration
	// MaxStale is how long a set keeps verifying past its freshness while
	// the endpoint fails. Past it the keys are dropped and the issuer's
	// tokens are refused with ErrUnavailable (503) until a fetch succeeds.
	// Negative: none (keys are dropped as soon as they are stale and a
	// refresh failed). Default: [DefaultMaxStale].
	MaxStale time.Duration
	// Algorithms, when set, are the only algorithms the issuer's keys may
	// be pinned to, and the algorithm of each JWK without alg (the first
	// one that fits its key type). Without it, JWKs without alg are
	// skipped. Never taken from a token. Default: none.
	Algorithms []Algorithm
	// JWKS bounds RSA key sizes, as for [ParseJWKSWithOptions].
	JWKS *JWKSOptions
	// JWKSOnIssuerOrigin makes discovery refuse a jwks_uri that is not on
	// the issuer's origin (scheme, host and port). Default: false.
	JWKSOnIssuerOrigin bool
	// Prefetch starts the first fetch at once, in the background, and
	// retries it until it succeeds; without it the first token of the
	// issuer causes it. Default: false.
	Prefetch bool
	// OnKeySkipped is called for each JWK of a fetched set that is not
	// used, with why: a use other than sig, a private or symmetric key, an
	// unknown kty, an RSA key out of bounds, an algorithm not allowed, a
	// repeated kid. Default: a warning on slog.Default().
	OnKeySkipped func(kid string, reason error)
	// OnFetch is called after each fetch with its outcome: nil when keys
	// were loaded (or confirmed unchanged), else why not; the keys'
	// readiness ([RemoteKeys.Ready]) changes only then. With Prefetch, the
	// first call may come before NewRemoteKeys or DiscoverKeys returns.
	// Default: a warning on Logger for each failure.
	OnFetch func(err error)
	// Logger receives the default reports of OnKeySkipped and OnFetch.
	// Default: slog.Default().
	Logger *slog.Logger
}

// RemoteKeys is the verification keys an issuer publishes as a JWK set at
// a URL, kept current: fetched on first use (or at once, with Prefetch),
// cached, refreshed in the background before they go stale (honouring
// Cache-Control max-age and Expires within bounds, revalidating with
// If-None-Match), refetched when a token names an unknown kid (at most once
// per RefetchInterval, one fetch shared by every waiting request), and
// kept verifying, for MaxStale, while the endpoint fails. Tokens whose kid
// is known never wait for a fetch.
//
// Build an Issuer on it with [NewRemoteIssuer]. It is safe for concurrent
// use; Close stops its background refreshes.
type RemoteKeys struct {
	issuer   string // the issuer URL to discover, "" with a JWKS URL
	jwksURL  atomic.Pointer[string]
	client   *http.Client
	timeout  time.Duration
	maxBody  int64
	interval time.Duration
	ttl      time.Duration
	minTTL   time.Duration
	maxTTL   time.Duration
	maxStale time.Duration
	sameOrig bool
	rules    jwkRules
	onSkip   func(kid string, reason error)
	onFetch  func(err error)
	empty    *KeySet

	state atomic.Pointer[remoteState]

	mu          sync.Mutex
	inflight    *fetchCall
	lastAttempt time.Time
	failures    int
	timer       *time.Timer
	closed      bool
}

// remoteState is what the last fetches established; replaced whole.
type remoteState struct {
	set     *KeySet  // nil until a fetch succeeds, and once dropped
	sum     [32]byte // SHA-256 of the document set came from
	etag    string
	ttl     time.Duration // the freshness set was given
	expires time.Time     // end of freshness of set
	err     error         // the last fetch's failure; nil after a success
}

// fetchCall is one fetch, which any number of requests may wait for.
type fetchCall struct {
	done chan struct{}
	err  error
}

// NewRemoteKeys returns the keys published at jwksURL, an absolute http
// or https URL. Nothing is fetched until first use, unless opts.Prefetch.
// opts may be nil.
func NewRemoteKeys(jwksURL string, opts *RemoteKeysOptions) (*RemoteKeys, error) {
	if _, err := checkFetchURL(jwksURL, "JWKS URL"); err != nil {
		return nil, err
	}
	r, err := newRemoteKeys("", opts)
	if err != nil {
		return nil, err
	}
	r.jwksURL.Store(&jwksURL)
	r.start(opts)
	return r, nil
}

// DiscoverKeys returns the keys of the issuer whose identifier is issuer
// (an absolute http or https URL without query or fragment), found
// through its metadata at first use: /.well-known/openid-configuration
// (OpenID Connect Discovery), else RFC 8414's
// /.well-known/oauth-authorization-server. The document's issuer must
// equal issuer exactly, and its jwks_uri must be https unless issuer is
// http (and on the issuer's origin with opts.JWKSOnIssuerOrigin). A failed
// discovery is retried as a failed fetch is. opts may be nil.
func DiscoverKeys(issuer string, opts *RemoteKeysOptions) (*RemoteKeys, error) {
	_, err := checkFetchURL(issuer, "issuer")
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(issuer, "?#") {
		return nil, fmt.Errorf("%w: issuer %q has a query or fragment", ErrConfig, issuer)
	}
	r, err := newRemoteKeys(issuer, opts)
	if err != nil {
		return nil, err
	}
	r.start(opts)
	return r, nil
}

func checkFetchURL(raw, what string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("%w: %s %q is not an absolute http or https URL without user info", ErrConfig, what, raw)
	}
	return u, nil
}

func newRemoteKeys(issuer string, opts *RemoteKeysOptions) (*RemoteKeys, error) {
	if opts == nil {
		opts = &RemoteKeysOptions{}
	}
	r := &RemoteKeys{
		issuer: issuer, client: opts.Client, timeout: opts.Timeout, maxBody: opts.MaxBodySize,
		interval: opts.RefetchInterval, ttl: opts.TTL, minTTL: opts.MinTTL, maxTTL: opts.MaxTTL,
		maxStale: opts.MaxStale, sameOrig: opts.JWKSOnIssuerOrigin,
		onSkip: opts.OnKeySkipped, onFetch: opts.OnFetch, empty: emptyKeySet(),
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
		nm  string
	}{
		{&r.timeout, DefaultRemoteKeysTimeout, "Timeout"}, {&r.interval, DefaultRefetchInterval, "RefetchInterval"},
		{&r.ttl, DefaultKeysTTL, "TTL"}, {&r.minTTL, DefaultMinKeysTTL, "MinTTL"}, {&r.maxTTL, DefaultMaxKeysTTL, "MaxTTL"},
	} {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < 0:
			return nil, fmt.Errorf("%w: negative RemoteKeysOptions.%s %v", ErrConfig, d.nm, *d.v)
		}
	}
	if opts.MinTTL == 0 {
		r.minTTL = min(r.minTTL, r.maxTTL) // a MaxTTL below the default MinTTL lowers it
	}
	switch {
	case r.maxStale == 0:
		r.maxStale = DefaultMaxStale
	case r.maxStale < 0:
		r.maxStale = 0
	}
	if r.minTTL > r.maxTTL {
		return nil, fmt.Errorf("%w: RemoteKeysOptions.MinTTL %v is above MaxTTL %v", ErrConfig, r.minTTL, r.maxTTL)
	}
	switch {
	case r.maxBody == 0:
		r.maxBody = DefaultMaxJWKSSize
	case r.maxBody < 0:
		return nil, fmt.Errorf("%w: negative RemoteKeysOptions.MaxBodySize %d", ErrConfig, r.maxBody)
	}
	rules, err := newJWKRules(opts.JWKS, append([]Algorithm(nil), opts.Algorithms...))
	if err != nil {
		return nil, err
	}
	r.rules = rules
	if r.client == nil {
		r.client = &http.Client{Timeout: r.timeout, CheckRedirect: noDowngrade}
	} else if r.client.CheckRedirect == nil {
		c := *r.client // the caller's client, without https→http redirects
		c.CheckRedirect = noDowngrade
		r.client = &c
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if r.onSkip == nil {
		r.onSkip = func(kid string, reason error) {
			logger.Warn("guardian: JWK skipped", "source", r.source(), "kid", kid, "reason", reason)
		}
	}
	if r.onFetch == nil {
		r.onFetch = func(err error) {
			if err != nil {
				logger.Warn("guardian: key fetch failed", "source", r.source(), "err", err)
			}
		}
	}
	r.state.Store(&remoteState{})
	return r, nil
}

// noDowngrade follows at most 5 redirects, never from https to http.
func noDowngrade(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return fmt.Errorf("%w: too many redirects", ErrKeysUnavailable)
	}
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("%w: redirect from https to %s", ErrKeysUnavailable, req.URL.Scheme)
	}
	return nil
}

func (r *RemoteKeys) start(opts *RemoteKeysOptions) {
	if opts != nil && opts.Prefetch {
		r.mu.Lock()
		r.startFetchLocked()
		r.mu.Unlock()
	}
}

// source names where the keys come from, for logs.
func (r *RemoteKeys) source() string {
	if r.issuer != "" {
		return r.issuer
	}
	return *r.jwksURL.Load()
}

// Issuer returns the issuer URL given to [DiscoverKeys], or "".
func (r *RemoteKeys) Issuer() string { return r.issuer }

// JWKSURL returns the URL of the JWK set: the one given, or the discovered
// one ("" until discovery succeeds).
func (r *RemoteKeys) JWKSURL() string {
	if u := r.jwksURL.Load(); u != nil {
		return *u
	}
	return ""
}

// Keys returns the current key set: empty until the first fetch succeeds
// and once the keys are dropped (see MaxStale). It implements
// [KeySource], so JWKSHandler can serve the keys again.
func (r *RemoteKeys) Keys() *KeySet {
	if set := r.state.Load().set; set != nil {
		return set
	}
	return r.empty
}

// Ready returns nil when keys are loaded and verifying, and otherwise an
// error wrapping ErrUnavailable and ErrKeysUnavailable with the last
// fetch's failure.
func (r *RemoteKeys) Ready() error {
	st := r.state.Load()
	if st.set != nil {
		return nil
	}
	if st.err == nil {
		return fmt.Errorf("%w: %w: not fetched yet", ErrUnavailable, ErrKeysUnavailable)
	}
	return keysUnavailable(st.err)
}

// Refresh fetches the keys now and waits, within ctx, for the outcome; a
// fetch already under way is shared. Use it at start to fail fast.
func (r *RemoteKeys) Refresh(ctx context.Context) error {
	r.mu.Lock()
	call := r.inflight
	if call == nil {
		if r.closed {
			r.mu.Unlock()
			return fmt.Errorf("%w: RemoteKeys closed", ErrConfig)
		}
		call = r.startFetchLocked()
	}
	r.mu.Unlock()
	select {
	case <-call.done:
		if call.err != nil {
			return keysUnavailable(call.err)
		}
		return nil
	case <-ctx.Done():
		return keysUnavailable(ctx.Err())
	}
}

// Close stops the background refreshes. The keys already loaded keep
// verifying; no fetch happens again.
func (r *RemoteKeys) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.timer != nil {
		r.timer.Stop()
	}
}

// missed is called when a token names a kid that seen, the set it was
// looked up in, lacks. It returns the set to look in again: a newer one
// if a fetch brought it, after a fetch if one is allowed now (waiting
// within ctx), or seen itself, within RefetchInterval of the last fetch,
// when that fetch succeeded. While the endpoint fails, or before any
// keys, it reports ErrUnavailable: the kid may be a new key of the issuer.
func (r *RemoteKeys) missed(ctx context.Context, seen *KeySet) (*KeySet, error) {
	r.mu.Lock()
	st := r.state.Load()
	if st.set != nil && st.set != seen {
		r.mu.Unlock()
		return st.set, nil
	}
	call := r.inflight
	if call == nil {
		if r.closed || (!r.lastAttempt.IsZero() && time.Since(r.lastAttempt) < r.interval) {
			r.mu.Unlock()
			if st.set == nil || st.err != nil {
				return nil, keysUnavailable(st.err)
			}
			return st.set, nil
		}
		call = r.startFetchLocked()
	}
	r.mu.Unlock()
	select {
	case <-call.done:
	case <-ctx.Done():
		return nil, keysUnavailable(ctx.Err())
	}
	if call.err != nil {
		return nil, keysUnavailable(call.err)
	}
	return r.Keys(), nil
}

// startFetchLocked starts a fetch in the background; r.mu is held.
func (r *RemoteKeys) startFetchLocked() *fetchCall {
	call := &fetchCall{done: make(chan struct{})}
	r.inflight = call
	r.lastAttempt = time.Now()
	if r.timer != nil {
		r.timer.Stop()
	}
	go func() {
		err := r.fetch()
		r.onFetch(err)
		r.mu.Lock()
		r.inflight = nil
		if err != nil {
			r.failures++
		} else {
			r.failures = 0
		}
		r.scheduleLocked()
		r.mu.Unlock()
		call.err = err
		close(call.done)
	}()
	return call
}

// scheduleLocked arms the timer of the next background fetch: at 80 % of
// the freshness after a success, with a backoff after a failure, and no
// later than the moment stale keys are to be dropped.
func (r *RemoteKeys) scheduleLocked() {
	if r.closed {
		return
	}
	st := r.state.Load()
	var wait time.Duration
	now := time.Now()
	if st.err == nil && st.set != nil {
		fresh := st.expires.Sub(now)
		wait = fresh - fresh/5
	} else {
		wait = min(r.interval, time.Second<<min(max(r.failures-1, 0), 16))
		if st.set != nil {
			wait = min(wait, max(st.expires.Add(r.maxStale).Sub(now), 0))
		}
	}
	r.timer = time.AfterFunc(max(wait, 0), r.onTimer)
}

// onTimer drops keys stale beyond MaxStale, then fetches.
func (r *RemoteKeys) onTimer() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.inflight != nil {
		return
	}
	if st := r.state.Load(); st.set != nil && st.err != nil && !time.Now().Before(st.expires.Add(r.maxStale)) {
		r.state.Store(&remoteState{err: st.err})
	}
	r.startFetchLocked()
}

// fetch fetches the set once (discovering its URL first when needed) and
// stores the outcome.
func (r *RemoteKeys) fetch() error {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	prev := r.state.Load()
	set, sum, etag, ttl, err := r.download(ctx, prev)
	if err != nil {
		next := *prev
		next.err = err
		if next.set != nil && !time.Now().Before(next.expires.Add(r.maxStale)) {
			next.set = nil // stale for too long: refuse rather than trust
		}
		r.state.Store(&next)
		return err
	}
	r.state.Store(&remoteState{set: set, sum: sum, etag: etag, ttl: ttl, expires: time.Now().Add(ttl)})
	return nil
}

// download fetches the set. An answer 304 Not Modified to prev's ETag,
// or the same document again, keeps prev's set (and the verified-token
// caches built on it), fresh again.
func (r *RemoteKeys) download(ctx context.Context, prev *remoteState) (set *KeySet, sum [32]byte, etag string, ttl time.Duration, err error) {
	jwksURL, err := r.resolveJWKSURL(ctx)
	if err != nil {
		return nil, sum, "", 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURL, nil)
	if err != nil {
		return nil, sum, "", 0, fmt.Errorf("guardian: JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	if prev.set != nil && prev.etag != "" {
		req.Header.Set("If-None-Match", prev.etag)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, sum, "", 0, &fetchError{where: jwksURL, cause: err}
	}
	defer resp.Body.Close()
	ttl = cacheTTL(resp.Header, time.Now(), r.ttl, r.minTTL, r.maxTTL)
	etag = resp.Header.Get("ETag")
	switch {
	case resp.StatusCode == http.StatusNotModified && prev.set != nil:
		if etag == "" {
			etag = prev.etag
		}
		if _, stated := freshness(resp.Header, time.Now()); !stated {
			ttl = prev.ttl // the stored answer's freshness holds (RFC 9111 §4.3.4)
		}
		return prev.set, prev.sum, etag, ttl, nil
	case resp.StatusCode != http.StatusOK:
		return nil, sum, "", 0, &fetchError{where: jwksURL, status: resp.StatusCode}
	}
	body, err := readBounded(resp.Body, r.maxBody)
	if err != nil {
		return nil, sum, "", 0, &fetchError{where: jwksURL, cause: err}
	}
	if sum = sha256.Sum256(body); prev.set != nil && sum == prev.sum {
		return prev.set, sum, etag, ttl, nil
	}
	if set, err = r.parseSet(body); err != nil {
		return nil, sum, "", 0, &fetchError{where: jwksURL, cause: err}
	}
	return set, sum, etag, ttl, nil
}

// parseSet makes a key set of the usable JWKs of body, reporting the
// others to OnKeySkipped. A set with no usable key is an error: the
// previous keys stay.
func (r *RemoteKeys) parseSet(body []byte) (*KeySet, error) {
	doc, err := decodeJWKSet(body)
	if err != nil {
		return nil, err
	}
	keys := make([]*Key, 0, len(doc.Keys))
	seen := make(map[string]bool, len(doc.Keys))
	for _, j := range doc.Keys {
		k, err := r.rules.parse(j)
		if err == nil && seen[j.Kid] {
			err = fmt.Errorf("%w: another key of the set has this kid", ErrKey)
		}
		if err != nil {
			r.onSkip(truncate(j.Kid, 64), err)
			continue
		}
		seen[j.Kid] = true
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no usable key among %d", ErrKey, len(doc.Keys))
	}
	return newKeySet(nil, keys)
}

// readBounded reads at most limit bytes of body; more is an error.
func readBounded(body io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: answer larger than %d bytes", ErrKeysUnavailable, limit)
	}
	return b, nil
}
