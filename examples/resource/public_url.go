package main

import (
	"fmt"
	"net/url"
	"strings"
)

// A DPoP proof names the URL the client sent its request to (htu, RFC 9449
// §4.3 point 9). Behind a proxy that terminates TLS or maps a path prefix,
// that is not the URL this server sees: -public-url says what it is. It is
// a flag, not X-Forwarded-* headers, because any client can send those.

// parsePublicURL checks the value of -public-url: an absolute http or https
// URL without user info, query or fragment, whose path (if any) is the
// prefix the proxy adds. A trailing slash is dropped.
func parsePublicURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return nil, fmt.Errorf("-public-url %q is not an absolute http or https URL", raw)
	case u.User != nil:
		return nil, fmt.Errorf("-public-url %q must not hold user info", raw)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, fmt.Errorf("-public-url %q must not have a query or a fragment", raw)
	}
	prefix := strings.TrimRight(u.EscapedPath(), "/")
	p, err := url.PathUnescape(prefix)
	if err != nil {
		return nil, fmt.Errorf("-public-url %q: bad path: %v", raw, err)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host, Path: p, RawPath: prefix}, nil
}
