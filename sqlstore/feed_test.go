package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/guardian-go/guardian/sqlstore"
	"github.com/guardian-go/guardian/sqlstore/pgxlisten"
)

// idleListener listens to nothing until ctx is done.
type idleListener struct{}

func (idleListener) Listen(ctx context.Context, _ string, ready, _ func()) error {
	ready()
	<-ctx.Done()
	return ctx.Err()
}

// recSink is a guardian.FeedSink that records what it is given. If
// onCurrent is set, Current calls it (outside the lock) after recording.
type recSink struct {
	mu        sync.Mutex
	applied   map[string]guardian.Revocation // by kind and ID
	currents  int
	onCurrent func(n int)
}

func (s *recSink) Now() time.Time { return time.Now() }

func (s *recSink) Apply(r guardian.Revocation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.applied == nil {
		s.applied = make(map[string]guardian.Revocation)
	}
	s.applied[r.Kind.String()+"/"+r.ID] = r
}

func (s *recSink) Current(time.Time) {
	s.mu.Lock()
	s.currents++
	n, f := s.currents, s.onCurrent
	s.mu.Unlock()
	if f != nil {
		f(n)
	}
}

// get returns the revocation applied for kind and id.
func (s *recSink) get(kind guardian.RevocationKind, id string) (guardian.Revocation, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.applied[kind.String()+"/"+id]
	return r, ok
}

// feedVariant is one way of running a feed on a backend: PostgreSQL with
// and without the pgx listener, the others polling.
type feedVariant struct {
	name   string
	listen bool
}

func feedVariants(b *backend) []feedVariant {
	if b.dialect == sqlstore.Postgres {
		return []feedVariant{{name: "listen", listen: true}, {name: "poll"}}
	}
	return []feedVariant{{name: "poll"}}
}

// openFeed opens a new pool on the backend's database and a store on it
// with opts (tables already named), as another instance would, with the
// pgx listener if listen.
func openFeed(tb testing.TB, b *backend, opts sqlstore.Options, listen bool) *sqlstore.Store {
	tb.Helper()
	db := b.open(tb)
	if listen {
		l, err := pgxlisten.New(db)
		if err != nil {
			tb.Fatal(err)
		}
		opts.Listener = l
	}
	return openStore(tb, b, db, &opts)
}

// TestFeedConformance runs revokertest.RunFeed on each backend: each
// instance a store with a pool of its own on one database and tables.
func TestFeedConformance(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		for _, v := range feedVariants(b) {
			t.Run(v.name, func(t *testing.T) {
				opts := sqlstore.Options{SweepInterval: -1}
				uniqueTables(t, b, &opts)
				openFeed(t, b, opts, false) // the schema, once
				revokertest.RunFeed(t, func(t *testing.T) guardian.Feed { return openFeed(t, b, opts, v.listen) })
			})
		}
	})
}

// TestFeedMirrorConformance runs the Revoker suite on a FeedMirror over
// the store, whose memory counts TTLs on the store's clock.
func TestFeedMirrorConformance(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		clock := time.Now
		s := newStore(t, b, b.open(t), &sqlstore.Options{SweepInterval: 50 * time.Millisecond, Clock: clock})
		m := revokertest.NewFeedMirror(t, s, &guardian.FeedMirrorOptions{Memory: &guardian.MemoryRevokerOptions{Clock: clock}})
		revokertest.Run(t, func(*testing.T) guardian.Revoker { return m })
		if st := m.Stats(); st.Breaks != 0 {
			t.Errorf("the feed broke %d times during the suite (last: %v)", st.Breaks, st.LastBreak)
		}
	})
}

// follow runs s.Follow(sink) in the background and returns its result on
// a channel; it is stopped when the test ends.
func follow(t *testing.T, s *sqlstore.Store, sink guardian.FeedSink) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		done <- s.Follow(ctx, sink)
	}()
	t.Cleanup(func() {
		cancel()
		<-finished
	})
	return done
}

