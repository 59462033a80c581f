package guardian_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/guardian-go/guardian"
)

// TestForwardedURL: forwarded headers name the URL of a proof's htu only
// as far as trusted proxies wrote them; a client cannot pick it.
func TestForwardedURL(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00::/8")}
	std, err := guardian.ForwardedURL(guardian.ForwardedOptions{Proxies: proxies})
	if err != nil {
		t.Fatal(err)
	}
	xf, err := guardian.ForwardedURL(guardian.ForwardedOptions{Proxies: proxies, XForwarded: true})
	if err != nil {
		t.Fatal(err)
	}
	const local = "http://10.0.0.5:8080/items"
	for _, tt := range []struct {
		name    string
		x       bool
		peer    string
		headers []string
		want    string
	}{
		{"no proxy, no header", false, "192.0.2.1:5000", nil, local},
		{"a client's own Forwarded header", false, "192.0.2.1:5000", []string{"Forwarded", "proto=https;host=evil.example"}, local},
		{"a client's own X-Forwarded headers", true, "192.0.2.1:5000", []string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil.example"}, local},
		{"one trusted proxy", false, "10.1.2.3:4000", []string{"Forwarded", `for=192.0.2.60;proto=https;host=api.example.com`}, "https://api.example.com/items"},
		{"quoted values and case", false, "10.1.2.3:4000", []string{"Forwarded", `For="[2001:db8::1]:4711";Proto=HTTPS;Host="api.example.com:8443"`}, "https://api.example.com:8443/items"},
		{"an IPv4-mapped peer", false, "[::ffff:10.1.2.3]:4000", []string{"Forwarded", `for=192.0.2.60;proto=https;host=api.example.com`}, "https://api.example.com/items"},
		{"an IPv6 proxy", false, "[fd00::7]:4000", []string{"Forwarded", `for=192.0.2.60;proto=https;host=api.example.com`}, "https://api.example.com/items"},
		{"a client's element before the edge proxy's", false, "10.1.2.3:4000", []string{"Forwarded", `for=1.2.3.4;proto=http;host=evil.example, for=192.0.2.60;proto=https;host=api.example.com`}, "https://api.example.com/items"},
		{"two trusted proxies", false, "10.1.2.3:4000", []string{"Forwarded", `for=192.0.2.60;proto=https;host=api.example.com, for=10.1.9.9;proto=http;host=internal:8080`}, "https://api.example.com/items"},
		{"two headers, two trusted proxies", false, "10.1.2.3:4000", []string{"Forwarded", `for=192.0.2.60;proto=https;host=api.example.com`, "Forwarded", `for=10.1.9.9;proto=http;host=internal:8080`}, "https://api.example.com/items"},
		{"only trusted proxies", false, "10.1.2.3:4000", []string{"Forwarded", `for=10.1.0.1;proto=https;host=api.example.com, for=10.1.9.9;host=internal`}, "https://api.example.com/items"},
		{"an obfuscated client", false, "10.1.2.3:4000", []string{"Forwarded", `for=_hidden;proto=https;host=api.example.com`}, "https://api.example.com/items"},
		{"proto only", false, "10.1.2.3:4000", []string{"Forwarded", `for=192.0.2.60;proto=https`}, "https://10.0.0.5:8080/items"},
		{"an unknown proto", false, "10.1.2.3:4000", []string{"Forwarded", `for=192.0.2.60;proto=ftp;host=api.example.com`}, local},
		{"a host with a path", false, "10.1.2.3:4000", []string{"Forwarded", `for=192.0.2.60;proto=https;host="api.example.com/x"`}, local},
		{"a host with user info", false, "10.1.2.3:4000", []string{"Forwarded", `for=192.0.2.60;proto=https;host="u@api.example.com"`}, local},
		{"a duplicate parameter", false, "10.1.2.3:4000", []string{"Forwarded", `for=192.0.2.60;host=a.example;host=b.example`}, local},
		{"an unterminated quote", false, "10.1.2.3:4000", []string{"Forwarded", `for=192.0.2.60;host="api.example.com`}, local},
		{"a pair without =", false, "10.1.2.3:4000", []string{"Forwarded", `for=192.0.2.60;https`}, local},
		{"too many elements", false, "10.1.2.3:4000", []string{"Forwarded", strings.Repeat("for=10.1.0.1, ", 40) + "for=192.0.2.60;host=api.example.com"}, local},
		{"X-Forwarded from the proxy", true, "10.1.2.3:4000", []string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "api.example.com"}, "https://api.example.com/items"},
		{"X-Forwarded: the nearest proxy's value", true, "10.1.2.3:4000", []string{"X-Forwarded-Proto", "http, https", "X-Forwarded-Host", "evil.example, api.example.com"}, "https://api.example.com/items"},
		{"X-Forwarded with a bad host", true, "10.1.2.3:4000", []string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "api.example.com/../x"}, local},
		{"a RemoteAddr without a port", false, "10.1.2.3", []string{"Forwarded", `for=192.0.2.60;proto=https;host=api.example.com`}, "https://api.example.com/items"},
		{"a RemoteAddr that is no address", false, "pipe", []string{"Forwarded", `for=192.0.2.60;proto=https;host=api.example.com`}, local},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", local+"?q=1", nil)
			r.RemoteAddr = tt.peer
			for i := 0; i+1 < len(tt.headers); i += 2 {
				r.Header.Add(tt.headers[i], tt.headers[i+1])
			}
			f := std
			if tt.x {
				f = xf
			}
			if got := f(r).String(); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	for _, bad := range []guardian.ForwardedOptions{{}, {Proxies: []netip.Prefix{{}}}} {
		if _, err := guardian.ForwardedURL(bad); !errors.Is(err, guardian.ErrConfig) {
			t.Errorf("ForwardedURL(%+v): got %v, want ErrConfig", bad, err)
		}
	}
}

