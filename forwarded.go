package guardian

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// PublicURL returns a GuardianOptions.RequestURL for a service that
// clients reach at one public URL, such as "https://api.example.com"
// behind a proxy that terminates TLS, or "https://example.com/api" behind
// one that also strips the path prefix /api: the URL is the public one
// followed by the request's path. Nothing the client sends can change it,
// so it is the safest choice when there is one. base is an http or https
// URL with a host and an optional path (a trailing slash is dropped), and
// no user, query or fragment.
func PublicURL(base string) (func(r *http.Request) *url.URL, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("%w: public URL %q is not http(s)://host[:port][/path]", ErrConfig, base)
	}
	scheme, host := u.Scheme, u.Host
	prefix, rawPrefix := strings.TrimSuffix(u.Path, "/"), strings.TrimSuffix(u.EscapedPath(), "/")
	return func(r *http.Request) *url.URL {
		out := &url.URL{Scheme: scheme, Host: host, Path: prefix + r.URL.Path}
		if raw := rawPrefix + r.URL.EscapedPath(); raw != out.Path {
			out.RawPath = raw
		}
		return out
	}, nil
}

// ForwardedOptions configures [ForwardedURL].
type ForwardedOptions struct {
	// Proxies are the addresses of the proxies whose forwarded headers are
	// trusted. A request from any other address is taken as it came.
	// Required.
	Proxies []netip.Prefix
	// XForwarded reads X-Forwarded-Proto and X-Forwarded-Host instead of
	// the standard Forwarded header (RFC 7239).
	XForwarded bool
}

// ForwardedURL returns a GuardianOptions.RequestURL for a service behind
// proxies that say in forwarded headers which URL the client used. The
// headers are believed only as far as trusted proxies wrote them: for a
// request whose peer is one of opts.Proxies, the Forwarded elements are
// read from the last one (the nearest proxy's) back to the one a trusted
// proxy appended for a client that is not a proxy, and that element's
// proto and host are the client's. A proxy must append to the header (or
// replace it), never pass on a client's own. With XForwarded, the last
// value of X-Forwarded-Proto and of X-Forwarded-Host is taken, as written
// by the nearest proxy: use it with one proxy only.
//
// A request from an address not in Proxies, or whose headers name no
// valid proto or host, gets the default URL (its own scheme, Host and
// path): a client cannot pick the URL its proof must name.
func ForwardedURL(opts ForwardedOptions) (func(r *http.Request) *url.URL, error) {
	if len(opts.Proxies) == 0 {
		return nil, fmt.Errorf("%w: ForwardedURL needs the addresses of the trusted proxies", ErrConfig)
	}
	proxies := make([]netip.Prefix, len(opts.Proxies))
	for i, p := range opts.Proxies {
		if !p.IsValid() {
			return nil, fmt.Errorf("%w: ForwardedURL: invalid proxy prefix %v", ErrConfig, p)
		}
		proxies[i] = p.Masked()
	}
	trusted := func(addr netip.Addr) bool {
		addr = addr.Unmap()
		for _, p := range proxies {
			if p.Contains(addr) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) *url.URL {
		u := defaultRequestURL(r)
		peer, ok := peerAddr(r.RemoteAddr)
		if !ok || !trusted(peer) {
			return u
		}
		var proto, host string
		if opts.XForwarded {
			proto, host = lastValue(r.Header.Values("X-Forwarded-Proto")), lastValue(r.Header.Values("X-Forwarded-Host"))
		} else {
			proto, host, ok = clientForwarded(r.Header.Values("Forwarded"), trusted)
			if !ok {
				return u
			}
		}
		proto = strings.ToLower(proto)
		if (proto != "" && proto != "https" && proto != "http") || (host != "" && !validHost(host)) {
			return u // all or nothing
		}
		if proto != "" {
			u.Scheme = proto
		}
		if host != "" {
			u.Host = host
		}
		return u
	}, nil
}

// defaultRequestURL is the URL of r as it reached this server.
func defaultRequestURL(r *http.Request) *url.URL {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return &url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath}
}

// peerAddr is the IP address of a RemoteAddr ("ip:port" or "ip").
func peerAddr(remote string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr(), true
	}
	a, err := netip.ParseAddr(remote)
	return a, err == nil
}

// lastValue is the last comma-separated element of the header's values.
func lastValue(values []string) string {
	if len(values) == 0 {
		return ""
	}
	v := values[len(values)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

// validHost reports whether h is a host[:port] that can name this server.
func validHost(h string) bool {
	if len(h) > 255 {
		return false
	}
	u, err := url.Parse("http://" + h)
	return err == nil && u.Host == h && u.User == nil && u.Path == "" && u.RawQuery == "" && u.Fragment == ""
}

// maxForwardedElements bounds the Forwarded elements read.
const maxForwardedElements = 32

// clientForwarded reads the Forwarded elements (RFC 7239) from the last
// back, while each was appended by a trusted proxy for a trusted proxy,
// and returns the proto and host of the element appended for the client.
// It reports false when the header is missing, malformed or too long.
func clientForwarded(values []string, trusted func(netip.Addr) bool) (proto, host string, ok bool) {
	elems := make([]string, 0, 4)
	for _, v := range values {
		for e := range strings.SplitSeq(v, ",") {
			if len(elems) == maxForwardedElements {
				return "", "", false
			}
			elems = append(elems, e)
		}
	}
	for i := len(elems) - 1; i >= 0; i-- {
		params, ok := forwardedPairs(elems[i])
		if !ok {
			return "", "", false
		}
		proto, host = params["proto"], params["host"]
		if a, ok := forwardedNode(params["for"]); !ok || !trusted(a) || i == 0 {
			return proto, host, true
		}
	}
	return "", "", false
}

// forwardedPairs parses one Forwarded element: pairs name=value,
// separated by ";", the value a token or a quoted string.
func forwardedPairs(elem string) (map[string]string, bool) {
	params := make(map[string]string, 3)
	for pair := range strings.SplitSeq(elem, ";") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, value, found := strings.Cut(pair, "=")
		if !found || name == "" {
			return nil, false
		}
		name = strings.ToLower(name)
		if strings.HasPrefix(value, `"`) {
			if len(value) < 2 || !strings.HasSuffix(value, `"`) {
				return nil, false
			}
			value = value[1 : len(value)-1]
			if strings.ContainsAny(value, `"\`) {
				return nil, false // escapes name nothing a URL needs
			}
		}
		if _, dup := params[name]; dup {
			return nil, false
		}
		params[name] = value
	}
	return params, true
}

// forwardedNode is the IP address of a Forwarded "for" node: an IPv4
// address or a bracketed IPv6 one, with an optional port; obfuscated
// identifiers and "unknown" are not addresses.
func forwardedNode(node string) (netip.Addr, bool) {
	if strings.HasPrefix(node, "[") {
		end := strings.IndexByte(node, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(node[1:end])
		return a, err == nil
	}
	if h, _, err := net.SplitHostPort(node); err == nil {
		node = h
	}
	a, err := netip.ParseAddr(node)
	return a, err == nil
}