// TestFollow follows a store with a sink of the test's: what was revoked
// before is listed, what comes after is applied, every kind with its TTL
// and cut-off, Consume only when it records, and Current is called at
// every read.
func TestFollow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		opts := sqlstore.Options{SweepInterval: -1, FeedInterval: 10 * time.Millisecond}
		uniqueTables(t, b, &opts)
		w := openFeed(t, b, opts, false)
		ctx := context.Background()
		now := testclock.Now()
		before := guardian.Revocation{Kind: guardian.ByFamily, ID: revokertest.NewID("fam"), At: now, TTL: time.Hour}
		revokertest.MustRevoke(t, w, before)

		sink := &recSink{}
		done := follow(t, openFeed(t, b, opts, false), sink)
		waitFor(t, "the follower's first confirmation", func() bool { return currents(sink) > 0 })
		if _, ok := sink.get(guardian.ByFamily, before.ID); !ok {
			t.Fatal("a revocation made before Follow started was not listed")
		}
		cutoff := now.Truncate(time.Second).Add(-time.Minute)
		after := []guardian.Revocation{
			{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: now, TTL: 90 * time.Second},
			{Kind: guardian.BySubject, ID: revokertest.NewID("sub"), At: cutoff, TTL: 2 * time.Hour},
			{Kind: guardian.ByFamily, ID: revokertest.NewID("fam"), At: now, TTL: 1500 * time.Microsecond},
		}
		for _, r := range after {
			revokertest.MustRevoke(t, w, r)
		}
		consumed := guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: now, TTL: time.Minute}
		for i, want := range []bool{true, false} {
			if first, err := w.Consume(ctx, consumed); err != nil || first != want {
				t.Fatalf("Consume #%d = %v, %v; want %v, nil", i+1, first, err, want)
			}
		}
		waitFor(t, "the changes to reach the follower", func() bool {
			_, ok := sink.get(guardian.ByToken, consumed.ID)
			return ok
		})
		for _, want := range after {
			got, ok := sink.get(want.Kind, want.ID)
			if !ok {
				t.Fatalf("the %s revocation %q never reached the follower", want.Kind, want.ID)
			}
			// The TTL in whole milliseconds, rounded up, counted afresh.
			if wantTTL := want.TTL.Round(time.Millisecond); got.TTL < want.TTL || got.TTL > wantTTL+time.Millisecond {
				t.Errorf("%s revocation applied with TTL %v, want %v rounded up to the millisecond", want.Kind, got.TTL, want.TTL)
			}
			if want.Kind == guardian.BySubject && !got.At.Equal(cutoff) {
				t.Errorf("subject revocation applied with At %v, want the cut-off %v", got.At, cutoff)
			}
		}
		c := currents(sink)
		waitFor(t, "more confirmations", func() bool { return currents(sink) >= c+3 })
		stillFollowing(t, done)
	})
}

