package guardian

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// providerMetadata is what discovery reads of an issuer's metadata.
type providerMetadata struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

// resolveJWKSURL returns the JWK set's URL, discovering it first when r
// was built from an issuer URL. Once discovered, the URL is kept.
func (r *RemoteKeys) resolveJWKSURL(ctx context.Context) (string, error) {
	if u := r.jwksURL.Load(); u != nil {
		return *u, nil
	}
	jwksURL, err := discover(ctx, r.client, r.issuer, r.maxBody, r.sameOrig)
	if err != nil {
		return "", err
	}
	r.jwksURL.Store(&jwksURL)
	return jwksURL, nil
}

// metadataURLs are where an issuer's metadata may be: OpenID Connect
// Discovery §4 appends the well-known path to the issuer; RFC 8414 §3.1
// inserts it between the host and the issuer's path.
func metadataURLs(issuer string) []string {
	u, _ := url.Parse(issuer) // checked by DiscoverKeys
	oidc := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	oauth := u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + path
	return []string{oidc, oauth}
}

// discover reads the issuer's metadata and returns its jwks_uri, checked.
func discover(ctx context.Context, client *http.Client, issuer string, maxBody int64, sameOrigin bool) (string, error) {
	var failed []string
	var last error
	for _, where := range metadataURLs(issuer) {
		md, status, err := fetchMetadata(ctx, client, where, maxBody)
		if err == nil {
			return checkMetadata(md, issuer, sameOrigin)
		}
		failed, last = append(failed, err.Error()), err
		if status == 0 && ctx.Err() != nil {
			break // out of time: the other place would fail too
		}
	}
	return "", &discoveryError{issuer: issuer, failures: failed, last: last}
}

// discoveryError is a failed discovery: why each metadata URL failed, on
// one line.
type discoveryError struct {
	issuer   string
	failures []string
	last     error
}

func (e *discoveryError) Error() string {
	return "discover " + e.issuer + ": " + strings.Join(e.failures, "; ")
}

// Unwrap gives ErrKeysUnavailable and the last failure's cause (a
// timeout, say).
func (e *discoveryError) Unwrap() []error { return []error{ErrKeysUnavailable, e.last} }

// fetchMetadata fetches one metadata document. status is the HTTP status,
// 0 when no answer came.
func fetchMetadata(ctx context.Context, client *http.Client, where string, maxBody int64) (providerMetadata, int, error) {
	var md providerMetadata
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, where, nil)
	if err != nil {
		return md, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return md, 0, &fetchError{where: where, cause: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return md, resp.StatusCode, &fetchError{where: where, status: resp.StatusCode}
	}
	body, err := readBounded(resp.Body, maxBody)
	if err != nil {
		return md, resp.StatusCode, &fetchError{where: where, cause: err}
	}
	if err := json.Unmarshal(body, &md); err != nil {
		return md, resp.StatusCode, &fetchError{where: where, problem: "not a JSON metadata document"}
	}
	return md, resp.StatusCode, nil
}

// fetchError is a failed request for a document at where: an answer
// with another status than 200, a problem with the body, or a cause.
type fetchError struct {
	where   string
	status  int
	problem string
	cause   error
}

func (e *fetchError) Error() string {
	switch {
	case e.status != 0:
		return e.where + ": status " + strconv.Itoa(e.status)
	case e.problem != "":
		return e.where + ": " + e.problem
	case e.cause != nil:
		cause := e.cause
		var ue *url.Error // "Get <where>: …": where is said already
		if errors.As(cause, &ue) {
			cause = ue.Err
		}
		return e.where + ": " + strings.TrimPrefix(cause.Error(), "guardian: ")
	}
	return e.where + ": failed"
}

// Unwrap gives ErrKeysUnavailable and the cause, if any.
func (e *fetchError) Unwrap() []error { return []error{ErrKeysUnavailable, e.cause} }

