package app

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"
)

// The two SQL dialects of the app's tables, as Store.AppTables names them.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// dialect holds every difference between the engines the app's SQL has to know about: where its
// tables live. Everything else (placeholders $1…, LIKE … ESCAPE, INSERT … RETURNING-free
// statements, integer times, text dates) is the same on both.
type dialect struct {
	name        string
	tablePrefix string // prefix of the app's tables: "app." (a schema) or "app_" (a name prefix)
}

func dialectFor(name string) (dialect, error) {
	switch name {
	case DialectSQLite:
		return dialect{name: name, tablePrefix: "app_"}, nil
	case DialectPostgres:
		return dialect{name: name, tablePrefix: "app."}, nil
	}
	return dialect{}, fmt.Errorf("dialect: must be %q or %q (got %q)", DialectSQLite, DialectPostgres, name)
}

// sqlDB is the app's handle on its own tables (Store.AppTables): the app's statements are written
// with {app} before each of its table names, which rewrite replaces for the dialect.
//
// Statements are prepared once and kept: the app runs a fixed set of them, and SQLite (which has
// no statement cache in the driver) would otherwise parse each one on every call.
type sqlDB struct {
	db    *sql.DB
	d     dialect
	rep   *strings.Replacer
	stmts sync.Map // query text as written → *sql.Stmt
}

func newSQLDB(db *sql.DB, d dialect) *sqlDB {
	return &sqlDB{db: db, d: d, rep: strings.NewReplacer("{app}", d.tablePrefix)}
}

// stmt returns the prepared statement of query, preparing it on first use.
func (s *sqlDB) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.db.PrepareContext(ctx, s.rep.Replace(query))
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		_ = st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

func (s *sqlDB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (s *sqlDB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// row is a single-row result whose Scan reports a failed prepare as well.
type row struct {
	r   *sql.Row
	err error
}

func (r row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	return r.r.Scan(dest...)
}

func (s *sqlDB) queryRow(ctx context.Context, query string, args ...any) row {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return row{err: err}
	}
	return row{r: st.QueryRowContext(ctx, args...)}
}

// close releases the prepared statements.
func (s *sqlDB) close() {
	s.stmts.Range(func(k, v any) bool {
		_ = v.(*sql.Stmt).Close()
		s.stmts.Delete(k)
		return true
	})
}

// Times are stored as unix microseconds and dates as 'YYYY-MM-DD' text on both engines.

const dateLayout = "2006-01-02"

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMicros(n.Int64)
	return &t
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// fold is the form of a text that searches and name keys compare: lower case by Go's Unicode
// tables. The app computes it in Go and stores it next to the text, because neither engine's
// lower() can be trusted to agree with the other's (SQLite's folds A–Z only; PostgreSQL's follows
// the database's locale).
func fold(s string) string { return strings.ToLower(s) }

// likePattern turns a user's search words into a LIKE pattern matching their folded form anywhere
// in a folded column, with the LIKE wildcards in the words escaped (used with ESCAPE '\').
func likePattern(q string) string {
	q = fold(strings.TrimSpace(q))
	q = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q)
	return "%" + q + "%"
}
