// Package sqlite is the embedded default persona.Store: one SQLite file (pure-Go driver
// modernc.org/sqlite) in WAL mode with foreign keys on, migrated by goose from embedded SQL files.
//
// Every write goes through one writer connection whose transactions start with BEGIN IMMEDIATE, so
// writes inside the process are serialised without SQLITE_BUSY and a claim is atomic; reads use a
// separate pool of read-only connections, which WAL lets run next to the writer. Another process
// writing the same file (a CLI seed next to a running server) waits up to the busy timeout.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/persona-runner/persona-runner/persona"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Compile-time check that DB implements the store interface.
var _ persona.Store = (*DB)(nil)

// DB is the SQLite store. It is safe for concurrent use.
type DB struct {
	w    *sql.DB // exactly one connection: every write transaction of the store
	r    *sql.DB // read-only connections
	app  *sql.DB // read-write connections for the demo app's own tables (SQL)
	now  func() time.Time
	path string
}

type config struct {
	now     func() time.Time
	readers int
}

// Option configures Open.
type Option func(*config)

// WithNow sets the store's clock (default time.Now). Every timestamp the store writes and every
// due or lease decision uses it.
func WithNow(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithMaxConns sets the number of read connections and of SQL's connections (default 4 each).
// The store's own writes always use one connection.
func WithMaxConns(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.readers = n
		}
	}
}

// busyTimeout is how long a connection waits for another process's write lock.
const busyTimeout = 10 * time.Second

// Open opens (creating it and its parent directories when missing) the SQLite file at path and
// applies the migrations.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	cfg := config{now: time.Now, readers: 4}
	for _, o := range opts {
		o(&cfg)
	}
	if path == "" {
		return nil, errors.New("open sqlite store: empty database path")
	}
	// The driver reads everything after '?' as connection parameters, so such a path would be
	// silently cut; refuse it rather than open a different file.
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("open sqlite store %q: the path must not contain '?'", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("open sqlite store %q: create directory: %w", path, err)
		}
	}
	params := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)", busyTimeout.Milliseconds())
	w, err := sql.Open("sqlite", path+"?"+params+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %q: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite store %q: %w", path, err)
	}
	if err := Migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite store %q: %w", path, err)
	}
	r, err := sql.Open("sqlite", path+"?"+params+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite store %q: %w", path, err)
	}
	r.SetMaxOpenConns(cfg.readers)
	r.SetMaxIdleConns(cfg.readers)
	app, err := sql.Open("sqlite", path+"?"+params+"&_txlock=immediate")
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open sqlite store %q: %w", path, err)
	}
	app.SetMaxOpenConns(cfg.readers)
	app.SetMaxIdleConns(cfg.readers)
	return &DB{w: w, r: r, app: app, now: cfg.now, path: path}, nil
}

// Migrate applies every pending migration to db, each in its own transaction. It is idempotent.
func Migrate(ctx context.Context, db *sql.DB) error {
	p, err := goose.NewProvider(goose.DialectSQLite3, db, mustSub(migrations, "migrations"),
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrate sqlite store: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate sqlite store: %w", err)
	}
	return nil
}

// SQL returns a read-write handle on the same file so that the demo app can keep its own tables
// there (with foreign keys to spaces(id), ON DELETE CASCADE, so deleting a persona's spaces
// deletes its app data). It is a pool of its own, separate from the store's single writer, so
// nested queries on it cannot starve each other. Its transactions begin IMMEDIATE and wait for
// the store's writer (up to the busy timeout) rather than fail; for the same reason, do not call
// a store method that writes while holding a transaction on it.
func (db *DB) SQL() *sql.DB { return db.app }

// Dialect names the SQL dialect: "sqlite".
func (db *DB) Dialect() string { return "sqlite" }

// Path is the database file.
func (db *DB) Path() string { return db.path }

// Close closes both connection pools.
func (db *DB) Close() error {
	return errors.Join(db.app.Close(), db.r.Close(), db.w.Close())
}

// clock returns the store's current time at the precision stored (microseconds), in UTC.
func (db *DB) clock() time.Time { return db.now().UTC().Truncate(time.Microsecond) }

// tx is one write transaction with the one time it runs at.
type tx struct {
	*sql.Tx
	now time.Time
}

// write runs fn in a write transaction and commits it when fn returns nil.
func (db *DB) write(ctx context.Context, fn func(*tx) error) error {
	t, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(&tx{Tx: t, now: db.clock()}); err != nil {
		_ = t.Rollback()
		return err
	}
	return t.Commit()
}

// queryer is what both pools and transactions offer for reads.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Times are stored as unix microseconds.

func micro(t time.Time) int64 { return t.UnixMicro() }

func fromMicro(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicro(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func ptrTime(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMicro(n.Int64)
	return &t
}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}
