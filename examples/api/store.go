package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/redisstore"
	"github.com/guardian-go/guardian/sqlstore"
	"github.com/guardian-go/guardian/sqlstore/pgxlisten"
)

// store is an open revocation store, what pings it and what closes it.
type store struct {
	revoker guardian.Revoker
	// replay is the store itself as the DPoP verifier's ReplayCache, so
	// that instances sharing the store refuse each other's replayed
	// proofs; nil (a test's in-memory revoker) means the library's
	// MemoryReplayCache.
	replay guardian.ReplayCache
	kind   string
	// mirror is the FeedMirror in front of a shared store, nil without one.
	mirror  *guardian.FeedMirror
	pinger  func(context.Context) error // nil: always healthy
	closers []func() error
}

// ping reports whether the store's server answers (for SQLite, whether
// the database file does) within ctx.
func (s *store) ping(ctx context.Context) error {
	if s.pinger == nil {
		return nil
	}
	return s.pinger(ctx)
}

// Close closes the store, then its connection.
func (s *store) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// storeConfig says how to open the store.
type storeConfig struct {
	// wrap, when not nil, decorates the revoker itself (not a mirror in
	// front of it): the server times its calls with it.
	wrap func(guardian.Revoker) guardian.Revoker
	// mirror puts a FeedMirror in front of a shared store (PostgreSQL,
	// MySQL, Redis): the -mirror flag.
	mirror bool
	logger *slog.Logger
}

// openStore opens the store the -store flag names: an SQLite file path (or
// sqlite:PATH), or a postgres://, postgresql://, mysql:// or redis:// URL.
// SQL tables (the DPoP replay table among them) are created when missing.
// The store is both the revoker and the DPoP replay cache. An SQLite file
// gets a Mirror (this process owns it); a shared store gets a FeedMirror
// when cfg.mirror is set.
func openStore(ctx context.Context, spec string, cfg storeConfig) (*store, error) {
	if cfg.wrap == nil {
		cfg.wrap = func(r guardian.Revoker) guardian.Revoker { return r }
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	wrap := cfg.wrap
	scheme, _, _ := strings.Cut(spec, "://")
	var st *store
	var err error
	switch {
	case scheme == "postgres" || scheme == "postgresql":
		st, err = openSQL(ctx, "pgx", spec, sqlstore.Postgres, "postgres", wrap)
	case scheme == "mysql":
		dsn, derr := mysqlDSN(spec)
		if derr != nil {
			return nil, derr
		}
		st, err = openSQL(ctx, "mysql", dsn, sqlstore.MySQL, "mysql", wrap)
	case scheme == "redis" || scheme == "rediss":
		st, err = openRedis(ctx, spec, wrap, cfg.logger)
	case strings.Contains(spec, "://"):
		return nil, fmt.Errorf("-store %q: unknown scheme %q", redact(spec), scheme)
	default:
		path := strings.TrimPrefix(spec, "sqlite:")
		if path == "" {
			return nil, fmt.Errorf("-store: empty SQLite path")
		}
		// The Mirror in front of the file (see openSQL) sees the
		// revocations of this process only: keep other processes out,
		// before the database is opened.
		release := func() error { return nil }
		if path != ":memory:" {
			var err error
			if release, err = lockSQLite(path); err != nil {
				return nil, err
			}
		}
		// WAL and synchronous=FULL: a revocation that returned is on disk.
		dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)"
		st, err := openSQL(ctx, "sqlite", dsn, sqlstore.SQLite, "sqlite", wrap)
		if err != nil {
			release()
			return nil, err
		}
		// Released last, once the database is closed.
		st.closers = append(st.closers, release)
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if cfg.mirror {
		if err := st.mirrorFeed(ctx, cfg.logger); err != nil {
			st.Close()
			return nil, err
		}
	}
	return st, nil
}

// mirrorStartWait is how long the server waits at start for its mirror to
// be current; it serves anyway after that, asking the store meanwhile.
const mirrorStartWait = 10 * time.Second

// mirrorFeed puts a FeedMirror in front of the shared store: checks are
// answered from memory, which the store's change feed keeps current
// (bound: guardian.DefaultFeedMaxLag), and from the store while the
// mirror is not current.
func (s *store) mirrorFeed(ctx context.Context, logger *slog.Logger) error {
	feed, ok := s.revoker.(guardian.Feed)
	if !ok {
		return fmt.Errorf("the %s store has no change feed", s.kind)
	}
	m, err := guardian.NewFeedMirror(feed, &guardian.FeedMirrorOptions{Logger: logger})
	if err != nil {
		return err
	}
	wait, cancel := context.WithTimeout(ctx, mirrorStartWait)
	defer cancel()
	if err := m.WaitCurrent(wait); err != nil {
		logger.Warn("the revocation mirror is not current yet; checks go to the store until it is", "err", err)
	}
	s.revoker, s.mirror = m, m
	s.kind += " (feed-mirrored in memory)"
	s.closers = append([]func() error{m.Close}, s.closers...)
	return nil
}

// maxDBConns is the size of the PostgreSQL and MySQL connection pools:
// open and idle connections alike.
const maxDBConns = 50

func openSQL(ctx context.Context, driver, dsn string, dialect sqlstore.Dialect, kind string, wrap func(guardian.Revoker) guardian.Revoker) (*store, error) {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s store: %w", kind, err)
	}
	if dialect == sqlstore.SQLite {
		db.SetMaxOpenConns(1) // one writer; SQLite serializes writes anyway
	} else {
		// As many idle connections as open ones: with database/sql's
		// default of 2 idle, concurrent requests close and reopen
		// connections all the time (see sqlstore's README, "Size the pool").
		db.SetMaxOpenConns(maxDBConns)
		db.SetMaxIdleConns(maxDBConns)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s store: %w", kind, err)
	}
	var opts sqlstore.Options
	if dialect == sqlstore.Postgres {
		// The feed's followers poll as soon as a write commits (LISTEN),
		// rather than at their next interval only.
		l, err := pgxlisten.New(db)
		if err != nil {
			db.Close()
			return nil, err
		}
		opts.Listener = l
	}
	s, err := sqlstore.New(db, dialect, &opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := s.CreateSchema(pingCtx); err != nil {
		s.Close()
		db.Close()
		return nil, fmt.Errorf("create %s tables: %w", kind, err)
	}
	st := &store{revoker: wrap(s), replay: s, kind: kind, pinger: db.PingContext, closers: []func() error{s.Close, db.Close}}
	if dialect == sqlstore.SQLite {
		// The SQLite file is this process's alone (openStore locks it):
		// keep its revocations in memory too, so that checks cost no query.
		// Writes still go to the file first, and a restart reloads them.
		lister, ok := st.revoker.(guardian.Lister)
		if !ok {
			st.Close()
			return nil, fmt.Errorf("the wrapped SQLite store cannot list its revocations")
		}
		m, err := guardian.NewMirror(pingCtx, lister, nil)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("load revocations: %w", err)
		}
		st.revoker, st.kind = m, "sqlite (mirrored in memory)"
		st.closers = append([]func() error{m.Close}, st.closers...)
	}
	return st, nil
}

