package guardian

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian/internal/testclock"
)

// TestCacheTTL: how long fetched keys are fresh, from the answer's
// Cache-Control (RFC 9111 §5.2.2.1), else Expires against the answer's
// own Date (§5.3, §4.2.1), else the default; always within [lo, hi].
// Guards against a header making keys stale at once (a fetch per token)
// or fresh for ever (a removed key trusted for good), and against a
// server clock apart from ours shifting Expires.
func TestCacheTTL(t *testing.T) {
	now := testclock.Now().Truncate(time.Second).UTC()
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	const (
		def = 15 * time.Minute
		lo  = time.Minute
		hi  = 24 * time.Hour
	)
	cc := func(v ...string) http.Header { return http.Header{"Cache-Control": v} }
	tests := []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"no caching headers", http.Header{}, def},
		{"max-age", cc("max-age=600"), 10 * time.Minute},
		{"max-age=0", cc("max-age=0"), lo},
		{"quoted max-age", cc(`max-age="600"`), 10 * time.Minute},
		{"directive names are case-insensitive", cc("Max-Age=600"), 10 * time.Minute},
		{"max-age among other directives", cc("public, max-age=300, must-revalidate"), 5 * time.Minute},
		{"max-age in a second header line", cc("public", "max-age=300"), 5 * time.Minute},
		{"garbage max-age", cc("max-age=abc"), lo},
		{"empty max-age", cc("max-age="), lo},
		{"max-age without a value", cc("max-age"), lo},
		{"negative max-age", cc("max-age=-60"), lo},
		{"signed max-age", cc("max-age=+60"), lo},
		{"fractional max-age", cc("max-age=60.5"), lo},
		{"max-age below lo", cc("max-age=5"), lo},
		{"max-age above hi", cc("max-age=864000"), hi},
		{"max-age of 2^63-1 seconds", cc("max-age=9223372036854775807"), hi},
		// RFC 9111 §1.2.2: a delta-seconds too large to represent is taken
		// as 2^31 or the largest representable, never as stale.
		{"max-age of 2^64 seconds", cc("max-age=18446744073709551616"), hi},
		{"max-age of 10^30 seconds", cc("max-age=1000000000000000000000000000000"), hi},
		{"s-maxage is for shared caches", cc("s-maxage=600"), def},
		{"no-store", cc("no-store"), lo},
		{"no-cache", cc("no-cache"), lo},
		{"no-cache, another case", cc("No-Cache"), lo},
		{"no-store beats max-age", cc("max-age=600, no-store"), lo},
		// RFC 9111 §4.2.3: an answer a cache has held for Age seconds has
		// that much less freshness left (a JWKS behind a CDN).
		{"Age is subtracted", http.Header{"Cache-Control": {"max-age=3600"}, "Age": {"3000"}}, 10 * time.Minute},
		{"Age above max-age", http.Header{"Cache-Control": {"max-age=3600"}, "Age": {"7200"}}, lo},
		{"Age of Expires", http.Header{"Date": {date(0)}, "Expires": {date(time.Hour)}, "Age": {"1800"}}, 30 * time.Minute},
		{"garbage Age is ignored", http.Header{"Cache-Control": {"max-age=600"}, "Age": {"soon"}}, 10 * time.Minute},
		{"no-cache in a second line beats max-age", cc("max-age=600", "no-cache"), lo},
		{"max-age beats Expires", http.Header{"Cache-Control": {"max-age=300"}, "Date": {date(0)}, "Expires": {date(time.Hour)}}, 5 * time.Minute},
		{"no-cache beats Expires", http.Header{"Cache-Control": {"no-cache"}, "Expires": {date(time.Hour)}}, lo},
		{"invalid max-age is stale, whatever Expires says", http.Header{"Cache-Control": {"max-age=x"}, "Expires": {date(time.Hour)}}, lo},
		{"Cache-Control without max-age leaves Expires", http.Header{"Cache-Control": {"public"}, "Expires": {date(time.Hour)}}, time.Hour},
		{"Expires and Date", http.Header{"Date": {date(0)}, "Expires": {date(10 * time.Minute)}}, 10 * time.Minute},
		{"Expires against a Date 3h behind", http.Header{"Date": {date(-3 * time.Hour)}, "Expires": {date(-3*time.Hour + 10*time.Minute)}}, 10 * time.Minute},
		{"Expires against a Date 3h ahead", http.Header{"Date": {date(3 * time.Hour)}, "Expires": {date(3*time.Hour + 10*time.Minute)}}, 10 * time.Minute},
		{"Expires without Date", http.Header{"Expires": {date(20 * time.Minute)}}, 20 * time.Minute},
		{"Expires with an invalid Date", http.Header{"Date": {"yesterday"}, "Expires": {date(20 * time.Minute)}}, 20 * time.Minute},
		{"Expires before Date", http.Header{"Date": {date(0)}, "Expires": {date(-time.Hour)}}, lo},
		{"Expires equal to Date", http.Header{"Date": {date(0)}, "Expires": {date(0)}}, lo},
		{"Expires 0", http.Header{"Expires": {"0"}}, lo},
		{"Expires garbage", http.Header{"Expires": {"next week"}}, lo},
		{"Expires in RFC 850 form", http.Header{"Date": {date(0)}, "Expires": {now.Add(time.Hour).Format(time.RFC850)}}, time.Hour},
		{"Expires far away", http.Header{"Expires": {"Fri, 31 Dec 9999 23:59:59 GMT"}}, hi},
		{"two Expires lines: the first", http.Header{"Date": {date(0)}, "Expires": {date(10 * time.Minute), date(time.Hour)}}, 10 * time.Minute},
	}
	for _, tt := range tests {
		if got := cacheTTL(tt.h, now, def, lo, hi); got != tt.want {
			t.Errorf("%s: cacheTTL(%v) = %v, want %v", tt.name, tt.h, got, tt.want)
		}
	}

	// RFC 9111 §4.2.1: with two max-age directives, the first counts, or
	// the answer is stale; never the last.
	for _, h := range []http.Header{cc("max-age=120, max-age=600"), cc("max-age=120", "max-age=600")} {
		if got := cacheTTL(h, now, def, lo, hi); got != 2*time.Minute && got != lo {
			t.Errorf("two max-age directives: cacheTTL(%v) = %v, want %v (the first) or %v (stale)", h, got, 2*time.Minute, lo)
		}
	}

	// The default is clamped too.
	for _, tt := range []struct{ def, want time.Duration }{{time.Second, lo}, {48 * time.Hour, hi}} {
		if got := cacheTTL(http.Header{}, now, tt.def, lo, hi); got != tt.want {
			t.Errorf("no caching headers, default %v: cacheTTL = %v, want %v", tt.def, got, tt.want)
		}
	}
}

