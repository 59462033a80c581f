package guardian

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Default settings of an [Issuer].
const (
	DefaultAccessTTL    = 15 * time.Minute
	DefaultRefreshTTL   = 30 * 24 * time.Hour
	DefaultMaxTokenSize = 8 << 10
	// DefaultFamilyLifetime is IssuerOptions.FamilyLifetime when zero.
	DefaultFamilyLifetime = 30 * 24 * time.Hour
	// DefaultRefreshRetryWindow is IssuerOptions.RefreshRetryWindow when zero.
	DefaultRefreshRetryWindow = 30 * time.Second
	// DefaultRevokerTimeout is IssuerOptions.RevokerTimeout when zero.
	DefaultRevokerTimeout = 300 * time.Millisecond
)

// IssuerOptions configures an [Issuer]. A nil *IssuerOptions, and every zero field,
// means the documented default.
type IssuerOptions struct {
	// Issuer is the iss claim set on every token. When non-empty,
	// verification requires it. Default: none.
	Issuer string
	// Audience is the aud claim set on new tokens. When non-empty,
	// verification requires aud to name at least one of them; when empty,
	// tokens naming any audience are refused (RFC 7519 §4.1.3).
	Audience []string
	// TTL sets the lifetime of each token type, overriding and extending the
	// defaults: access 15 minutes, refresh 30 days. Issue refuses a type
	// that has no TTL.
	TTL map[TokenType]time.Duration
	// FamilyLifetime bounds a login: every token rotated from it (its
	// family) expires by auth_time + FamilyLifetime, however often it is
	// refreshed, and then the user signs in again. Default:
	// [DefaultFamilyLifetime].
	FamilyLifetime time.Duration
	// RefreshRetryWindow is how long after a refresh the same refresh
	// token may be presented again and get the same new pair, as long as
	// that pair's refresh token has not been used: the client's retry after
	// a lost answer, or a double submit. Past it, or once the new refresh
	// token is used, presenting the old one is reuse and revokes the family
	// (RFC 9700 §4.14.2). Within it, a thief racing the client gets tokens
	// with the same jtis as the client's, and reuse is detected at the next
	// rotation instead. Negative: no window (any second presentation is
	// reuse); a Revoker in allow-list mode (AllowList() true) has none
	// either, since it cannot tell a consumed token from an unknown one.
	// Default: [DefaultRefreshRetryWindow].
	RefreshRetryWindow time.Duration
	// Leeway tolerates clock drift between servers when checking exp, nbf
	// and iat. Default: none.
	Leeway time.Duration
	// MaxTokenSize bounds the length of a token, checked before any
	// decoding. Default: 8 KiB.
	MaxTokenSize int
	// Clock returns the current time. Default: time.Now.
	Clock func() time.Time
	// Revoker, when set, is asked about every token verified and records
	// revocations. Tokens without jti or iat are then refused: they could
	// never be revoked. Default: none (revocation off).
	Revoker Revoker
	// RevokerTimeout bounds every call to the Revoker (Revoked on each
	// verification, Revoke on logout, Consume on refresh): a store that
	// has not answered by then counts as unavailable, so a hung database
	// costs a request this long, answered 503, instead of hanging it.
	// Revokers that answer from memory (MemoryRevoker, Mirror) are not
	// bounded on Revoked. Negative: no bound. Default:
	// [DefaultRevokerTimeout].
	RevokerTimeout time.Duration
	// RevokerFailOpen lets tokens through when the Revoker cannot answer.
	// This trades logout for availability; the default (false) refuses them
	// with ErrUnavailable.
	RevokerFailOpen bool
	// Permissions declares the permission groups that IssueOptions.Permissions
	// grants from (see [Permissions]). Default: none.
	Permissions *Permissions
	// Hooks are optional callbacks; see [Hooks].
	Hooks Hooks
	// TokenTypes says how tokens show their type; see [TypePolicy].
	// Default: TypeFromClaim for [NewIssuer], TypeRFC9068 for
	// [NewRemoteIssuer].
	TokenTypes TypePolicy
	// AccessTypeClaims lists typ claim values that still mean an access
	// token under TypeRFC9068 and TypeRFC9068OrJWT (such as Keycloak's
	// "Bearer"); a token with any other typ claim is refused. Default:
	// none, so only tokens without a typ claim pass.
	AccessTypeClaims []string
	// CacheSize, when positive, turns on the verified-token cache with room
	// for that many tokens: a token presented again skips the signature
	// check and the decoding, while expiry, type, issuer, audience, the
	// Revoker and OnVerify are still checked on every request. Entries
	// leave with their token's expiry or when the cache is full, and all at
	// once on [Issuer.Rotate]. Worth it for asymmetric keys (a check costs
	// tens of microseconds) and clients that reuse their token for many
	// requests; it costs about 200 bytes plus the token per entry. Claims
	// are then shared between requests: treat them as read-only. Default: 0
	// (off).
	CacheSize int
}

