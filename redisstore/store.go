// Package redisstore is a [guardian.Revoker] kept in Redis, so that every
// instance of a service sees a logout at once and, with Redis persistence
// on (see [Store.Check]), a restart forgets nothing.
//
// A [Store] works with a single server, a Sentinel-managed primary
// ([redis.NewFailoverClient]) or a Redis Cluster ([redis.NewClusterClient]);
// [redis.NewUniversalClient] returns any of them. Each revocation is one key
// that expires once Redis has held it for the revocation's TTL, so the data
// set shrinks by itself and needs no sweeper. The Store uses one clock, that
// of Redis, and only to measure that TTL: it never compares the dates of a
// token or of a revocation with it, so issuers whose clocks are far from
// that of Redis lose nothing. Checking a token costs one round trip. A Store
// is also a [guardian.TokenConsumer]: [Store.Consume] lets guardian rotate a
// refresh token exactly once, even across instances.
//
// Every call returns by the end of its context, whatever the client's
// options: when Redis hangs, the Store abandons the command at the deadline
// and fails closed (see [New]). Give the client ContextTimeoutEnabled: true
// all the same, so that go-redis ends the abandoned command then too;
// without it, the command keeps a goroutine and a pooled connection busy
// until the client's ReadTimeout (5s by default).
//
// Redis must not evict the keys (maxmemory-policy noeviction) and must keep
// them across a restart (AOF); the README lists what the Store relies on.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/redis/go-redis/v9"
)

// DefaultKeyPrefix starts every key when [Options].KeyPrefix is empty.
const DefaultKeyPrefix = "guardian:"

// Tags that follow the prefix and tell the three kinds of record apart. All
// are four bytes long, so no ID can make a key of one kind equal a key of
// another: prefix + tag + ID is one-to-one.
const (
	tagToken   = "jti:"
	tagSubject = "sub:"
	tagFamily  = "fam:"
)

// defaultWaitTimeout bounds the WAIT for replicas when Options.WaitTimeout
// is zero.
const defaultWaitTimeout = time.Second

// ErrNotReplicated is returned (wrapped) by [Store.Revoke] and
// [Store.Consume] when [Options].WaitReplicas is set and fewer replicas
// acknowledged the write within [Options].WaitTimeout. The primary has the
// record, unless a failover demotes it before a replica has it (it then
// drops the record when it resyncs): retry a Revoke. A Consume that failed
// this way is refused all the same (fail closed).
var ErrNotReplicated = errors.New("redisstore: revocation not acknowledged by enough replicas")

// Options configures a [Store]. A nil *Options means the defaults.
type Options struct {
	// KeyPrefix starts the name of every key the Store reads and writes; it
	// lets several apps share one database. Default: [DefaultKeyPrefix]
	// ("guardian:"). See the README for the key layout.
	KeyPrefix string

	// WaitReplicas, when positive, makes Revoke return nil only after that
	// many replicas acknowledged the revocation (the WAIT command), so that
	// a failover right after a logout does not undo it. It needs a
	// *redis.Client (single server or Sentinel) or a *redis.ClusterClient.
	// Default: 0, Revoke returns once the primary has the record.
	WaitReplicas int

	// WaitTimeout bounds the wait for WaitReplicas; when it passes, Revoke
	// returns an error wrapping [ErrNotReplicated]. The request's deadline
	// bounds the wait too. Default: one second. Ignored when WaitReplicas is
	// zero.
	WaitTimeout time.Duration

	// FeedInterval is how often [Store.Follow] proves that its mirror is
	// current (a probe through every master and back). It must be well
	// under the mirror's MaxLag. Default: [DefaultFeedInterval], 100ms.
	FeedInterval time.Duration

	// Require is the durability every primary must have (see
	// [Store.Check]): with it, [Open] refuses a Redis that would lose
	// revocations on a restart, e.g. [DurabilityAOFEverySec] refuses one
	// without an append-only file. [New], which does no I/O, refuses
	// options that set it. Default: [DurabilityUnknown], nothing required.
	Require Durability
}

// Store is a [guardian.Revoker] backed by Redis. Make one with [New]; it is
// safe for concurrent use, runs nothing in the background and needs no
// Close. A call whose context can end runs its commands in a goroutine that
// it abandons at the end of the context (see [New]).
// It never closes the client it was given.
type Store struct {
	client redis.UniversalClient
	prefix string
	// mget is set when every key lives on one server: then a check is one
	// MGET rather than a pipeline of GETs.
	mget         bool
	waitReplicas int
	waitTimeout  time.Duration
	feedInterval time.Duration
}