// TestCacheTTLParts: maxAge and expiresIn say whether the headers spoke
// at all, so that Expires is read only without max-age, and the default
// only without either.
func TestCacheTTLParts(t *testing.T) {
	for _, tt := range []struct {
		values []string
		want   time.Duration
		ok     bool
	}{
		{nil, 0, false},
		{[]string{""}, 0, false},
		{[]string{"public, private"}, 0, false},
		{[]string{"max-age=60"}, time.Minute, true},
		{[]string{" max-age = 60 "}, time.Minute, true},
		{[]string{"max-age=0"}, 0, true},
		{[]string{"max-age=abc"}, 0, true},
		{[]string{"no-store"}, 0, true},
		{[]string{"public", "no-cache"}, 0, true},
	} {
		got, ok := maxAge(tt.values)
		if got != tt.want || ok != tt.ok {
			t.Errorf("maxAge(%q) = %v, %v, want %v, %v", tt.values, got, ok, tt.want, tt.ok)
		}
	}
	now := testclock.Now().Truncate(time.Second).UTC()
	for _, tt := range []struct {
		h    http.Header
		want time.Duration
		ok   bool
	}{
		{http.Header{}, 0, false},
		{http.Header{"Date": {now.Format(http.TimeFormat)}}, 0, false},
		{http.Header{"Expires": {"0"}}, 0, true},
		{http.Header{"Expires": {now.Add(time.Hour).Format(http.TimeFormat)}}, time.Hour, true},
		{http.Header{"Date": {now.Add(time.Hour).Format(http.TimeFormat)}, "Expires": {now.Format(http.TimeFormat)}}, 0, true},
	} {
		got, ok := expiresIn(tt.h, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("expiresIn(%v) = %v, %v, want %v, %v", tt.h, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzCacheTTL: whatever the headers, cacheTTL never panics and stays
// within [lo, hi]; a no-store anywhere makes it lo.
func FuzzCacheTTL(f *testing.F) {
	now := testclock.Now().Truncate(time.Second).UTC()
	d := func(x time.Duration) string { return now.Add(x).Format(http.TimeFormat) }
	m, h := int64(time.Minute), int64(time.Hour)
	f.Add("max-age=600", "", "", 15*m, m, 24*h)
	f.Add(`public, max-age="60"`, "", "", 15*m, m, 24*h)
	f.Add("max-age=18446744073709551616", "", "", 15*m, m, 24*h)
	f.Add("max-age=9223372036854775807", "", "", 15*m, int64(0), int64(1<<62))
	f.Add("no-cache\nmax-age=5", d(time.Hour), d(0), 15*m, m, h)
	f.Add("", d(10*time.Minute), d(-3*time.Hour), 15*m, m, 24*h)
	f.Add("", "Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 0001 00:00:00 GMT", 15*m, m, 24*h)
	f.Add("", "0", "", int64(-1), int64(-1<<63), int64(1<<63-1))
	f.Add("max-age=,,,=,max-age", "garbage", "garbage", int64(0), int64(0), int64(0))
	f.Fuzz(func(t *testing.T, cacheControl, expires, date string, def, lo, hi int64) {
		abs := func(v int64) time.Duration {
			if v < 0 {
				v = -(v + 1)
			}
			return time.Duration(v)
		}
		dd, l, u := abs(def), abs(lo), abs(hi)
		if l > u {
			l, u = u, l
		}
		header := http.Header{}
		for _, v := range strings.Split(cacheControl, "\n") {
			header.Add("Cache-Control", v)
		}
		if expires != "" {
			header.Set("Expires", expires)
		}
		if date != "" {
			header.Set("Date", date)
		}
		got := cacheTTL(header, now, dd, l, u)
		if got < l || got > u {
			t.Fatalf("cacheTTL(%v, def %v) = %v, want within [%v, %v]", header, dd, got, l, u)
		}
		if again := cacheTTL(header, now, dd, l, u); again != got {
			t.Fatalf("cacheTTL(%v) = %v, then %v", header, got, again)
		}
		header.Add("Cache-Control", "no-store")
		if got := cacheTTL(header, now, dd, l, u); got != l {
			t.Fatalf("cacheTTL(%v) = %v, want lo %v with no-store", header, got, l)
		}
	})
}

// TestDiscoveryMetadataURLs: where an issuer's metadata is looked for.
// OpenID Connect Discovery §4 appends /.well-known/openid-configuration to
// the issuer (without its trailing slash); RFC 8414 §3.1 inserts
// /.well-known/oauth-authorization-server between the host and the path
// (without its trailing slash). Guards against missing the metadata of an
// issuer with a path (multi-tenant servers, Keycloak realms), or reading
// another tenant's.
func TestDiscoveryMetadataURLs(t *testing.T) {
	for _, tt := range []struct {
		issuer string
		want   []string
	}{
		{"https://as.example.com", []string{
			"https://as.example.com/.well-known/openid-configuration",
			"https://as.example.com/.well-known/oauth-authorization-server"}},
		{"https://as.example.com/", []string{
			"https://as.example.com/.well-known/openid-configuration",
			"https://as.example.com/.well-known/oauth-authorization-server"}},
		{"https://as.example.com/tenant1", []string{
			"https://as.example.com/tenant1/.well-known/openid-configuration",
			"https://as.example.com/.well-known/oauth-authorization-server/tenant1"}},
		{"https://as.example.com/tenant1/", []string{
			"https://as.example.com/tenant1/.well-known/openid-configuration",
			"https://as.example.com/.well-known/oauth-authorization-server/tenant1"}},
		{"https://as.example.com:8443/a/b", []string{
			"https://as.example.com:8443/a/b/.well-known/openid-configuration",
			"https://as.example.com:8443/.well-known/oauth-authorization-server/a/b"}},
		{"http://localhost:8080/realms/my%20realm", []string{
			"http://localhost:8080/realms/my%20realm/.well-known/openid-configuration",
			"http://localhost:8080/.well-known/oauth-authorization-server/realms/my%20realm"}},
		{"https://login.example.com/0b5d5c1e-tenant/v2.0", []string{
			"https://login.example.com/0b5d5c1e-tenant/v2.0/.well-known/openid-configuration",
			"https://login.example.com/.well-known/oauth-authorization-server/0b5d5c1e-tenant/v2.0"}},
	} {
		if got := metadataURLs(tt.issuer); !slices.Equal(got, tt.want) {
			t.Errorf("metadataURLs(%q):\ngot  %q\nwant %q", tt.issuer, got, tt.want)
		}
	}
}
