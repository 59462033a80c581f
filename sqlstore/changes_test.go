package sqlstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/guardian-go/guardian/sqlstore"
)

// changeLog reads the change log's rows (seq and kind, in order) and the
// counter.
func changeLog(t *testing.T, b *backend, s *sqlstore.Store, rev string) (seqs, kinds []int64, counter int64) {
	t.Helper()
	db := b.open(t)
	rows, err := db.Query("SELECT seq, kind FROM " + quoteTable(b, rev+"_changes") + " ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq, kind int64
		if err := rows.Scan(&seq, &kind); err != nil {
			t.Fatal(err)
		}
		seqs, kinds = append(seqs, seq), append(kinds, kind)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT seq FROM " + quoteTable(b, rev+"_seq")).Scan(&counter); err != nil {
		t.Fatal(err)
	}
	return seqs, kinds, counter
}

// TestChangeLog: every Revoke and every Consume that records its token
// logs one change, numbered from 1 without holes; a Consume of a held
// token logs nothing, in both modes.
func TestChangeLog(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		for _, allowList := range []bool{false, true} {
			t.Run(map[bool]string{false: "DenyList", true: "AllowList"}[allowList], func(t *testing.T) {
				opts := &sqlstore.Options{SweepInterval: -1, AllowList: allowList}
				uniqueTables(t, b, opts)
				s := openStore(t, b, b.open(t), opts)
				ctx := context.Background()
				now := testclock.Now()
				tok := guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: now, TTL: time.Hour}
				revokertest.MustRevoke(t, s, tok)
				revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.BySubject, ID: revokertest.NewID("sub"), At: now, TTL: time.Hour})
				revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByFamily, ID: revokertest.NewID("fam"), At: now, TTL: time.Hour})
				consumed := guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: now, TTL: time.Hour}
				for i, want := range []bool{true, false, false} {
					if first, err := s.Consume(ctx, consumed); err != nil || first != want {
						t.Fatalf("Consume #%d = %v, %v; want %v, nil", i+1, first, err, want)
					}
				}
				revokertest.MustRevoke(t, s, tok) // again: a change too
				seqs, kinds, counter := changeLog(t, b, s, opts.RevocationsTable)
				wantSeqs, wantKinds := []int64{1, 2, 3, 4, 5}, []int64{1, 2, 3, 1, 1}
				if !slices.Equal(seqs, wantSeqs) || !slices.Equal(kinds, wantKinds) || counter != 5 {
					t.Errorf("change log = seqs %v kinds %v counter %d; want seqs %v kinds %v counter 5", seqs, kinds, counter, wantSeqs, wantKinds)
				}
			})
		}
	})
}

// TestFeedCounterMissing deletes the counter's row: writes fail clearly
// (ErrNoFeedCounter, and guardian.ErrUnavailable) and write nothing, not
// even the revocation; Follow fails the same way; CreateSchema puts the
// row back after the last change logged, and writes work again.
func TestFeedCounterMissing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		opts := &sqlstore.Options{SweepInterval: -1}
		uniqueTables(t, b, opts)
		db := b.open(t)
		s := openStore(t, b, db, opts)
		ctx := context.Background()
		now := testclock.Now()
		revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: now, TTL: time.Hour})
		revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: now, TTL: time.Hour})
		mustExec(t, db, "DELETE FROM "+quoteTable(b, opts.RevocationsTable+"_seq"))

		lost := revokertest.TokenAt(revokertest.NewID("sub"), now)
		wantMissing := func(call string, err error) {
			t.Helper()
			if !errors.Is(err, sqlstore.ErrNoFeedCounter) || !errors.Is(err, guardian.ErrUnavailable) {
				t.Errorf("%s without the counter row = %v, want an error wrapping ErrNoFeedCounter and guardian.ErrUnavailable", call, err)
			}
		}
		for _, r := range []guardian.Revocation{
			{Kind: guardian.ByToken, ID: lost.ID, At: now, TTL: time.Hour},
			{Kind: guardian.ByFamily, ID: lost.Family, At: now, TTL: time.Hour},
			{Kind: guardian.BySubject, ID: lost.Subject, At: now, TTL: time.Hour},
		} {
			wantMissing("Revoke("+r.Kind.String()+")", s.Revoke(ctx, r))
		}
		first, err := s.Consume(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: lost.ID, At: now, TTL: time.Hour})
		wantMissing("Consume", err)
		if first {
			t.Error("Consume without the counter row reported true")
		}
		revokertest.WantRevoked(t, s, lost, false, "a token whose revocations failed for want of the counter")
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		wantMissing("Follow", s.Follow(fctx, &recSink{}))
		cancel()

		if err := s.CreateSchema(ctx); err != nil {
			t.Fatal(err)
		}
		revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByToken, ID: lost.ID, At: now, TTL: time.Hour})
		revokertest.WantRevoked(t, s, lost, true, "a token revoked once CreateSchema restored the counter")
		seqs, _, counter := changeLog(t, b, s, opts.RevocationsTable)
		if !slices.Equal(seqs, []int64{1, 2, 3}) || counter != 3 {
			t.Errorf("change log after the counter was restored = %v, counter %d; want [1 2 3], 3", seqs, counter)
		}
	})
}