// TestPublicURL: the public URL is fixed; only the path is the
// request's, after the public URL's own.
func TestPublicURL(t *testing.T) {
	for _, tt := range []struct{ base, target, want string }{
		{"https://api.example.com", "http://10.0.0.5:8080/a%2Fb/items?q=1", "https://api.example.com/a%2Fb/items"},
		{"https://api.example.com/", "http://10.0.0.5:8080/items", "https://api.example.com/items"},
		{"https://example.com:8443/api/", "http://10.0.0.5:8080/items", "https://example.com:8443/api/items"},
		{"http://example.com/a%20b", "http://10.0.0.5:8080/x%2Fy", "http://example.com/a%20b/x%2Fy"},
	} {
		f, err := guardian.PublicURL(tt.base)
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("POST", tt.target, nil)
		r.Header.Set("Forwarded", "proto=http;host=evil.example")
		r.Host = "evil.example"
		if got := f(r).String(); got != tt.want {
			t.Errorf("PublicURL(%q) for %s: got %s, want %s", tt.base, tt.target, got, tt.want)
		}
	}
	for _, bad := range []string{"", "api.example.com", "ftp://api.example.com", "https://", "https://u@api.example.com", "https://api.example.com?x", "https://api.example.com/?", "https://api.example.com#f", "http:opaque", "https://api.example.com:bad"} {
		if _, err := guardian.PublicURL(bad); !errors.Is(err, guardian.ErrConfig) {
			t.Errorf("PublicURL(%q): got %v, want ErrConfig", bad, err)
		}
	}
}

// FuzzForwardedURL: whatever the headers, the URL is the request's own or
// one with an http(s) scheme and a plain host, and the path is the
// request's; nothing panics.
func FuzzForwardedURL(f *testing.F) {
	f.Add(`for=192.0.2.60;proto=https;host=api.example.com`, "https", "api.example.com")
	f.Add(`for="[2001:db8::1]:4711";proto=HTTPS;host="a:1", for=10.1.0.1`, "http, https", "x, y")
	f.Add(`for=10.1.0.1,,;;=;"`, `"`, "[::1]:80")
	proxies := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
	std, _ := guardian.ForwardedURL(guardian.ForwardedOptions{Proxies: proxies})
	xf, _ := guardian.ForwardedURL(guardian.ForwardedOptions{Proxies: proxies, XForwarded: true})
	f.Fuzz(func(t *testing.T, fwd, proto, host string) {
		r := httptest.NewRequest("POST", "http://10.0.0.5:8080/items", nil)
		r.RemoteAddr = "10.1.2.3:4000"
		r.Header.Set("Forwarded", fwd)
		r.Header.Set("X-Forwarded-Proto", proto)
		r.Header.Set("X-Forwarded-Host", host)
		for _, fn := range []func(*http.Request) *url.URL{std, xf} {
			u := fn(r)
			if u.Path != "/items" || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
				strings.ContainsAny(u.Host, "/?#@ \t\r\n") {
				t.Fatalf("got %#v", u)
			}
		}
	})
}

// TestDPoPBehindProxy: with GuardianOptions.RequestURL, a proof must name
// the URL the client used, not the one the proxy forwarded to.
func TestDPoPBehindProxy(t *testing.T) {
	f := newFixture(t, nil)
	v, err := guardian.NewDPoPVerifier(&guardian.DPoPOptions{Clock: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	public, err := guardian.PublicURL("https://api.example.com")
	if err != nil {
		t.Fatal(err)
	}
	g, err := guardian.New(f.issuer,
		func(u string) (string, error) { return u, nil },
		func(_ context.Context, c *guardian.Claims) (string, error) { return c.Subject, nil },
		&guardian.GuardianOptions[string]{DPoP: v, RequestURL: public})
	if err != nil {
		t.Fatal(err)
	}
	h := g.Protect(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	client := newDPoPClient(t)
	tok := f.issue(t, "u1", &guardian.IssueOptions{Confirmation: guardian.Confirmation{JWKThumbprint: client.jkt}}).Raw
	for i, tt := range []struct {
		htu  string
		want int
	}{{"https://api.example.com/items", 200}, {"http://10.0.0.5:8080/items", 401}} {
		r := httptest.NewRequest("POST", "http://10.0.0.5:8080/items", nil)
		r.Header.Set("Authorization", "DPoP "+tok)
		r.Header.Set("DPoP", client.proof(t, map[string]any{"jti": "proxy" + strconv.Itoa(i), "htm": "POST", "htu": tt.htu, "iat": f.clock.Now().Unix(), "ath": ath(tok)}, nil, nil))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("a proof for %s behind the proxy: %d, want %d", tt.htu, w.Code, tt.want)
		}
	}
}
