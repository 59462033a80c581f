package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/redis/go-redis/v9"
)

// tagReplay follows the prefix in the keys of [Store.Use]. Four bytes, as
// the revocation tags, so that no replay key equals a revocation's key.
const tagReplay = "rpl:"

var _ guardian.ReplayCache = (*Store)(nil)

// useScript records a one-time key.
//
// KEYS[1] is the key. ARGV[1] is its lifetime in milliseconds (positive),
// ARGV[2] a random ID of the call. It returns 1 when this call recorded
// the key: it was absent (or had expired, which in Redis is the same), or
// it holds this very call's ID, because go-redis retried the script after
// the reply to its write was lost. Otherwise 0. A held key keeps its
// expiry. GET on a key of another type under the prefix is an error
// (WRONGTYPE), never a silent answer.
const useScript = `
if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[1]) then
  return 1
end
if redis.call('GET', KEYS[1]) == ARGV[2] then
  return 1
end
return 0
`

var useKey = redis.NewScript(useScript)

// Use records key for ttl and reports whether this is its first use within
// that time, as [guardian.ReplayCache] asks: one atomic SET NX PX in Redis,
// so that of racing calls, on any number of instances sharing the server,
// exactly one reports true. The ttl is rounded up to the millisecond (at
// least 1 ms) and counted on the clock of Redis from when it receives the
// write; a later Use of a held key leaves its expiry alone. The key lives
// under the prefix, as prefix + "rpl:" + key, apart from every revocation;
// any key is stored as it is (Redis keys are binary-safe). With
// [Options].WaitReplicas, a first use is reported only once that many
// replicas have the key, so that a failover cannot let the key be used
// again; otherwise the error wraps [ErrNotReplicated] (the primary has the
// key all the same).
//
// Use returns by the end of ctx, whatever Redis does (see [New]). Any error
// (Redis down or refusing, ctx done, a ttl that is not positive) means no
// answer: the caller refuses, and the key may or may not have been
// recorded. Errors from Redis and a ctx that ends wrap
// [guardian.ErrUnavailable].
func (s *Store) Use(ctx context.Context, key string, ttl time.Duration) (first bool, err error) {
	if ttl <= 0 {
		return false, fmt.Errorf("redisstore: Use of %.40q with ttl %v, want a positive ttl", key, ttl)
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("%w: redisstore: use: %w", guardian.ErrUnavailable, err)
	}
	ms := max(int64((ttl+time.Millisecond-1)/time.Millisecond), 1)
	// The call ID lets a retry of this call by go-redis, after the reply to
	// a successful write was lost, still report first.
	var callID [8]byte
	rand.Read(callID[:])
	keys := []string{s.key(tagReplay, key)}
	args := []any{strconv.FormatInt(ms, 10), hex.EncodeToString(callID[:])}
	n, err := bounded(ctx, func(ctx context.Context) (int64, error) {
		if s.waitReplicas > 0 {
			return s.useAndWait(ctx, keys, args)
		}
		return useKey.Run(ctx, s.client, keys, args...).Int64()
	})
	if err != nil {
		if errors.Is(err, ErrNotReplicated) {
			return false, err
		}
		return false, fmt.Errorf("%w: redisstore: use: %w", guardian.ErrUnavailable, err)
	}
	return n == 1, nil
}

// useAndWait runs the script and then WAIT on one connection to the
// primary that owns the key, as recordAndWait does for revocations. WAIT
// follows a first use only: a replay wrote nothing.
func (s *Store) useAndWait(ctx context.Context, keys []string, args []any) (int64, error) {
	conn, err := s.primaryConn(ctx, keys[0])
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	first, err := useKey.Run(ctx, conn, keys, args...).Int64()
	if err != nil || first != 1 {
		return first, err
	}
	if err := s.waitReplicated(ctx, conn, "replay key"); err != nil {
		return 0, err
	}
	return first, nil
}
