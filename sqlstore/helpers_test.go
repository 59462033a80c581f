package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/guardian-go/guardian/sqlstore"
)

// Integration tests read the server addresses from these variables. When
// one is unset its tests are skipped, except under CI=true, where they fail.
const (
	postgresEnv = "GUARDIAN_TEST_POSTGRES_DSN"
	mysqlEnv    = "GUARDIAN_TEST_MYSQL_DSN"
)

// backend is a database the tests run against.
type backend struct {
	name    string
	dialect sqlstore.Dialect
	dsn     string // for SQLite, a file in the test's temp dir
}

var backendNames = []string{"sqlite", "postgres", "mysql"}

// newBackend returns the named backend, or skips (fails under CI=true) when
// its DSN is not set.
func newBackend(tb testing.TB, name string) *backend {
	tb.Helper()
	switch name {
	case "sqlite":
		path := filepath.Join(tb.TempDir(), "guardian.db")
		b := &backend{name: name, dialect: sqlstore.SQLite, dsn: sqliteDSN(path)}
		// Switch the new file to WAL once, alone: connections that open it
		// at the same moment would each try, and all but one get
		// SQLITE_BUSY, which the busy timeout does not cover.
		db, err := sql.Open("sqlite", b.dsn)
		if err != nil {
			tb.Fatalf("sql.Open(sqlite): %v", err)
		}
		if err := db.Ping(); err != nil {
			tb.Fatalf("open sqlite file: %v", err)
		}
		db.Close()
		return b
	case "postgres":
		return &backend{name: name, dialect: sqlstore.Postgres, dsn: dsnFromEnv(tb, postgresEnv)}
	case "mysql":
		return &backend{name: name, dialect: sqlstore.MySQL, dsn: dsnFromEnv(tb, mysqlEnv)}
	}
	tb.Fatalf("unknown backend %q", name)
	return nil
}

// sqliteDSN is the DSN the README recommends: WAL with synchronous=FULL so
// that a committed revocation survives a power loss, and a busy timeout so
// that concurrent writers wait for each other.
func sqliteDSN(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
}

func dsnFromEnv(tb testing.TB, env string) string {
	tb.Helper()
	dsn := os.Getenv(env)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not set; under CI=true the integration tests must run", env)
		}
		tb.Skipf("%s is not set; skipping", env)
	}
	return dsn
}

// forEachBackend runs f as a parallel subtest per backend.
func forEachBackend(t *testing.T, f func(t *testing.T, b *backend)) {
	t.Helper()
	for _, name := range backendNames {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, newBackend(t, name))
		})
	}
}

func (b *backend) driver() string {
	switch b.dialect {
	case sqlstore.Postgres:
		return "pgx"
	case sqlstore.MySQL:
		return "mysql"
	}
	return "sqlite"
}

// open opens a new *sql.DB on the backend's database, closed when the test
// ends.
func (b *backend) open(tb testing.TB) *sql.DB {
	tb.Helper()
	db, err := sql.Open(b.driver(), b.dsn)
	if err != nil {
		tb.Fatalf("sql.Open(%s): %v", b.name, err)
	}
	limitPool(db)
	tb.Cleanup(func() { db.Close() })
	return db
}

// testPoolSize bounds each test pool, as the README tells users to: a test
// that starts a hundred writers at once would otherwise open a hundred
// connections, and the suite's runs with clock offsets, which share the
// servers at the same time, would reach MariaDB's max_connections (151)
// and PostgreSQL's (100).
const testPoolSize = 8

// limitPool bounds db to testPoolSize connections, all of them kept idle.
func limitPool(db *sql.DB) {
	db.SetMaxOpenConns(testPoolSize)
	db.SetMaxIdleConns(testPoolSize)
}

// openVia opens the backend's database through a TCP proxy at addr.
func (b *backend) openVia(tb testing.TB, addr string) *sql.DB {
	tb.Helper()
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatal(err)
	}
	var db *sql.DB
	switch b.dialect {
	case sqlstore.Postgres:
		cfg, err := pgx.ParseConfig(b.dsn)
		if err != nil {
			tb.Fatalf("parse %s: %v", postgresEnv, err)
		}
		port, _ := strconv.ParseUint(portStr, 10, 16)
		cfg.Host, cfg.Port, cfg.Fallbacks = host, uint16(port), nil
		db = stdlib.OpenDB(*cfg)
	case sqlstore.MySQL:
		cfg, err := mysql.ParseDSN(b.dsn)
		if err != nil {
			tb.Fatalf("parse %s: %v", mysqlEnv, err)
		}
		cfg.Net, cfg.Addr = "tcp", addr
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			tb.Fatal(err)
		}
		db = sql.OpenDB(conn)
	default:
		tb.Fatalf("%s has no network address", b.name)
	}
	limitPool(db)
	tb.Cleanup(func() { db.Close() })
	return db
}

