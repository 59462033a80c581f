package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/guardian-go/guardian/sqlstore"
)

// TestConformance runs the Revoker conformance suite against every backend
// in deny-list mode, with the sweeper running every 50ms beside it.
//
// The suite is not run in allow-list mode: there an unrecorded token is
// revoked by design, so the suite's "a fresh token is not revoked" checks
// (including one on empty claims, which can never be recorded) cannot hold.
// Allow-list mode evaluates the same revocation records in the same
// statement plus one more condition; TestAllowList and
// TestAllowListOneClock cover that mode's semantics on every backend.
func TestConformance(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		s := newStore(t, b, b.open(t), &sqlstore.Options{SweepInterval: 50 * time.Millisecond})
		revokertest.Run(t, func(*testing.T) guardian.Revoker { return s })
	})
}

func TestNew(t *testing.T) {
	db, err := sql.Open("sqlite", t.TempDir()+"/unused.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tests := []struct {
		name    string
		db      *sql.DB
		dialect sqlstore.Dialect
		opts    *sqlstore.Options
		wantErr error // nil: any error; check only that there is one
		ok      bool
	}{
		{name: "defaults", db: db, dialect: sqlstore.SQLite, ok: true},
		{name: "nil db", db: nil, dialect: sqlstore.SQLite},
		{name: "zero dialect", db: db, dialect: 0},
		{name: "unknown dialect", db: db, dialect: 42},
		{name: "plain name", db: db, dialect: sqlstore.Postgres, opts: &sqlstore.Options{RevocationsTable: "Revocations_2"}, ok: true},
		{name: "underscore first", db: db, dialect: sqlstore.MySQL, opts: &sqlstore.Options{RevocationsTable: "_r"}, ok: true},
		{name: "schema qualified", db: db, dialect: sqlstore.Postgres, opts: &sqlstore.Options{RevocationsTable: "auth.revocations"}, ok: true},
		{name: "48 bytes", db: db, dialect: sqlstore.SQLite, opts: &sqlstore.Options{RevocationsTable: strings.Repeat("a", 48)}, ok: true},
		{name: "49 bytes", db: db, dialect: sqlstore.SQLite, opts: &sqlstore.Options{RevocationsTable: strings.Repeat("a", 49)}, wantErr: sqlstore.ErrInvalidTableName},
		{name: "leading digit", db: db, dialect: sqlstore.SQLite, opts: &sqlstore.Options{RevocationsTable: "1abc"}, wantErr: sqlstore.ErrInvalidTableName},
		{name: "dash", db: db, dialect: sqlstore.SQLite, opts: &sqlstore.Options{RevocationsTable: "a-b"}, wantErr: sqlstore.ErrInvalidTableName},
		{name: "space", db: db, dialect: sqlstore.SQLite, opts: &sqlstore.Options{RevocationsTable: "a b"}, wantErr: sqlstore.ErrInvalidTableName},
		{name: "injection", db: db, dialect: sqlstore.SQLite, opts: &sqlstore.Options{RevocationsTable: "r; DROP TABLE users; --"}, wantErr: sqlstore.ErrInvalidTableName},
		{name: "double quote", db: db, dialect: sqlstore.Postgres, opts: &sqlstore.Options{RevocationsTable: `r"x`}, wantErr: sqlstore.ErrInvalidTableName},
		{name: "backtick", db: db, dialect: sqlstore.MySQL, opts: &sqlstore.Options{TokensTable: "t`x", AllowList: true}, wantErr: sqlstore.ErrInvalidTableName},
		{name: "three parts", db: db, dialect: sqlstore.Postgres, opts: &sqlstore.Options{RevocationsTable: "a.b.c"}, wantErr: sqlstore.ErrInvalidTableName},
		{name: "empty schema", db: db, dialect: sqlstore.Postgres, opts: &sqlstore.Options{RevocationsTable: ".r"}, wantErr: sqlstore.ErrInvalidTableName},
		{name: "empty table", db: db, dialect: sqlstore.Postgres, opts: &sqlstore.Options{RevocationsTable: "s."}, wantErr: sqlstore.ErrInvalidTableName},
		{name: "non-ASCII", db: db, dialect: sqlstore.SQLite, opts: &sqlstore.Options{RevocationsTable: "révocations"}, wantErr: sqlstore.ErrInvalidTableName},
		{name: "same tables in allow-list mode", db: db, dialect: sqlstore.SQLite, opts: &sqlstore.Options{AllowList: true, RevocationsTable: "x", TokensTable: "x"}, wantErr: sqlstore.ErrInvalidTableName},
		{name: "no token margin", db: db, dialect: sqlstore.SQLite, opts: &sqlstore.Options{AllowList: true, TokenMargin: -1}, ok: true},
		{name: "longest token margin", db: db, dialect: sqlstore.SQLite, opts: &sqlstore.Options{AllowList: true, TokenMargin: guardian.MaxRevocationTTL}, ok: true},
		{name: "token margin too long", db: db, dialect: sqlstore.SQLite, opts: &sqlstore.Options{AllowList: true, TokenMargin: guardian.MaxRevocationTTL + time.Millisecond}},
		{name: "tokens table is the counter", db: db, dialect: sqlstore.SQLite, opts: &sqlstore.Options{AllowList: true, RevocationsTable: "x", TokensTable: "x_seq"}, wantErr: sqlstore.ErrInvalidTableName},
		{name: "tokens table is the change log", db: db, dialect: sqlstore.SQLite, opts: &sqlstore.Options{AllowList: true, RevocationsTable: "x", TokensTable: "x_changes"}, wantErr: sqlstore.ErrInvalidTableName},
		{name: "feed interval of a millisecond", db: db, dialect: sqlstore.SQLite, opts: &sqlstore.Options{FeedInterval: time.Millisecond}, ok: true},
		{name: "feed interval too short", db: db, dialect: sqlstore.SQLite, opts: &sqlstore.Options{FeedInterval: time.Millisecond - 1}},
		{name: "negative feed interval", db: db, dialect: sqlstore.SQLite, opts: &sqlstore.Options{FeedInterval: -time.Second}},
		{name: "listener on PostgreSQL", db: db, dialect: sqlstore.Postgres, opts: &sqlstore.Options{Listener: idleListener{}}, ok: true},
		{name: "listener on MySQL", db: db, dialect: sqlstore.MySQL, opts: &sqlstore.Options{Listener: idleListener{}}},
		{name: "listener on SQLite", db: db, dialect: sqlstore.SQLite, opts: &sqlstore.Options{Listener: idleListener{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := sqlstore.New(tt.db, tt.dialect, tt.opts)
			if s != nil {
				defer s.Close()
			}
			switch {
			case tt.ok && err != nil:
				t.Fatalf("New() error = %v, want nil", err)
			case !tt.ok && err == nil:
				t.Fatalf("New() error = nil, want an error")
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("New() error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestNewDoesNoIO(t *testing.T) {
	// A database that does not exist: New must succeed anyway, and the
	// first call must fail closed.
	db, err := sql.Open("mysql", "nobody@tcp(127.0.0.1:1)/none?timeout=200ms")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := sqlstore.New(db, sqlstore.MySQL, nil)
	if err != nil {
		t.Fatalf("New() on an unreachable server = %v, want nil (New does no I/O)", err)
	}
	defer s.Close()
	got, err := s.Revoked(context.Background(), revokertest.Token("sub"))
	if err == nil || got {
		t.Fatalf("Revoked() on an unreachable server = %v, %v; want false and an error", got, err)
	}
	if !errors.Is(err, guardian.ErrUnavailable) {
		t.Fatalf("Revoked() error = %v, want it to wrap guardian.ErrUnavailable", err)
	}
}

func TestDialectString(t *testing.T) {
	tests := []struct {
		d    sqlstore.Dialect
		want string
	}{
		{d: sqlstore.Postgres, want: "postgres"},
		{d: sqlstore.MySQL, want: "mysql"},
		{d: sqlstore.SQLite, want: "sqlite"},
		{d: 9, want: "Dialect(9)"},
	}
	for _, tt := range tests {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("Dialect(%d).String() = %q, want %q", uint8(tt.d), got, tt.want)
		}
	}
}

// TestIDLimits checks the documented ID bounds on every backend: an ID of
// MaxIDLength bytes round-trips exactly, and longer or unstorable IDs are
// refused with ErrInvalidID rather than truncated or mangled.
func TestIDLimits(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		s := newStore(t, b, b.open(t), nil)
		now := testclock.Now()
		ctx := context.Background()

		// "é" is two bytes: the limit is in bytes.
		for _, id := range []string{
			strings.Repeat("x", sqlstore.MaxIDLength),
			revokertest.NewID("j") + strings.Repeat("é", (sqlstore.MaxIDLength-20)/2),
		} {
			c := revokertest.TokenAt(revokertest.NewID("sub"), now)
			c.ID = id
			revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: now, TTL: time.Hour})
			revokertest.WantRevoked(t, s, c, true, "a token whose jti is at the length limit")
			near := revokertest.TokenAt(c.Subject, now)
			near.ID = id[:len(id)-2] + "yy"
			revokertest.WantRevoked(t, s, near, false, "a token whose jti differs in the last byte")
		}
		// Case and trailing spaces matter (MySQL's string collations would
		// say otherwise).
		c := revokertest.TokenAt(revokertest.NewID("sub"), now)
		c.ID = revokertest.NewID("CaseSensitive")
		revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: now, TTL: time.Hour})
		for _, other := range []string{strings.ToLower(c.ID), c.ID + " ", c.ID + "\t"} {
			o := revokertest.TokenAt(c.Subject, now)
			o.ID = other
			revokertest.WantRevoked(t, s, o, false, "a token whose jti equals a revoked one but for case or trailing space: "+other)
		}

		// Refused IDs never match a record: Revoked answers, without error.
		bad := []struct {
			name string
			id   string
		}{
			{name: "too long", id: strings.Repeat("x", sqlstore.MaxIDLength+1)},
			{name: "NUL byte", id: "a\x00b"},
			{name: "invalid UTF-8", id: "a\xffb"},
		}
		for _, tt := range bad {
			t.Run(tt.name, func(t *testing.T) {
				err := s.Revoke(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: tt.id, At: now, TTL: time.Hour})
				if !errors.Is(err, sqlstore.ErrInvalidID) {
					t.Errorf("Revoke(%s ID) = %v, want ErrInvalidID", tt.name, err)
				}
				for _, field := range []string{"jti", "subject", "family"} {
					c := revokertest.TokenAt(revokertest.NewID("sub"), now)
					switch field {
					case "jti":
						c.ID = tt.id
					case "subject":
						c.Subject = tt.id
					case "family":
						c.Family = tt.id
					}
					got, err := s.Revoked(ctx, c)
					if got || err != nil {
						t.Errorf("Revoked(%s with %s) = %v, %v; want false, nil (such an ID was never revoked)", field, tt.name, got, err)
					}
				}
			})
		}
	})
}