var (
	_ guardian.Revoker       = (*Store)(nil)
	_ guardian.TokenConsumer = (*Store)(nil)
)

// New returns a Store that keeps its records through client. The client
// stays the caller's: close it after the last use of the Store.
//
// client may be a *redis.Client (one server, or a Sentinel-managed primary
// from [redis.NewFailoverClient]) or a *redis.ClusterClient. A *redis.Ring is
// refused: it drops an unreachable shard and re-hashes that shard's keys onto
// the others, where a revocation would read as absent. So is a client with
// client-side caching: it may answer from a stale copy. New does no I/O, so
// it succeeds while Redis is down; the Store works once Redis is back.
//
// Every call of the Store returns by the end of its context, plus the time
// to schedule a goroutine, even when Redis hangs and whatever the client's
// options: go-redis takes its socket deadlines from the context only when
// the client has ContextTimeoutEnabled, otherwise from ReadTimeout and
// WriteTimeout, and each of its retries may wait that long again. So when
// the context can end, the Store runs the commands in a goroutine and, if
// the context ends first, returns an error wrapping
// [guardian.ErrUnavailable] and the context's error, and drops whatever the
// commands return later: an abandoned call is never reported as a success,
// though its write may still land (every write is idempotent; see
// [Store.Consume]). go-redis gets the same context, so it stops waiting for
// a pooled connection, dialing and retrying at its end.
//
// Build the client with ContextTimeoutEnabled: true. The Store does not
// need it to meet the deadline, and does not refuse a client without it,
// but with it go-redis also ends an abandoned command's socket I/O at the
// deadline; without it, each command abandoned while Redis hangs holds its
// goroutine and pooled connection until ReadTimeout (5s by default; with
// -1 or -2, until Redis answers), and once PoolSize of them are stuck every
// further call fails at its deadline waiting for a connection.
func New(client redis.UniversalClient, opts *Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil client")
	}
	s := &Store{client: client, prefix: DefaultKeyPrefix, waitTimeout: defaultWaitTimeout, feedInterval: DefaultFeedInterval}
	if opts != nil {
		if opts.KeyPrefix != "" {
			s.prefix = opts.KeyPrefix
		}
		if opts.WaitReplicas < 0 {
			return nil, fmt.Errorf("redisstore: WaitReplicas is %d, want 0 or more", opts.WaitReplicas)
		}
		if opts.WaitTimeout < 0 {
			return nil, fmt.Errorf("redisstore: WaitTimeout is %v, want 0 or more", opts.WaitTimeout)
		}
		s.waitReplicas = opts.WaitReplicas
		switch {
		case opts.FeedInterval < 0:
			return nil, fmt.Errorf("redisstore: FeedInterval is %v, want 0 or more", opts.FeedInterval)
		case opts.FeedInterval > 0:
			s.feedInterval = opts.FeedInterval
		}
		if opts.WaitTimeout > 0 {
			s.waitTimeout = opts.WaitTimeout
		}
		if opts.Require != DurabilityUnknown {
			return nil, fmt.Errorf("redisstore: Options.Require is %v: call Open, which checks the servers (New does no I/O)", opts.Require)
		}
	}
	switch c := client.(type) {
	case *redis.Client:
		if c == nil {
			return nil, errors.New("redisstore: nil client")
		}
		if o := c.Options(); o.ClientSideCacheConfig != nil || o.ClientSideCache != nil {
			return nil, errors.New("redisstore: the client has client-side caching on, which may answer from a stale local copy (even while Redis is unreachable) and let a revoked token pass; give the Store a client without it")
		}
		s.mget = true
	case *redis.ClusterClient:
		if c == nil {
			return nil, errors.New("redisstore: nil client")
		}
	case *redis.Ring:
		return nil, errors.New("redisstore: a *redis.Ring loses keys when a shard goes down, which would un-revoke tokens; use a *redis.Client, a failover client or a *redis.ClusterClient")
	default:
		if s.waitReplicas > 0 {
			return nil, fmt.Errorf("redisstore: WaitReplicas needs a *redis.Client or a *redis.ClusterClient, not a %T", client)
		}
	}
	return s, nil
}

