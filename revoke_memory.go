package guardian

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// MemoryRevoker is a [Revoker] that keeps revocations in this process's
// memory: right for a single instance, for tests, and behind a [Mirror].
// Its revocations are lost on restart; use a store from sqlstore or
// redisstore to share them across instances and restarts.
//
// It holds only live revocations. While it holds any, a timer sweeps the
// expired ones every sweep interval, and a map that has shrunk to a quarter
// of its peak is rebuilt so that its memory goes back to the runtime; once
// it is empty the timer stops, so an idle MemoryRevoker costs nothing.
// [MemoryRevoker.Close] stops the timer for good.
type MemoryRevoker struct {
	now      func() time.Time
	interval time.Duration

	mu       sync.RWMutex
	tokens   sweptMap[time.Time] // jti -> expiry on m.now
	families sweptMap[time.Time] // family -> expiry on m.now
	subjects sweptMap[subjectCut]
	timer    *time.Timer // armed while records are held; nil otherwise
	closed   bool
}

// subjectCut is a subject revocation: the cut-off, on the issuer's clock,
// and the expiry of the record, on the revoker's.
type subjectCut struct{ at, until time.Time }

// MemoryRevokerOptions configures a MemoryRevoker; nil means defaults.
type MemoryRevokerOptions struct {
	// Clock returns the current time, which measures how long records are
	// held. It is never compared with a token's dates, so it need not be
	// the Issuer's clock. Default: time.Now.
	Clock func() time.Time
	// SweepInterval is the time between two sweeps of expired records
	// while any are held. Default: one minute.
	SweepInterval time.Duration
}

var _ TokenConsumer = (*MemoryRevoker)(nil)

// NewMemoryRevoker returns an empty MemoryRevoker.
func NewMemoryRevoker(opts *MemoryRevokerOptions) *MemoryRevoker {
	m := &MemoryRevoker{now: time.Now, interval: time.Minute}
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

// answersLocally marks a Revoker whose Revoked does no I/O, so that the
// Issuer need not bound it in time.
func (m *MemoryRevoker) answersLocally() {}

// Revoke records r for r.TTL on the revoker's clock.
func (m *MemoryRevoker) Revoke(ctx context.Context, r Revocation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return err
	}
	until := m.now().Add(r.TTL)
	m.mu.Lock()
	defer m.mu.Unlock()
	switch r.Kind {
	case ByToken:
		m.tokens.put(r.ID, later(m.tokens.m[r.ID], until))
	case ByFamily:
		m.families.put(r.ID, later(m.families.m[r.ID], until))
	case BySubject:
		old := m.subjects.m[r.ID]
		m.subjects.put(r.ID, subjectCut{at: later(old.at, r.At), until: later(old.until, until)})
	}
	m.armLocked()
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
	if r.Kind != ByToken {
		return false, fmt.Errorf("%w: Consume takes token revocations, got %s", ErrInvalidRevocation, r.Kind)
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if until, ok := m.tokens.m[r.ID]; ok && until.After(now) {
		return false, nil
	}
	m.tokens.put(r.ID, now.Add(r.TTL))
	m.armLocked()
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
	if until, ok := m.tokens.m[c.ID]; ok && until.After(m.now()) {
		return true, nil
	}
	if c.Family != "" {
		if until, ok := m.families.m[c.Family]; ok && until.After(m.now()) {
			return true, nil
		}
	}
	if cut, ok := m.subjects.m[c.Subject]; ok && cut.until.After(m.now()) && SubjectCutoffCovers(cut.at, c.IssuedAt) {
		return true, nil
	}
	return false, nil
}

// Len returns how many records the revoker holds, expired ones not yet swept
// included.
func (m *MemoryRevoker) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.tokens.m) + len(m.families.m) + len(m.subjects.m)
}

// Sweep drops every expired record now, and gives back the memory of maps
// that have shrunk. The timer calls it every sweep interval.
func (m *MemoryRevoker) Sweep() {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweepLocked(now)
}

// Close stops the sweep timer. The revoker still answers and records after
// Close; expired records are then dropped only by [MemoryRevoker.Sweep].
// It always returns nil.
func (m *MemoryRevoker) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
	return nil
}

func (m *MemoryRevoker) sweepLocked(now time.Time) {
	m.tokens.sweep(now)
	m.families.sweep(now)
	m.subjects.sweep(now)
}

// armLocked starts the sweep timer unless it runs or the revoker is closed.
func (m *MemoryRevoker) armLocked() {
	if m.timer == nil && !m.closed {
		m.timer = time.AfterFunc(m.interval, m.timedSweep)
	}
}

// timedSweep is the timer's sweep: it re-arms the timer while records are
// left, and lets it go (and the revoker with it) once none are.
func (m *MemoryRevoker) timedSweep() {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.sweepLocked(now)
	if len(m.tokens.m)+len(m.families.m)+len(m.subjects.m) == 0 {
		m.timer = nil
		return
	}
	m.timer.Reset(m.interval)
}

// sweptMap is a map of records with an expiry that is rebuilt once it has
// shrunk to a quarter of its peak: Go maps never give memory back.
type sweptMap[V interface{ time.Time | subjectCut }] struct {
	m    map[string]V
	peak int // the most entries since the map was made
}

// shrinkFloor is the peak below which a map is never rebuilt: small maps
// cost little.
const shrinkFloor = 1024

func (s *sweptMap[V]) put(id string, v V) {
	if s.m == nil {
		s.m = make(map[string]V)
	}
	s.m[id] = v
	s.peak = max(s.peak, len(s.m))
}

func (s *sweptMap[V]) sweep(now time.Time) {
	for id, v := range s.m {
		if !expiryOf(v).After(now) {
			delete(s.m, id)
		}
	}
	if s.peak >= shrinkFloor && len(s.m) <= s.peak/4 {
		fresh := make(map[string]V, len(s.m))
		for id, v := range s.m {
			fresh[id] = v
		}
		s.m, s.peak = fresh, len(fresh)
	}
}

func expiryOf[V interface{ time.Time | subjectCut }](v V) time.Time {
	switch v := any(v).(type) {
	case time.Time:
		return v
	case subjectCut:
		return v.until
	}
	return time.Time{}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