func currents(s *recSink) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.currents
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFollowRefuses: Follow on an allow-list store, with a nil sink.
func TestFollowRefuses(t *testing.T) {
	s, err := sqlstore.New(unusedDB(t), sqlstore.SQLite, &sqlstore.Options{AllowList: true, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Follow(context.Background(), &recSink{}); !errors.Is(err, guardian.ErrConfig) {
		t.Errorf("Follow on an allow-list store = %v, want an error wrapping guardian.ErrConfig", err)
	}
	d, err := sqlstore.New(unusedDB(t), sqlstore.SQLite, &sqlstore.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Follow(context.Background(), nil); err == nil {
		t.Error("Follow with a nil sink = nil, want an error")
	}
}

// TestFollowStopsWithContext: Follow returns ctx's error once ctx is done.
func TestFollowStopsWithContext(t *testing.T) {
	b := newBackend(t, "sqlite")
	s := newStore(t, b, b.open(t), nil)
	ctx, cancel := context.WithCancel(context.Background())
	sink := &recSink{}
	done := make(chan error, 1)
	go func() { done <- s.Follow(ctx, sink) }()
	waitFor(t, "the first confirmation", func() bool { return currents(sink) > 0 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Follow after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Follow still running 5s after its ctx was canceled")
	}
}

// TestFeedGap breaks the change log under a follower in each way it can
// break: a change missing from the middle, or the counter ahead of the log
// (a change lost at its end), for longer than a read's bound; a change
// swept before the follower read it; the counter back behind what the
// follower read. Follow must return an error wrapping ErrFeedGap.
func TestFeedGap(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		for _, tt := range []struct {
			name     string
			breakLog func(t *testing.T, w *sqlstore.Store, db *sql.DB, seq, changes string)
		}{
			{"ChangeDeleted", func(t *testing.T, w *sqlstore.Store, db *sql.DB, seq, changes string) {
				revokertest.MustRevoke(t, w, guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: testclock.Now(), TTL: time.Hour})
				revokertest.MustRevoke(t, w, guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: testclock.Now(), TTL: time.Hour})
				mustExec(t, db, "DELETE FROM "+changes+" WHERE seq = (SELECT MAX(seq) - 1 FROM "+seq+")")
			}},
			{"ChangeSwept", func(t *testing.T, w *sqlstore.Store, db *sql.DB, seq, changes string) {
				revokertest.MustRevoke(t, w, guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: testclock.Now(), TTL: time.Hour})
				revokertest.MustRevoke(t, w, guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: testclock.Now(), TTL: time.Hour})
				mustExec(t, db, "DELETE FROM "+changes+" WHERE seq = (SELECT MAX(seq) - 1 FROM "+seq+")")
				// As if KeptChanges later changes had let the sweep take it.
				mustExec(t, db, "UPDATE "+seq+" SET seq = seq + "+strconv.Itoa(sqlstore.KeptChanges))
			}},
			{"CounterAhead", func(t *testing.T, _ *sqlstore.Store, db *sql.DB, seq, _ string) {
				mustExec(t, db, "UPDATE "+seq+" SET seq = seq + 1")
			}},
			{"CounterBack", func(t *testing.T, _ *sqlstore.Store, db *sql.DB, seq, _ string) {
				mustExec(t, db, "UPDATE "+seq+" SET seq = 0")
			}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				opts := sqlstore.Options{SweepInterval: -1, FeedInterval: 10 * time.Millisecond}
				uniqueTables(t, b, &opts)
				db := b.open(t)
				w := openStore(t, b, db, &opts)
				revokertest.MustRevoke(t, w, guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: testclock.Now(), TTL: time.Hour})
				// The follower stops after its listing until the log is
				// broken.
				broken := make(chan struct{})
				sink := &recSink{onCurrent: func(n int) {
					if n == 1 {
						<-broken
					}
				}}
				done := follow(t, openFeed(t, b, opts, false), sink)
				var release sync.Once
				t.Cleanup(func() { release.Do(func() { close(broken) }) }) // before follow's
				waitFor(t, "the listing", func() bool { return currents(sink) > 0 })
				tt.breakLog(t, w, db, quoteTable(b, opts.RevocationsTable+"_seq"), quoteTable(b, opts.RevocationsTable+"_changes"))
				release.Do(func() { close(broken) })
				select {
				case err := <-done:
					if !errors.Is(err, sqlstore.ErrFeedGap) {
						t.Fatalf("Follow = %v, want an error wrapping ErrFeedGap", err)
					}
					t.Logf("Follow = %v", err)
				case <-time.After(10 * time.Second):
					t.Fatal("Follow still running 10s after the log was broken")
				}
			})
		}
	})
}

func mustExec(t *testing.T, db *sql.DB, stmt string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), stmt, args...); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// TestFeedMirrorResyncsAfterGap loses a change by hand (a revocation row
// written with the counter bumped, but no change logged) under a current
// FeedMirror: its feed breaks with ErrFeedGap, it lists the store again
// by itself, and then refuses the token from memory.
func TestFeedMirrorResyncsAfterGap(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		opts := sqlstore.Options{SweepInterval: -1, FeedInterval: 20 * time.Millisecond}
		uniqueTables(t, b, &opts)
		db := b.open(t)
		openStore(t, b, db, &opts)
		m := revokertest.NewFeedMirror(t, openFeed(t, b, opts, false), nil)
		lost := revokertest.Token(revokertest.NewID("sub"))
		revokertest.WantRevoked(t, m, lost, false, "a fresh token")

		ph := "?"
		if b.dialect == sqlstore.Postgres {
			ph = "$1"
		}
		mustExec(t, db, "INSERT INTO "+quoteTable(b, opts.RevocationsTable)+" (kind, id, cutoff_s, until_ms) VALUES (1, "+ph+", 0, "+fmt.Sprint(time.Now().Add(time.Hour).UnixMilli())+")", lost.ID)
		mustExec(t, db, "UPDATE "+quoteTable(b, opts.RevocationsTable+"_seq")+" SET seq = seq + 1")

		waitFor(t, "the feed to break and the mirror to be current again", func() bool {
			st := m.Stats()
			return st.Breaks > 0 && st.Current
		})
		st := m.Stats()
		if !errors.Is(st.LastBreak, sqlstore.ErrFeedGap) {
			t.Errorf("the feed broke with %v, want an error wrapping ErrFeedGap", st.LastBreak)
		}
		revokertest.WantRevoked(t, m, lost, true, "a token whose change was lost, after the resync")
		if got := m.Stats().StoreChecks; got != st.StoreChecks {
			t.Errorf("the check went to the store (%d store checks, were %d); want it answered from memory", got, st.StoreChecks)
		}
	})
}

