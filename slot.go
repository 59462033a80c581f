package guardian

import (
	"fmt"
	"net/textproto"

	"github.com/guardian-go/guardian/internal/authheader"
)

// Slot returns a view of g that keeps its own token, claims and user on
// the request, under name, next to those of g's default slot: for a
// request that carries two identities, such as an admin's own token in
// Authorization and the token of the user they impersonate (see
// [Guardian.Impersonate]) in another header. It is Elixir Guardian's key
// option.
//
// The view's middleware (Authenticated, Optional, VerifyHeader,
// LoadResource, EnsureAuthenticated, Require, ...) and accessors
// (CurrentClaims, CurrentToken, CurrentResource, FailureReason) work on
// the slot only; SignOut revokes the slot's token. Its Authenticated and
// Optional read "<scheme> <token>" from header, and never a cookie. The
// package-level [CurrentClaims] and [CurrentToken] keep reading the
// default slot, which is the one of g itself. A name or a header that
// cannot be used is an ErrConfig error.
func (g *Guardian[U]) Slot(name, header string) (*Guardian[U], error) {
	if name == "" || !authheader.IsToken(name) {
		return nil, fmt.Errorf("%w: slot name %q is not an HTTP token", ErrConfig, name)
	}
	if header == "" || !authheader.IsToken(header) {
		return nil, fmt.Errorf("%w: slot header %q is not a header name", ErrConfig, header)
	}
	s := *g
	s.slot = &slotKey{name: name}
	s.header = textproto.CanonicalMIMEHeaderKey(header)
	s.cookies = nil // cookies hold the default slot's tokens
	return &s, nil
}

// SlotName returns the name of g's slot: "" for the default one.
func (g *Guardian[U]) SlotName() string { return g.slot.name }