// TestMissingSchemaFailsClosed checks that a store whose tables do not exist
// answers with an error, not "not revoked".
func TestMissingSchemaFailsClosed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		opts := &sqlstore.Options{SweepInterval: -1}
		uniqueTables(t, b, opts)
		s, err := sqlstore.New(b.open(t), b.dialect, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		got, err := s.Revoked(context.Background(), revokertest.Token("sub"))
		if got || err == nil {
			t.Fatalf("Revoked() without tables = %v, %v; want false and an error", got, err)
		}
		if !errors.Is(err, guardian.ErrUnavailable) {
			t.Errorf("Revoked() error = %v, want it to wrap guardian.ErrUnavailable", err)
		}
		now := testclock.Now()
		if err := s.Revoke(context.Background(), guardian.Revocation{Kind: guardian.ByToken, ID: "x", At: now, TTL: time.Hour}); err == nil {
			t.Error("Revoke() without tables = nil, want an error")
		}
	})
}

// TestContextErrorWrapped checks that a Revoked failing on its context's
// deadline says so through errors.Is.
func TestContextErrorWrapped(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		s := newStore(t, b, b.open(t), nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := s.Revoked(ctx, revokertest.Token("sub"))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Revoked(canceled) error = %v, want it to wrap context.Canceled", err)
		}
	})
}

func TestClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		db := b.open(t)
		s := newStore(t, b, db, &sqlstore.Options{SweepInterval: 10 * time.Millisecond, AllowList: true})
		ctx := context.Background()
		c := revokertest.Token(revokertest.NewID("sub"))
		if err := s.Record(ctx, c); err != nil {
			t.Fatal(err)
		}
		revokertest.WantRevoked(t, s, c, false, "a recorded token")
		time.Sleep(30 * time.Millisecond) // let the sweeper run
		done := sqlstore.SweeperDone(s)
		for i := range 2 {
			if err := s.Close(); err != nil {
				t.Fatalf("Close() #%d = %v, want nil", i+1, err)
			}
		}
		select {
		case <-done:
		default:
			t.Fatal("the sweeper goroutine is still running after Close returned")
		}
		if err := db.PingContext(ctx); err != nil {
			t.Fatalf("db.Ping() after Close = %v; Close must not close the caller's *sql.DB", err)
		}
		now := testclock.Now()
		calls := []struct {
			name string
			err  error
		}{
			{name: "Revoke", err: s.Revoke(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: "x", At: now, TTL: time.Hour})},
			{name: "Revoked", err: func() error { _, err := s.Revoked(ctx, c); return err }()},
			{name: "Record", err: s.Record(ctx, revokertest.TokenAt("sub", now))},
			{name: "ActiveTokens", err: func() error { _, err := s.ActiveTokens(ctx, c.Subject); return err }()},
			{name: "RevokeAll", err: func() error { _, err := s.RevokeAll(ctx, c.Subject); return err }()},
			{name: "Sweep", err: func() error { _, err := s.Sweep(ctx); return err }()},
			{name: "CreateSchema", err: s.CreateSchema(ctx)},
			{name: "Follow", err: s.Follow(ctx, &recSink{})},
		}
		for _, call := range calls {
			if !errors.Is(call.err, sqlstore.ErrClosed) {
				t.Errorf("%s after Close = %v, want ErrClosed", call.name, call.err)
			}
		}
	})
}