// Hooks are called at the moments of a token's life. Each is optional, and
// each can veto by returning an error, which the operation then returns
// (wrapped) instead of its result.
type Hooks struct {
	// AfterIssue is called with the claims of every token signed, before it
	// is returned. A store in allow-list mode records tokens here.
	AfterIssue func(ctx context.Context, c *Claims) error
	// OnVerify is called after every other check of Verify has passed.
	OnVerify func(ctx context.Context, c *Claims) error
	// OnRefresh is called with the old and new claims, before the old token
	// is revoked.
	OnRefresh func(ctx context.Context, old, new *Claims) error
	// OnExchange is called with the presented and the new claims.
	OnExchange func(ctx context.Context, old, new *Claims) error
	// OnRevoke is called before a token is revoked.
	OnRevoke func(ctx context.Context, c *Claims) error
}

// An Issuer signs and verifies tokens with a [KeySet]. It is safe for
// concurrent use; build one per service and share it.
type Issuer struct {
	keys      atomic.Pointer[keyState]
	cacheSize int
	iss       string
	aud       []string
	ttl       map[TokenType]time.Duration
	maxTTL    time.Duration
	// familyLifetime bounds every family from its auth_time.
	familyLifetime time.Duration
	// retryWindow is IssuerOptions.RefreshRetryWindow; 0 means none.
	retryWindow time.Duration
	leeway      time.Duration
	maxSize     int
	now         func() time.Time
	revoker     Revoker
	failOpen    bool
	// revokerTimeout bounds Revoker calls; 0 means none.
	revokerTimeout time.Duration
	// localRevoker: the Revoker answers Revoked from memory, unbounded.
	localRevoker bool
	// memoryFirst: the Revoker answers from memory when it can.
	memoryFirst memoryFirst
	hooks       Hooks
	types       typeRule
	perms       *Permissions
	// remote, when set, supplies the keys: the Issuer only verifies.
	remote *RemoteKeys
}

