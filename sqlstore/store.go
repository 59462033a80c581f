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
	"unicode/utf8"

	"github.com/guardian-go/guardian"
)

// MaxIDLength is the longest jti, subject or family, in bytes, that the
// store can hold. Revoke and Record refuse longer IDs with [ErrInvalidID];
// the IDs guardian issues are far shorter.
const MaxIDLength = 1024

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

var (
	// ErrClosed is returned by the methods of a Store that use the
	// database, once the Store is closed.
	ErrClosed = errors.New("sqlstore: store is closed")
	// ErrNotAllowList is returned by Record, ActiveTokens and RevokeAll on a
	// store not in allow-list mode.
	ErrNotAllowList = errors.New("sqlstore: store is not in allow-list mode")
	// ErrInvalidID: an ID (jti, subject, family) or token type cannot be
	// stored. It is longer than [MaxIDLength] bytes (255 for a type), is
	// not valid UTF-8, or holds a NUL byte: PostgreSQL's TEXT refuses the
	// last two, and the rule is the same in every dialect. The IDs
	// guardian issues, and any decoded from a JWT's JSON, are valid UTF-8.
	ErrInvalidID = errors.New("sqlstore: ID cannot be stored")
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
	// Clock returns the current time, against which Until and exp are
	// compared. Default: time.Now. The application's clock is used, not
	// the database server's.
	Clock func() time.Time
	// Logger receives the background sweeper's failures, at level Warn.
	// Default: slog.Default().
	Logger *slog.Logger
}

// Store is a [guardian.Revoker] backed by a SQL database through
// database/sql. Create it with [New]; it is safe for concurrent use. Close
// it to stop its sweeper.
type Store struct {
	db        *sql.DB
	dialect   Dialect
	allowList bool
	now       func() time.Time
	logger    *slog.Logger
	rev, tok  tableName
	ddl       []string
	q         queries

	// Prepared on first use, so that New does no I/O.
	revoked, upsert, record lazyStmt

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
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
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
	s := &Store{
		db:         db,
		dialect:    dialect,
		allowList:  o.AllowList,
		now:        o.Clock,
		logger:     o.Logger,
		rev:        rev,
		tok:        tok,
		ddl:        schema(dialect, rev, tok, o.AllowList),
		q:          buildQueries(dialect, rev, tok, o.AllowList),
		sweepBatch: 1000,
	}
	s.revoked.query = s.q.revoked.text
	s.upsert.query = s.q.upsert.text
	s.record.query = s.q.record.text
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
// committed when Revoke returns nil. Revoking again keeps the later Until
// and, for a subject, the later cut-off. A record whose Until has already
// passed is accepted and not stored.
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
	if err := checkID("revocation ID", r.ID); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	var kind, cutoff int64
	var del *query
	switch r.Kind {
	case guardian.RevokeToken:
		kind, del = kindToken, &s.q.deleteToken
	case guardian.RevokeFamily:
		kind, del = kindFamily, &s.q.deleteFamily
	case guardian.RevokeSubject:
		kind, del = kindSubject, &s.q.deleteSubject
		cutoff = r.At.Unix()
	}
	op := "revoke " + r.Kind.String()
	if until := s.now().Add(r.TTL); until.After(s.now()) {
		st, err := s.upsert.get(ctx, s)
		if err != nil {
			return s.fail(ctx, op, err)
		}
		if _, err := st.ExecContext(ctx, s.q.upsert.args(kind, r.ID, cutoff, until.UnixMilli())...); err != nil {
			return s.fail(ctx, op, err)
		}
	}
	if s.allowList {
		if _, err := s.db.ExecContext(ctx, del.text, del.args(r.ID, cutoff)...); err != nil {
			return s.fail(ctx, op+": delete recorded tokens", err)
		}
	}
	return nil
}

// Revoked reports whether c is revoked; see [guardian.Revoker] for the
// contract. It runs one statement, a few primary-key lookups: is there an
// unexpired record for c's jti, for its family, or for its subject with a
// cut-off at or after c.IssuedAt (in whole seconds, as
// [guardian.SubjectCutoffCovers])? In allow-list mode the same statement
// also reports true when c's jti is not recorded as an unexpired token.
//
// Any failure returns (false, err): a store that cannot answer never says
// "not revoked". A database failure, a canceled or expired ctx included,
// wraps [guardian.ErrUnavailable] (and ctx's error when ctx is done). An ID that cannot be stored (see [ErrInvalidID]) matches no
// record: it was never revoked, nor recorded in allow-list mode.
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
	st, err := s.revoked.get(ctx, s)
	if err != nil {
		return false, s.fail(ctx, "check revocation", err)
	}
	var hit int64
	err = st.QueryRowContext(ctx, s.q.revoked.args(jti, fam, sub, c.IssuedAt.Unix(), s.now().UnixMilli())...).Scan(&hit)
	if err != nil {
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
	})
	return nil
}

// storable returns id if it can be stored, else "".
func storable(id string) string {
	if idProblem(id) != "" {
		return ""
	}
	return id
}

// checkID reports whether id can be stored and compared exactly in every
// dialect.
func checkID(what, id string) error {
	if p := idProblem(id); p != "" {
		return fmt.Errorf("%w: %s %s", ErrInvalidID, what, p)
	}
	return nil
}

// idProblem says what keeps id from being stored, or "" when nothing does.
func idProblem(id string) string {
	if len(id) > MaxIDLength {
		return fmt.Sprintf("is %d bytes long, more than %d", len(id), MaxIDLength)
	}
	for i := 0; i < len(id); i++ {
		if id[i] == 0 {
			return "holds a NUL byte"
		}
	}
	if !utf8.ValidString(id) {
		return "is not valid UTF-8"
	}
	return ""
}

// lazyStmt is a statement prepared on first use and kept until Close. A
// failed preparation is retried by the next call. mu only keeps concurrent
// first calls from preparing twice; close does not take it, so that Close
// never waits for a preparation stuck on an unreachable server.
type lazyStmt struct {
	query string
	mu    sync.Mutex
	stmt  atomic.Pointer[sql.Stmt]
}

func (l *lazyStmt) get(ctx context.Context, s *Store) (*sql.Stmt, error) {
	if st := l.stmt.Load(); st != nil {
		return st, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
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

// fail wraps a database error from op.
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
