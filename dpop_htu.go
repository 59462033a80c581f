package guardian

import (
	"net/url"
	"strings"
)

// sameHTU reports whether a proof's htu names the request's URL: the same
// scheme, host and path after the syntax-based normalization of RFC 3986
// §6.2.2 and the scheme-based one of §6.2.3 (case of scheme and host, the
// default port, an empty path, percent-encoding), ignoring query and
// fragment (RFC 9449 §4.3 point 9).
func sameHTU(htu string, req *url.URL) bool {
	if req == nil {
		return false
	}
	u, err := url.Parse(htu)
	if err != nil || !u.IsAbs() || u.Opaque != "" || u.User != nil {
		return false
	}
	a, okA := normalizedTarget(u)
	b, okB := normalizedTarget(req)
	return okA && okB && a.equal(b)
}

// target is scheme://host[:port]/path of a URL, normalized, in pieces:
// written out, they are that string (string), and comparing them
// (equal) is comparing the strings, without building them.
type target [8]string

// normalizedTarget is scheme://host[:port]/path of u, normalized.
func normalizedTarget(u *url.URL) (target, bool) {
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return target{}, false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" {
		return target{}, false
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	open, closing := "", ""
	if strings.Contains(host, ":") { // IPv6
		open, closing = "[", "]"
	}
	colon := ""
	if port != "" {
		colon = ":"
	}
	path := normalizePath(u.EscapedPath())
	if path == "" {
		path = "/"
	}
	return target{scheme, "://", open, host, closing, colon, port, path}, true
}

// String is the target written out.
func (t target) String() string { return strings.Join(t[:], "") }

// equal reports whether t and o are the same string written out.
func (t target) equal(o target) bool {
	i, j := 0, 0 // the pieces of t and o at hand
	a, b := t[0], o[0]
	for {
		for a == "" && i < len(t)-1 {
			i++
			a = t[i]
		}
		for b == "" && j < len(o)-1 {
			j++
			b = o[j]
		}
		n := min(len(a), len(b))
		if n == 0 {
			return a == "" && b == ""
		}
		if a[:n] != b[:n] {
			return false
		}
		a, b = a[n:], b[n:]
	}
}

// normalizePath decodes the percent-encodings of unreserved characters and
// writes the others in upper case (RFC 3986 §6.2.2.1, §6.2.2.2).
func normalizePath(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' || i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			b.WriteByte(p[i])
			continue
		}
		c := unhex(p[i+1])<<4 | unhex(p[i+2])
		if isUnreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteString(strings.ToUpper(p[i : i+3]))
		}
		i += 2
	}
	return b.String()
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// isUnreserved reports whether c is an unreserved character of RFC 3986
// §2.3.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