// serverAddr is the host:port of the backend's server.
func (b *backend) serverAddr(tb testing.TB) string {
	tb.Helper()
	switch b.dialect {
	case sqlstore.Postgres:
		cfg, err := pgx.ParseConfig(b.dsn)
		if err != nil {
			tb.Fatal(err)
		}
		return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	case sqlstore.MySQL:
		cfg, err := mysql.ParseDSN(b.dsn)
		if err != nil {
			tb.Fatal(err)
		}
		return cfg.Addr
	}
	tb.Fatalf("%s has no network address", b.name)
	return ""
}

// schemaName is the schema (database, for MySQL) that tables are in, for
// tests of qualified names.
func (b *backend) schemaName(tb testing.TB) string {
	switch b.dialect {
	case sqlstore.Postgres:
		return "public"
	case sqlstore.MySQL:
		cfg, err := mysql.ParseDSN(b.dsn)
		if err != nil {
			tb.Fatal(err)
		}
		return cfg.DBName
	}
	return "main"
}

func randomSuffix(tb testing.TB) string {
	var buf [6]byte
	if _, err := rand.Read(buf[:]); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(buf[:])
}

// uniqueTables sets unique table names in opts, so that concurrent test runs
// on one server never collide, and drops the tables when the test ends.
func uniqueTables(tb testing.TB, b *backend, opts *sqlstore.Options) {
	tb.Helper()
	suffix := randomSuffix(tb)
	if opts.RevocationsTable == "" {
		opts.RevocationsTable = "gtest_rev_" + suffix
	}
	if opts.TokensTable == "" {
		opts.TokensTable = "gtest_tok_" + suffix
	}
	if b.dialect == sqlstore.SQLite {
		return // the file goes with the temp dir
	}
	rev, tok := opts.RevocationsTable, opts.TokensTable
	tb.Cleanup(func() {
		db, err := sql.Open(b.driver(), b.dsn)
		if err != nil {
			tb.Errorf("drop tables: %v", err)
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, table := range []string{rev, rev + "_replay", rev + "_seq", rev + "_changes", tok} {
			if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+quoteTable(b, table)); err != nil {
				tb.Errorf("drop table %s: %v", table, err)
			}
		}
	})
}

// quoteTable quotes a table name of Options for the backend, as the store
// does.
func quoteTable(b *backend, name string) string {
	q := `"`
	if b.dialect == sqlstore.MySQL {
		q = "`"
	}
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = q + p + q
	}
	return strings.Join(parts, ".")
}

// unusedDB is a *sql.DB for stores that never touch their database.
func unusedDB(tb testing.TB) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", filepath.Join(tb.TempDir(), "unused.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// newStore returns a store on db with unique tables, its schema created,
// closed when the test ends. A nil opts means defaults with the sweeper off.
func newStore(tb testing.TB, b *backend, db *sql.DB, opts *sqlstore.Options) *sqlstore.Store {
	tb.Helper()
	var o sqlstore.Options
	if opts != nil {
		o = *opts
	} else {
		o.SweepInterval = -1
	}
	uniqueTables(tb, b, &o)
	return openStore(tb, b, db, &o)
}

// openStore returns a store on db with exactly opts, its schema created,
// closed when the test ends.
func openStore(tb testing.TB, b *backend, db *sql.DB, opts *sqlstore.Options) *sqlstore.Store {
	tb.Helper()
	s, err := sqlstore.New(db, b.dialect, opts)
	if err != nil {
		tb.Fatalf("New(%s) = %v", b.name, err)
	}
	tb.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.CreateSchema(ctx); err != nil {
		tb.Fatalf("CreateSchema(%s) = %v", b.name, err)
	}
	return s
}

// countRows counts the rows of table.
func countRows(tb testing.TB, db *sql.DB, table string) int {
	tb.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		tb.Fatalf("count %s: %v", table, err)
	}
	return n
}