// TestRestart checks that revocations and recorded tokens outlive the store
// and the connection pool: a new *sql.DB and Store on the same database (or
// SQLite file) see them.
func TestRestart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		opts := &sqlstore.Options{AllowList: true, SweepInterval: -1}
		uniqueTables(t, b, opts)
		ctx := context.Background()
		now := testclock.Now()
		revokedToken := revokertest.TokenAt(revokertest.NewID("sub"), now)
		revokedFamily := revokertest.TokenAt(revokertest.NewID("sub"), now)
		revokedSubject := revokertest.TokenAt(revokertest.NewID("sub"), now.Add(-time.Minute))
		kept := revokertest.TokenAt(revokertest.NewID("sub"), now)
		all := []*guardian.Claims{revokedToken, revokedFamily, revokedSubject, kept}

		db1, err := sql.Open(b.driver(), b.dsn)
		if err != nil {
			t.Fatal(err)
		}
		limitPool(db1)
		s1 := openStore(t, b, db1, opts)
		for _, c := range all {
			if err := s1.Record(ctx, c); err != nil {
				t.Fatalf("Record() = %v", err)
			}
		}
		revokertest.MustRevoke(t, s1, guardian.Revocation{Kind: guardian.ByToken, ID: revokedToken.ID, At: now, TTL: time.Hour})
		revokertest.MustRevoke(t, s1, guardian.Revocation{Kind: guardian.ByFamily, ID: revokedFamily.Family, At: now, TTL: time.Hour})
		revokertest.MustRevoke(t, s1, guardian.Revocation{Kind: guardian.BySubject, ID: revokedSubject.Subject, At: now, TTL: time.Hour})
		if err := s1.Close(); err != nil {
			t.Fatal(err)
		}
		if err := db1.Close(); err != nil {
			t.Fatal(err)
		}

		db2 := b.open(t)
		s2, err := sqlstore.New(db2, b.dialect, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		revokertest.WantRevoked(t, s2, revokedToken, true, "a token revoked before the restart")
		revokertest.WantRevoked(t, s2, revokedFamily, true, "a family revoked before the restart")
		revokertest.WantRevoked(t, s2, revokedSubject, true, "a subject revoked before the restart")
		revokertest.WantRevoked(t, s2, kept, false, "a token recorded before the restart")
		// The same holds for a deny-list store on the same tables.
		deny := *opts
		deny.AllowList = false
		s3, err := sqlstore.New(db2, b.dialect, &deny)
		if err != nil {
			t.Fatal(err)
		}
		defer s3.Close()
		for _, c := range all[:3] {
			revokertest.WantRevoked(t, s3, c, true, "a revocation made in allow-list mode, seen in deny-list mode")
		}
		revokertest.WantRevoked(t, s3, kept, false, "a token never revoked, in deny-list mode")
	})
}

// TestCloseWhileInUse closes a store under concurrent calls: each call
// answers or returns ErrClosed, and nothing panics or races.
func TestCloseWhileInUse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		s := newStore(t, b, b.open(t), &sqlstore.Options{SweepInterval: time.Millisecond})
		c := revokertest.Token(revokertest.NewID("sub"))
		ctx := context.Background()
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					if _, err := s.Revoked(ctx, c); err != nil {
						if !errors.Is(err, sqlstore.ErrClosed) {
							t.Errorf("Revoked() during Close = %v, want nil or ErrClosed", err)
						}
						return
					}
				}
			})
		}
		time.Sleep(20 * time.Millisecond)
		s.Close()
		wg.Wait()
	})
}