// checkMetadata applies the rules of OpenID Connect Discovery §4.3 and
// RFC 8414 §3.3: the document names exactly the issuer asked about (else
// an attacker's document could impersonate another issuer), and its
// jwks_uri is an https URL (http only for an http issuer).
func checkMetadata(md providerMetadata, issuer string, sameOrigin bool) (string, error) {
	if md.Issuer != issuer {
		return "", fmt.Errorf("%w: discovery document of %s names issuer %.200q", ErrKey, issuer, md.Issuer)
	}
	u, err := url.Parse(md.JWKSURI)
	iu, _ := url.Parse(issuer)
	switch {
	case md.JWKSURI == "":
		return "", fmt.Errorf("%w: discovery document of %s has no jwks_uri", ErrKey, issuer)
	case err != nil || u.Host == "" || u.User != nil || (u.Scheme != "https" && !(u.Scheme == "http" && iu.Scheme == "http")):
		return "", fmt.Errorf("%w: jwks_uri %.200q of %s is not an absolute https URL", ErrKey, md.JWKSURI, issuer)
	case sameOrigin && (u.Scheme != iu.Scheme || !strings.EqualFold(u.Host, iu.Host)):
		return "", fmt.Errorf("%w: jwks_uri %.200q is not on the origin of %s", ErrKey, md.JWKSURI, issuer)
	}
	return md.JWKSURI, nil
}

// cacheTTL is how long an answer with header h is fresh, received at now:
// Cache-Control max-age (no-cache and no-store mean none), else Expires
// measured against the answer's own Date (so that a clock apart from the
// server's does not shift it), else def; clamped to [lo, hi].
func cacheTTL(h http.Header, now time.Time, def, lo, hi time.Duration) time.Duration {
	ttl, ok := freshness(h, now)
	if !ok {
		ttl = def
	}
	return min(max(ttl, lo), hi)
}

// freshness is the freshness h states, if it states one, less the Age a
// cache in between says the answer has (RFC 9111 §4.2.3).
func freshness(h http.Header, now time.Time) (time.Duration, bool) {
	ttl, ok := maxAge(h.Values("Cache-Control"))
	if !ok {
		if ttl, ok = expiresIn(h, now); !ok {
			return 0, false
		}
	}
	if age := h.Get("Age"); age != "" {
		ttl = max(ttl-deltaSeconds(strings.TrimSpace(age)), 0)
	}
	return ttl, true
}

// maxAge reads the freshness of Cache-Control directives (RFC 9111
// §5.2.2): the first max-age counts (§4.2.1), a value too large for any
// clock is as good as forever (§1.2.2), an invalid one means stale.
func maxAge(values []string) (time.Duration, bool) {
	var ttl time.Duration
	found := false
	for _, v := range values {
		for _, d := range strings.Split(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return 0, true
			case "max-age":
				if found {
					continue
				}
				found = true
				ttl = deltaSeconds(strings.Trim(strings.TrimSpace(arg), `"`))
			}
		}
	}
	return ttl, found
}

// deltaSeconds reads a delta-seconds value: digits only; more seconds than
// a Duration holds are the longest Duration; anything else is 0 (stale).
func deltaSeconds(arg string) time.Duration {
	if arg == "" || strings.Trim(arg, "0123456789") != "" {
		return 0
	}
	n, err := strconv.ParseUint(arg, 10, 64)
	if err != nil || n > uint64(math.MaxInt64/int64(time.Second)) {
		return math.MaxInt64
	}
	return time.Duration(n) * time.Second
}

// expiresIn reads Expires, relative to Date when the answer has one.
func expiresIn(h http.Header, now time.Time) (time.Duration, bool) {
	v := h.Get("Expires")
	if v == "" {
		return 0, false
	}
	exp, err := http.ParseTime(v)
	if err != nil {
		return 0, true // an invalid date means already expired (RFC 9111 §5.3)
	}
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		now = date
	}
	return max(exp.Sub(now), 0), true
}
