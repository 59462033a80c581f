package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/guardian-go/guardian"
)

// MaxIDLength is the longest jti, subject or family, in bytes, that the
// store can hold: [guardian.MaxIDLength]. Revoke and Record refuse longer
// IDs with [ErrInvalidID]; the IDs guardian issues are far shorter.
const MaxIDLength = guardian.MaxIDLength

// maxTypeLength is the longest token type (typ) Record accepts, in bytes.
const maxTypeLength = 255

const (
	// DefaultRevocationsTable is the table of revocation records when
	// [Options].RevocationsTable is empty.
	DefaultRevocationsTable = "guardian_revocations"
	// DefaultTokensTable is the table of recorded tokens (allow-list mode)
	// when [Options].TokensTable is empty.
	DefaultTokensTable = "guardian_tokens"
)

// DefaultSweepInterval is how often the background sweeper runs when
// [Options].SweepInterval is zero.
const DefaultSweepInterval = 5 * time.Minute

// DefaultTokenMargin is [Options].TokenMargin when zero.
const DefaultTokenMargin = 5 * time.Minute

// DefaultFeedInterval is [Options].FeedInterval when zero.
const DefaultFeedInterval = 100 * time.Millisecond

// minFeedInterval is the shortest [Options].FeedInterval accepted.
const minFeedInterval = time.Millisecond

var (
	// ErrClosed is returned by the methods of a Store that use the
	// database, once the Store is closed.
	ErrClosed = errors.New("sqlstore: store is closed")
	// ErrNotAllowList is returned by Record, ActiveTokens and RevokeAll on a
	// store not in allow-list mode.
	ErrNotAllowList = errors.New("sqlstore: store is not in allow-list mode")
	// ErrInvalidID is [guardian.ErrInvalidID], the same value, so that
	// errors.Is matches either name: an ID (jti, subject, family) or token
	// type cannot be stored. [guardian.CheckID] says which IDs can: not
	// empty, at most [MaxIDLength] bytes (255 for a type, which may be
	// empty), valid UTF-8 and free of NUL bytes (PostgreSQL's TEXT refuses
	// the last two, and the rule is the same in every dialect). The IDs
	// guardian issues, and any decoded from a JWT's JSON, qualify. Such an
	// error is the caller's mistake: it never wraps
	// [guardian.ErrUnavailable].
	ErrInvalidID = guardian.ErrInvalidID
	// ErrInvalidTableName: a table name in [Options] is not a plain SQL
	// identifier.
	ErrInvalidTableName = errors.New("sqlstore: invalid table name")
)

// Options configures a Store. A nil *Options means all defaults.
type Options struct {
	// AllowList turns on allow-list mode: every issued token must be
	// recorded with [Store.Record], and Revoked reports true for any token
	// that was not. Default: false (deny-list mode).
	AllowList bool
	// RevocationsTable names the table of revocation records, as "table"
	// or "schema.table"; each part must match [A-Za-z_][A-Za-z0-9_]* and
	// be at most 48 bytes. Default: [DefaultRevocationsTable].
	RevocationsTable string
	// TokensTable names the table of issued tokens used in allow-list
	// mode, with the same rules. Default: [DefaultTokensTable].
	TokensTable string
	// SweepInterval is how often the background sweeper deletes expired
	// rows. Zero means [DefaultSweepInterval]; a negative value disables
	// the sweeper (expired rows are never reported either way; call
	// [Store.Sweep] yourself to reclaim space).
	SweepInterval time.Duration
	// TokenMargin is how much longer than its lifetime (exp - iat) a token
	// recorded in allow-list mode is kept, on the store's clock, counted
	// from when it is recorded (which is after its iat): at least twice
	// the largest Leeway of the issuers sharing the store, as an issuer
	// whose clock is a Leeway behind another's accepts that one's tokens
	// up to two Leeways past their exp. Keeping a row longer lets no token
	// past its exp (the issuer checks exp itself); it only lists the token
	// in [Store.ActiveTokens] for that much longer. Zero means
	// [DefaultTokenMargin]; a negative value means none. At most
	// [guardian.MaxRevocationTTL].
	TokenMargin time.Duration
	// Clock returns the current time, which only measures how long the
	// store has held a record: it is never compared with a token's dates
	// or a revocation's At, so it need not agree with the issuers' clocks.
	// Default: time.Now, the application's clock (not the database
	// server's).
	Clock func() time.Time
	// Logger receives the background sweeper's failures, at level Warn.
	// Default: slog.Default().
	Logger *slog.Logger
	// FeedInterval is how often [Store.Follow] reads the change log: the
	// heartbeat of a [guardian.FeedMirror] over the store, whose MaxLag
	// must exceed it plus a round trip. With a Listener, a notification
	// makes the read happen at once; the interval still bounds the wait
	// when none comes. At least a millisecond. Default:
	// [DefaultFeedInterval], 100 ms.
	FeedInterval time.Duration
	// Listener, for PostgreSQL only, wakes [Store.Follow] as soon as a
	// revocation is committed: every write sends a notification
	// (pg_notify, in its transaction) and Follow reads the log when one
	// arrives, rather than at its next interval. database/sql cannot
	// listen, so this takes a driver's help: package
	// github.com/guardian-go/guardian/sqlstore/pgxlisten has one for pgx.
	// Default: nil, and Follow reads the log every FeedInterval, as in the
	// other dialects. Correctness never depends on it: the read proves
	// what the follower has, a notification only makes the read early.
	Listener Listener
}

