// Package pgxlisten is a [sqlstore.Listener] for PostgreSQL through pgx
// (github.com/jackc/pgx/v5/stdlib): with it, [sqlstore.Store.Follow]
// reads the change log as soon as a revocation is committed, typically a
// few milliseconds later, instead of at its next [sqlstore.Options]
// FeedInterval. database/sql has no LISTEN, so this package takes one
// connection of the pool and uses pgx on it directly.
//
//	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
//	...
//	listener, err := pgxlisten.New(db)
//	...
//	store, err := sqlstore.New(db, sqlstore.Postgres, &sqlstore.Options{Listener: listener})
//
// The connection is held for as long as the store is followed (one per
// [guardian.FeedMirror]): count it in the pool's SetMaxOpenConns. It never
// goes back to the pool, since a session that listens would keep
// receiving notifications there: when Listen returns, the connection is
// closed and the pool forgets it.
//
// It is its own package so that package sqlstore imports no driver.
package pgxlisten

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/guardian-go/guardian/sqlstore"
)

// maxChannel is PostgreSQL's longest identifier, in bytes (NAMEDATALEN-1).
const maxChannel = 63

// closeTimeout bounds the close of the listening connection.
const closeTimeout = time.Second

// Listener listens for PostgreSQL notifications on a connection of a pool
// opened with pgx's database/sql driver. Create it with [New]; it is safe
// for concurrent use, each Listen on a connection of its own.
type Listener struct {
	db *sql.DB
}

var _ sqlstore.Listener = (*Listener)(nil)

// New returns a Listener that takes its connections from db, which must
// have been opened with github.com/jackc/pgx/v5/stdlib (sql.Open("pgx",
// ...), stdlib.OpenDB or stdlib.OpenDBFromPool); Listen fails with another
// driver. The caller keeps ownership of db.
func New(db *sql.DB) (*Listener, error) {
	if db == nil {
		return nil, errors.New("pgxlisten: nil *sql.DB")
	}
	return &Listener{db: db}, nil
}

// Listen runs LISTEN channel on a connection of its own, calls ready once
// that is done and notify at each notification, until ctx is done or the
// connection breaks, and returns why: ctx's error, or the connection's.
// channel is an identifier, quoted as such (case and every character
// kept); one that is empty, longer than 63 bytes or holds a NUL byte is
// refused. Whenever it returns, the connection is closed, never given back
// to the pool.
func (l *Listener) Listen(ctx context.Context, channel string, ready func(), notify func()) error {
	switch {
	case channel == "" || len(channel) > maxChannel:
		return fmt.Errorf("pgxlisten: channel %q: want 1 to %d bytes", channel, maxChannel)
	case strings.IndexByte(channel, 0) >= 0:
		return fmt.Errorf("pgxlisten: channel %q holds a NUL byte", channel)
	case ready == nil || notify == nil:
		return errors.New("pgxlisten: Listen needs ready and notify functions")
	}
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("pgxlisten: take a connection: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("pgxlisten: the pool's connections are %T, not pgx's; open the *sql.DB with github.com/jackc/pgx/v5/stdlib", dc)
		}
		pc := sc.Conn()
		// Closed on the way out, and reported to database/sql as bad:
		// either way the pool drops it.
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			defer cancel()
			pc.Close(cctx)
		}()
		if _, err := pc.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
			return discarded{fmt.Errorf("pgxlisten: LISTEN %q: %w", channel, err)}
		}
		ready()
		for {
			if _, err := pc.WaitForNotification(ctx); err != nil {
				return discarded{fmt.Errorf("pgxlisten: wait for notifications on %q: %w", channel, err)}
			}
			notify()
		}
	})
}

// discarded is an error that makes database/sql discard the connection
// (it wraps [driver.ErrBadConn]), with the message of the error it wraps.
type discarded struct{ err error }

func (e discarded) Error() string   { return e.err.Error() }
func (e discarded) Unwrap() []error { return []error{e.err, driver.ErrBadConn} }
