package app

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/persona-runner/persona-runner/store/sqlitelock"
)

// The two SQL dialects the app runs on. They are the values of the stores' Dialect() methods.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

//go:embed migrations
var migrationFiles embed.FS

// migrationLockID is the PostgreSQL advisory lock key that serialises the app's migrations. It
// differs from the store's key, so the two migration runs never wait for each other.
const migrationLockID int64 = 0x6d616e61_61707031 // "manaapp1"

// dialect holds every difference between the engines the app's SQL has to know about: where its
// tables live and which store tables it reads. Everything else (placeholders $1…, LIKE … ESCAPE,
// INSERT … RETURNING-free statements, integer times, text dates) is the same on both.
type dialect struct {
	name         string
	tablePrefix  string // prefix of the app's tables: "app." (a schema) or "app_" (a name prefix)
	spacesTable  string // the store's spaces table
	versionTable string // goose's bookkeeping table for the app's migrations
}

func dialectFor(name string) (dialect, error) {
	switch name {
	case DialectSQLite:
		return dialect{name: name, tablePrefix: "app_", spacesTable: "spaces", versionTable: "app_goose_db_version"}, nil
	case DialectPostgres:
		return dialect{name: name, tablePrefix: "app.", spacesTable: "auth.spaces", versionTable: "app.goose_db_version"}, nil
	}
	return dialect{}, fmt.Errorf("dialect: must be %q or %q (got %q)", DialectSQLite, DialectPostgres, name)
}

// sqlDB is the app's handle on the store's database: the app's statements are written with
// {app} before each of its table names and {spaces} for the store's spaces table, which rewrite
// replaces for the dialect.
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
	return &sqlDB{db: db, d: d, rep: strings.NewReplacer("{app}", d.tablePrefix, "{spaces}", d.spacesTable)}
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

// Migrate applies the app's pending migrations to db, after the store's own migrations (the app's
// tables reference the store's spaces table). dialectName is the store's Dialect(). It is
// idempotent, and on PostgreSQL replicas starting together serialise on an advisory lock.
func Migrate(ctx context.Context, db *sql.DB, dialectName string) error {
	p, err := migrations(ctx, db, dialectName)
	if err != nil {
		return fmt.Errorf("migrate app: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate app: %w", err)
	}
	return nil
}

// migrations returns the goose provider of the app's migrations on db: the SQL files of the
// dialect, and the Go migrations (those that need Go to compute their data).
func migrations(ctx context.Context, db *sql.DB, dialectName string) (*goose.Provider, error) {
	d, err := dialectFor(dialectName)
	if err != nil {
		return nil, err
	}
	var opts []goose.ProviderOption
	gooseDialect := goose.DialectSQLite3
	if d.name == DialectPostgres {
		gooseDialect = goose.DialectPostgres
		// goose keeps its version table in schema app, so the schema must exist before goose
		// looks. Two replicas racing on CREATE SCHEMA IF NOT EXISTS can still collide, hence the
		// transaction-scoped advisory lock around it.
		if err := createSchema(ctx, db); err != nil {
			return nil, err
		}
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, fmt.Errorf("session locker: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	} else {
		// Processes opening a new SQLite file at once take turns (store/sqlitelock).
		locker, err := sqlitelock.ForDB(ctx, db)
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithLocker(locker))
	}
	fsys, err := fs.Sub(migrationFiles, "migrations/"+d.name)
	if err != nil {
		return nil, err
	}
	opts = append(opts, goose.WithTableName(d.versionTable), goose.WithDisableGlobalRegistry(true),
		goose.WithGoMigrations(searchKeysMigration(d)))
	return goose.NewProvider(gooseDialect, db, fsys, opts...)
}

func createSchema(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create schema app: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockID); err != nil {
		return fmt.Errorf("create schema app: lock: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS app`); err != nil {
		return fmt.Errorf("create schema app: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create schema app: %w", err)
	}
	return nil
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
