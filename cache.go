package guardian

import (
	"hash/maphash"
	"sync"
	"time"
)

// verifiedCache remembers tokens whose signature and payload have been
// checked, so that a token presented again skips the cryptography and the
// decoding. It keeps the decoded claims only: every time-dependent check,
// the token type, the Revoker and the OnVerify hook still run on every
// request. It is bounded by entries; a full shard evicts an expired entry
// if it finds one among a few, else an arbitrary one.
type verifiedCache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
	limit  int // entries per shard
}

const cacheShards = 16

type cacheShard struct {
	mu      sync.RWMutex
	entries map[string]*Claims
}

func newVerifiedCache(size int) *verifiedCache {
	c := &verifiedCache{seed: maphash.MakeSeed(), limit: max(1, size/cacheShards)}
	for i := range c.shards {
		c.shards[i].entries = make(map[string]*Claims)
	}
	return c
}

func (c *verifiedCache) shard(raw string) *cacheShard {
	return &c.shards[maphash.String(c.seed, raw)%cacheShards]
}

// get returns the claims of a token verified before. A nil cache has
// nothing.
func (c *verifiedCache) get(raw string) (*Claims, bool) {
	if c == nil {
		return nil, false
	}
	s := c.shard(raw)
	s.mu.RLock()
	claims, ok := s.entries[raw]
	s.mu.RUnlock()
	return claims, ok
}

// put remembers the claims of a verified token until its expiry.
func (c *verifiedCache) put(raw string, claims *Claims, now time.Time) {
	s := c.shard(raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) >= c.limit {
		evicted := false
		n := 0
		for k, v := range s.entries { // map order is random
			if !now.Before(v.ExpiresAt) {
				delete(s.entries, k)
				evicted = true
				break
			}
			if n++; n == 8 {
				break
			}
		}
		if !evicted {
			for k := range s.entries {
				delete(s.entries, k)
				break
			}
		}
	}
	s.entries[raw] = claims
}
