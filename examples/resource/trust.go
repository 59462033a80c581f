package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/guardian-go/guardian"
)

// Settings of every trusted issuer.
const (
	// clockLeeway tolerates the clock drift between the authorization
	// servers and this one, on exp, nbf and iat.
	clockLeeway = 5 * time.Second
	// tokenCacheSize is the room of each issuer's verified-token cache:
	// clients send the same access token for many requests, and a check of
	// an RS256 or ES256 signature costs tens of microseconds.
	tokenCacheSize = 10_000
	// maxReasonLen bounds the reason /healthz gives for an issuer.
	maxReasonLen = 240
)

// trust is the issuers this API accepts tokens from: the keys of each,
// discovered and kept current by guardian, and the Verifier that routes a
// token to the issuer its iss claim names. Nothing is secret here: the
// server holds public keys only.
type trust struct {
	issuers  []*remoteIssuer
	verifier *guardian.Verifier
}

// remoteIssuer is one trusted issuer.
type remoteIssuer struct {
	url    string
	keys   *guardian.RemoteKeys
	issuer *guardian.Issuer
	ready  atomic.Bool // the keys loaded, as the last fetch said
}

// newTrust starts the discovery of every issuer of cfg, in the background
// (guardian retries a failing issuer until it answers), and builds the
// Verifier. It does not wait for any issuer: each logs "issuer ready"
// when its keys load, and "issuer not ready" when they fail to.
func newTrust(cfg config, logger *slog.Logger) (*trust, error) {
	t := &trust{}
	for _, ti := range cfg.issuers {
		ri := &remoteIssuer{url: ti.url}
		keys, err := guardian.DiscoverKeys(ti.url, &guardian.RemoteKeysOptions{
			RefetchInterval: cfg.refetchInterval,
			OnFetch:         func(err error) { ri.fetched(err, logger) },
			OnKeySkipped: func(kid string, reason error) {
				logger.Warn("issuer keys: JWK skipped", "issuer", ti.url, "kid", kid, "reason", reason.Error())
			},
		})
		if err != nil {
			t.close()
			return nil, err
		}
		ri.keys = keys
		t.issuers = append(t.issuers, ri) // closed by t.close from now on
		ri.issuer, err = guardian.NewRemoteIssuer(keys, &guardian.IssuerOptions{
			Audience:  []string{ti.audience},
			Leeway:    clockLeeway,
			CacheSize: tokenCacheSize,
			// TokenTypes: the default of a remote issuer, RFC 9068: the
			// header typ at+jwt is required, so that an ID token of the
			// same issuer never passes for an access token.
		})
		if err != nil {
			t.close()
			return nil, err
		}
	}
	issuers := make([]*guardian.Issuer, len(t.issuers))
	for i, ri := range t.issuers {
		issuers[i] = ri.issuer
	}
	v, err := guardian.NewVerifier(issuers...)
	if err != nil {
		t.close()
		return nil, err
	}
	t.verifier = v
	// The first fetches, now that fetched can see every ri.keys (Prefetch
	// would start them inside DiscoverKeys); failures are retried by
	// guardian in the background.
	for _, ri := range t.issuers {
		go ri.keys.Refresh(context.Background())
	}
	return t, nil
}

// fetched logs the outcome of a fetch of ri's keys when their readiness
// changes: "issuer ready" once they load, "issuer not ready" when a fetch
// fails while they are not loaded (at start, or once dropped), and each
// other failure as a warning.
func (ri *remoteIssuer) fetched(err error, logger *slog.Logger) {
	switch {
	case err == nil:
		if !ri.ready.Swap(true) {
			logger.Info("issuer ready", "issuer", ri.url, "jwks_uri", ri.keys.JWKSURL(), "keys", len(ri.keys.Keys().Keys()))
		}
	case ri.keys.Ready() != nil:
		ri.ready.Store(false)
		logger.Warn("issuer not ready: retrying in the background; its tokens are answered 503 meanwhile",
			"issuer", ri.url, "err", shortReason(err))
	default:
		logger.Warn("issuer keys: fetch failed; the cached keys keep verifying", "issuer", ri.url, "err", shortReason(err))
	}
}

// close stops the background key refreshes.
func (t *trust) close() {
	for _, ri := range t.issuers {
		ri.keys.Close()
	}
}

// names returns the trusted issuers' URLs, in the order given.
func (t *trust) names() []string {
	names := make([]string, len(t.issuers))
	for i, ri := range t.issuers {
		names[i] = ri.url
	}
	return names
}

// notReady returns, for every issuer whose keys are not loaded, a short
// reason; nil when all are ready.
func (t *trust) notReady() map[string]string {
	var down map[string]string
	for _, ri := range t.issuers {
		if err := ri.issuer.Ready(); err != nil {
			if down == nil {
				down = make(map[string]string)
			}
			down[ri.url] = shortReason(err)
		}
	}
	return down
}

// shortReason is err's text without guardian's sentinels of
// unavailability (which say what the 503 says already) and its "guardian:"
// prefixes, on one line and bounded, for /healthz and the logs.
func shortReason(err error) string {
	s := err.Error()
	for _, prefix := range []error{guardian.ErrUnavailable, guardian.ErrKeysUnavailable} {
		s = strings.TrimPrefix(s, prefix.Error()+": ")
	}
	if errors.Is(err, guardian.ErrKeysUnavailable) && strings.HasSuffix(s, guardian.ErrKeysUnavailable.Error()) {
		s = "keys not loaded"
	}
	// Discovery's errors name the sentinel again, inside.
	s = strings.ReplaceAll(s, guardian.ErrKeysUnavailable.Error()+": ", "")
	s = strings.ReplaceAll(s, "guardian: ", "")
	if len(s) > maxReasonLen {
		s = fmt.Sprintf("%.*s...", maxReasonLen, s)
	}
	return s
}
