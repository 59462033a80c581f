package sqlstore

import (
	"fmt"
	"strconv"
	"strings"
)

// Dialect names the SQL database behind the *sql.DB given to [New]. The
// store does not guess it from the driver: pass one of [Postgres], [MySQL]
// or [SQLite].
type Dialect uint8

const (
	// Postgres is PostgreSQL 9.5 or later (ON CONFLICT), for example through
	// github.com/jackc/pgx/v5/stdlib or github.com/lib/pq.
	Postgres Dialect = iota + 1
	// MySQL is MySQL 5.7.7 or later, or MariaDB 10.3 or later, with InnoDB
	// tables in the DYNAMIC row format (the default), for example through
	// github.com/go-sql-driver/mysql.
	MySQL
	// SQLite is SQLite 3.24 or later (ON CONFLICT ... DO UPDATE), for example
	// through modernc.org/sqlite or github.com/mattn/go-sqlite3.
	SQLite
)

// String returns "postgres", "mysql" or "sqlite".
func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case MySQL:
		return "mysql"
	case SQLite:
		return "sqlite"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

func (d Dialect) valid() bool { return d >= Postgres && d <= SQLite }

// quote quotes one identifier part, already checked by parseTableName to
// hold only ASCII letters, digits and underscores.
func (d Dialect) quote(part string) string {
	if d == MySQL {
		return "`" + part + "`"
	}
	return `"` + part + `"`
}

// maxNamePart bounds each part of a table name so that the index names
// derived from it (the name plus a suffix of at most 12 bytes) stay within
// PostgreSQL's 63-byte and MySQL's 64-byte identifier limits.
const maxNamePart = 48

// tableName is a table name checked to be safe to put in SQL text: one or
// two parts ("table" or "schema.table"), each an ASCII SQL identifier.
type tableName struct{ schema, name string }

// parseTableName accepts "table" or "schema.table", where each part matches
// [A-Za-z_][A-Za-z0-9_]* and is at most maxNamePart bytes long. Nothing
// else is ever put into SQL text.
func parseTableName(s string) (tableName, error) {
	schema, name, qualified := strings.Cut(s, ".")
	if !qualified {
		schema, name = "", s
	}
	if (qualified && !isIdent(schema)) || !isIdent(name) {
		return tableName{}, fmt.Errorf("%w: %q (want table or schema.table, each part matching [A-Za-z_][A-Za-z0-9_]* and at most %d bytes)", ErrInvalidTableName, s, maxNamePart)
	}
	return tableName{schema: schema, name: name}, nil
}

func isIdent(s string) bool {
	if s == "" || len(s) > maxNamePart {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func (t tableName) String() string {
	if t.schema == "" {
		return t.name
	}
	return t.schema + "." + t.name
}

// sql is the quoted, possibly qualified, table name.
func (t tableName) sql(d Dialect) string {
	if t.schema == "" {
		return d.quote(t.name)
	}
	return d.quote(t.schema) + "." + d.quote(t.name)
}

// createIndex is a CREATE INDEX statement for an index named after the
// table. PostgreSQL puts an index in its table's schema and wants the name
// bare; SQLite wants the schema on the index name and the table bare.
func (t tableName) createIndex(d Dialect, suffix, column string) string {
	idx := d.quote(t.name + suffix)
	on := t.sql(d)
	if d == SQLite && t.schema != "" {
		idx = d.quote(t.schema) + "." + idx
		on = d.quote(t.name)
	}
	return "CREATE INDEX IF NOT EXISTS " + idx + " ON " + on + " (" + column + ")"
}

// query is a statement rendered for one dialect: its SQL text and, for each
// placeholder in order, the index of the named value it takes.
type query struct {
	text  string
	order []int
}

// args arranges vals (one per name given to render) as the placeholders of
// q want them.
func (q *query) args(vals ...any) []any {
	out := make([]any, len(q.order))
	for i, k := range q.order {
		out[i] = vals[k]
	}
	return out
}

// render turns a statement template into a query for d. In the template,
// {name} is replaced by vars[name] (quoted identifiers, never user input)
// and @name is a parameter, one of names: PostgreSQL gets $n, numbered by
// the position of the name in names (a name used twice binds once); MySQL
// and SQLite get ? and the value repeated. Every name must be used. A
// malformed template is a bug in this package, so render panics.
func render(d Dialect, tmpl string, vars map[string]string, names ...string) query {
	var b strings.Builder
	var order []int
	used := make([]bool, len(names))
	for i := 0; i < len(tmpl); {
		c := tmpl[i]
		if c != '@' && c != '{' {
			b.WriteByte(c)
			i++
			continue
		}
		j := i + 1
		for j < len(tmpl) && (tmpl[j] == '_' || 'a' <= tmpl[j] && tmpl[j] <= 'z') {
			j++
		}
		word := tmpl[i+1 : j]
		if c == '{' {
			v, ok := vars[word]
			if !ok || j >= len(tmpl) || tmpl[j] != '}' {
				panic("sqlstore: bad template variable {" + word + "}")
			}
			b.WriteString(v)
			i = j + 1
			continue
		}
		k := -1
		for n, name := range names {
			if name == word {
				k = n
			}
		}
		if k < 0 {
			panic("sqlstore: unknown template parameter @" + word)
		}
		used[k] = true
		if d == Postgres {
			b.WriteString("$" + strconv.Itoa(k+1))
		} else {
			b.WriteByte('?')
			order = append(order, k)
		}
		i = j
	}
	for k, u := range used {
		if !u {
			panic("sqlstore: template parameter @" + names[k] + " unused")
		}
	}
	if d == Postgres {
		order = make([]int, len(names))
		for k := range order {
			order[k] = k
		}
	}
	return query{text: b.String(), order: order}
}
