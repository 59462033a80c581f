// Package sqlstore is a [guardian.Revoker] that keeps revocations in a SQL
// database through database/sql: PostgreSQL, MySQL/MariaDB or SQLite. Every
// instance of a service sharing the database refuses a token once one of
// them has revoked it, also after a restart.
//
// The package imports no driver: open the *sql.DB with the driver of your
// choice and name its dialect.
//
//	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL")) // github.com/jackc/pgx/v5/stdlib
//	...
//	store, err := sqlstore.New(db, sqlstore.Postgres, nil)
//	...
//	defer store.Close()
//	if err := store.CreateSchema(ctx); err != nil { ... }
//
// # Revocation model
//
// A token is revoked by jti; a refresh family is revoked as a whole; a
// subject revocation records a cut-off ("log out everywhere"): tokens of
// the subject issued at or before it, in whole seconds, are refused (see
// [guardian.SubjectCutoffCovers]). Each record is kept for its
// [guardian.Revocation].TTL, counted from when the store receives it on
// the store's own clock ([Options].Clock) and rounded up to the
// millisecond; guardian's Issuer computes the TTL so that it covers every
// token the record concerns. Revoking again keeps the later expiry and the
// later cut-off, so a cut-off only moves forward. Records are reported for
// their TTL only, and a background sweeper deletes them afterwards (see
// [Options].SweepInterval and [Store.Sweep]).
//
// One clock: the store never compares a token's dates (exp, iat) or a
// revocation's At with its clock, which only measures how long it has
// held a record; the cut-off is compared with iat alone. So a store whose
// clock is a year off the issuers' keeps every record exactly as long as
// they need it.
//
// [Store.Consume] makes the store a [guardian.TokenConsumer]: it revokes a
// token and reports whether this call did, atomically, so that of several
// concurrent refreshes with one refresh token exactly one succeeds.
//
// [Store.Revoked] is one statement of a few primary-key lookups. It fails
// closed: when the database cannot answer in time (down, slow past the
// context's deadline, ctx canceled), it returns an error wrapping
// [guardian.ErrUnavailable], never "not revoked", and guardian's middleware
// answers 503. Every method returns by its context's deadline, also when
// the server hangs: no call waits for another (the statements prepared on
// first use are prepared by one call while the others run theirs
// unprepared). database/sql replaces broken connections, so the store
// recovers by itself when the database comes back. Input a store cannot
// take (an invalid [guardian.Revocation], an ID that cannot be stored) is
// refused with an error wrapping [guardian.ErrInvalidRevocation] or
// [ErrInvalidID], never [guardian.ErrUnavailable].
//
// # Schema
//
// Creating tables is opt-in: call [Store.CreateSchema] at start-up (it is
// idempotent and safe from several instances at once), or put the DDL that
// [Store.Schema] returns into your migrations. Table names are options
// ([Options].RevocationsTable, [Options].TokensTable); they are checked to be
// plain identifiers and quoted, and nothing else is ever put into SQL text:
// every value is a bound parameter. For PostgreSQL, with the default names:
//
//	CREATE TABLE IF NOT EXISTS "guardian_revocations" (
//		kind SMALLINT NOT NULL,        -- 1 token (jti), 2 subject, 3 family
//		id TEXT COLLATE "C" NOT NULL,  -- the jti, sub or family
//		cutoff_s BIGINT NOT NULL,      -- subject cut-off, Unix seconds (issuer's clock); 0 otherwise
//		until_ms BIGINT NOT NULL,      -- when the record expires, Unix ms (store's clock)
//		PRIMARY KEY (kind, id)
//	);
//	CREATE INDEX IF NOT EXISTS "guardian_revocations_until_idx" ON "guardian_revocations" (until_ms);
//
// Instants are stored as integers: Unix seconds for the cut-off, compared
// with iat's whole seconds only, and Unix milliseconds for expiries,
// computed from and compared with the application's clock (not the
// database server's): no time zone or column type can shift them. IDs are
// compared byte for byte (VARBINARY in MySQL, whose string collations
// ignore case and trailing spaces) and may be up to [MaxIDLength] bytes;
// IDs that [guardian.CheckID] refuses are refused with [ErrInvalidID].
// The replay table and the change log's two tables (below) are part of the
// schema in both modes. The README lists the DDL of every dialect.
//
// # Change feed
//
// A Store is a [guardian.Feed] ([Store.Follow]): a [guardian.FeedMirror]
// on every instance of a fleet answers checks from memory while the feed
// keeps it current with the revocations written by all instances, within
// the mirror's MaxLag. Every Revoke, and every Consume that records its
// token, also writes a row of the change log, numbered by a counter that
// the write increments in its transaction (so the writes of one store take
// turns on the counter's row); followers read the log every
// [Options].FeedInterval, and on PostgreSQL at once when notified (see
// [Options].Listener and package pgxlisten). A hole in the log
// ([ErrFeedGap]) or a failure makes the follower start over with a
// listing. The log's tables are named after the revocations table:
// "<table>_seq" (the counter, one row) and "<table>_changes".
//
// # DPoP replay cache
//
// A Store is also a [guardian.ReplayCache] ([Store.Use]): instances whose
// DPoP verifiers share the database refuse a proof any of them has seen.
// Its keys live in the replay table, named after the revocations table
// with "_replay" appended and part of [Store.Schema] in both modes.
//
// # Allow-list mode
//
// With [Options].AllowList (GuardianDB's model), every issued token must be
// recorded through [Store.Record], which has the signature of the issuer's
// after-issue hook, and Revoked reports true for any token that was not,
// still in one statement. A recorded token's row is kept for the token's
// lifetime (exp - iat) plus [Options].TokenMargin, from when it is
// recorded, on the store's clock, so this mode obeys the one clock too.
// Revoking a token deletes its row; subject cut-offs and family
// revocations still apply. [Store.ActiveTokens] lists
// a subject's sessions; revoke one with a [guardian.ByToken]
// revocation, or all with [Store.RevokeAll] or a [guardian.BySubject]
// revocation.
//
// # Durability
//
// A Revoke that returned nil has been committed, with its change (db must
// be in autocommit mode, database/sql's default: the store runs its own
// transactions). It survives a crash of the database when
// the server flushes commits: PostgreSQL's synchronous_commit = on (the
// default), MySQL's innodb_flush_log_at_trx_commit = 1 (the default), and,
// for SQLite, journal_mode = WAL with synchronous = FULL. Point the store
// at the primary, or at a synchronously replicated database: a replica
// that lags can miss a revocation.
package sqlstore
