package guardian

import (
	"fmt"
	"slices"
	"strings"
)

// A ScopeError is the refusal of a valid token that lacks scopes, or
// permissions, a route requires. It matches [ErrInsufficientScope]; the
// default error handler answers 403 with the scope attribute of RFC 6750
// §3 set to Required.
type ScopeError struct {
	// Required are the scopes (or permissions, as "group.name") the
	// route asks for: all of them, or one of them when Any.
	Required []string
	// Any is true when one of Required is enough.
	Any bool
	// Missing are the required ones the token lacks.
	Missing []string
	// Permissions is true when Required are permissions of the pem claim
	// (see [Permissions]), false when they are OAuth scopes.
	Permissions bool
}

func (e *ScopeError) Error() string {
	what := "scope"
	if e.Permissions {
		what = "permission"
	}
	if e.Any {
		return "guardian: insufficient scope: want one " + what + " of " + strings.Join(e.Required, " ")
	}
	return "guardian: insufficient scope: missing " + what + " " + strings.Join(e.Missing, " ")
}

// Is makes a ScopeError match ErrInsufficientScope.
func (e *ScopeError) Is(target error) bool { return target == ErrInsufficientScope }

// AllScopes returns a [Requirement] met by tokens that grant every one of
// scopes ([Claims.Scope]: the scope and scp claims). Each must be a scope
// token of RFC 6749 §3.3.
func AllScopes(scopes ...string) Requirement { return requireScopes(scopes, false) }

// AnyScope returns a [Requirement] met by tokens that grant at least one
// of scopes.
func AnyScope(scopes ...string) Requirement { return requireScopes(scopes, true) }

func requireScopes(scopes []string, any bool) Requirement {
	if len(scopes) == 0 {
		return Requirement{err: fmt.Errorf("%w: no scope to require", ErrConfig)}
	}
	for _, s := range scopes {
		if !isScopeToken(s) {
			return Requirement{err: fmt.Errorf("%w: %q is not a scope token (RFC 6749 §3.3)", ErrConfig, s)}
		}
	}
	required := slices.Clone(scopes)
	return Requirement{check: func(c *Claims) error { return checkScopes(c, required, any) }}
}

// checkScopes returns a *ScopeError unless c grants the scopes required
// (all, or one of them with any).
func checkScopes(c *Claims, required []string, any bool) error {
	missing := 0
	for _, s := range required {
		has := c.HasScope(s)
		if has && any {
			return nil
		}
		if !has {
			missing++
		}
	}
	if missing == 0 {
		return nil
	}
	e := &ScopeError{Required: required, Any: any, Missing: make([]string, 0, missing)}
	for _, s := range required {
		if !c.HasScope(s) {
			e.Missing = append(e.Missing, s)
		}
	}
	return e
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