// revokeScript records one revocation atomically.
//
// KEYS[1] is the record's key. ARGV[1] is its lifetime in milliseconds
// (positive): the Revocation's TTL, rounded up. ARGV[2] is the value: the
// Unix second of the revocation's At (for a subject, its cut-off; from
// Consume, followed by a space and a random call ID). ARGV[3] is the mode:
// "max" for a subject, whose value only moves forward; "once" for Consume;
// empty for Revoke of a token or a family, whose first value stays.
//
// ARGV[4] is the feed's channel: the script publishes the record as it
// now stands (its PTTL, its value and its key, separated by newlines), in
// the same atomic step as the write, for [Store.Follow].
//
// It returns 1 when this call recorded the revocation: the key was absent,
// or (mode "once") it holds this very call's value, because go-redis
// retried the script after a reply was lost. Otherwise 0.
//
// The expiry only moves later: it is extended when the new lifetime is
// longer than the remaining one, never shortened. Both lifetimes are
// relative, counted from now on the clock of Redis, which is the only clock
// the Store uses: it never compares At (or any date of a token) with it. A
// key without expiry (PTTL -1) is left without one. GET comes first so that
// a key of another type under the prefix is an error (WRONGTYPE), never a
// silent success.
const revokeScript = `
local old = redis.call('GET', KEYS[1])
local ret = 0
if not old then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
  ret = 1
else
  local pttl = redis.call('PTTL', KEYS[1])
  if ARGV[3] == 'max' then
    local cut = tonumber(old)
    if cut == nil or tonumber(ARGV[2]) > cut then
      redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
    end
  end
  if pttl >= 0 and tonumber(ARGV[1]) > pttl then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
  end
  if ARGV[3] == 'once' and old == ARGV[2] then
    ret = 1
  end
end
redis.call('PUBLISH', ARGV[4], redis.call('PTTL', KEYS[1]) .. '\n' .. redis.call('GET', KEYS[1]) .. '\n' .. KEYS[1])
return ret
`

var revoke = redis.NewScript(revokeScript)

// Revoke records r for r.TTL, rounded up to the millisecond and counted on
// the clock of Redis from when it receives the write, as the
// [guardian.Revoker] contract asks. It returns nil once Redis has
// acknowledged the write (and, with [Options].WaitReplicas, once enough
// replicas have); see the README for what that means for durability.
// Revoking again is harmless: a subject's cut-off only moves forward, and a
// record's expiry only moves later.
//
// An invalid r ([guardian.Revocation.Validate]) is refused before any I/O
// with an error wrapping [guardian.ErrInvalidRevocation]. Errors from Redis,
// and a ctx that ends first, wrap [guardian.ErrUnavailable].
func (s *Store) Revoke(ctx context.Context, r guardian.Revocation) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: redisstore: revoke: %w", guardian.ErrUnavailable, err)
	}
	ms := lifetime(r)
	key, mode := s.key(tagToken, r.ID), ""
	switch r.Kind {
	case guardian.ByFamily:
		key = s.key(tagFamily, r.ID)
	case guardian.BySubject:
		key, mode = s.key(tagSubject, r.ID), "max"
	}
	_, err := s.record(ctx, r.Kind, key, ms, strconv.FormatInt(r.At.Unix(), 10), mode)
	return err
}

// Consume revokes the token r names, as Revoke does, and reports whether
// this call revoked it: false, with a nil error, when it was already
// revoked. The check and the write are one atomic step in Redis, so of
// concurrent calls for one token exactly one reports true; guardian's
// Refresh relies on it to rotate a refresh token once. It makes Store a
// [guardian.TokenConsumer].
//
// r must be valid and of kind [guardian.ByToken]; otherwise the error
// wraps [guardian.ErrInvalidRevocation]. Any other error wraps
// [guardian.ErrUnavailable] and means the token may or may not have been
// consumed: a write abandoned at the end of ctx (see [New]) may land after
// Consume returned. guardian then refuses the refresh (fail closed), and a
// second try with the same token may find it consumed.
func (s *Store) Consume(ctx context.Context, r guardian.Revocation) (first bool, err error) {
	if err := r.Validate(); err != nil {
		return false, err
	}
	if r.Kind != guardian.ByToken {
		return false, fmt.Errorf("%w: redisstore: Consume takes token revocations, got a %s revocation", guardian.ErrInvalidRevocation, r.Kind)
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("%w: redisstore: consume: %w", guardian.ErrUnavailable, err)
	}
	key := s.key(tagToken, r.ID)
	ms := lifetime(r)
	// The call ID lets a retry of this call by go-redis, after the reply to
	// a successful write was lost, still report first.
	var callID [8]byte
	rand.Read(callID[:])
	value := strconv.FormatInt(r.At.Unix(), 10) + " " + hex.EncodeToString(callID[:])
	return s.record(ctx, r.Kind, key, ms, value, "once")
}

