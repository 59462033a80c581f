package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/guardian-go/guardian/sqlstore"
)

// benchRecords is how many revocations (of each kind) the benchmarked
// stores hold, so that lookups do not run against empty tables.
const benchRecords = 2000

// BenchmarkRevoked measures the check every authenticated request makes:
// Revoked for a token that is not revoked, so that every lookup runs. The
// memory store is the baseline. Run with, for example:
//
//	GUARDIAN_TEST_POSTGRES_DSN=... GUARDIAN_TEST_MYSQL_DSN=... \
//	GOWORK=off go test -run '^$' -bench BenchmarkRevoked -benchmem
func BenchmarkRevoked(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		m := guardian.NewMemoryRevoker(nil)
		now := testclock.Now()
		for i := range benchRecords {
			for _, kind := range []guardian.RevocationKind{guardian.ByToken, guardian.ByFamily, guardian.BySubject} {
				rev := guardian.Revocation{Kind: kind, ID: fmt.Sprintf("%s-%d", kind, i), At: now, TTL: time.Hour}
				if err := m.Revoke(context.Background(), rev); err != nil {
					b.Fatal(err)
				}
			}
		}
		benchRevoked(b, m, nil)
	})
	for _, name := range backendNames {
		for _, allowList := range []bool{false, true} {
			mode := "denylist"
			if allowList {
				mode = "allowlist"
			}
			b.Run(name+"/"+mode, func(b *testing.B) {
				be := newBackend(b, name)
				db := be.open(b)
				opts := &sqlstore.Options{AllowList: allowList, SweepInterval: -1}
				uniqueTables(b, be, opts)
				s := openStore(b, be, db, opts)
				bulkRevocations(b, be, db, opts.RevocationsTable)
				var record func(*guardian.Claims) error
				if allowList {
					record = func(c *guardian.Claims) error { return s.Record(context.Background(), c) }
				}
				benchRevoked(b, s, record)
			})
		}
	}
}

// bulkRevocations fills a revocations table with benchRecords records of
// each kind in one transaction, as Revoke would write them but without a
// commit (and an fsync) for each.
func bulkRevocations(b *testing.B, be *backend, db *sql.DB, table string) {
	b.Helper()
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	values := "(?, ?, ?, ?)"
	if be.dialect == sqlstore.Postgres {
		values = "($1, $2, $3, $4)"
	}
	st, err := tx.Prepare("INSERT INTO " + table + " (kind, id, cutoff_s, until_ms) VALUES " + values)
	if err != nil {
		b.Fatal(err)
	}
	// The cut-off is on the issuers' clock, the expiry on the store's
	// (its default clock, time.Now).
	cutoff, until := testclock.Now().Unix(), time.Now().Add(time.Hour).UnixMilli()
	for i := range benchRecords {
		for kind, name := range map[int]string{1: "token", 2: "subject", 3: "family"} {
			if _, err := st.Exec(kind, fmt.Sprintf("%s-%d", name, i), cutoff, until); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

func benchRevoked(b *testing.B, r guardian.Revoker, record func(*guardian.Claims) error) {
	ctx := context.Background()
	c := revokertest.Token("bench-subject")
	if record != nil {
		if err := record(c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		revoked, err := r.Revoked(ctx, c)
		if err != nil || revoked {
			b.Fatalf("Revoked() = %v, %v; want false, nil", revoked, err)
		}
	}
}

// BenchmarkRevokedParallel is BenchmarkRevoked with concurrent callers, as
// a busy server makes them (GOMAXPROCS goroutines by default).
func BenchmarkRevokedParallel(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		benchRevokedParallel(b, guardian.NewMemoryRevoker(nil))
	})
	for _, name := range backendNames {
		b.Run(name, func(b *testing.B) {
			be := newBackend(b, name)
			benchRevokedParallel(b, newStore(b, be, be.open(b), nil))
		})
	}
}

func benchRevokedParallel(b *testing.B, r guardian.Revoker) {
	ctx := context.Background()
	c := revokertest.Token("bench-subject")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if revoked, err := r.Revoked(ctx, c); err != nil || revoked {
				b.Errorf("Revoked() = %v, %v; want false, nil", revoked, err)
				return
			}
		}
	})
}

// BenchmarkRoundTrip is the floor under every SQL check: a prepared
// SELECT 1 on the same *sql.DB setup, with no table involved.
func BenchmarkRoundTrip(b *testing.B) {
	for _, name := range backendNames {
		b.Run(name, func(b *testing.B) {
			be := newBackend(b, name)
			st, err := be.open(b).Prepare("SELECT 1")
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				var n int
				if err := st.QueryRowContext(ctx).Scan(&n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
