package sqlstore_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/guardian-go/guardian/sqlstore"
)

func TestCreateSchema(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		db := b.open(t)
		ctx := context.Background()

		t.Run("Idempotent", func(t *testing.T) {
			opts := &sqlstore.Options{AllowList: true, SweepInterval: -1}
			uniqueTables(t, b, opts)
			s := openStore(t, b, db, opts) // creates once
			for i := range 2 {
				if err := s.CreateSchema(ctx); err != nil {
					t.Fatalf("CreateSchema() #%d = %v, want nil", i+2, err)
				}
			}
			c := revokertest.Token(revokertest.NewID("sub"))
			if err := s.Record(ctx, c); err != nil {
				t.Fatal(err)
			}
			revokertest.WantRevoked(t, s, c, false, "a token recorded after repeated CreateSchema")
			if got := countRows(t, db, quoteTable(b, opts.RevocationsTable+"_seq")); got != 1 {
				t.Errorf("counter rows after repeated CreateSchema = %d, want 1", got)
			}
		})

		t.Run("Concurrent", func(t *testing.T) {
			opts := &sqlstore.Options{AllowList: true, SweepInterval: -1}
			uniqueTables(t, b, opts)
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for range 4 {
				wg.Go(func() {
					s, err := sqlstore.New(db, b.dialect, opts)
					if err != nil {
						errs <- err
						return
					}
					defer s.Close()
					if err := s.CreateSchema(ctx); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("concurrent CreateSchema() = %v, want nil", err)
			}
			if got := countRows(t, db, quoteTable(b, opts.RevocationsTable+"_seq")); got != 1 {
				t.Errorf("counter rows after concurrent CreateSchema = %d, want 1", got)
			}
		})

		t.Run("WhileWriting", func(t *testing.T) {
			// Instances starting (CreateSchema) while others revoke: no
			// call may fail, a deadlock included.
			opts := &sqlstore.Options{SweepInterval: -1}
			uniqueTables(t, b, opts)
			w := openStore(t, b, db, opts)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						if err := w.Revoke(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: testclock.Now(), TTL: time.Hour}); err != nil {
							t.Errorf("Revoke during CreateSchema = %v", err)
							return
						}
					}
				})
			}
			for range 10 {
				if err := w.CreateSchema(ctx); err != nil {
					t.Errorf("CreateSchema while writing = %v", err)
				}
			}
			close(stop)
			wg.Wait()
		})

		t.Run("CustomNames", func(t *testing.T) {
			suffix := randomSuffix(t)
			opts := &sqlstore.Options{
				AllowList:        true,
				SweepInterval:    -1,
				RevocationsTable: b.schemaName(t) + ".my_revocations_" + suffix,
				TokensTable:      "MyTokens_" + suffix,
			}
			uniqueTables(t, b, opts) // keeps the names, drops the tables
			s := openStore(t, b, db, opts)
			for _, stmt := range s.Schema() {
				if !strings.Contains(stmt, "my_revocations_"+suffix) && !strings.Contains(stmt, "MyTokens_"+suffix) {
					t.Errorf("Schema() statement names neither table:\n%s", stmt)
				}
			}
			c := revokertest.Token(revokertest.NewID("sub"))
			if err := s.Record(ctx, c); err != nil {
				t.Fatal(err)
			}
			revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByFamily, ID: c.Family, At: testclock.Now(), TTL: time.Hour})
			revokertest.WantRevoked(t, s, c, true, "a token of a revoked family, with custom table names")
			if got := countRows(t, db, quoteTable(b, opts.TokensTable)); got != 0 {
				t.Errorf("rows in the custom tokens table = %d, want 0 after the family was revoked", got)
			}
			if got := countRows(t, db, opts.RevocationsTable); got != 1 {
				t.Errorf("rows in the custom revocations table = %d, want 1", got)
			}
		})

		t.Run("DenyListCreatesNoTokensTable", func(t *testing.T) {
			s, err := sqlstore.New(db, b.dialect, &sqlstore.Options{SweepInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := len(s.Schema()); got == 0 {
				t.Fatal("Schema() is empty")
			}
			for _, stmt := range s.Schema() {
				if strings.Contains(stmt, sqlstore.DefaultTokensTable) {
					t.Errorf("deny-list Schema() mentions the tokens table:\n%s", stmt)
				}
			}
		})
	})
}