// lifetime returns how many milliseconds r must be kept: r.TTL rounded up,
// so that the record never expires before its TTL has passed (and a TTL
// under a millisecond still makes PX 1, not the PX 0 Redis refuses). It is
// a duration only, never compared with any clock: Redis counts it from when
// it receives the write. r is valid, so TTL is in (0, MaxRevocationTTL] and
// the sum cannot overflow.
func lifetime(r guardian.Revocation) int64 {
	return int64((r.TTL + time.Millisecond - 1) / time.Millisecond)
}

// record runs the revocation script on key, with a lifetime of ms, value
// and mode (see revokeScript), and reports whether this call recorded it.
// It returns by the end of ctx (see bounded); a write abandoned then
// reports an error, though it may still land.
func (s *Store) record(ctx context.Context, kind guardian.RevocationKind, key string, ms int64, value, mode string) (recorded bool, err error) {
	keys := []string{key}
	args := []any{strconv.FormatInt(ms, 10), value, mode, s.feedChannel()}
	n, err := bounded(ctx, func(ctx context.Context) (int64, error) {
		if s.waitReplicas > 0 {
			return s.recordAndWait(ctx, kind, keys, args)
		}
		return revoke.Run(ctx, s.client, keys, args...).Int64()
	})
	if err != nil {
		if errors.Is(err, ErrNotReplicated) {
			return false, err
		}
		return false, fmt.Errorf("%w: redisstore: revoke %s: %w", guardian.ErrUnavailable, kind, err)
	}
	return n == 1, nil
}

// recordAndWait runs the script and then WAIT on one connection to the
// primary that owns the key: WAIT counts the replicas that have every write
// made on its own connection.
func (s *Store) recordAndWait(ctx context.Context, kind guardian.RevocationKind, keys []string, args []any) (int64, error) {
	conn, err := s.primaryConn(ctx, keys[0])
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	created, err := revoke.Run(ctx, conn, keys, args...).Int64()
	if err != nil {
		return 0, err
	}
	if err := s.waitReplicated(ctx, conn, kind.String()+" revocation"); err != nil {
		return 0, err
	}
	return created, nil
}

// primaryConn is one connection to the primary that owns key, for a write
// and the WAIT that follows it on the same connection.
func (s *Store) primaryConn(ctx context.Context, key string) (*redis.Conn, error) {
	var node *redis.Client
	switch c := s.client.(type) {
	case *redis.Client:
		node = c
	case *redis.ClusterClient:
		var err error
		if node, err = c.MasterForKey(ctx, key); err != nil {
			return nil, err
		}
	}
	return node.Conn(), nil
}

// waitReplicated waits until WaitReplicas replicas have the writes made on
// conn, within WaitTimeout; what names the write in the error.
func (s *Store) waitReplicated(ctx context.Context, conn *redis.Conn, what string) error {
	n, err := conn.Wait(ctx, s.waitReplicas, s.waitTimeout).Result()
	if err != nil {
		return fmt.Errorf("wait for replicas: %w", err)
	}
	if n < int64(s.waitReplicas) {
		return fmt.Errorf("%w: %s reached %d of %d replicas within %v", ErrNotReplicated, what, n, s.waitReplicas, s.waitTimeout)
	}
	return nil
}

// Revoked reports whether c is revoked: by its ID, by its Family, or by a
// cut-off of its Subject at or after its IssuedAt (in whole seconds, as
// [guardian.SubjectCutoffCovers] draws the line). It reads the three records
// in one round trip: one MGET on a *redis.Client, a pipeline of GETs that
// go-redis sends to each node at once on a *redis.ClusterClient.
//
// When Redis cannot answer, or ctx ends first, Revoked returns false and an
// error wrapping [guardian.ErrUnavailable] (and the context's error, when
// that was the cause): the caller must refuse the token. It returns by the
// end of ctx even when Redis hangs (see [New]).
func (s *Store) Revoked(ctx context.Context, c *guardian.Claims) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("%w: redisstore: %w", guardian.ErrUnavailable, err)
	}
	if c == nil {
		return false, errors.New("redisstore: Revoked of nil claims")
	}
	keys, n, subject := s.checkKeys(c)
	if n == 0 {
		return false, nil
	}
	rec, err := bounded(ctx, func(ctx context.Context) (records, error) {
		return s.read(ctx, keys[:n])
	})
	if err != nil {
		return false, fmt.Errorf("%w: redisstore: check: %w", guardian.ErrUnavailable, err)
	}
	// The subject's record is read and validated even when another record
	// already says "revoked", so that a damaged value never goes unnoticed.
	revoked := false
	for i := range n {
		if !rec.found[i] {
			continue
		}
		if i != subject {
			revoked = true
			continue
		}
		cutoff, err := strconv.ParseInt(rec.vals[i], 10, 64)
		if err != nil {
			return false, fmt.Errorf("%w: redisstore: check: subject record holds %q, not a Unix time", guardian.ErrUnavailable, rec.vals[i])
		}
		if guardian.SubjectCutoffCovers(time.Unix(cutoff, 0), c.IssuedAt) {
			revoked = true
		}
	}
	return revoked, nil
}