// Store is a [guardian.Revoker] backed by a SQL database through
// database/sql. Create it with [New]; it is safe for concurrent use. Close
// it to stop its sweeper.
type Store struct {
	db        *sql.DB
	dialect   Dialect
	allowList bool
	margin    time.Duration // TokenMargin
	now       func() time.Time
	logger    *slog.Logger
	rev, tok  tableName
	rpl       tableName // the replay table, named after rev
	ddl       []string
	q         queries
	rq        replayQueries
	fq        feedQueries

	// The feed's settings: see Options.
	feedInterval time.Duration
	listener     Listener
	channel      string // PostgreSQL's notification channel
	counterRow   string // the DDL statement creating the counter's row

	// Prepared on first use, so that New does no I/O.
	revoked, upsert, record lazyStmt
	stmts                   feedStmts

	sweepBatch int64

	closed    atomic.Bool
	closeOnce sync.Once
	stop      context.CancelFunc // stops the sweeper; nil without one
	done      chan struct{}      // closed when the sweeper has returned
}

var _ guardian.Revoker = (*Store)(nil)

// New returns a Store that keeps its records in db, whose SQL dialect is
// dialect. It does no I/O: create the tables with [Store.CreateSchema] (or
// a migration, see [Store.Schema]) before the first call. Unless
// opts.SweepInterval is negative, New starts a background sweeper; stop it
// with [Store.Close]. The caller keeps ownership of db: Close does not close
// it.
//
// db must be in autocommit mode (database/sql's default): a Revoke that
// returns nil has been committed.
func New(db *sql.DB, dialect Dialect, opts *Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: nil *sql.DB")
	}
	if !dialect.valid() {
		return nil, fmt.Errorf("sqlstore: unknown dialect %v", dialect)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.RevocationsTable == "" {
		o.RevocationsTable = DefaultRevocationsTable
	}
	if o.TokensTable == "" {
		o.TokensTable = DefaultTokensTable
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	switch {
	case o.TokenMargin == 0:
		o.TokenMargin = DefaultTokenMargin
	case o.TokenMargin < 0:
		o.TokenMargin = 0
	case o.TokenMargin > guardian.MaxRevocationTTL:
		return nil, fmt.Errorf("sqlstore: TokenMargin %v is longer than %v", o.TokenMargin, guardian.MaxRevocationTTL)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	switch {
	case o.FeedInterval == 0:
		o.FeedInterval = DefaultFeedInterval
	case o.FeedInterval < minFeedInterval:
		return nil, fmt.Errorf("sqlstore: FeedInterval %v is shorter than %v", o.FeedInterval, minFeedInterval)
	}
	if o.Listener != nil && dialect != Postgres {
		return nil, fmt.Errorf("sqlstore: a Listener needs PostgreSQL's notifications; %v has none (leave Listener nil: Follow polls)", dialect)
	}
	rev, err := parseTableName(o.RevocationsTable)
	if err != nil {
		return nil, err
	}
	tok, err := parseTableName(o.TokensTable)
	if err != nil {
		return nil, err
	}
	if o.AllowList && rev == tok {
		return nil, fmt.Errorf("%w: revocations and tokens tables are both %q", ErrInvalidTableName, rev)
	}
	rpl := replayTableOf(rev)
	if o.AllowList && rpl == tok {
		return nil, fmt.Errorf("%w: the tokens table %q is the replay table of %q", ErrInvalidTableName, tok, rev)
	}
	if o.AllowList && (seqTableOf(rev) == tok || changesTableOf(rev) == tok) {
		return nil, fmt.Errorf("%w: the tokens table %q is a table of the change log of %q", ErrInvalidTableName, tok, rev)
	}
	s := &Store{
		db:           db,
		dialect:      dialect,
		allowList:    o.AllowList,
		margin:       o.TokenMargin,
		now:          o.Clock,
		logger:       o.Logger,
		rev:          rev,
		tok:          tok,
		rpl:          rpl,
		ddl:          schema(dialect, rev, tok, o.AllowList),
		q:            buildQueries(dialect, rev, tok, o.AllowList),
		rq:           buildReplayQueries(dialect, rpl),
		fq:           buildFeedQueries(dialect, rev),
		sweepBatch:   1000,
		feedInterval: o.FeedInterval,
		listener:     o.Listener,
		channel:      feedChannel(rev),
		counterRow:   counterRow(dialect, rev),
	}
	s.revoked.init(s.q.revoked.text)
	s.upsert.init(s.q.upsert.text)
	s.record.init(s.q.record.text)
	s.stmts.init(s)
	if o.SweepInterval > 0 {
		ctx, stop := context.WithCancel(context.Background())
		s.stop, s.done = stop, make(chan struct{})
		go s.sweepLoop(ctx, o.SweepInterval)
	}
	return s, nil
}

// Dialect returns the store's dialect.
func (s *Store) Dialect() Dialect { return s.dialect }

// AllowList reports whether the store is in allow-list mode.
func (s *Store) AllowList() bool { return s.allowList }

// Revoke records r; see [guardian.Revoker] for the contract. The record is
// committed when Revoke returns nil, together with its change in the
// change log that [Store.Follow] reads (in one transaction: see
// [Store.Follow] for what that costs), and kept for r.TTL from now on the
// store's clock ([Options].Clock), rounded up to the millisecond; r.At is
// never compared with that clock (for a subject it is the cut-off, compared
// with iat only). Revoking again keeps the later expiry and, for a subject,
// the later cut-off. An invalid r (see [guardian.Revocation.Validate]) is
// refused with an error wrapping [guardian.ErrInvalidRevocation] (and
// [ErrInvalidID] for its ID), never [guardian.ErrUnavailable].
//
// In allow-list mode Revoke also deletes the recorded tokens r covers (the
// token, every token of the family, or the subject's tokens issued at or
// before the cut-off), so that [Store.ActiveTokens] no longer lists them.
// The revocation record is written first and is what refuses the tokens,
// so a failure between the two steps loses nothing; it still keeps working
// if the store is later switched to deny-list mode.
func (s *Store) Revoke(ctx context.Context, r guardian.Revocation) error {
	if err := r.Validate(); err != nil {
		return err
	}
	op := "revoke " + r.Kind.String()
	if err := ctx.Err(); err != nil {
		return s.fail(ctx, op, err)
	}
	if s.closed.Load() {
		return ErrClosed
	}
	var kind, cutoff int64
	var del *query
	switch r.Kind {
	case guardian.ByToken:
		kind, del = kindToken, &s.q.deleteToken
	case guardian.ByFamily:
		kind, del = kindFamily, &s.q.deleteFamily
	case guardian.BySubject:
		kind, del = kindSubject, &s.q.deleteSubject
		cutoff = r.At.Unix()
	}
	now := s.now()
	if err := s.writeRevocation(ctx, op, ceilMilli(now.Add(r.TTL)), newChange(kind, r.ID, cutoff, r.TTL, now)); err != nil {
		return err
	}
	if s.allowList {
		if _, err := s.db.ExecContext(ctx, del.text, del.args(r.ID, cutoff)...); err != nil {
			return s.fail(ctx, op+": delete recorded tokens", err)
		}
	}
	return nil
}

// Revoked reports whether c is revoked; see [guardian.Revoker] for the
// contract. It runs one statement, a few primary-key lookups: is there a
// record still held for c's jti, for its family, or for its subject with a
// cut-off at or after c.IssuedAt (in whole seconds, as
// [guardian.SubjectCutoffCovers])? In allow-list mode the same statement
// also reports true when c's jti is not recorded (or its row has been held
// for its time, see [Store.Record]). c's dates are never compared with the
// store's clock: only iat, with subject cut-offs.
//
// Any failure returns (false, err): a store that cannot answer never says
// "not revoked". A database failure, a canceled or expired ctx included,
// wraps [guardian.ErrUnavailable] (and ctx's error when ctx is done). An
// ID that cannot be stored (see [ErrInvalidID]) matches no record: it was
// never revoked, nor recorded in allow-list mode.
func (s *Store) Revoked(ctx context.Context, c *guardian.Claims) (bool, error) {
	if c == nil {
		return false, errors.New("sqlstore: Revoked with nil claims")
	}
	// An ID that cannot be stored was never revoked (Revoke refuses it)
	// nor recorded (Record refuses it): look up the empty ID instead, which
	// no record has either.
	jti, fam, sub := storable(c.ID), storable(c.Family), storable(c.Subject)
	if s.closed.Load() {
		return false, ErrClosed
	}
	var hit int64
	if err := s.revoked.queryRow(ctx, s, &hit, s.q.revoked.args(jti, fam, sub, c.IssuedAt.Unix(), s.now().UnixMilli())...); err != nil {
		return false, s.fail(ctx, "check revocation", err)
	}
	return hit != 0, nil
}

// Close stops the background sweeper and waits for it to return, and
// releases the store's prepared statements. It does not close the *sql.DB,
// which belongs to the caller. Close is idempotent and always returns nil;
// after it, every method returns [ErrClosed].
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.stop != nil {
			s.stop()
			<-s.done
		}
		s.revoked.close()
		s.upsert.close()
		s.record.close()
		s.stmts.close()
	})
	return nil
}