// NewIssuer returns an Issuer that signs with keys' signing key and
// verifies with any key of the set. opts may be nil.
func NewIssuer(keys *KeySet, opts *IssuerOptions) (*Issuer, error) {
	if keys == nil {
		return nil, fmt.Errorf("%w: nil key set", ErrKey)
	}
	if opts == nil {
		opts = &IssuerOptions{}
	}
	i := &Issuer{
		cacheSize:      opts.CacheSize,
		iss:            opts.Issuer,
		aud:            append([]string(nil), opts.Audience...),
		ttl:            map[TokenType]time.Duration{AccessToken: DefaultAccessTTL, RefreshToken: DefaultRefreshTTL},
		leeway:         opts.Leeway,
		maxSize:        opts.MaxTokenSize,
		now:            opts.Clock,
		revoker:        opts.Revoker,
		failOpen:       opts.RevokerFailOpen,
		revokerTimeout: opts.RevokerTimeout,
		familyLifetime: opts.FamilyLifetime,
		retryWindow:    opts.RefreshRetryWindow,
		hooks:          opts.Hooks,
		perms:          opts.Permissions,
		types:          typeRule{policy: opts.TokenTypes, accessTypes: append([]string(nil), opts.AccessTypeClaims...)},
	}
	if i.types.policy == 0 {
		i.types.policy = TypeFromClaim
	}
	if i.types.policy > TypeRFC9068OrJWT {
		return nil, fmt.Errorf("%w: unknown TokenTypes %v", ErrConfig, i.types.policy)
	}
	if i.leeway < 0 {
		return nil, fmt.Errorf("%w: negative leeway %v", ErrConfig, i.leeway)
	}
	if i.maxSize == 0 {
		i.maxSize = DefaultMaxTokenSize
	}
	if i.maxSize < 0 {
		return nil, fmt.Errorf("%w: negative MaxTokenSize %d", ErrConfig, i.maxSize)
	}
	if i.now == nil {
		i.now = time.Now
	}
	switch {
	case i.familyLifetime == 0:
		i.familyLifetime = DefaultFamilyLifetime
	case i.familyLifetime < 0:
		return nil, fmt.Errorf("%w: negative FamilyLifetime %v", ErrConfig, i.familyLifetime)
	}
	switch {
	case i.retryWindow == 0:
		i.retryWindow = DefaultRefreshRetryWindow
	case i.retryWindow < 0:
		i.retryWindow = 0
	}
	_, i.localRevoker = i.revoker.(localRevoker)
	i.memoryFirst, _ = i.revoker.(memoryFirst)
	if al, ok := i.revoker.(interface{ AllowList() bool }); ok && al.AllowList() {
		i.retryWindow = 0
	}
	switch {
	case i.revokerTimeout == 0:
		i.revokerTimeout = DefaultRevokerTimeout
	case i.revokerTimeout < 0:
		i.revokerTimeout = 0
	}
	for typ, ttl := range opts.TTL {
		if typ == "" || ttl <= 0 {
			return nil, fmt.Errorf("%w: TTL of token type %q must be a positive duration, got %v", ErrConfig, typ, ttl)
		}
		i.ttl[typ] = ttl
	}
	for _, ttl := range i.ttl {
		i.maxTTL = max(i.maxTTL, ttl)
	}
	// A subject revocation is kept for the longest TTL plus margins: it
	// must fit a Revocation.
	if i.maxTTL+3*i.leeway+time.Second > MaxRevocationTTL || i.familyRecordTTL() > MaxRevocationTTL {
		return nil, fmt.Errorf("%w: token lifetimes up to %v and leeway %v are longer than revocations can be kept (%v)", ErrConfig, i.maxTTL, i.leeway, MaxRevocationTTL)
	}
	for _, a := range i.aud {
		if a == "" {
			return nil, fmt.Errorf("%w: empty audience", ErrConfig)
		}
	}
	if i.cacheSize < 0 {
		return nil, fmt.Errorf("%w: negative CacheSize %d", ErrConfig, i.cacheSize)
	}
	i.keys.Store(i.newKeyState(keys))
	return i, nil
}