// records are the values of up to three keys, as [Store.read] found them.
type records struct {
	vals  [3]string
	found [3]bool
}

// read gets keys (at most three) in one round trip: one MGET on a
// *redis.Client, a pipeline of GETs otherwise.
func (s *Store) read(ctx context.Context, keys []string) (rec records, err error) {
	if s.mget {
		res, err := s.client.MGet(ctx, keys...).Result()
		if err != nil {
			return rec, err
		}
		if len(res) != len(keys) {
			return rec, fmt.Errorf("MGET returned %d values for %d keys", len(res), len(keys))
		}
		for i, v := range res {
			switch v := v.(type) {
			case nil:
			case string:
				rec.vals[i], rec.found[i] = v, true
			default:
				return rec, fmt.Errorf("unexpected %T in MGET reply", v)
			}
		}
		return rec, nil
	}
	var cmds [3]*redis.StringCmd
	pipe := s.client.Pipeline()
	for i, k := range keys {
		cmds[i] = pipe.Get(ctx, k)
	}
	// Exec's error is the first command's, and redis.Nil ("no record") may
	// hide a real failure behind it: look at every command.
	_, _ = pipe.Exec(ctx)
	for i, cmd := range cmds[:len(keys)] {
		v, err := cmd.Result()
		switch {
		case err == nil:
			rec.vals[i], rec.found[i] = v, true
		case errors.Is(err, redis.Nil):
		default:
			return rec, err
		}
	}
	return rec, nil
}

// bounded returns f(ctx), or an error as soon as ctx is done, whichever
// comes first, so that no call of the Store outlives its context, whatever
// the client does: go-redis sets its socket deadlines from the context only
// with ContextTimeoutEnabled, and otherwise waits up to ReadTimeout (5s by
// default) for each attempt. When ctx can end, f runs in a goroutine of its
// own and is abandoned at the end of ctx: its result is then dropped, never
// reported, and the error wraps ctx.Err(). A write abandoned this way may
// still land; that is why every write of the Store is idempotent, and why
// Consume reports the error (fail closed) rather than guessing.
//
// f gets ctx too, so that go-redis stops at its end where it can (waiting
// for a pooled connection, dialing, between retries; on the socket with
// ContextTimeoutEnabled): an abandoned goroutine ends by then, or, without
// ContextTimeoutEnabled, when its socket read or write times out.
func bounded[T any](ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	done := ctx.Done()
	if done == nil { // context.Background and the like: nothing to bound
		return f(ctx)
	}
	type outcome struct {
		v   T
		err error
	}
	ch := make(chan outcome, 1) // buffered: an abandoned f never blocks
	go func() {
		v, err := f(ctx)
		ch <- outcome{v, err}
	}()
	select {
	case o := <-ch:
		return o.v, o.err
	case <-done:
		var zero T
		return zero, fmt.Errorf("no answer from Redis before the context ended (command abandoned): %w", ctx.Err())
	}
}

// checkKeys returns the keys of the records that can revoke c, in the order
// token, subject, family, skipping empty IDs (no record has one), and the
// index of the subject's key (-1 when c has no subject). The keys share one
// allocation.
func (s *Store) checkKeys(c *guardian.Claims) (keys [3]string, n, subject int) {
	subject = -1
	size := 0
	for _, id := range [3]string{c.ID, c.Subject, c.Family} {
		if id != "" {
			size += len(s.prefix) + len(tagToken) + len(id)
		}
	}
	if size == 0 {
		return keys, 0, subject
	}
	var b strings.Builder
	b.Grow(size)
	var ends [3]int
	for _, part := range [3]struct{ tag, id string }{{tagToken, c.ID}, {tagSubject, c.Subject}, {tagFamily, c.Family}} {
		if part.id == "" {
			continue
		}
		b.WriteString(s.prefix)
		b.WriteString(part.tag)
		b.WriteString(part.id)
		if part.tag == tagSubject {
			subject = n
		}
		ends[n] = b.Len()
		n++
	}
	all, start := b.String(), 0
	for i := range n {
		keys[i], start = all[start:ends[i]], ends[i]
	}
	return keys, n, subject
}

// key returns the name of the record of kind tag for id.
func (s *Store) key(tag, id string) string {
	return s.prefix + tag + id
}
