package guardian

import (
	"fmt"
	"net/http"
	"strings"
)

// A ScopeError is the refusal of a valid token that lacks scopes a route
// requires. It matches [ErrInsufficientScope]; the default error handler
// answers 403 with the scope attribute of RFC 6750 §3 set to Required.
type ScopeError struct {
	// Required are the scopes the route asks for: all of them, or one of
	// them when Any.
	Required []string
	// Any is true when one of Required is enough.
	Any bool
	// Missing are the required scopes the token lacks.
	Missing []string
}

func (e *ScopeError) Error() string {
	if e.Any {
		return "guardian: insufficient scope: want one of " + strings.Join(e.Required, " ")
	}
	return "guardian: insufficient scope: missing " + strings.Join(e.Missing, " ")
}

// Is makes a ScopeError match ErrInsufficientScope.
func (e *ScopeError) Is(target error) bool { return target == ErrInsufficientScope }

// RequireScopes returns middleware that passes on only requests whose
// verified token grants every one of scopes ([Claims.Scope]); others are
// refused through the Guardian's error handler: without a valid token as
// EnsureAuthenticated does, with one that lacks a scope with a
// [*ScopeError] (403 insufficient_scope, scope="<scopes>"). Put it after
// the middleware that verifies, e.g. g.Authenticated().
func (g *Guardian[U]) RequireScopes(scopes ...string) (func(http.Handler) http.Handler, error) {
	return g.requireScopes(scopes, false)
}

// RequireAnyScope is [Guardian.RequireScopes] satisfied by any one of
// scopes.
func (g *Guardian[U]) RequireAnyScope(scopes ...string) (func(http.Handler) http.Handler, error) {
	return g.requireScopes(scopes, true)
}

func (g *Guardian[U]) requireScopes(scopes []string, any bool) (func(http.Handler) http.Handler, error) {
	if len(scopes) == 0 {
		return nil, fmt.Errorf("%w: no scope to require", ErrConfig)
	}
	for _, s := range scopes {
		if !isScopeToken(s) {
			return nil, fmt.Errorf("%w: %q is not a scope token (RFC 6749 §3.3)", ErrConfig, s)
		}
	}
	required := append([]string(nil), scopes...)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st := stateOf(r.Context())
			switch {
			case st == nil || (st.claims == nil && st.err == nil):
				g.refuse(w, r, nil, ErrMissingToken)
				return
			case st.claims == nil:
				g.refuse(w, r, nil, st.err)
				return
			}
			if err := checkScopes(st.claims, required, any); err != nil {
				g.refuse(w, r, nil, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}, nil
}

// checkScopes returns a *ScopeError unless c grants the scopes required
// (all, or one of them with any).
func checkScopes(c *Claims, required []string, any bool) error {
	var missing []string
	for _, s := range required {
		has := c.HasScope(s)
		if has && any {
			return nil
		}
		if !has {
			missing = append(missing, s)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &ScopeError{Required: required, Any: any, Missing: missing}
}

// isScopeToken reports whether s is a scope token of RFC 6749 §3.3:
// 1*( %x21 / %x23-5B / %x5D-7E ), printable ASCII without space, quote or
// backslash.
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