// NewRemoteIssuer returns an Issuer that verifies the access tokens of an
// external OAuth 2.0 or OpenID Connect issuer, with the keys it publishes
// (see [RemoteKeys]); it issues none. opts.Issuer is the issuer's exact
// identifier (default: the one keys was discovered from; it must match
// it) and opts.Audience must name this API, as RFC 9068 §4 requires.
// Tokens are typed by RFC 9068 unless opts.TokenTypes says otherwise.
// Rotate is refused: the keys follow the issuer.
func NewRemoteIssuer(keys *RemoteKeys, opts *IssuerOptions) (*Issuer, error) {
	if keys == nil {
		return nil, fmt.Errorf("%w: nil RemoteKeys", ErrConfig)
	}
	o := IssuerOptions{}
	if opts != nil {
		o = *opts
	}
	switch {
	case o.Issuer == "" && keys.issuer == "":
		return nil, fmt.Errorf("%w: NewRemoteIssuer needs IssuerOptions.Issuer for keys of a JWKS URL", ErrConfig)
	case o.Issuer == "":
		o.Issuer = keys.issuer
	case keys.issuer != "" && o.Issuer != keys.issuer:
		return nil, fmt.Errorf("%w: IssuerOptions.Issuer %q is not the issuer %q the keys are discovered from", ErrConfig, o.Issuer, keys.issuer)
	}
	if len(o.Audience) == 0 {
		return nil, fmt.Errorf("%w: NewRemoteIssuer needs IssuerOptions.Audience: the audience this API is known by at %s", ErrConfig, o.Issuer)
	}
	if o.TokenTypes == 0 {
		o.TokenTypes = TypeRFC9068
	}
	i, err := NewIssuer(keys.Keys(), &o)
	if err != nil {
		return nil, err
	}
	i.remote = keys
	return i, nil
}

// currentKeys returns the key state to verify with. For a remote issuer
// it follows the RemoteKeys' current set: one atomic load when the set is
// unchanged.
func (i *Issuer) currentKeys() *keyState {
	ks := i.keys.Load()
	if i.remote == nil {
		return ks
	}
	set := i.remote.Keys()
	if set == ks.keys {
		return ks
	}
	fresh := i.newKeyState(set)
	if i.keys.CompareAndSwap(ks, fresh) {
		return fresh
	}
	return i.keys.Load()
}

// Ready returns nil when the Issuer can verify tokens now: always, but
// for a remote issuer whose keys are not loaded (see [RemoteKeys.Ready]).
func (i *Issuer) Ready() error {
	if i.remote != nil {
		return i.remote.Ready()
	}
	return nil
}

// Name returns the iss the Issuer sets and requires ("" when none).
func (i *Issuer) Name() string { return i.iss }

// MaxTokenSize returns the longest token the Issuer reads, in bytes.
func (i *Issuer) MaxTokenSize() int { return i.maxSize }

// keyState is what a key rotation replaces at once: the keys, the header
// of new tokens, and the verified-token cache of tokens checked with them.
type keyState struct {
	keys   *KeySet
	header string // the encoded JOSE header of every token we sign
	cache  *verifiedCache
}

func (i *Issuer) newKeyState(keys *KeySet) *keyState {
	ks := &keyState{keys: keys}
	if keys.signing != nil {
		ks.header = keys.signing.headerSegment()
	}
	if i.cacheSize > 0 {
		ks.cache = newVerifiedCache(i.cacheSize)
	}
	return ks
}

// Keys returns the issuer's current key set.
func (i *Issuer) Keys() *KeySet { return i.currentKeys().keys }

// Rotate replaces the key set, atomically for concurrent callers: new
// tokens are signed with the new signing key, and only the new set's keys
// verify. Keep the old signing key among the new set's verification keys
// until the last token it signed has expired. The verified-token cache
// starts empty.
func (i *Issuer) Rotate(keys *KeySet) error {
	if keys == nil {
		return fmt.Errorf("%w: nil key set", ErrKey)
	}
	if i.remote != nil {
		return fmt.Errorf("%w: the keys of a remote issuer follow its JWK set", ErrConfig)
	}
	i.keys.Store(i.newKeyState(keys))
	return nil
}

// Revoker returns the configured Revoker, or nil.
func (i *Issuer) Revoker() Revoker { return i.revoker }

// TTL returns the lifetime of tokens of type typ, and whether the type is
// known.
func (i *Issuer) TTL(typ TokenType) (time.Duration, bool) {
	ttl, ok := i.ttl[typ]
	return ttl, ok
}
