package sqlstore

import (
	"slices"
	"testing"
)

func TestRender(t *testing.T) {
	vars := map[string]string{"t": `"tbl"`}
	const tmpl = "SELECT x FROM {t} WHERE a = @a AND b = @b OR a = @a"
	tests := []struct {
		dialect  Dialect
		wantText string
		wantArgs []any
	}{
		{dialect: Postgres, wantText: `SELECT x FROM "tbl" WHERE a = $1 AND b = $2 OR a = $1`, wantArgs: []any{"A", "B"}},
		{dialect: MySQL, wantText: `SELECT x FROM "tbl" WHERE a = ? AND b = ? OR a = ?`, wantArgs: []any{"A", "B", "A"}},
		{dialect: SQLite, wantText: `SELECT x FROM "tbl" WHERE a = ? AND b = ? OR a = ?`, wantArgs: []any{"A", "B", "A"}},
	}
	for _, tt := range tests {
		t.Run(tt.dialect.String(), func(t *testing.T) {
			q := render(tt.dialect, tmpl, vars, "a", "b")
			if q.text != tt.wantText {
				t.Errorf("text = %q, want %q", q.text, tt.wantText)
			}
			if got := q.args("A", "B"); !slices.Equal(got, tt.wantArgs) {
				t.Errorf("args = %v, want %v", got, tt.wantArgs)
			}
		})
	}
}

func TestRenderPanicsOnBadTemplates(t *testing.T) {
	tests := []struct {
		name  string
		tmpl  string
		names []string
	}{
		{name: "unknown parameter", tmpl: "SELECT @x", names: []string{"a"}},
		{name: "unused parameter", tmpl: "SELECT @a", names: []string{"a", "b"}},
		{name: "unknown variable", tmpl: "SELECT 1 FROM {nope}"},
		{name: "unclosed variable", tmpl: "SELECT 1 FROM {t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("render(%q) did not panic", tt.tmpl)
				}
			}()
			render(Postgres, tt.tmpl, map[string]string{"t": "t"}, tt.names...)
		})
	}
}

// TestQueriesRender renders every statement of every dialect and mode, so
// that a template mistake fails here rather than at New.
func TestQueriesRender(t *testing.T) {
	rev, tok := tableName{name: "r"}, tableName{schema: "s", name: "t"}
	for _, d := range []Dialect{Postgres, MySQL, SQLite} {
		for _, allow := range []bool{false, true} {
			q := buildQueries(d, rev, tok, allow)
			if q.revoked.text == "" || q.upsert.text == "" || q.sweepRev.text == "" || q.tokenRevoked.text == "" {
				t.Errorf("%s allow-list %v: a statement is empty", d, allow)
			}
			if d == MySQL && (q.consumeUpdate.text == "" || q.consumeInsert.text == "") || d != MySQL && q.consume.text == "" {
				t.Errorf("%s: Consume statements missing", d)
			}
		}
	}
}
