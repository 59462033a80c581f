package sqlstore

import (
	"strings"
	"time"
)

// The change log, which makes a Store a guardian.Feed (see feed.go): two
// tables named after the revocations table, in its schema.
//
//   - <table>_seq, the counter: one row (one = 1) holding seq, the number
//     of the last change. Every write of a revocation increments it in the
//     transaction that writes the revocation, so the writers of one store
//     take turns on that row, and the numbers are given out in the order
//     the writes take the row, without holes. In PostgreSQL and SQLite a
//     reader that sees change n has seen every change before it. In
//     InnoDB (MySQL, MariaDB) a write releases the row a moment before
//     its commit is visible, so a reader may see change n+1 (and the
//     counter at n+1) while n is not there yet: the follower waits for it.
//   - <table>_changes, the log: one row per change, numbered by seq, with
//     what a follower needs to apply it (kind, id, cutoff_s as in the
//     revocations table, ttl_ms the revocation's TTL in milliseconds,
//     rounded up) and until_ms, when the row may be swept: ChangeRetention
//     after it was written, on the store's clock, once keptChanges later
//     changes were logged.
//
// Neither table has a secondary index: in PostgreSQL, CreateSchema's
// CREATE INDEX IF NOT EXISTS takes a SHARE lock on its table until it
// commits, and one taken on a table that writers lock after the
// revocations table could deadlock with them. The log is swept in seq
// order, which is the order of until_ms on one clock, and stays small.
const (
	seqSuffix     = "_seq"
	changesSuffix = "_changes"
	// feedChannelSuffix ends the PostgreSQL notification channel's name.
	feedChannelSuffix = "_feed"
)

// ChangeRetention is how long a row of the change log is kept once
// written, on the store's clock, before [Store.Sweep] deletes it. A
// follower further behind than that finds a hole and starts over (it lists
// the revocations table again), which is what it must do anyway after so
// long a break; a follower is normally a [Options].FeedInterval behind.
const ChangeRetention = 10 * time.Minute

// keptChanges is how many of the latest changes the sweep keeps, however
// old: a follower that starts reads them again (see follower.start), and
// a change missing among them is one not visible yet, never one swept.
const keptChanges = 1000

// seqTableOf and changesTableOf are the counter and the log of the
// revocations table rev.
func seqTableOf(rev tableName) tableName {
	return tableName{schema: rev.schema, name: rev.name + seqSuffix}
}

func changesTableOf(rev tableName) tableName {
	return tableName{schema: rev.schema, name: rev.name + changesSuffix}
}

// feedChannel is the PostgreSQL notification channel of the revocations
// table rev: its name, lower-cased, followed by "_feed", so at most 53
// bytes, within PostgreSQL's 63. The schema is left out, so that stores
// that name the table with and without it share the channel; stores of
// equal table names in different schemas share it too, which only wakes
// their followers for nothing (a notification is a hint, never a proof).
func feedChannel(rev tableName) string {
	return strings.ToLower(rev.name) + feedChannelSuffix
}

// feedSchema returns the DDL of the change log of rev, each statement
// idempotent: the log, the counter, and the counter's row, which starts
// after the last change logged (0 for a new log, and never behind the log
// if the row was deleted by hand).
func feedSchema(d Dialect, rev tableName) []string {
	c := d.columns()
	seq, chg := seqTableOf(rev), changesTableOf(rev)
	changes := "CREATE TABLE IF NOT EXISTS " + chg.sql(d) + " (\n" +
		"\tseq " + c.integer + " NOT NULL PRIMARY KEY,\n" +
		"\tkind " + c.kind + " NOT NULL,\n" +
		"\tid " + c.id + " NOT NULL,\n" +
		"\tcutoff_s " + c.integer + " NOT NULL,\n" +
		"\tttl_ms " + c.integer + " NOT NULL,\n" +
		"\tuntil_ms " + c.integer + " NOT NULL\n" +
		")" + c.suffix
	counter := "CREATE TABLE IF NOT EXISTS " + seq.sql(d) + " (\n" +
		"\tone " + c.kind + " NOT NULL PRIMARY KEY CHECK (one = 1),\n" +
		"\tseq " + c.integer + " NOT NULL\n" +
		")" + c.suffix
	return []string{changes, counter, counterRow(d, rev)}
}

// counterRow is the statement that creates the counter's row if missing.
func counterRow(d Dialect, rev tableName) string {
	seq, chg := seqTableOf(rev), changesTableOf(rev)
	stmt := "INSERT INTO " + seq.sql(d) + " (one, seq) SELECT 1, COALESCE(MAX(seq), 0) FROM " + chg.sql(d)
	switch d {
	case MySQL:
		// Not INSERT IGNORE: it would turn every error into a warning.
		return stmt + " ON DUPLICATE KEY UPDATE one = one"
	case SQLite:
		// WHERE: SQLite's parser needs it before an upsert's ON CONFLICT.
		return stmt + " WHERE 1 = 1 ON CONFLICT (one) DO NOTHING"
	}
	return stmt + " ON CONFLICT (one) DO NOTHING"
}

