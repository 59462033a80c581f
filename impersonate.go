package guardian

import (
	"context"
	"fmt"
	"time"
)

// Impersonate issues an access token for target on behalf of actor, the
// verified claims of the user who acts (an admin's, from CurrentClaims):
// a token whose sub is target's, whose act claim (RFC 8693 §4.1) names the
// actor, and which grants target's custom claims and permissions
// (GuardianOptions.Claims and Permissions). The app decides who may
// impersonate, e.g. with a [Permissions.All] requirement on the route.
//
// The token belongs to the actor's login: it is in the actor's family, so
// signing the actor out (or their family's revocation on refresh-token
// reuse) ends it at once, while signing the impersonation out revokes it
// alone (see [Guardian.SignOut]) and the actor stays signed in. It keeps
// the actor's auth_time, acr and amr (it is the actor who authenticated),
// expires no later than the actor's token, and comes with no refresh
// token. Present it in its own slot next to the actor's token (see
// [Guardian.Slot]), or alone; [NotImpersonated] keeps it off the routes
// an impersonator must not reach.
//
// actor must be an access token of g's issuer, not itself an
// impersonation; target must not be the actor. Otherwise the error wraps
// ErrInvalidArgument. Successors of the token ([Issuer.Exchange]) keep
// act, expire with it too, and are never refresh tokens.
func (g *Guardian[U]) Impersonate(ctx context.Context, actor *Claims, target U) (Token, error) {
	i := g.issuer
	if i == nil {
		return Token{}, errVerifyOnly
	}
	if actor == nil || actor.by != i || actor.Type != AccessToken || actor.Family == "" {
		return Token{}, fmt.Errorf("%w: Impersonate needs the claims of an access token verified by the Guardian's issuer", ErrInvalidArgument)
	}
	if actor.Actor != nil {
		// An impersonator acting as a user could otherwise impersonate
		// anyone the user may, the original admin included.
		return Token{}, fmt.Errorf("%w: an impersonation token cannot impersonate", ErrInvalidArgument)
	}
	sub, err := g.subjectOf(target)
	if err != nil {
		return Token{}, err
	}
	if err := CheckID(sub); err != nil {
		return Token{}, fmt.Errorf("guardian: Impersonate: subject %w", err)
	}
	if sub == actor.Subject {
		return Token{}, fmt.Errorf("%w: the actor %q cannot impersonate themselves", ErrInvalidArgument, sub)
	}
	custom, perms, err := g.grants(ctx, target, nil, nil)
	if err != nil {
		return Token{}, err
	}
	raw, err := encodeCustom(custom)
	if err != nil {
		return Token{}, err
	}
	pem, err := i.encodePermissions(perms)
	if err != nil {
		return Token{}, err
	}
	ttl := i.ttl[AccessToken]
	left := actor.ExpiresAt.Sub(time.Unix(i.now().Unix(), 0))
	if left < time.Second {
		return Token{}, invalid(ErrExpired, "the actor's token expires now")
	}
	c := &Claims{
		Subject: sub, Audience: i.aud, Type: AccessToken, Family: actor.Family,
		AuthTime: actor.AuthTime, ACR: actor.ACR, AMR: cloneStrings(actor.AMR),
		Permissions: pem,
		Actor:       &Actor{Subject: actor.Subject},
	}
	return i.issue(ctx, c, min(ttl, left), raw)
}
