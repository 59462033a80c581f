package guardian

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// maxRefreshBody bounds the body Guardian.Refresh reads: a refresh token
// and little else.
const maxRefreshBody = 16 << 10

// presentedRefreshToken finds the refresh token of a refresh request; see
// Guardian.Refresh.
func (g *Guardian[U]) presentedRefreshToken(w http.ResponseWriter, r *http.Request) (string, error) {
	if g.cookies != nil {
		c, found, err := g.cookieToken(g.cookies.RefreshName)(r)
		if found || err != nil {
			return c.raw, err
		}
	}
	hasBody := false
	if r.Body != nil && r.Body != http.NoBody {
		raw, err := refreshTokenFromBody(w, r, g.maxSize)
		if raw != "" || err != nil {
			return raw, err
		}
		hasBody = r.ContentLength != 0
	}
	c, found, err := g.headerToken("Authorization")(r)
	switch {
	case err != nil:
		return "", err
	case found:
		return c.raw, nil
	case hasBody: // a body was sent, without the parameter (RFC 6749 §5.2)
		return "", fmt.Errorf("%w: the body has no refresh_token", ErrMalformedRequest)
	}
	return "", fmt.Errorf("%w: no refresh token in a cookie, the body or the Authorization header", ErrMissingToken)
}

// refreshTokenFromBody reads "refresh_token" from a JSON object or a form;
// "" with a nil error when the body has none.
func refreshTokenFromBody(w http.ResponseWriter, r *http.Request, maxToken int) (string, error) {
	media, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRefreshBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", fmt.Errorf("%w: body over %d bytes", ErrMalformedRequest, maxRefreshBody)
		}
		return "", fmt.Errorf("%w: body cannot be read", ErrMalformedRequest)
	}
	var raw string
	switch media {
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return "", fmt.Errorf("%w: body is not a form", ErrMalformedRequest)
		}
		if len(form["refresh_token"]) > 1 {
			return "", fmt.Errorf("%w: several refresh_token fields", ErrMalformedRequest)
		}
		raw = form.Get("refresh_token")
	default: // JSON, declared or not
		if len(body) == 0 {
			return "", nil
		}
		var in struct {
			RefreshToken *string `json:"refresh_token"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&in); err != nil || dec.More() {
			return "", fmt.Errorf("%w: body is not one JSON object", ErrMalformedRequest)
		}
		if in.RefreshToken == nil {
			return "", nil
		}
		if raw = *in.RefreshToken; raw == "" {
			return "", fmt.Errorf("%w: refresh_token is empty", ErrMalformedRequest)
		}
	}
	if raw == "" {
		return "", nil
	}
	if len(raw) > maxToken {
		return "", fmt.Errorf("%w: refresh_token longer than %d bytes", ErrMalformedRequest, maxToken)
	}
	return raw, nil
}