// feedQueries are the statements of the change log.
type feedQueries struct {
	// PostgreSQL writes a revocation and its change in one statement,
	// so one round trip and one implicit transaction: the record (its
	// row lock first), then the counter, the change and the notification.
	revoke  query // kind, id, cutoff, until, ttl, keep, channel
	consume query // id, until, now, ttl, keep, channel

	// MySQL and SQLite write them in a transaction of several
	// statements, the counter first: with every writer queued on the
	// counter before it touches anything else, none can deadlock another.
	bump   query // (none)
	change query // kind, id, cutoff, ttl, keep

	counter  query // (none): the counter's value
	hasCount query // (none): how many counter rows there are
	poll     query // last, n
	sweep    query // now, n
}

func buildFeedQueries(d Dialect, rev tableName) feedQueries {
	vars := map[string]string{"rev": rev.sql(d), "seq": seqTableOf(rev).sql(d), "chg": changesTableOf(rev).sql(d)}
	r := func(tmpl string, names ...string) query { return render(d, tmpl, vars, names...) }
	var q feedQueries
	if d == Postgres {
		// The counter is updated only once the record is written (the
		// EXISTS makes it wait for w), so that every writer locks its
		// record, then the counter, and holds nothing while waiting for
		// the counter that the counter's holder could wait for. Without
		// the counter's row, the change's seq is NULL and the statement
		// fails as a whole.
		tail := "), n AS (UPDATE {seq} SET seq = seq + 1 WHERE EXISTS (SELECT 1 FROM w) RETURNING seq)" +
			", c AS (INSERT INTO {chg} (seq, kind, id, cutoff_s, ttl_ms, until_ms) SELECT (SELECT seq FROM n), "
		notify := " FROM w) SELECT n.seq FROM n, pg_notify(@channel, n.seq::text)"
		q.revoke = r("WITH w AS (INSERT INTO {rev} AS r (kind, id, cutoff_s, until_ms) VALUES (@kind, @id, @cutoff, @until)"+
			" ON CONFLICT (kind, id) DO UPDATE SET cutoff_s = GREATEST(r.cutoff_s, EXCLUDED.cutoff_s), until_ms = GREATEST(r.until_ms, EXCLUDED.until_ms)"+
			" RETURNING 1"+tail+"@kind, @id, @cutoff, @ttl, @keep"+notify,
			"kind", "id", "cutoff", "until", "ttl", "keep", "channel")
		// A held record is left alone: w is empty, and nothing else
		// happens.
		q.consume = r("WITH w AS (INSERT INTO {rev} AS r (kind, id, cutoff_s, until_ms) VALUES (1, @id, 0, @until)"+
			" ON CONFLICT (kind, id) DO UPDATE SET cutoff_s = 0, until_ms = EXCLUDED.until_ms WHERE r.until_ms <= @now"+
			" RETURNING 1"+tail+"1, @id, 0, @ttl, @keep"+notify,
			"id", "until", "now", "ttl", "keep", "channel")
	} else {
		q.bump = r("UPDATE {seq} SET seq = seq + 1")
		// The counter's row, locked by this transaction's update, gives
		// the change its number.
		q.change = r("INSERT INTO {chg} (seq, kind, id, cutoff_s, ttl_ms, until_ms) SELECT seq, @kind, @id, @cutoff, @ttl, @keep FROM {seq}",
			"kind", "id", "cutoff", "ttl", "keep")
	}
	q.counter = r("SELECT seq FROM {seq}")
	q.hasCount = r("SELECT COUNT(*) FROM {seq}")
	// The counter and the next changes, read in one statement and so
	// from one snapshot: every change up to the counter must be there.
	// Without changes, one row with NULLs.
	q.poll = r("SELECT q.seq, c.seq, c.kind, c.id, c.cutoff_s, c.ttl_ms FROM {seq} q"+
		" LEFT JOIN (SELECT seq, kind, id, cutoff_s, ttl_ms FROM {chg} WHERE seq > @last ORDER BY seq LIMIT @n) c ON 1 = 1"+
		" ORDER BY c.seq", "last", "n")
	// @below is the counter, read before, less keptChanges.
	if d == MySQL {
		q.sweep = r("DELETE FROM {chg} WHERE until_ms <= @now AND seq <= @below ORDER BY seq LIMIT @n", "now", "below", "n")
	} else {
		q.sweep = r("DELETE FROM {chg} WHERE seq IN (SELECT seq FROM {chg} WHERE until_ms <= @now AND seq <= @below ORDER BY seq LIMIT @n) AND until_ms <= @now", "now", "below", "n")
	}
	return q
}
