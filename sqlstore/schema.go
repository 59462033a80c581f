package sqlstore

import (
	"context"
	"database/sql"
	"errors"
)

// Kind codes stored in the kind column of the revocations table. They are
// part of the schema: never renumber them.
const (
	kindToken   = 1
	kindSubject = 2
	kindFamily  = 3
)

// The columns: in the revocations table, cutoff_s is a subject's cut-off
// (Unix seconds on the issuer's clock, compared with iat only) and until_ms
// when the record expires (Unix milliseconds on the store's clock, compared
// with the store's clock only). In the tokens table, issued_s and
// expires_ms are the token's iat and exp (issuer's clock: iat is compared
// with cut-offs, exp only reported), and until_ms when the row expires
// (store's clock). Nothing on one clock is compared with the other.

// Column types per dialect. IDs are compared byte for byte: TEXT COLLATE
// "C" in PostgreSQL, VARBINARY in MySQL (its string collations ignore case
// or trailing spaces), TEXT with SQLite's default BINARY collation.
type columnTypes struct {
	kind, id, typ, integer, suffix string
}

func (d Dialect) columns() columnTypes {
	switch d {
	case Postgres:
		return columnTypes{kind: "SMALLINT", id: `TEXT COLLATE "C"`, typ: `TEXT COLLATE "C"`, integer: "BIGINT"}
	case MySQL:
		return columnTypes{kind: "SMALLINT", id: "VARBINARY(1024)", typ: "VARBINARY(255)", integer: "BIGINT", suffix: " ENGINE=InnoDB"}
	default:
		return columnTypes{kind: "INTEGER", id: "TEXT", typ: "TEXT", integer: "INTEGER"}
	}
}

// schema returns the DDL statements that create the store's tables and
// indexes, each idempotent: the revocations table, its replay table, its
// change log (see changes.go) and, in allow-list mode, the tokens table.
func schema(d Dialect, rev, tok tableName, allowList bool) []string {
	c := d.columns()
	var stmts []string
	revTable := "CREATE TABLE IF NOT EXISTS " + rev.sql(d) + " (\n" +
		"\tkind " + c.kind + " NOT NULL,\n" +
		"\tid " + c.id + " NOT NULL,\n" +
		"\tcutoff_s " + c.integer + " NOT NULL,\n" +
		"\tuntil_ms " + c.integer + " NOT NULL,\n" +
		"\tPRIMARY KEY (kind, id)"
	if d == MySQL {
		revTable += ",\n\tKEY " + d.quote(rev.name+"_until_idx") + " (until_ms)"
	}
	revTable += "\n)" + c.suffix
	stmts = append(stmts, revTable)
	if d != MySQL {
		stmts = append(stmts, rev.createIndex(d, "_until_idx", "until_ms"))
	}
	stmts = append(stmts, replaySchema(d, replayTableOf(rev))...)
	stmts = append(stmts, feedSchema(d, rev)...)
	if !allowList {
		return stmts
	}
	tokTable := "CREATE TABLE IF NOT EXISTS " + tok.sql(d) + " (\n" +
		"\tjti " + c.id + " NOT NULL PRIMARY KEY,\n" +
		"\tsubject " + c.id + " NOT NULL,\n" +
		"\ttoken_type " + c.typ + " NOT NULL,\n" +
		"\tfamily " + c.id + " NOT NULL,\n" +
		"\tissued_s " + c.integer + " NOT NULL,\n" +
		"\texpires_ms " + c.integer + " NOT NULL,\n" +
		"\tuntil_ms " + c.integer + " NOT NULL"
	if d == MySQL {
		tokTable += ",\n\tKEY " + d.quote(tok.name+"_subject_idx") + " (subject)" +
			",\n\tKEY " + d.quote(tok.name+"_family_idx") + " (family)" +
			",\n\tKEY " + d.quote(tok.name+"_until_idx") + " (until_ms)"
	}
	tokTable += "\n)" + c.suffix
	stmts = append(stmts, tokTable)
	if d != MySQL {
		stmts = append(stmts,
			tok.createIndex(d, "_subject_idx", "subject"),
			tok.createIndex(d, "_family_idx", "family"),
			tok.createIndex(d, "_until_idx", "until_ms"),
		)
	}
	return stmts
}

// Schema returns the DDL that [Store.CreateSchema] runs for this store's
// dialect, table names and mode, one statement per element, for migration
// tools and review. Every statement is idempotent: CREATE ... IF NOT
// EXISTS, and the INSERT of the change log's counter row, which does
// nothing when the row exists.
func (s *Store) Schema() []string {
	return append([]string(nil), s.ddl...)
}

// pgSchemaLock is the key of the PostgreSQL advisory lock that serializes
// concurrent CreateSchema calls: CREATE TABLE IF NOT EXISTS alone can fail
// when two sessions race on the same name.
const pgSchemaLock = 0x67756172_64696e31 // "guardin1"

