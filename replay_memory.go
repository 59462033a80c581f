package guardian

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultReplayCacheSize is the capacity of NewMemoryReplayCache(0).
const DefaultReplayCacheSize = 1 << 20

// replayShards is the number of independently locked parts of a
// MemoryReplayCache, so that concurrent proofs seldom wait for each other.
const replayShards = 16

// A MemoryReplayCache is a [ReplayCache] in this process's memory, for a
// service of one instance. It holds at most its capacity of live keys:
// when full, Use answers an error (and the proof is refused, 503) rather
// than forget a key that could then be replayed. Expired keys are dropped
// in the order they were recorded, a few on each call, so that no call
// ever scans the cache, full or not. It is safe for concurrent use.
type MemoryReplayCache struct {
	seed     maphash.Seed
	shards   [replayShards]replayShard
	capacity int64
	live     atomic.Int64 // keys held in every shard, expired ones not yet dropped included
	now      func() time.Time
	base     time.Time // expiries are durations since base, on the monotonic clock
}

// replayShard is one part of a MemoryReplayCache: its keys and, in the
// order they were recorded, when each expires.
type replayShard struct {
	mu    sync.Mutex
	keys  map[string]time.Duration // key → when it may be forgotten
	queue []replayEntry            // recorded keys, oldest first, from head
	head  int
}

type replayEntry struct {
	key   string
	until time.Duration
}

// NewMemoryReplayCache returns a MemoryReplayCache with room for capacity
// live keys (0: [DefaultReplayCacheSize]).
func NewMemoryReplayCache(capacity int) *MemoryReplayCache {
	if capacity <= 0 {
		capacity = DefaultReplayCacheSize
	}
	m := &MemoryReplayCache{seed: maphash.MakeSeed(), capacity: int64(capacity), now: time.Now}
	m.base = m.now()
	for i := range m.shards {
		m.shards[i].keys = make(map[string]time.Duration)
	}
	return m
}

var _ ReplayCache = (*MemoryReplayCache)(nil)

// errReplayCacheFull is the answer of a full MemoryReplayCache.
var errReplayCacheFull = fmt.Errorf("%w: the memory replay cache is full", ErrUnavailable)

// Use records key for ttl, measured on the process's monotonic clock.
func (m *MemoryReplayCache) Use(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := m.now().Sub(m.base)
	s := &m.shards[maphash.String(m.seed, key)%replayShards]
	if m.live.Load() >= m.capacity {
		// Full, or nearly: drop what has expired everywhere first, one
		// shard at a time (never two locks at once).
		for i := range m.shards {
			m.shards[i].mu.Lock()
			m.live.Add(-m.shards[i].dropExpired(now, -1))
			m.shards[i].mu.Unlock()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if until, ok := s.keys[key]; ok && now < until {
		return false, nil
	}
	m.live.Add(-s.dropExpired(now, 2))
	if _, held := s.keys[key]; !held && m.live.Add(1) > m.capacity {
		// (A held key here has expired: it is taken over in place.)
		m.live.Add(-1)
		return false, errReplayCacheFull
	}
	s.keys[key] = now + ttl
	s.queue = append(s.queue, replayEntry{key, now + ttl})
	return true, nil
}

// dropExpired forgets up to n expired keys from the front of the queue
// (n < 0: all that have expired there). A key recorded again later has a
// later entry, which keeps it.
// It returns how many keys it forgot.
func (s *replayShard) dropExpired(now time.Duration, n int) (dropped int64) {
	for ; n != 0 && s.head < len(s.queue); n-- {
		e := s.queue[s.head]
		if now < e.until {
			break
		}
		if until, ok := s.keys[e.key]; ok && until == e.until {
			delete(s.keys, e.key)
			dropped++
		}
		s.queue[s.head] = replayEntry{}
		s.head++
	}
	if s.head > 1024 && s.head*2 > len(s.queue) {
		s.queue = append(s.queue[:0:0], s.queue[s.head:]...)
		s.head = 0
	}
	return dropped
}

// Len returns the number of keys held, expired ones not yet dropped
// included.
func (m *MemoryReplayCache) Len() int { return int(m.live.Load()) }
