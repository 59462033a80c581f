package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/guardian-go/guardian"
)

var _ guardian.ReplayCache = (*Store)(nil)

// replaySuffix names the replay table after the revocations table: in the
// same schema, the revocations table's name followed by "_replay" (by
// default guardian_revocations_replay). Its index adds "_idx", so both
// names stay within the identifier limits (48 + 11 bytes).
const replaySuffix = "_replay"

// replayTableOf is the replay table of the revocations table rev.
func replayTableOf(rev tableName) tableName {
	return tableName{schema: rev.schema, name: rev.name + replaySuffix}
}

// replaySchema returns the DDL of the replay table rpl, each statement
// idempotent (IF NOT EXISTS): a key (compared byte for byte, as IDs are)
// and when it expires, Unix milliseconds on the store's clock. It is part
// of [Store.Schema] in both modes: an empty table costs nothing, and a
// store becomes a replay cache without a migration of its own.
func replaySchema(d Dialect, rpl tableName) []string {
	c := d.columns()
	table := "CREATE TABLE IF NOT EXISTS " + rpl.sql(d) + " (\n" +
		"\tid " + c.id + " NOT NULL PRIMARY KEY,\n" +
		"\tuntil_ms " + c.integer + " NOT NULL"
	if d == MySQL {
		table += ",\n\tKEY " + d.quote(rpl.name+"_idx") + " (until_ms)"
	}
	table += "\n)" + c.suffix
	stmts := []string{table}
	if d != MySQL {
		stmts = append(stmts, rpl.createIndex(d, "_idx", "until_ms"))
	}
	return stmts
}

// replayQueries are the statements of Use and of the replay table's sweep.
type replayQueries struct {
	use    query // id, until, now: PostgreSQL and SQLite
	insert query // id, until: MySQL
	renew  query // id, until, now: MySQL
	held   query // id, now: MySQL
	sweep  query // now, n
}

func buildReplayQueries(d Dialect, rpl tableName) replayQueries {
	vars := map[string]string{"rpl": rpl.sql(d)}
	r := func(tmpl string, names ...string) query { return render(d, tmpl, vars, names...) }
	var q replayQueries
	// An insert, or the takeover of an expired row; a held row is left
	// alone, so that of racing calls exactly one changes a row.
	switch d {
	case Postgres:
		q.use = r("INSERT INTO {rpl} AS r (id, until_ms) VALUES (@id, @until)"+
			" ON CONFLICT (id) DO UPDATE SET until_ms = EXCLUDED.until_ms WHERE r.until_ms <= @now",
			"id", "until", "now")
	case SQLite:
		q.use = r("INSERT INTO {rpl} (id, until_ms) VALUES (@id, @until)"+
			" ON CONFLICT (id) DO UPDATE SET until_ms = excluded.until_ms WHERE until_ms <= @now",
			"id", "until", "now")
	case MySQL:
		// ON DUPLICATE KEY UPDATE cannot tell "unchanged" from "inserted"
		// when the DSN sets clientFoundRows (both count 1), so: an insert,
		// and after a duplicate-key failure the takeover of an expired row,
		// else a look-up, as Consume does.
		q.insert = r("INSERT INTO {rpl} (id, until_ms) VALUES (@id, @until)", "id", "until")
		q.renew = r("UPDATE {rpl} SET until_ms = @until WHERE id = @id AND until_ms <= @now", "id", "until", "now")
		q.held = r("SELECT COUNT(*) FROM {rpl} WHERE id = @id AND until_ms > @now", "id", "now")
	}
	// In batches, as the sweeps of the other tables (sweep.go).
	if d == MySQL {
		q.sweep = r("DELETE FROM {rpl} WHERE until_ms <= @now LIMIT @n", "now", "n")
	} else {
		q.sweep = r("DELETE FROM {rpl} WHERE id IN (SELECT id FROM {rpl} WHERE until_ms <= @now LIMIT @n) AND until_ms <= @now", "now", "n")
	}
	return q
}

