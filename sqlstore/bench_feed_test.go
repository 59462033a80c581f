package sqlstore_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/guardian-go/guardian/sqlstore"
)

// BenchmarkRevoke measures what the change log costs a revocation: "after"
// is Revoke (the record, the counter, the change and, on PostgreSQL, the
// notification, in one transaction), "before" the upsert that Revoke ran
// alone before the feed existed, prepared on the same pool and tables.
// Compare the two within one run:
//
//	GUARDIAN_TEST_POSTGRES_DSN=... GUARDIAN_TEST_MYSQL_DSN=... \
//	GOWORK=off go test -run '^$' -bench 'BenchmarkRevoke(Parallel)?$' -benchmem -count 5
func BenchmarkRevoke(b *testing.B) {
	for _, name := range backendNames {
		b.Run(name, func(b *testing.B) {
			be := newBackend(b, name)
			s, before := revokeBenchStore(b, be)
			b.Run("before", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					before()
				}
			})
			b.Run("after", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					benchRevokeOne(b, s)
				}
			})
		})
	}
}

// BenchmarkRevokeParallel is BenchmarkRevoke with concurrent writers (8
// per GOMAXPROCS, on a pool of 16 connections): they take turns on the
// change log's counter, where the upserts alone ran side by side.
func BenchmarkRevokeParallel(b *testing.B) {
	for _, name := range backendNames {
		b.Run(name, func(b *testing.B) {
			be := newBackend(b, name)
			s, before := revokeBenchStore(b, be)
			b.Run("before", func(b *testing.B) {
				b.SetParallelism(8)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						before()
					}
				})
			})
			b.Run("after", func(b *testing.B) {
				b.SetParallelism(8)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						benchRevokeOne(b, s)
					}
				})
			})
		})
	}
}

var benchSeq atomic.Int64

// benchRevokeOne revokes a new token through s.
func benchRevokeOne(b *testing.B, s *sqlstore.Store) {
	id := "bench-" + strconv.FormatInt(benchSeq.Add(1), 10)
	if err := s.Revoke(context.Background(), guardian.Revocation{Kind: guardian.ByToken, ID: id, At: testclock.Now(), TTL: time.Hour}); err != nil {
		b.Fatal(err)
	}
}

// revokeBenchStore returns a store with benchRecords records of each kind,
// and a function that revokes a new token as Revoke did before the change
// log: the upsert alone, prepared.
func revokeBenchStore(b *testing.B, be *backend) (*sqlstore.Store, func()) {
	db := be.open(b)
	if be.dialect == sqlstore.SQLite {
		db.SetMaxOpenConns(1) // as the README says
	} else {
		db.SetMaxOpenConns(16)
		db.SetMaxIdleConns(16)
	}
	opts := &sqlstore.Options{SweepInterval: -1}
	uniqueTables(b, be, opts)
	s := openStore(b, be, db, opts)
	bulkRevocations(b, be, db, quoteTable(be, opts.RevocationsTable))
	text, args := sqlstore.UpsertQuery(s)
	st, err := db.Prepare(text)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return s, func() {
		id := "bench-" + strconv.FormatInt(benchSeq.Add(1), 10)
		if _, err := st.Exec(args(int64(1), id, int64(0), time.Now().Add(time.Hour).UnixMilli())...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFeedMirrorRevoked measures the check of a FeedMirror over the
// store, current, holding a fleet's records (benchRecords of each kind),
// for a token that is not revoked: a memory lookup, whatever the database.
func BenchmarkFeedMirrorRevoked(b *testing.B) {
	for _, name := range backendNames {
		b.Run(name, func(b *testing.B) {
			be := newBackend(b, name)
			db := be.open(b)
			opts := &sqlstore.Options{SweepInterval: -1}
			uniqueTables(b, be, opts)
			s := openStore(b, be, db, opts)
			bulkRevocations(b, be, db, quoteTable(be, opts.RevocationsTable))
			m := revokertest.NewFeedMirror(b, s, nil)
			if got := m.Stats().Records; got != 3*benchRecords {
				b.Fatalf("the mirror holds %d records, want %d", got, 3*benchRecords)
			}
			ctx := context.Background()
			c := revokertest.Token("bench-subject")
			checks := m.Stats().StoreChecks
			b.ReportAllocs()
			for b.Loop() {
				if revoked, err := m.Revoked(ctx, c); err != nil || revoked {
					b.Fatalf("Revoked() = %v, %v; want false, nil", revoked, err)
				}
			}
			b.StopTimer()
			if got := m.Stats().StoreChecks; got != checks {
				b.Fatalf("%d checks went to the store; the mirror was not current throughout", got-checks)
			}
		})
	}
}
