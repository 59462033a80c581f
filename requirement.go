package guardian

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
)

// A Requirement is a condition a route puts on a verified token, checked
// by [Guardian.Require]: scopes ([AllScopes], [AnyScope]), permissions
// ([Permissions.All], [Permissions.Any]), claim values ([ClaimsEqual],
// [ClaimCheck]), a recent or strong enough authentication ([MaxAge],
// [ACR]), no impersonation ([NotImpersonated]), or a choice of them
// ([AnyOf]). A constructor given settings it cannot use returns a
// Requirement that Require refuses with its ErrConfig error.
type Requirement struct {
	check func(c *Claims) error
	err   error
}

// Check reports whether c meets the requirement: nil, or the error the
// route would refuse the request with.
func (q Requirement) Check(c *Claims) error {
	switch {
	case q.err != nil:
		return q.err
	case q.check == nil:
		return fmt.Errorf("%w: the zero Requirement", ErrConfig)
	case c == nil:
		return ErrMissingToken
	}
	return q.check(c)
}

// Require returns middleware that passes on only requests whose verified
// token (in g's slot) meets every one of reqs, checked in order. Others
// are refused through the Guardian's error handler, after OnRefused:
// without a valid token as EnsureAuthenticated does, and with one that
// fails a requirement with that requirement's error:
//
//	scopes, permissions       403 insufficient_scope, scope="<the required ones>"
//	ClaimsEqual, ClaimCheck,
//	NotImpersonated           403 insufficient_scope
//	MaxAge, ACR               401 insufficient_user_authentication,
//	                          max_age="<seconds>" / acr_values="<values>" (RFC 9470)
//
// Put it after the middleware that verifies, e.g. g.Authenticated(). A
// requirement built with settings it cannot use is an ErrConfig error here,
// when the route is built, never a refusal at run time.
func (g *Guardian[U]) Require(reqs ...Requirement) (func(http.Handler) http.Handler, error) {
	if len(reqs) == 0 {
		return nil, fmt.Errorf("%w: Require needs a requirement", ErrConfig)
	}
	checks := make([]func(*Claims) error, len(reqs))
	for i, q := range reqs {
		if err := q.usable(); err != nil {
			return nil, err
		}
		checks[i] = q.check
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st := stateOf(r.Context(), g.slot)
			switch {
			case st == nil || (st.claims == nil && st.err == nil):
				g.refuse(w, r, nil, ErrMissingToken)
				return
			case st.claims == nil:
				g.refuse(w, r, nil, st.err)
				return
			}
			for _, check := range checks {
				if err := check(st.claims); err != nil {
					g.refuse(w, r, nil, err)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}, nil
}

// usable returns the configuration error of q, if any.
func (q Requirement) usable() error {
	if q.err != nil {
		return q.err
	}
	if q.check == nil {
		return fmt.Errorf("%w: the zero Requirement", ErrConfig)
	}
	return nil
}

// RequireScopes is g.Require(AllScopes(scopes...)): it passes on only
// requests whose token grants every one of scopes, and refuses the others
// with 403 insufficient_scope, scope="<scopes>".
func (g *Guardian[U]) RequireScopes(scopes ...string) (func(http.Handler) http.Handler, error) {
	return g.Require(AllScopes(scopes...))
}

// RequireAnyScope is g.Require(AnyScope(scopes...)).
func (g *Guardian[U]) RequireAnyScope(scopes ...string) (func(http.Handler) http.Handler, error) {
	return g.Require(AnyScope(scopes...))
}

// AnyOf returns a [Requirement] met by a token that meets at least one of
// reqs: Elixir Guardian's one_of, e.g. AnyOf(perms.All("a.x", "b.y"),
// perms.All("a.z")). When none is met, the error is the first one's.
func AnyOf(reqs ...Requirement) Requirement {
	if len(reqs) == 0 {
		return Requirement{err: fmt.Errorf("%w: AnyOf needs a requirement", ErrConfig)}
	}
	checks := make([]func(*Claims) error, len(reqs))
	for i, q := range reqs {
		if err := q.usable(); err != nil {
			return Requirement{err: err}
		}
		checks[i] = q.check
	}
	return Requirement{check: func(c *Claims) error {
		var first error
		for _, check := range checks {
			err := check(c)
			if err == nil {
				return nil
			}
			if first == nil {
				first = err
			}
		}
		return first
	}}
}

// A ClaimError is the refusal of a valid token whose claims do not meet a
// [ClaimsEqual] or [ClaimCheck] requirement, or that [NotImpersonated]
// refuses. It matches [ErrInsufficientScope] (403).
type ClaimError struct {
	// Claim names the claim, or the check, that failed.
	Claim string
}

func (e *ClaimError) Error() string {
	return "guardian: insufficient scope: claim requirement " + strconv.Quote(e.Claim) + " not met"
}

// Is makes a ClaimError match ErrInsufficientScope.
func (e *ClaimError) Is(target error) bool { return target == ErrInsufficientScope }

// ClaimsEqual returns a [Requirement] met by tokens whose claims have each
// of the given values: Elixir Guardian's claims option, e.g.
// ClaimsEqual(map[string]any{"role": "admin"}). Values are compared as
// JSON values (so 1 and 1.0 are equal, and a struct matches the object it
// encodes to), numbers by their exact value (so 1 equals 1.0, and 64-bit
// IDs compare exactly); a claim that is absent never matches. Registered claims
// may be named too.
func ClaimsEqual(want map[string]any) Requirement {
	if len(want) == 0 {
		return Requirement{err: fmt.Errorf("%w: ClaimsEqual needs a claim", ErrConfig)}
	}
	type wanted struct {
		name  string
		value any
	}
	list := make([]wanted, 0, len(want))
	for name, v := range want {
		b, err := json.Marshal(v)
		if err != nil {
			return Requirement{err: fmt.Errorf("%w: claim %q: %w", ErrConfig, name, err)}
		}
		norm, _ := decodeJSONValue(b) // json.Marshal wrote valid JSON
		list = append(list, wanted{name, norm})
	}
	slices.SortFunc(list, func(a, b wanted) int { return cmp.Compare(a.name, b.name) })
	return Requirement{check: func(c *Claims) error {
		var members map[string]json.RawMessage
		if err := json.Unmarshal([]byte(c.payload), &members); err != nil {
			return &ClaimError{Claim: list[0].name}
		}
		for _, w := range list {
			raw, ok := members[w.name]
			if !ok {
				return &ClaimError{Claim: w.name}
			}
			if got, ok := decodeJSONValue(raw); !ok || !jsonEqual(got, w.value) {
				return &ClaimError{Claim: w.name}
			}
		}
		return nil
	}}
}

// ClaimCheck returns a [Requirement] met by tokens for which ok returns
// true: a predicate over the typed claims (read custom ones with
// Claims.Custom). name says what it checks, in the [ClaimError] of a
// refusal and in logs; it is never sent to the client.
func ClaimCheck(name string, ok func(c *Claims) bool) Requirement {
	if name == "" || ok == nil {
		return Requirement{err: fmt.Errorf("%w: ClaimCheck needs a name and a predicate", ErrConfig)}
	}
	return Requirement{check: func(c *Claims) error {
		if !ok(c) {
			return &ClaimError{Claim: name}
		}
		return nil
	}}
}

// NotImpersonated returns a [Requirement] met only by tokens the subject
// uses themselves: a token with an act claim (see [Guardian.Impersonate])
// is refused with a [ClaimError] for "act". For routes an impersonator
// must not reach, such as a password change.
func NotImpersonated() Requirement {
	return Requirement{check: func(c *Claims) error {
		if c.Actor != nil {
			return &ClaimError{Claim: "act"}
		}
		return nil
	}}
}
