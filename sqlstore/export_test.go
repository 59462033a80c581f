package sqlstore

// Hooks into the store's internals for the tests in package sqlstore_test.

// SweeperDone returns a channel closed when s's sweeper goroutine has
// returned, or nil when s has no sweeper.
func SweeperDone(s *Store) <-chan struct{} { return s.done }

// SetSweepBatch sets how many rows one DELETE of a sweep removes at most.
func SetSweepBatch(s *Store, n int64) { s.sweepBatch = n }

// RevokedQuery returns the SQL text of s's Revoked statement and a function
// arranging its arguments: jti, family, subject, iat (Unix seconds), now
// (Unix milliseconds).
func RevokedQuery(s *Store) (string, func(vals ...any) []any) {
	return s.q.revoked.text, s.q.revoked.args
}

// UpsertQuery returns the SQL text of the revocations table's upsert (what
// Revoke ran alone before the change log) and a function arranging its
// arguments: kind, id, cutoff (Unix seconds), until (Unix milliseconds).
func UpsertQuery(s *Store) (string, func(vals ...any) []any) {
	return s.q.upsert.text, s.q.upsert.args
}

// FeedChannel returns the PostgreSQL notification channel of s.
func FeedChannel(s *Store) string { return s.channel }

// KeptChanges is how many of the latest changes Sweep keeps, however old.
const KeptChanges = keptChanges