// TestSchemaText pins the DDL of each dialect, as documented in the README.
func TestSchemaText(t *testing.T) {
	tests := []struct {
		dialect sqlstore.Dialect
		want    []string
	}{
		{dialect: sqlstore.Postgres, want: []string{
			`CREATE TABLE IF NOT EXISTS "guardian_revocations" (`, `id TEXT COLLATE "C" NOT NULL`, `until_ms BIGINT NOT NULL`, `PRIMARY KEY (kind, id)`,
			`CREATE INDEX IF NOT EXISTS "guardian_revocations_until_idx" ON "guardian_revocations" (until_ms)`,
			"CREATE TABLE IF NOT EXISTS \"guardian_revocations_replay\" (\n\tid TEXT COLLATE \"C\" NOT NULL PRIMARY KEY,\n\tuntil_ms BIGINT NOT NULL\n)",
			"CREATE TABLE IF NOT EXISTS \"guardian_revocations_changes\" (\n\tseq BIGINT NOT NULL PRIMARY KEY,\n\tkind SMALLINT NOT NULL,\n\tid TEXT COLLATE \"C\" NOT NULL,\n\tcutoff_s BIGINT NOT NULL,\n\tttl_ms BIGINT NOT NULL,\n\tuntil_ms BIGINT NOT NULL\n)",
			"CREATE TABLE IF NOT EXISTS \"guardian_revocations_seq\" (\n\tone SMALLINT NOT NULL PRIMARY KEY CHECK (one = 1),\n\tseq BIGINT NOT NULL\n)",
			`INSERT INTO "guardian_revocations_seq" (one, seq) SELECT 1, COALESCE(MAX(seq), 0) FROM "guardian_revocations_changes" ON CONFLICT (one) DO NOTHING`,
			`CREATE INDEX IF NOT EXISTS "guardian_revocations_replay_idx" ON "guardian_revocations_replay" (until_ms)`,
			`jti TEXT COLLATE "C" NOT NULL PRIMARY KEY`, `CREATE INDEX IF NOT EXISTS "guardian_tokens_subject_idx" ON "guardian_tokens" (subject)`,
			"expires_ms BIGINT NOT NULL,\n\tuntil_ms BIGINT NOT NULL\n)",
			`CREATE INDEX IF NOT EXISTS "guardian_tokens_until_idx" ON "guardian_tokens" (until_ms)`,
		}},
		{dialect: sqlstore.MySQL, want: []string{
			"CREATE TABLE IF NOT EXISTS `guardian_revocations` (", "id VARBINARY(1024) NOT NULL", "KEY `guardian_revocations_until_idx` (until_ms)",
			") ENGINE=InnoDB", "CREATE TABLE IF NOT EXISTS `guardian_revocations_replay` (\n\tid VARBINARY(1024) NOT NULL PRIMARY KEY,\n\tuntil_ms BIGINT NOT NULL,\n\tKEY `guardian_revocations_replay_idx` (until_ms)\n) ENGINE=InnoDB",
			"CREATE TABLE IF NOT EXISTS `guardian_revocations_changes` (\n\tseq BIGINT NOT NULL PRIMARY KEY,\n\tkind SMALLINT NOT NULL,\n\tid VARBINARY(1024) NOT NULL,\n\tcutoff_s BIGINT NOT NULL,\n\tttl_ms BIGINT NOT NULL,\n\tuntil_ms BIGINT NOT NULL\n) ENGINE=InnoDB",
			"CREATE TABLE IF NOT EXISTS `guardian_revocations_seq` (\n\tone SMALLINT NOT NULL PRIMARY KEY CHECK (one = 1),\n\tseq BIGINT NOT NULL\n) ENGINE=InnoDB",
			"INSERT INTO `guardian_revocations_seq` (one, seq) SELECT 1, COALESCE(MAX(seq), 0) FROM `guardian_revocations_changes` ON DUPLICATE KEY UPDATE one = one",
			"token_type VARBINARY(255) NOT NULL", "KEY `guardian_tokens_family_idx` (family)",
			"expires_ms BIGINT NOT NULL,\n\tuntil_ms BIGINT NOT NULL,", "KEY `guardian_tokens_until_idx` (until_ms)",
		}},
		{dialect: sqlstore.SQLite, want: []string{
			`CREATE TABLE IF NOT EXISTS "guardian_revocations" (`, "kind INTEGER NOT NULL", "id TEXT NOT NULL",
			"CREATE TABLE IF NOT EXISTS \"guardian_revocations_replay\" (\n\tid TEXT NOT NULL PRIMARY KEY,\n\tuntil_ms INTEGER NOT NULL\n)",
			`CREATE INDEX IF NOT EXISTS "guardian_revocations_replay_idx" ON "guardian_revocations_replay" (until_ms)`,
			"CREATE TABLE IF NOT EXISTS \"guardian_revocations_changes\" (\n\tseq INTEGER NOT NULL PRIMARY KEY,\n\tkind INTEGER NOT NULL,\n\tid TEXT NOT NULL,\n\tcutoff_s INTEGER NOT NULL,\n\tttl_ms INTEGER NOT NULL,\n\tuntil_ms INTEGER NOT NULL\n)",
			"CREATE TABLE IF NOT EXISTS \"guardian_revocations_seq\" (\n\tone INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),\n\tseq INTEGER NOT NULL\n)",
			`INSERT INTO "guardian_revocations_seq" (one, seq) SELECT 1, COALESCE(MAX(seq), 0) FROM "guardian_revocations_changes" WHERE 1 = 1 ON CONFLICT (one) DO NOTHING`,
			"expires_ms INTEGER NOT NULL,\n\tuntil_ms INTEGER NOT NULL\n)",
			`CREATE INDEX IF NOT EXISTS "guardian_tokens_until_idx" ON "guardian_tokens" (until_ms)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.dialect.String(), func(t *testing.T) {
			s, err := sqlstore.New(unusedDB(t), tt.dialect, &sqlstore.Options{AllowList: true, SweepInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ddl := strings.Join(s.Schema(), ";\n")
			for _, w := range tt.want {
				if !strings.Contains(ddl, w) {
					t.Errorf("Schema() lacks %q; got:\n%s", w, ddl)
				}
			}
		})
	}
	t.Run("sqlite qualified", func(t *testing.T) {
		s, err := sqlstore.New(unusedDB(t), sqlstore.SQLite, &sqlstore.Options{RevocationsTable: "aux.rev", SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		want := `CREATE INDEX IF NOT EXISTS "aux"."rev_until_idx" ON "rev" (until_ms)`
		if got := s.Schema()[1]; got != want {
			t.Errorf("Schema()[1] = %q, want %q", got, want)
		}
	})
}