// CreateSchema creates the store's tables and indexes if they do not exist;
// see [Store.Schema] and the package documentation for the DDL. It is safe
// to call on every start, from several instances at once. Creating the
// schema is opt-in: a store whose tables were created by a migration tool
// needs no call.
func (s *Store) CreateSchema(ctx context.Context) (err error) {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.dialect != Postgres {
		for _, stmt := range s.ddl {
			if stmt == s.counterRow && s.dialect == MySQL {
				// InnoDB's INSERT ... SELECT locks the log's last rows
				// and would then wait for a writer holding the counter's
				// row, which may wait for those: insert only when the row
				// is missing, when no writer can hold it.
				var n int64
				if err := s.db.QueryRowContext(ctx, s.fq.hasCount.text).Scan(&n); err != nil {
					return s.fail(ctx, "create schema", err)
				}
				if n > 0 {
					continue
				}
			}
			if _, err := s.db.ExecContext(ctx, stmt); err != nil {
				return s.fail(ctx, "create schema", err)
			}
		}
		return nil
	}
	// PostgreSQL DDL is transactional: take a lock, create, commit.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(ctx, "create schema", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(pgSchemaLock)); err != nil {
		return s.fail(ctx, "create schema: lock", err)
	}
	for _, stmt := range s.ddl {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return s.fail(ctx, "create schema", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.fail(ctx, "create schema: commit", err)
	}
	return nil
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// queries are the store's statements rendered for its dialect and tables.
type queries struct {
	revoked       query // jti, fam, sub, iat, now
	upsert        query // kind, id, cutoff, until
	record        query // jti, sub, typ, fam, iat, exp, until
	deleteToken   query // id
	deleteFamily  query // id
	deleteSubject query // id, cutoff
	revokeAll     query // sub, now
	active        query // sub, now
	sweepRev      query // now, n
	live          query // now
	sweepTok      query // now, n

	// Consume: one upsert in PostgreSQL and SQLite; in MySQL, whose
	// ON DUPLICATE KEY UPDATE cannot tell "unchanged" from "inserted" under
	// clientFoundRows, an update of an expired record, else an insert.
	consume       query // id, until, now
	consumeUpdate query // id, until, now
	consumeInsert query // id, until
	tokenRevoked  query // id, now
}

func buildQueries(d Dialect, rev, tok tableName, allowList bool) queries {
	vars := map[string]string{"rev": rev.sql(d), "tok": tok.sql(d)}
	r := func(tmpl string, names ...string) query { return render(d, tmpl, vars, names...) }

	// Revoked: one statement, each branch a primary-key lookup. EXISTS
	// short-circuits, and CASE gives an integer in every dialect.
	check := "SELECT CASE WHEN" +
		" EXISTS (SELECT 1 FROM {rev} WHERE kind = 1 AND id = @jti AND until_ms > @now)" +
		" OR EXISTS (SELECT 1 FROM {rev} WHERE kind = 3 AND id = @fam AND until_ms > @now)" +
		" OR EXISTS (SELECT 1 FROM {rev} WHERE kind = 2 AND id = @sub AND cutoff_s >= @iat AND until_ms > @now)"
	if allowList {
		check += " OR NOT EXISTS (SELECT 1 FROM {tok} WHERE jti = @jti AND until_ms > @now)"
	}
	check += " THEN 1 ELSE 0 END"

	var q queries
	q.revoked = r(check, "jti", "fam", "sub", "iat", "now")

	// Revoking twice keeps the later expiry and the later cut-off.
	switch d {
	case Postgres:
		q.upsert = r("INSERT INTO {rev} AS r (kind, id, cutoff_s, until_ms) VALUES (@kind, @id, @cutoff, @until)"+
			" ON CONFLICT (kind, id) DO UPDATE SET cutoff_s = GREATEST(r.cutoff_s, EXCLUDED.cutoff_s), until_ms = GREATEST(r.until_ms, EXCLUDED.until_ms)",
			"kind", "id", "cutoff", "until")
		q.record = r("INSERT INTO {tok} (jti, subject, token_type, family, issued_s, expires_ms, until_ms) VALUES (@jti, @sub, @typ, @fam, @iat, @exp, @until)"+
			" ON CONFLICT (jti) DO NOTHING",
			"jti", "sub", "typ", "fam", "iat", "exp", "until")
	case MySQL:
		// VALUES() in ON DUPLICATE KEY UPDATE is what both MySQL and MariaDB
		// accept (MySQL 8.0.20 deprecates it in favour of a row alias that
		// MariaDB lacks).
		q.upsert = r("INSERT INTO {rev} (kind, id, cutoff_s, until_ms) VALUES (@kind, @id, @cutoff, @until)"+
			" ON DUPLICATE KEY UPDATE cutoff_s = GREATEST(cutoff_s, VALUES(cutoff_s)), until_ms = GREATEST(until_ms, VALUES(until_ms))",
			"kind", "id", "cutoff", "until")
		// Not INSERT IGNORE: it would turn every error into a warning.
		q.record = r("INSERT INTO {tok} (jti, subject, token_type, family, issued_s, expires_ms, until_ms) VALUES (@jti, @sub, @typ, @fam, @iat, @exp, @until)"+
			" ON DUPLICATE KEY UPDATE jti = jti",
			"jti", "sub", "typ", "fam", "iat", "exp", "until")
	case SQLite:
		q.upsert = r("INSERT INTO {rev} (kind, id, cutoff_s, until_ms) VALUES (@kind, @id, @cutoff, @until)"+
			" ON CONFLICT (kind, id) DO UPDATE SET cutoff_s = max(cutoff_s, excluded.cutoff_s), until_ms = max(until_ms, excluded.until_ms)",
			"kind", "id", "cutoff", "until")
		q.record = r("INSERT INTO {tok} (jti, subject, token_type, family, issued_s, expires_ms, until_ms) VALUES (@jti, @sub, @typ, @fam, @iat, @exp, @until)"+
			" ON CONFLICT (jti) DO NOTHING",
			"jti", "sub", "typ", "fam", "iat", "exp", "until")
	}

	// Consume replaces an expired record but leaves a held one alone,
	// so that exactly one of several racing calls changes a row.
	switch d {
	case Postgres:
		q.consume = r("INSERT INTO {rev} AS r (kind, id, cutoff_s, until_ms) VALUES (1, @id, 0, @until)"+
			" ON CONFLICT (kind, id) DO UPDATE SET cutoff_s = 0, until_ms = EXCLUDED.until_ms WHERE r.until_ms <= @now",
			"id", "until", "now")
	case SQLite:
		q.consume = r("INSERT INTO {rev} (kind, id, cutoff_s, until_ms) VALUES (1, @id, 0, @until)"+
			" ON CONFLICT (kind, id) DO UPDATE SET cutoff_s = 0, until_ms = excluded.until_ms WHERE until_ms <= @now",
			"id", "until", "now")
	case MySQL:
		q.consumeUpdate = r("UPDATE {rev} SET until_ms = @until WHERE kind = 1 AND id = @id AND until_ms <= @now", "id", "until", "now")
		q.consumeInsert = r("INSERT INTO {rev} (kind, id, cutoff_s, until_ms) VALUES (1, @id, 0, @until)", "id", "until")
	}
	q.live = r("SELECT kind, id, cutoff_s, until_ms FROM {rev} WHERE until_ms > @now", "now")
	q.tokenRevoked = r("SELECT COUNT(*) FROM {rev} WHERE kind = 1 AND id = @id AND until_ms > @now", "id", "now")

	q.deleteToken = r("DELETE FROM {tok} WHERE jti = @id", "id")
	q.deleteFamily = r("DELETE FROM {tok} WHERE family = @id", "id")
	q.deleteSubject = r("DELETE FROM {tok} WHERE subject = @id AND issued_s <= @cutoff", "id", "cutoff")
	q.revokeAll = r("DELETE FROM {tok} WHERE subject = @sub AND until_ms > @now", "sub", "now")

	// A token is active when it is recorded, its row still held, and no
	// revocation record covers it: the same rule as Revoked, so the two
	// never disagree.
	q.active = r("SELECT t.jti, t.token_type, t.family, t.issued_s, t.expires_ms FROM {tok} t"+
		" WHERE t.subject = @sub AND t.until_ms > @now"+
		" AND NOT EXISTS (SELECT 1 FROM {rev} r WHERE r.kind = 1 AND r.id = t.jti AND r.until_ms > @now)"+
		" AND NOT EXISTS (SELECT 1 FROM {rev} r WHERE r.kind = 3 AND r.id = t.family AND r.until_ms > @now)"+
		" AND NOT EXISTS (SELECT 1 FROM {rev} r WHERE r.kind = 2 AND r.id = t.subject AND r.cutoff_s >= t.issued_s AND r.until_ms > @now)"+
		" ORDER BY t.issued_s, t.jti",
		"sub", "now")

	// Sweeps delete in batches so that a large backlog never holds locks
	// for long. MySQL has DELETE ... LIMIT but refuses LIMIT in an IN
	// subquery; PostgreSQL is the other way round; SQLite takes the
	// subquery form.
	if d == MySQL {
		q.sweepRev = r("DELETE FROM {rev} WHERE until_ms <= @now LIMIT @n", "now", "n")
		q.sweepTok = r("DELETE FROM {tok} WHERE until_ms <= @now LIMIT @n", "now", "n")
	} else {
		q.sweepRev = r("DELETE FROM {rev} WHERE (kind, id) IN (SELECT kind, id FROM {rev} WHERE until_ms <= @now LIMIT @n) AND until_ms <= @now", "now", "n")
		q.sweepTok = r("DELETE FROM {tok} WHERE jti IN (SELECT jti FROM {tok} WHERE until_ms <= @now LIMIT @n) AND until_ms <= @now", "now", "n")
	}
	return q
}