// expiry is when a record kept for ttl from now expires, in Unix
// milliseconds on the store's clock: rounded up, so that no record is kept
// for less than ttl.
func (s *Store) expiry(ttl time.Duration) int64 {
	return ceilMilli(s.now().Add(ttl))
}

// ceilMilli is t in Unix milliseconds, rounded up.
func ceilMilli(t time.Time) int64 {
	ms := t.UnixMilli() // rounded down: Nanosecond is never negative
	if t.Nanosecond()%int(time.Millisecond) != 0 {
		ms++
	}
	return ms
}

// storable returns id if it can be stored, else "".
func storable(id string) string {
	if guardian.CheckID(id) != nil {
		return ""
	}
	return id
}

// lazyStmt is a statement prepared on first use and kept until Close.
//
// No call ever waits for another's preparation, so that each returns by
// its own ctx even when the server hangs under a preparation with a longer
// deadline, or none: one call at a time prepares (sem is a semaphore of one
// slot, only ever tried), and a call that finds another preparing runs the
// query unprepared on the pool instead. A failed preparation is retried by
// a later call. close does not take sem, so that Close never waits for a
// preparation stuck on an unreachable server.
type lazyStmt struct {
	query string
	sem   chan struct{}
	stmt  atomic.Pointer[sql.Stmt]
}

