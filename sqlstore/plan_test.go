package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/guardian-go/guardian/sqlstore"
)

// TestRevokedIsIndexed asks each database for its plan of the Revoked
// statement and checks that no table is scanned: every lookup uses the
// primary key. With few rows a planner may prefer a scan, so PostgreSQL is
// told to avoid them when it can (enable_seqscan = off) and the other two
// are asked which index they would use.
func TestRevokedIsIndexed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		db := b.open(t)
		for _, allowList := range []bool{false, true} {
			s := newStore(t, b, db, &sqlstore.Options{AllowList: allowList, SweepInterval: -1})
			// Rows that the lookups find, among others.
			now := testclock.Now()
			for i := range 100 {
				for _, kind := range []guardian.RevocationKind{guardian.ByToken, guardian.ByFamily, guardian.BySubject} {
					id := fmt.Sprintf("%s-%d", kind, i)
					revokertest.MustRevoke(t, s, guardian.Revocation{Kind: kind, ID: id, At: now, TTL: time.Hour})
				}
				if allowList {
					c := revokertest.TokenAt("subject-1", now)
					c.ID = fmt.Sprintf("token-%d", i)
					if err := s.Record(context.Background(), c); err != nil {
						t.Fatal(err)
					}
				}
			}
			text, args := sqlstore.RevokedQuery(s)
			plan := explain(t, b, db, text, args("token-1", "family-1", "subject-1", int64(1), time.Now().UnixMilli()))
			t.Logf("allow-list %v, plan:\n%s", allowList, strings.Join(plan, "\n"))
			for _, line := range plan {
				if scans(b.dialect, line) {
					t.Errorf("allow-list %v: the Revoked statement scans a table: %q", allowList, line)
				}
			}
		}
	})
}

func explain(t *testing.T, b *backend, db *sql.DB, text string, args []any) []string {
	t.Helper()
	ctx := context.Background()
	var q interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	} = db
	prefix := "EXPLAIN "
	switch b.dialect {
	case sqlstore.SQLite:
		prefix = "EXPLAIN QUERY PLAN "
	case sqlstore.Postgres:
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
		q = tx
	}
	rows, err := q.QueryContext(ctx, prefix+text, args...)
	if err != nil {
		t.Fatalf("%s%s: %v", prefix, text, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var fields []string
		for i, v := range vals {
			if b.dialect == sqlstore.MySQL {
				fields = append(fields, cols[i]+"="+v.String)
			} else if b.dialect != sqlstore.SQLite || cols[i] == "detail" {
				fields = append(fields, v.String)
			}
		}
		plan = append(plan, strings.Join(fields, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// scans reports whether a plan line reads a whole table.
func scans(d sqlstore.Dialect, line string) bool {
	switch d {
	case sqlstore.Postgres:
		return strings.Contains(line, "Seq Scan")
	case sqlstore.MySQL:
		// A table accessed with type ALL (or index, a full index scan) is
		// scanned; const, eq_ref, ref and range look keys up.
		if strings.Contains(line, " table= ") {
			return false // no table: the outer SELECT
		}
		return !strings.Contains(line, "type=const ") && !strings.Contains(line, "type=eq_ref ") && !strings.Contains(line, "type=ref ")
	default:
		// SQLite says SEARCH for an index lookup and SCAN for a scan
		// (SCAN CONSTANT ROW is the table-less outer SELECT).
		return strings.HasPrefix(line, "SCAN") && !strings.HasPrefix(line, "SCAN CONSTANT ROW")
	}
}
