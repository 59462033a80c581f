package guardian

import (
	"context"
	"fmt"
	"sync"
)

// A Lister is a Revoker that can list the revocations it holds, so that a
// [Mirror] can load them.
type Lister interface {
	Revoker
	// Live calls fn with every revocation still held, its TTL set to what
	// is left of it, and stops at fn's first error, which it returns.
	Live(ctx context.Context, fn func(Revocation) error) error
}

// Mirror keeps the revocations of a durable store in memory too, so that
// checking a token costs what a [MemoryRevoker] check costs (tens of
// nanoseconds, no I/O) while revocations still survive restarts.
//
// It is exact only when every revocation of the store goes through this
// Mirror: one process that owns its store, such as an embedded SQLite file.
// Revocations another process writes to the same store are not seen until
// the Mirror is rebuilt, so that process must be kept out: lock the file
// (the example server takes an exclusive lock on its SQLite file and
// refuses to start when another process holds it). With several instances
// sharing a database or Redis, give the Issuer the store itself. A store in allow-list mode cannot be
// mirrored (its answer depends on tokens it recorded, not on revocations).
//
// Revoke writes to the store first and to memory only once the store has
// the record, so nothing is visible that a restart would lose. Consume is
// atomic within the process.
type Mirror struct {
	store Lister
	mem   *MemoryRevoker
	mu    sync.Mutex // serializes Consume
}

var _ TokenConsumer = (*Mirror)(nil)

// NewMirror loads every live revocation of store into memory and returns a
// Mirror over it. opts configures the memory side (its clock, sweeps); nil
// means defaults.
func NewMirror(ctx context.Context, store Lister, opts *MemoryRevokerOptions) (*Mirror, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: NewMirror needs a store", ErrConfig)
	}
	if al, ok := store.(interface{ AllowList() bool }); ok && al.AllowList() {
		return nil, fmt.Errorf("%w: a store in allow-list mode cannot be mirrored", ErrConfig)
	}
	m := &Mirror{store: store, mem: NewMemoryRevoker(opts)}
	n := 0
	err := store.Live(ctx, func(r Revocation) error {
		n++
		return m.mem.Revoke(ctx, r)
	})
	if err != nil {
		return nil, fmt.Errorf("guardian: load revocations into the mirror (after %d): %w", n, err)
	}
	return m, nil
}

// Revoke records r in the store, then in memory.
func (m *Mirror) Revoke(ctx context.Context, r Revocation) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if err := m.store.Revoke(ctx, r); err != nil {
		return err
	}
	return m.mem.Revoke(context.WithoutCancel(ctx), r)
}

// answersLocally: Revoked does no I/O.
func (m *Mirror) answersLocally() {}

// Close stops the sweep timer of the memory side. It does not close the
// store, which belongs to the caller, and always returns nil.
func (m *Mirror) Close() error { return m.mem.Close() }

// Revoked answers from memory.
func (m *Mirror) Revoked(ctx context.Context, c *Claims) (bool, error) {
	return m.mem.Revoked(ctx, c)
}

// Consume revokes a token unless it was already revoked, and reports
// whether this call revoked it. It is atomic among the callers of this
// Mirror, which are all the writers of its store.
func (m *Mirror) Consume(ctx context.Context, r Revocation) (bool, error) {
	if err := r.Validate(); err != nil {
		return false, err
	}
	if r.Kind != ByToken {
		return false, fmt.Errorf("%w: Consume takes token revocations, got %s", ErrInvalidRevocation, r.Kind)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if revoked, err := m.mem.Revoked(ctx, &Claims{ID: r.ID}); err != nil || revoked {
		return false, err
	}
	if err := m.store.Revoke(ctx, r); err != nil {
		return false, err
	}
	return true, m.mem.Revoke(context.WithoutCancel(ctx), r)
}

// Live lists the mirrored revocations, from memory.
func (m *Mirror) Live(ctx context.Context, fn func(Revocation) error) error {
	return m.mem.Live(ctx, fn)
}

// Live calls fn with every revocation still held, its TTL set to what is
// left of it on the revoker's clock. It holds no lock while fn runs.
func (m *MemoryRevoker) Live(ctx context.Context, fn func(Revocation) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := m.now()
	var live []Revocation
	m.mu.RLock()
	for id, until := range m.tokens.m {
		if until.After(now) {
			live = append(live, Revocation{Kind: ByToken, ID: id, At: now, TTL: until.Sub(now)})
		}
	}
	for id, until := range m.families.m {
		if until.After(now) {
			live = append(live, Revocation{Kind: ByFamily, ID: id, At: now, TTL: until.Sub(now)})
		}
	}
	for id, cut := range m.subjects.m {
		if cut.until.After(now) {
			live = append(live, Revocation{Kind: BySubject, ID: id, At: cut.at, TTL: cut.until.Sub(now)})
		}
	}
	m.mu.RUnlock()
	for _, r := range live {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}
