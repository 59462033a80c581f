package guardian

import "context"

// stateKey is the one context key of the package.
type stateKey struct{}

// authState is what the middleware learned about a request: one context
// value, filled in by VerifyHeader (or SignIn) and completed in place by
// LoadResource.
type authState struct {
	token    string
	claims   *Claims // nil unless the token verified
	err      error   // why the presented token was refused
	resource any
	loaded   bool
}

// stateContext carries an authState: the context value and the state in
// one allocation.
type stateContext struct {
	context.Context
	state authState
}

// Value answers stateKey with the state and asks the parent otherwise.
func (c *stateContext) Value(key any) any {
	if _, ok := key.(stateKey); ok {
		return &c.state
	}
	return c.Context.Value(key)
}

// withState returns a child of parent carrying st, and the state it holds.
func withState(parent context.Context, st authState) (context.Context, *authState) {
	c := &stateContext{Context: parent, state: st}
	return c, &c.state
}

func stateOf(ctx context.Context) *authState {
	st, _ := ctx.Value(stateKey{}).(*authState)
	return st
}

// CurrentToken returns the verified token of the request, as presented.
func CurrentToken(ctx context.Context) (string, bool) {
	st := stateOf(ctx)
	if st == nil || st.claims == nil {
		return "", false
	}
	return st.token, true
}

// CurrentClaims returns the claims of the request's verified token.
func CurrentClaims(ctx context.Context) (*Claims, bool) {
	st := stateOf(ctx)
	if st == nil || st.claims == nil {
		return nil, false
	}
	return st.claims, true
}

// FailureReason returns why the token presented with the request was
// refused, or nil when none was presented or it verified. Routes without
// EnsureAuthenticated can use it to tell "anonymous" from "bad token".
func FailureReason(ctx context.Context) error {
	if st := stateOf(ctx); st != nil {
		return st.err
	}
	return nil
}