// TestFeedNoGapsUnderConcurrentWrites checks the claim the feed rests on:
// the counter gives out numbers without holes, so a follower reading every
// millisecond while several instances write at once never breaks (in
// InnoDB it waits out the changes not visible yet), and gets every change.
func TestFeedNoGapsUnderConcurrentWrites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		opts := sqlstore.Options{SweepInterval: -1, FeedInterval: time.Millisecond}
		uniqueTables(t, b, &opts)
		writers := []*sqlstore.Store{openFeed(t, b, opts, false), openFeed(t, b, opts, false), openFeed(t, b, opts, false)}
		sink := &recSink{}
		done := follow(t, openFeed(t, b, opts, false), sink)
		waitFor(t, "the listing", func() bool { return currents(sink) > 0 })
		const workers, each = 12, 25
		var wg sync.WaitGroup
		ids := make(chan string, workers*each)
		for i := range workers {
			w := writers[i%len(writers)]
			wg.Go(func() {
				for j := range each {
					id := revokertest.NewID("jti")
					r := guardian.Revocation{Kind: guardian.ByToken, ID: id, At: testclock.Now(), TTL: time.Hour}
					var err error
					if j%3 == 0 {
						_, err = w.Consume(context.Background(), r)
					} else {
						err = w.Revoke(context.Background(), r)
					}
					if err != nil {
						t.Error(err)
						return
					}
					ids <- id
				}
			})
		}
		wg.Wait()
		close(ids)
		all := slices.Collect(func(yield func(string) bool) {
			for id := range ids {
				if !yield(id) {
					return
				}
			}
		})
		waitFor(t, "every change to reach the follower", func() bool {
			select {
			case err := <-done:
				t.Fatalf("Follow returned %v under concurrent writes", err)
			default:
			}
			for _, id := range all {
				if _, ok := sink.get(guardian.ByToken, id); !ok {
					return false
				}
			}
			return true
		})
		select {
		case err := <-done:
			t.Fatalf("Follow returned %v under concurrent writes", err)
		default:
		}
	})
}

// logChange writes by hand what a write of a token revocation writes: its
// record and its change numbered seq, as a write whose commit is late
// would show them.
func logChange(t *testing.T, b *backend, db *sql.DB, opts sqlstore.Options, seq int64, id string) {
	t.Helper()
	ph := func(i int) string {
		if b.dialect == sqlstore.Postgres {
			return "$" + strconv.Itoa(i)
		}
		return "?"
	}
	until := testclock.Now().Add(time.Hour).UnixMilli()
	mustExec(t, db, "INSERT INTO "+quoteTable(b, opts.RevocationsTable)+" (kind, id, cutoff_s, until_ms) VALUES (1, "+ph(1)+", 0, "+ph(2)+")", id, until)
	mustExec(t, db, "INSERT INTO "+quoteTable(b, opts.RevocationsTable+"_changes")+" (seq, kind, id, cutoff_s, ttl_ms, until_ms) VALUES ("+ph(1)+", 1, "+ph(2)+", 0, 3600000, "+ph(3)+")", seq, id, until)
}

// feedTables names tables of the test's own, creates them with a store
// that revokes n tokens, and returns options for stores on them, with a
// feed read every 5 ms, and the store's database.
func feedTables(t *testing.T, b *backend, n int) (sqlstore.Options, *sql.DB) {
	t.Helper()
	opts := sqlstore.Options{SweepInterval: -1, FeedInterval: 5 * time.Millisecond}
	uniqueTables(t, b, &opts)
	db := b.open(t)
	w := openStore(t, b, db, &opts)
	for range n {
		revokertest.MustRevoke(t, w, guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: testclock.Now(), TTL: time.Hour})
	}
	return opts, db
}

// stillFollowing fails the test if Follow has returned.
func stillFollowing(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("Follow returned %v", err)
	default:
	}
}

// bumpCounter adds n to the change log's counter, logging nothing.
func bumpCounter(t *testing.T, b *backend, db *sql.DB, opts sqlstore.Options, n int) {
	t.Helper()
	mustExec(t, db, "UPDATE "+quoteTable(b, opts.RevocationsTable+"_seq")+" SET seq = seq + "+strconv.Itoa(n))
}

