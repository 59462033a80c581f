package guardian

import "context"

// slotKey is the context key of a slot: the default one (name "") or one
// made by [Guardian.Slot]. Keys match by name, so every view of a slot
// finds its state.
type slotKey struct{ name string }

// defaultSlot is the slot of a Guardian from New and of the package-level
// accessors.
var defaultSlot = &slotKey{}

// authState is what the middleware learned about a request: one context
// value per slot, filled in by VerifyHeader (or SignIn) and completed in
// place by LoadResource.
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
	key   *slotKey
	state authState
}

// Value answers the key of its slot with the state and asks the parent
// otherwise.
func (c *stateContext) Value(key any) any {
	if k, ok := key.(*slotKey); ok && k.name == c.key.name {
		return &c.state
	}
	return c.Context.Value(key)
}

// withState returns a child of parent carrying st in the slot key, and the
// state it holds.
func withState(parent context.Context, key *slotKey, st authState) (context.Context, *authState) {
	c := &stateContext{Context: parent, key: key, state: st}
	return c, &c.state
}

// stateOf returns the state of the slot key, or nil.
func stateOf(ctx context.Context, key *slotKey) *authState {
	st, _ := ctx.Value(key).(*authState)
	return st
}

// CurrentToken returns the verified token of the request, as presented.
// It reads the default slot; [Guardian.CurrentToken] reads a Guardian's.
func CurrentToken(ctx context.Context) (string, bool) {
	return currentToken(ctx, defaultSlot)
}

// CurrentClaims returns the claims of the request's verified token. It
// reads the default slot; [Guardian.CurrentClaims] reads a Guardian's.
func CurrentClaims(ctx context.Context) (*Claims, bool) {
	return currentClaims(ctx, defaultSlot)
}

// FailureReason returns why the token presented with the request was
// refused, or nil when none was presented or it verified. Routes without
// EnsureAuthenticated can use it to tell "anonymous" from "bad token". It
// reads the default slot; [Guardian.FailureReason] reads a Guardian's.
func FailureReason(ctx context.Context) error {
	return failureReason(ctx, defaultSlot)
}

// CurrentToken is [CurrentToken] for g's slot (see [Guardian.Slot]).
func (g *Guardian[U]) CurrentToken(ctx context.Context) (string, bool) {
	return currentToken(ctx, g.slot)
}

// CurrentClaims is [CurrentClaims] for g's slot (see [Guardian.Slot]).
func (g *Guardian[U]) CurrentClaims(ctx context.Context) (*Claims, bool) {
	return currentClaims(ctx, g.slot)
}

// FailureReason is [FailureReason] for g's slot (see [Guardian.Slot]).
func (g *Guardian[U]) FailureReason(ctx context.Context) error {
	return failureReason(ctx, g.slot)
}

// CurrentResource returns the user that LoadResource or SignIn put on ctx,
// in g's slot.
func (g *Guardian[U]) CurrentResource(ctx context.Context) (U, bool) {
	st := stateOf(ctx, g.slot)
	if st == nil || !st.loaded {
		var zero U
		return zero, false
	}
	u, ok := st.resource.(U)
	return u, ok
}

func currentToken(ctx context.Context, key *slotKey) (string, bool) {
	st := stateOf(ctx, key)
	if st == nil || st.claims == nil {
		return "", false
	}
	return st.token, true
}

func currentClaims(ctx context.Context, key *slotKey) (*Claims, bool) {
	st := stateOf(ctx, key)
	if st == nil || st.claims == nil {
		return nil, false
	}
	return st.claims, true
}

func failureReason(ctx context.Context, key *slotKey) error {
	if st := stateOf(ctx, key); st != nil {
		return st.err
	}
	return nil
}
