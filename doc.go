// Package guardian authenticates HTTP APIs with JWTs: it issues tokens for
// a known user, verifies them on every request, loads the user back, and
// makes a token useless on logout, across every instance of a service.
//
// Its model is Elixir's Guardian and GuardianDB; its idiom is net/http.
//
// # The parts
//
//   - A [KeySet] holds one signing [Key] and any number of verification
//     keys, looked up by kid. Each key is pinned to one [Algorithm]; the
//     token's alg header never chooses the algorithm.
//   - An [Issuer] signs and verifies tokens: [Issuer.Issue],
//     [Issuer.Verify], [Issuer.Refresh], [Issuer.Exchange],
//     [Issuer.Revoke] and [Issuer.Peek].
//   - A [Guardian] is the front typed by the app's user: [New] takes the
//     issuer and two callbacks (user → subject, claims → user) and offers
//     [Guardian.SignIn], [Guardian.Protect], [Guardian.Refresh],
//     [Guardian.SignOut], [Guardian.CurrentResource] and the middleware.
//   - A [Revoker] remembers revocations: [MemoryRevoker] in this process,
//     the sqlstore and redisstore modules across processes and restarts.
//   - A [Verifier] accepts the tokens of several issuers, routed by iss:
//     external OAuth 2.0 / OpenID Connect issuers ([NewRemoteIssuer] over
//     [RemoteKeys]) and the app's own [Issuer].
//
// # Middleware order
//
// [Guardian.Protect] (or [Guardian.Authenticated], its middleware form)
// protects a route in one call, and [Guardian.Optional] serves anonymous
// users too. They are made of parts, each a func(http.Handler)
// http.Handler that does one thing, for apps that compose them:
//
//	g.VerifyHeader(nil)          // find and verify the token; record the outcome
//	  → g.LoadResource(nil)      // claims → user, for CurrentResource
//	  → g.EnsureAuthenticated(nil) // refuse what has no valid token
//	  → handler                  // reads CurrentToken, CurrentClaims, CurrentResource
//
// VerifyHeader never refuses a request by itself (unless
// VerifyOptions.RejectInvalid is set), so the same chain without
// EnsureAuthenticated serves routes open to anonymous users too. Put
// EnsureNotAuthenticated in front of login and sign-up.
//
// # Browser apps
//
// With [GuardianOptions].Cookies, SignIn and Refresh also hand the tokens
// out as HttpOnly, Secure, SameSite cookies, SignOut clears them, and the
// middleware reads them, refusing cross-site unsafe requests
// ([CookieOptions] says how).
//
// # Logs and metrics
//
// GuardianOptions.OnRefused and OnAuthenticated see every refusal (with
// its [Reason]) and every success; GuardianOptions.Logger receives the
// causes of 5xx answers.
//
// # Errors
//
// Every failure wraps one of the package's sentinel errors, tested with
// [errors.Is]; failures of the token itself also wrap [ErrInvalidToken].
// The default error handler answers as RFC 6750 says ([ErrorStatus]): 401
// with a bare challenge when there is no token, 400 invalid_request for a
// malformed header, 401 invalid_token for a bad, expired, revoked or
// wrong-type token, 403 insufficient_scope for a missing scope or
// permission, 401 insufficient_user_authentication for an authentication
// too old or too weak (RFC 9470), and 503 when the revocation store cannot
// answer.
//
// # Security defaults
//
// Following RFC 8725: algorithms are pinned per key and "none" never
// verifies; exp is required; iss and aud are checked when configured, and a
// token naming an audience is refused when none is configured; the typ claim
// must be one the caller accepts (access only, by default); jku, x5u, x5c,
// jwk and crit headers are refused, never fetched; tokens over a size bound
// (8 KiB) are refused before any decoding; HMAC secrets shorter than the
// hash and RSA keys under 2048 bits are refused; login compares a dummy
// bcrypt hash for unknown users ([Passwords.Check]).
//
// # Revocation
//
// A token is revoked by jti for as long as it could be accepted;
// [Issuer.RevokeSubject] revokes every token of a user issued up to now ("log out everywhere");
// [Issuer.RevokeFamily] revokes every token of one login (its access and
// refresh tokens, refreshed or not). With a Revoker configured, every
// verification asks it, tokens without jti are refused, and a Revoker that
// cannot answer makes verification fail with [ErrUnavailable] (fail
// closed); every Revoker call is bounded by IssuerOptions.RevokerTimeout.
// [Guardian.Refresh] rotates a refresh token into a new pair in one
// operation, consuming it last and once ([TokenConsumer]); presenting it
// again revokes its family (RFC 9700 reuse detection).
//
// Time comes from one clock: a [Revocation] carries a TTL, which each store
// counts on its own clock, so a store's clock never has to agree with the
// issuers' (see [Revoker]). A process that
// owns its store can answer checks from memory with a [Mirror].
//
// The design, the route of a request through the files and the rules
// between the parts are in ARCHITECTURE.md at the repository root.
//
// # Keys and caching
//
// [Issuer.Rotate] swaps the key set atomically; [JWKSHandler] publishes the
// public keys and [ParseJWKS] reads another service's. IssuerOptions.CacheSize
// turns on a cache of verified tokens: a token presented again skips the
// signature check, while its expiry, type, issuer, audience and revocation
// are still checked on every request.
//
// # Tokens of other issuers
//
// A resource server verifies the access tokens of an authorization server
// without any key of its own: [DiscoverKeys] finds the issuer's JWK set
// through its metadata, [RemoteKeys] keeps it current (cached by the
// answer's caching headers, refreshed in the background, refetched at most
// once per interval when a token names an unknown kid, kept verifying while
// the issuer is down), and [NewRemoteIssuer] verifies RFC 9068 access
// tokens with it (see [TypePolicy]). [NewVerifier] puts several issuers
// behind one middleware, through GuardianOptions.Verifier; a Guardian
// built with a nil issuer only verifies. [Guardian.RequireScopes] answers
// a token without the route's scopes with 403 insufficient_scope (see
// Authorization).
//
// # Authorization
//
// [Guardian.Require] puts [Requirement]s on a route, after the middleware
// that verifies: OAuth scopes ([AllScopes], [AnyScope]; the scope and scp
// claims), permissions of the pem claim ([Permissions.All],
// [Permissions.Any]; Elixir Guardian's bitwise encoding, so both sides
// read each other's tokens), claim values ([ClaimsEqual], [ClaimCheck]),
// and a recent or strong enough authentication ([MaxAge], [ACR]; RFC
// 9470 step-up, met again through [Guardian.Reauthenticate]). A token that
// lacks a scope or permission gets 403 insufficient_scope with the scope
// attribute of RFC 6750 §3; one whose authentication is too old gets 401
// insufficient_user_authentication with max_age or acr_values.
//
// [Guardian.Slot] keeps a second identity on a request next to the first,
// and [Guardian.Impersonate] issues a token for a user on behalf of an
// admin (the act claim of RFC 8693): signing it out leaves the admin
// signed in, and signing the admin out ends it.
//
// # DPoP
//
// With GuardianOptions.DPoP (a [DPoPVerifier]), a login or refresh that
// carries a DPoP proof (RFC 9449) gets tokens bound to the client's key,
// and the middleware accepts them only as "Authorization: DPoP <token>"
// with a fresh proof of that key for the request; a bound token sent as
// Bearer is always refused. Seen proofs are remembered in a [ReplayCache].
//
// # Writing a Revoker
//
// A [Revoker] has two methods; its doc comment is the contract. Call
// [Revocation.Validate] first in Revoke, use [SubjectCutoffCovers] for the
// subject cut-off, never answer "not revoked" when the store could not be
// asked, and run the conformance suite of package revokertest in your
// tests:
//
//	func TestConformance(t *testing.T) {
//		revokertest.Run(t, func(t *testing.T) guardian.Revoker { return store })
//	}
//
// # Testing apps
//
// Package guardiantest builds a throwaway issuer, mints tokens for users,
// attaches them to requests, and provides a settable clock and a revoker
// on it.
package guardian