func openRedis(ctx context.Context, spec string, wrap func(guardian.Revoker) guardian.Revoker, logger *slog.Logger) (*store, error) {
	opts, err := redis.ParseURL(spec)
	if err != nil {
		return nil, fmt.Errorf("-store: %w", err)
	}
	opts.ContextTimeoutEnabled = true
	client := redis.NewClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("connect to redis store: %w", err)
	}
	s, err := redisstore.New(client, nil)
	if err != nil {
		client.Close()
		return nil, err
	}
	warnDurability(pingCtx, s, logger)
	ping := func(ctx context.Context) error { return client.Ping(ctx).Err() }
	return &store{revoker: wrap(s), replay: s, kind: "redis", pinger: ping, closers: []func() error{client.Close}}, nil
}

// warnDurability logs a warning when Redis would lose revocations on a
// restart or a crash: logged-out tokens would work again.
func warnDurability(ctx context.Context, s *redisstore.Store, logger *slog.Logger) {
	p, err := s.Persistence(ctx)
	if err != nil {
		logger.Warn("could not read how Redis persists revocations", "err", err)
		return
	}
	if d := p.Durability(); d < redisstore.DurabilityAOFEverySec {
		logger.Warn("Redis may lose revocations; turn on its append-only file (appendonly yes, with appendfsync everysec or always)",
			"durability", d.String(), "risk", d.Risk(), "servers", p.String())
	}
}

// mysqlDSN turns mysql://user:pass@host:port/db?params into the driver's
// DSN.
func mysqlDSN(spec string) (string, error) {
	u, err := url.Parse(spec)
	if err != nil {
		return "", fmt.Errorf("-store: %w", err)
	}
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	cfg.ParseTime = true
	if cfg.DBName == "" {
		return "", fmt.Errorf("-store: the MySQL URL names no database")
	}
	return cfg.FormatDSN(), nil
}

// redact drops the password of a URL for messages.
func redact(spec string) string {
	u, err := url.Parse(spec)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