// Use records key for ttl and reports whether this is its first use within
// that time, as [guardian.ReplayCache] asks, so that the Store can be the
// shared replay cache of a [guardian.DPoPVerifier]: of racing calls, on any
// number of instances sharing the database, exactly one reports true. The
// key is kept for ttl from now on the store's clock ([Options].Clock),
// rounded up to the millisecond, as revocations are; a later Use of a held
// key leaves its expiry alone, and a key whose time has passed is taken
// over by the next Use, which reports true. The replay table is part of
// [Store.Schema]: after [Store.CreateSchema] (or the same DDL in a
// migration) the store is a replay cache too.
//
// In PostgreSQL and SQLite, Use is one upsert that inserts the key or takes
// over an expired row and leaves a held one alone. In MySQL it is an
// insert and, when the key is already there, an update of an expired row,
// else a look-up: one round trip for a first use, two or three for a
// replay.
//
// A key is stored byte for byte; one that [guardian.CheckID] refuses
// (empty, longer than [MaxIDLength] bytes, not UTF-8, with a NUL byte) is
// refused with [ErrInvalidID], and a ttl that is not positive with an
// error too. Any failure of the database, a canceled or expired ctx
// included, wraps [guardian.ErrUnavailable]. Either way Use reports false:
// the caller refuses, and must not assume the key was recorded.
//
// Expired keys are never reported, swept or not; [Store.Sweep], and so
// the background sweeper, deletes them.
func (s *Store) Use(ctx context.Context, key string, ttl time.Duration) (first bool, err error) {
	if err := guardian.CheckID(key); err != nil {
		return false, fmt.Errorf("sqlstore: replay key: %w", err)
	}
	if ttl <= 0 {
		return false, fmt.Errorf("sqlstore: replay key with ttl %v, want a positive ttl", ttl)
	}
	if err := ctx.Err(); err != nil {
		return false, s.fail(ctx, "use replay key", err)
	}
	if s.closed.Load() {
		return false, ErrClosed
	}
	// One reading of the clock: the new expiry, rounded up, is after now
	// in whole milliseconds, so it is always after an expired row's.
	now := s.now()
	nowMS, until := now.UnixMilli(), ceilMilli(now.Add(ttl))
	if s.dialect == MySQL {
		first, err = s.useMySQL(ctx, &s.rq, key, until, nowMS)
	} else {
		first, err = s.useUpsert(ctx, &s.rq, key, until, nowMS)
	}
	if err != nil {
		return false, err
	}
	return first, nil
}

func (s *Store) useUpsert(ctx context.Context, q *replayQueries, key string, until, now int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, q.use.text, q.use.args(key, until, now)...)
	if err != nil {
		return false, s.fail(ctx, "use replay key", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.fail(ctx, "use replay key", err)
	}
	return n > 0, nil
}

// useMySQL inserts the key; when that fails, it takes over an expired row,
// else looks the key up: held means a replay. The package imports no
// driver, so it cannot read a duplicate-key error's code: an insert that
// failed for another reason, with the key not held, is that error.
func (s *Store) useMySQL(ctx context.Context, q *replayQueries, key string, until, now int64) (bool, error) {
	_, insertErr := s.db.ExecContext(ctx, q.insert.text, q.insert.args(key, until)...)
	if insertErr == nil {
		return true, nil
	}
	// until > now >= an expired row's until_ms: a matched row always
	// changes, so RowsAffected is right whether or not the DSN sets
	// clientFoundRows. Of racing updates, InnoDB lets one match.
	res, err := s.db.ExecContext(ctx, q.renew.text, q.renew.args(key, until, now)...)
	if err != nil {
		return false, s.fail(ctx, "use replay key", errors.Join(insertErr, err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, s.fail(ctx, "use replay key", errors.Join(insertErr, err))
	} else if n > 0 {
		return true, nil
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, q.held.text, q.held.args(key, now)...).Scan(&n); err != nil {
		return false, s.fail(ctx, "use replay key", errors.Join(insertErr, err))
	}
	if n > 0 {
		return false, nil // a replay
	}
	return false, s.fail(ctx, "use replay key", insertErr)
}