func (l *lazyStmt) init(query string) {
	l.query, l.sem = query, make(chan struct{}, 1)
}

// get returns the prepared statement, preparing it first unless another
// call is doing so; then it returns nil and no error, and the caller runs
// l.query on s.db.
func (l *lazyStmt) get(ctx context.Context, s *Store) (*sql.Stmt, error) {
	if st := l.stmt.Load(); st != nil {
		return st, nil
	}
	select {
	case l.sem <- struct{}{}:
	default:
		return nil, nil // another call is preparing: do not wait for it
	}
	defer func() { <-l.sem }()
	if st := l.stmt.Load(); st != nil {
		return st, nil
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	st, err := s.db.PrepareContext(ctx, l.query)
	if err != nil {
		return nil, err
	}
	l.stmt.Store(st)
	// Close sets closed before it swaps the statement out: if it ran in
	// between, one of the two sees the other and the statement is closed.
	if s.closed.Load() {
		l.close()
		return nil, ErrClosed
	}
	return st, nil
}

// exec runs the statement with args.
func (l *lazyStmt) exec(ctx context.Context, s *Store, args ...any) (sql.Result, error) {
	st, err := l.get(ctx, s)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return s.db.ExecContext(ctx, l.query, args...)
	}
	return st.ExecContext(ctx, args...)
}

// queryRow runs the statement with args and scans its one row into dest.
func (l *lazyStmt) queryRow(ctx context.Context, s *Store, dest any, args ...any) error {
	st, err := l.get(ctx, s)
	if err != nil {
		return err
	}
	if st == nil {
		return s.db.QueryRowContext(ctx, l.query, args...).Scan(dest)
	}
	return st.QueryRowContext(ctx, args...).Scan(dest)
}

// rows runs the statement with args and returns its rows.
func (l *lazyStmt) rows(ctx context.Context, s *Store, args ...any) (*sql.Rows, error) {
	st, err := l.get(ctx, s)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return s.db.QueryContext(ctx, l.query, args...)
	}
	return st.QueryContext(ctx, args...)
}

func (l *lazyStmt) close() {
	if st := l.stmt.Swap(nil); st != nil {
		st.Close()
	}
}

// storeError is a database failure: it wraps guardian.ErrUnavailable, the
// driver's error and, when the context was done, the context's error.
type storeError struct {
	op  string
	err error
	ctx error
}

func (e *storeError) Error() string {
	msg := "sqlstore: " + e.op + ": " + e.err.Error()
	if e.ctx != nil {
		msg += " (" + e.ctx.Error() + ")"
	}
	return msg
}

func (e *storeError) Unwrap() []error {
	errs := []error{guardian.ErrUnavailable, e.err}
	if e.ctx != nil {
		errs = append(errs, e.ctx)
	}
	return errs
}

// fail wraps a database error from op, or ctx's error when ctx was done
// before op could start: the store could not answer in time.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	if errors.Is(err, ErrClosed) || s.closed.Load() {
		// Close ran while the call was in flight.
		return ErrClosed
	}
	e := &storeError{op: op, err: err}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		e.ctx = cerr
	}
	return e
}