// counterOf reads the change log's counter.
func counterOf(t *testing.T, b *backend, db *sql.DB, opts sqlstore.Options) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRowContext(context.Background(), "SELECT seq FROM "+quoteTable(b, opts.RevocationsTable+"_seq")).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFeedWaitsForAChangeNotVisibleYet shows the follower what InnoDB
// shows it now and then: change n+2 and the counter at n+2, while n+1 is
// not visible yet. The follower must neither break nor apply n+2 nor call
// itself current until n+1 is there, and then apply both, in order.
func TestFeedWaitsForAChangeNotVisibleYet(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		opts, db := feedTables(t, b, 0)
		sink := &recSink{}
		done := follow(t, openFeed(t, b, opts, false), sink)
		waitFor(t, "the listing", func() bool { return currents(sink) > 0 })

		n := counterOf(t, b, db, opts)
		late, early := revokertest.NewID("jti"), revokertest.NewID("jti")
		bumpCounter(t, b, db, opts, 2)
		logChange(t, b, db, opts, n+2, early)
		// Whatever read was under way ends, then none may call it current.
		time.Sleep(50 * time.Millisecond)
		before := currents(sink)
		time.Sleep(200 * time.Millisecond) // 40 feed intervals
		if got := currents(sink); got != before {
			t.Fatalf("the follower called itself current %d times while change %d was missing", got-before, n+1)
		}
		if _, ok := sink.get(guardian.ByToken, early); ok {
			t.Fatalf("change %d was applied before change %d", n+2, n+1)
		}
		stillFollowing(t, done)

		logChange(t, b, db, opts, n+1, late)
		waitFor(t, "both changes and a confirmation", func() bool {
			_, ok1 := sink.get(guardian.ByToken, late)
			_, ok2 := sink.get(guardian.ByToken, early)
			return ok1 && ok2 && currents(sink) > before
		})
		stillFollowing(t, done)
	})
}

// TestFeedStartReadsAgainWhatTheListingMissed starts a follower while a
// write has taken the counter but is not visible yet (InnoDB's late
// commit): the listing cannot have it, so the follower must read it from
// the log once it shows up, although its number is not after the counter
// read at start.
func TestFeedStartReadsAgainWhatTheListingMissed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		opts, db := feedTables(t, b, 3)
		n := counterOf(t, b, db, opts)
		bumpCounter(t, b, db, opts, 1)

		sink := &recSink{}
		done := follow(t, openFeed(t, b, opts, false), sink)
		waitFor(t, "the listing", func() bool { return currents(sink) > 0 })
		late := revokertest.NewID("jti")
		logChange(t, b, db, opts, n+1, late)
		waitFor(t, "the late change", func() bool {
			_, ok := sink.get(guardian.ByToken, late)
			return ok
		})
		stillFollowing(t, done)
	})
}

// TestFeedStartSkipsWhatTheListingHad starts a follower, then, before its
// first read of the log, has KeptChanges more changes logged and the sweep
// take the oldest ones, which the first read reads again: those the
// listing had may be gone, and the follower goes on.
func TestFeedStartSkipsWhatTheListingHad(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		opts, db := feedTables(t, b, 5)
		release := make(chan struct{})
		var once sync.Once
		t.Cleanup(func() { once.Do(func() { close(release) }) })
		sink := &recSink{onCurrent: func(n int) {
			if n == 1 {
				<-release
			}
		}}
		done := follow(t, openFeed(t, b, opts, false), sink)
		waitFor(t, "the listing", func() bool { return currents(sink) > 0 })

		// Changes 6 to 5+KeptChanges, written by hand in one statement,
		// and 1 to 3 swept.
		changes := quoteTable(b, opts.RevocationsTable+"_changes")
		until := testclock.Now().Add(time.Hour).UnixMilli()
		var values strings.Builder
		for i := range sqlstore.KeptChanges {
			if i > 0 {
				values.WriteString(", ")
			}
			fmt.Fprintf(&values, "(%d, 1, 'jti-late-%d', 0, 3600000, %d)", 6+i, 6+i, until)
		}
		mustExec(t, db, "INSERT INTO "+changes+" (seq, kind, id, cutoff_s, ttl_ms, until_ms) VALUES "+values.String())
		bumpCounter(t, b, db, opts, sqlstore.KeptChanges)
		mustExec(t, db, "DELETE FROM "+changes+" WHERE seq <= 3")
		once.Do(func() { close(release) })

		last := fmt.Sprintf("jti-late-%d", 5+sqlstore.KeptChanges)
		waitFor(t, "the last change", func() bool {
			_, ok := sink.get(guardian.ByToken, last)
			return ok && currents(sink) > 1
		})
		stillFollowing(t, done)
	})
}
