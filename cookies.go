package guardian

import (
	"fmt"
	"net/http"
	"time"
)

// CookieOptions hands tokens to browser apps as cookies: SignIn and Refresh
// set them, SignOut clears them, and the Guardian's middleware reads the
// access cookie when a request has no Authorization header.
//
// # Cross-site requests
//
// A browser sends cookies with requests that other sites make it send, so
// cookies need protection from cross-site request forgery (CSRF). Two
// layers provide it: the cookies are SameSite (Lax by default, or Strict),
// and every request authenticated by a cookie with a method other than GET,
// HEAD and OPTIONS must come from the app's own origin, as the browser's
// Sec-Fetch-Site header (or else its Origin header) tells
// ([http.CrossOriginProtection]); other requests are refused with
// ErrCrossSite (403). Requests that carry neither header are not from a
// browser and pass. Keep GET handlers free of side effects. A request with
// an Authorization header is not affected: no browser adds one by itself.
type CookieOptions struct {
	// AccessName is the access token's cookie. Default: "access_token".
	AccessName string
	// RefreshName is the refresh token's cookie. Default: "refresh_token".
	RefreshName string
	// Path scopes the access cookie. Default: "/".
	Path string
	// RefreshPath scopes the refresh cookie to the route that refreshes,
	// so that the browser sends it there only (e.g. "/api/refresh").
	// Required.
	RefreshPath string
	// Domain is the cookies' Domain attribute. Default: none (host-only).
	Domain string
	// SameSite is http.SameSiteLaxMode or http.SameSiteStrictMode.
	// Default: Lax. None is refused: it would send the cookies with
	// cross-site requests.
	SameSite http.SameSite
	// Insecure drops the Secure attribute, for plain-HTTP development on
	// localhost only. Default: false (Secure).
	Insecure bool
	// TrustedOrigins lists other origins ("https://app.example.com") whose
	// pages may send unsafe requests authenticated by the cookies.
	TrustedOrigins []string
}

// cookieJar is a validated CookieOptions.
type cookieJar struct {
	CookieOptions
	cross *http.CrossOriginProtection
}

func newCookieJar(o *CookieOptions) (*cookieJar, error) {
	j := &cookieJar{CookieOptions: *o, cross: http.NewCrossOriginProtection()}
	if j.AccessName == "" {
		j.AccessName = "access_token"
	}
	if j.RefreshName == "" {
		j.RefreshName = "refresh_token"
	}
	if j.Path == "" {
		j.Path = "/"
	}
	switch j.SameSite {
	case 0, http.SameSiteDefaultMode:
		j.SameSite = http.SameSiteLaxMode
	case http.SameSiteLaxMode, http.SameSiteStrictMode:
	default:
		return nil, fmt.Errorf("%w: CookieOptions.SameSite must be Lax or Strict", ErrConfig)
	}
	if j.RefreshPath == "" {
		return nil, fmt.Errorf("%w: CookieOptions.RefreshPath is required: the path of the route that refreshes", ErrConfig)
	}
	if j.AccessName == j.RefreshName {
		return nil, fmt.Errorf("%w: the access and refresh cookies are both named %q", ErrConfig, j.AccessName)
	}
	for _, name := range []string{j.AccessName, j.RefreshName} {
		if err := (&http.Cookie{Name: name, Value: "x"}).Valid(); err != nil {
			return nil, fmt.Errorf("guardian: cookie name %q: %w", name, err)
		}
	}
	for _, origin := range j.TrustedOrigins {
		if err := j.cross.AddTrustedOrigin(origin); err != nil {
			return nil, fmt.Errorf("guardian: CookieOptions.TrustedOrigins: %w", err)
		}
	}
	return j, nil
}

// set writes the cookie of tok: HttpOnly, Secure, SameSite, and a Max-Age
// that ends with the token.
func (j *cookieJar) set(w http.ResponseWriter, name, path string, tok Token, now time.Time) {
	maxAge := int(tok.Claims.ExpiresAt.Sub(now) / time.Second)
	if maxAge <= 0 {
		maxAge = -1
	}
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: tok.Raw, Path: path, Domain: j.Domain, MaxAge: maxAge,
		HttpOnly: true, Secure: !j.Insecure, SameSite: j.SameSite,
	})
}

// clear expires both cookies.
func (j *cookieJar) clear(w http.ResponseWriter) {
	for _, c := range []struct{ name, path string }{{j.AccessName, j.Path}, {j.RefreshName, j.RefreshPath}} {
		http.SetCookie(w, &http.Cookie{
			Name: c.name, Value: "", Path: c.path, Domain: j.Domain, MaxAge: -1,
			HttpOnly: true, Secure: !j.Insecure, SameSite: j.SameSite,
		})
	}
}

// checkOrigin refuses a cross-site request with an unsafe method, for
// requests authenticated by a cookie.
func (j *cookieJar) checkOrigin(r *http.Request) error {
	if err := j.cross.Check(r); err != nil {
		return fmt.Errorf("%w: %v", ErrCrossSite, err)
	}
	return nil
}
