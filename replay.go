package guardian

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// A ReplayCache remembers one-time values, such as the jti of every DPoP
// proof accepted (see [DPoPVerifier]), so that none is accepted twice.
// Implementations must be safe for concurrent use, and shared by every
// instance of a service for its protection to hold across them.
type ReplayCache interface {
	// Use records key for ttl and reports whether this is its first use
	// within that time: true for the first caller, false for every later
	// one, also when they race. An error means the cache could not
	// answer; the caller then refuses (fail closed), and must not assume
	// key was recorded.
	Use(ctx context.Context, key string, ttl time.Duration) (first bool, err error)
}

// DefaultReplayCacheSize is the capacity of NewMemoryReplayCache(0).
const DefaultReplayCacheSize = 1 << 20

// A MemoryReplayCache is a [ReplayCache] in this process's memory, for a
// service of one instance. It holds at most its capacity of live keys:
// when full, Use answers an error (and the proof is refused, 503) rather
// than forget a key that could then be replayed. It is safe for
// concurrent use.
type MemoryReplayCache struct {
	mu       sync.Mutex
	keys     map[string]time.Time // key → when it may be forgotten
	capacity int
	now      func() time.Time
	sweep    time.Time // when to look for expired keys next
}

// NewMemoryReplayCache returns a MemoryReplayCache with room for capacity
// live keys (0: [DefaultReplayCacheSize]).
func NewMemoryReplayCache(capacity int) *MemoryReplayCache {
	if capacity <= 0 {
		capacity = DefaultReplayCacheSize
	}
	return &MemoryReplayCache{keys: make(map[string]time.Time), capacity: capacity, now: time.Now}
}

var _ ReplayCache = (*MemoryReplayCache)(nil)

// errReplayCacheFull is the answer of a full MemoryReplayCache.
var errReplayCacheFull = fmt.Errorf("%w: the memory replay cache is full", ErrUnavailable)

// Use records key for ttl, measured on the process's monotonic clock.
func (m *MemoryReplayCache) Use(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if until, ok := m.keys[key]; ok && now.Before(until) {
		return false, nil
	}
	if len(m.keys) >= m.capacity || !now.Before(m.sweep) {
		for k, until := range m.keys {
			if !now.Before(until) {
				delete(m.keys, k)
			}
		}
		m.sweep = now.Add(time.Second)
		if len(m.keys) >= m.capacity {
			return false, errReplayCacheFull
		}
	}
	m.keys[key] = now.Add(ttl)
	return true, nil
}

// Len returns the number of keys held, expired ones not yet swept
// included.
func (m *MemoryReplayCache) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys)
}
