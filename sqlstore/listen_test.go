package sqlstore_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/guardian-go/guardian/sqlstore"
	"github.com/guardian-go/guardian/sqlstore/pgxlisten"
)

// TestFeedNotifyLatency: with the pgx listener, a revocation made on one
// instance reaches another's FeedMirror long before the next poll: with
// polls 2s apart, the median propagation must stay under 500ms.
func TestFeedNotifyLatency(t *testing.T) {
	b := newBackend(t, "postgres")
	const interval = 2 * time.Second
	opts := sqlstore.Options{SweepInterval: -1, FeedInterval: interval}
	uniqueTables(t, b, &opts)
	w := openFeed(t, b, opts, false)
	m := revokertest.NewFeedMirror(t, openFeed(t, b, opts, true), &guardian.FeedMirrorOptions{MaxLag: 3 * interval})
	const n = 15
	took := make([]time.Duration, 0, n)
	for range n {
		c := revokertest.Token(revokertest.NewID("sub"))
		revokertest.MustRevoke(t, w, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour})
		took = append(took, revokertest.EventuallyRevoked(t, m, c, 2*interval))
	}
	slices.Sort(took)
	p50, worst := took[n/2], took[n-1]
	t.Logf("propagation with LISTEN/NOTIFY and FeedInterval %v: p50 %v, max %v", interval, p50, worst)
	if p50 >= 500*time.Millisecond {
		t.Errorf("median propagation %v with the listener, want < 500ms (the poll interval is %v)", p50, interval)
	}
	if st := m.Stats(); st.StoreChecks != 0 || st.Breaks != 0 {
		t.Errorf("the mirror asked the store %d times and broke %d times (%v); want it current throughout", st.StoreChecks, st.Breaks, st.LastBreak)
	}
}

// TestListenerConnectionNotPooled: the listener's session, which has run
// LISTEN, never serves another query of the pool once Listen returns.
func TestListenerConnectionNotPooled(t *testing.T) {
	b := newBackend(t, "postgres")
	db := b.open(t)
	db.SetMaxOpenConns(1) // a connection given back would be the next one used
	observer := b.open(t)
	l, err := pgxlisten.New(db)
	if err != nil {
		t.Fatal(err)
	}
	channel := "gtest_chan_" + randomSuffix(t)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	var notified atomic.Int64
	done := make(chan error, 1)
	go func() {
		done <- l.Listen(ctx, channel, func() { close(ready) }, func() { notified.Add(1) })
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Listen = %v before it was ready", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Listen not ready after 10s")
	}
	var pid int64
	if err := observer.QueryRow("SELECT pid FROM pg_stat_activity WHERE query = $1", `LISTEN "`+channel+`"`).Scan(&pid); err != nil {
		t.Fatalf("find the listening session: %v", err)
	}
	if _, err := observer.Exec("SELECT pg_notify($1, 'x')", channel); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the notification", func() bool { return notified.Load() > 0 })

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Logf("Listen after cancel = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Listen still running 5s after its ctx was canceled")
	}
	var next, channels int64
	if err := db.QueryRow("SELECT pg_backend_pid(), (SELECT COUNT(*) FROM pg_listening_channels())").Scan(&next, &channels); err != nil {
		t.Fatal(err)
	}
	if next == pid || channels != 0 {
		t.Errorf("the pool's next query ran on session %d listening on %d channels; the listener's session %d must not be reused", next, channels, pid)
	}
	waitFor(t, "the listening session to end", func() bool {
		var n int
		if err := observer.QueryRow("SELECT COUNT(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
}

// TestListenerRefusesBadInput: a nil pool, bad channels, another driver.
func TestListenerRefusesBadInput(t *testing.T) {
	if _, err := pgxlisten.New(nil); err == nil {
		t.Error("pgxlisten.New(nil) = nil error")
	}
	l, err := pgxlisten.New(unusedDB(t)) // SQLite
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nop := func() {}
	for _, ch := range []string{"", strings.Repeat("c", 64), "a\x00b"} {
		if err := l.Listen(ctx, ch, nop, nop); err == nil {
			t.Errorf("Listen(%q) = nil error", ch)
		}
	}
	if err := l.Listen(ctx, "ok", nop, nop); err == nil || !strings.Contains(err.Error(), "pgx") {
		t.Errorf("Listen on a SQLite pool = %v, want an error saying it needs pgx", err)
	}
}

// TestFeedChannel: the channel is the table's name, lower-cased, with
// "_feed", within PostgreSQL's 63 bytes for the longest names.
func TestFeedChannel(t *testing.T) {
	for _, tt := range []struct{ table, want string }{
		{"guardian_revocations", "guardian_revocations_feed"},
		{"Auth.Revocations", "revocations_feed"},
		{strings.Repeat("s", 48) + "." + strings.Repeat("R", 48), strings.Repeat("r", 48) + "_feed"},
	} {
		s, err := sqlstore.New(unusedDB(t), sqlstore.Postgres, &sqlstore.Options{RevocationsTable: tt.table, SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		if got := sqlstore.FeedChannel(s); got != tt.want || len(got) > 63 {
			t.Errorf("channel of %q = %q, want %q", tt.table, got, tt.want)
		}
		s.Close()
	}
}
