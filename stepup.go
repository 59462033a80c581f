package guardian

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// A StepUpError is the refusal of a valid token whose authentication is
// too old, or not strong enough, for a route ([MaxAge], [ACR]). It matches
// [ErrInsufficientUserAuthentication]: the default error handler answers
// 401 with error="insufficient_user_authentication" and the max_age or
// acr_values parameter of RFC 9470 §3, so the client knows to have the
// user authenticate again, and how.
type StepUpError struct {
	// MaxAge, when non-zero, is the oldest authentication the route
	// accepts.
	MaxAge time.Duration
	// ACRValues, when set, are the authentication context classes the
	// route accepts, in order of preference.
	ACRValues []string
}

func (e *StepUpError) Error() string {
	if e.MaxAge > 0 {
		return fmt.Sprintf("guardian: insufficient user authentication: want one within %v", e.MaxAge)
	}
	return "guardian: insufficient user authentication: want acr " + strings.Join(e.ACRValues, " ")
}

// Is makes a StepUpError match ErrInsufficientUserAuthentication.
func (e *StepUpError) Is(target error) bool { return target == ErrInsufficientUserAuthentication }

// MaxAge returns a [Requirement] met by tokens whose user authenticated
// (auth_time, set by SignIn and Reauthenticate and kept by Refresh) no
// longer than d ago, judged by the clock and with the leeway of the Issuer
// that verified the token: a token passes while now <= auth_time + d +
// leeway. A token without auth_time does not. d is whole seconds, at
// least one.
func MaxAge(d time.Duration) Requirement {
	if d < time.Second || d%time.Second != 0 {
		return Requirement{err: fmt.Errorf("%w: MaxAge %v: want whole seconds, at least 1s", ErrConfig, d)}
	}
	return Requirement{check: func(c *Claims) error {
		now, leeway := time.Now, time.Duration(0)
		if c.by != nil {
			now, leeway = c.by.now, c.by.leeway
		}
		if c.AuthTime.IsZero() || now().After(c.AuthTime.Add(d+leeway)) {
			return &StepUpError{MaxAge: d}
		}
		return nil
	}}
}

// ACR returns a [Requirement] met by tokens whose acr claim is one of
// values (authentication context classes, in order of preference, such as
// "mfa"): the app sets acr when it signs the user in (SignInOptions.ACR).
// Each value is a scope token of RFC 6749 §3.3, so that acr_values can
// carry it.
func ACR(values ...string) Requirement {
	if len(values) == 0 {
		return Requirement{err: fmt.Errorf("%w: ACR needs a value", ErrConfig)}
	}
	for _, v := range values {
		if !isScopeToken(v) {
			return Requirement{err: fmt.Errorf("%w: acr value %q is not a scope token (RFC 6749 §3.3)", ErrConfig, v)}
		}
	}
	want := slices.Clone(values)
	return Requirement{check: func(c *Claims) error {
		if c.ACR == "" || !slices.Contains(want, c.ACR) {
			return &StepUpError{ACRValues: want}
		}
		return nil
	}}
}
