package guardian

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// MemoryRevoker is a [Revoker] that keeps revocations in this process's
// memory: right for a single instance, for tests, and in front of nothing
// else. Its revocations are lost on restart; use a store from sqlstore or
// redisstore to share them across instances and restarts.
//
// It holds only live revocations: expired records are swept as new ones
// arrive, at most once per sweep interval, so memory is bounded by the
// revocations made within one token lifetime. It needs no Close.
type MemoryRevoker struct {
	now      func() time.Time
	interval time.Duration

	mu        sync.RWMutex
	tokens    map[string]time.Time // jti -> until
	families  map[string]time.Time // family -> until
	subjects  map[string]subjectCut
	nextSweep time.Time
}

type subjectCut struct{ at, until time.Time }

// MemoryRevokerOptions configures a MemoryRevoker; nil means defaults.
type MemoryRevokerOptions struct {
	// Clock returns the current time. Default: time.Now.
	Clock func() time.Time
	// SweepInterval is the least time between two sweeps of expired
	// records. Default: one minute.
	SweepInterval time.Duration
}

var _ TokenConsumer = (*MemoryRevoker)(nil)

// NewMemoryRevoker returns an empty MemoryRevoker.
func NewMemoryRevoker(opts *MemoryRevokerOptions) *MemoryRevoker {
	m := &MemoryRevoker{
		now:      time.Now,
		interval: time.Minute,
		tokens:   make(map[string]time.Time),
		families: make(map[string]time.Time),
		subjects: make(map[string]subjectCut),
	}
	if opts != nil {
		if opts.Clock != nil {
			m.now = opts.Clock
		}
		if opts.SweepInterval > 0 {
			m.interval = opts.SweepInterval
		}
	}
	return m
}

// Revoke records r. A record whose Until has already passed is accepted and
// dropped: every token it concerns has expired.
func (m *MemoryRevoker) Revoke(ctx context.Context, r Revocation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if !now.Before(m.nextSweep) {
		m.sweepLocked(now)
		m.nextSweep = now.Add(m.interval)
	}
	if !r.Until.After(now) {
		return nil
	}
	switch r.Kind {
	case RevokeToken:
		m.tokens[r.ID] = later(m.tokens[r.ID], r.Until)
	case RevokeFamily:
		m.families[r.ID] = later(m.families[r.ID], r.Until)
	case RevokeSubject:
		old := m.subjects[r.ID]
		m.subjects[r.ID] = subjectCut{at: later(old.at, r.At), until: later(old.until, r.Until)}
	}
	return nil
}

// Consume revokes a token unless it was already revoked, atomically, and
// reports whether this call revoked it.
func (m *MemoryRevoker) Consume(ctx context.Context, r Revocation) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := r.Validate(); err != nil {
		return false, err
	}
	if r.Kind != RevokeToken {
		return false, fmt.Errorf("%w: Consume takes token revocations, got %s", errInvalidRevocation, r.Kind)
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if until, ok := m.tokens[r.ID]; ok && until.After(now) {
		return false, nil
	}
	if r.Until.After(now) {
		m.tokens[r.ID] = r.Until
	}
	return true, nil
}

// Revoked reports whether c is revoked. It takes no lock for writing and
// allocates nothing.
func (m *MemoryRevoker) Revoked(ctx context.Context, c *Claims) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	// The clock is read only when a record is found: most tokens have none.
	if until, ok := m.tokens[c.ID]; ok && until.After(m.now()) {
		return true, nil
	}
	if c.Family != "" {
		if until, ok := m.families[c.Family]; ok && until.After(m.now()) {
			return true, nil
		}
	}
	if cut, ok := m.subjects[c.Subject]; ok && cut.until.After(m.now()) && SubjectCutoffCovers(cut.at, c.IssuedAt) {
		return true, nil
	}
	return false, nil
}

// Len returns how many records the revoker holds, expired ones not yet swept
// included.
func (m *MemoryRevoker) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.tokens) + len(m.families) + len(m.subjects)
}

// Sweep drops every record whose Until has passed. Revoke calls it once per
// sweep interval; call it yourself to shrink memory sooner.
func (m *MemoryRevoker) Sweep() {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweepLocked(now)
}

func (m *MemoryRevoker) sweepLocked(now time.Time) {
	for id, until := range m.tokens {
		if !until.After(now) {
			delete(m.tokens, id)
		}
	}
	for id, until := range m.families {
		if !until.After(now) {
			delete(m.families, id)
		}
	}
	for id, cut := range m.subjects {
		if !cut.until.After(now) {
			delete(m.subjects, id)
		}
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
