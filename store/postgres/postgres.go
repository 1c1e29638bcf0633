// Package postgres implements persona.Store on PostgreSQL with pgx v5. Every table lives in schema
// auth (SPEC §3). Migrations are embedded SQL files applied with goose under an advisory lock, so
// any number of replicas may start at once. The store reads time from an injectable clock and
// passes it to SQL as a parameter, so the due rule runs in one statement on the store's clock.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/internal/appline"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockID is the advisory lock key that serialises migrations of this schema. It differs
// from goose's default key so the demo app's own goose migrations never wait on ours.
const migrationLockID int64 = 0x70657273_6f6e6131 // "persona1"

// versionTable is goose's bookkeeping table, kept inside schema auth with the data it describes.
const versionTable = "auth.goose_db_version"

// DB is the PostgreSQL store. It is safe for concurrent use.
type DB struct {
	pool  *pgxpool.Pool
	sqlDB *sql.DB
	now   func() time.Time
	// passwordCost is the bcrypt cost of the hashes the store writes.
	passwordCost int
}

var _ persona.Store = (*DB)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	now          func() time.Time
	migrate      bool
	passwordCost int
}

// WithNow sets the store's clock (tests inject a fake one). The default is time.Now.
func WithNow(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithPasswordCost sets the bcrypt cost of the password hashes the store writes (default
// persona.DefaultPasswordCost).
func WithPasswordCost(cost int) Option {
	return func(o *options) { o.passwordCost = cost }
}

// WithoutMigrate opens the store without applying migrations (for tools that only read and must
// not change the schema).
func WithoutMigrate() Option {
	return func(o *options) { o.migrate = false }
}

// Open connects to the database at dsn (a postgres:// URL), checks the connection, applies the
// embedded migrations and returns the store.
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	o := options{now: time.Now, migrate: true, passwordCost: persona.DefaultPasswordCost}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: parse DSN: %w", err)
	}
	// The due and claim queries are fast only when planned for the actual clock value: the same
	// statement wants the due-order index while many personas are due and the due_at index when
	// few are. A cached generic plan, which PostgreSQL adopts after a few runs of a prepared
	// statement, would stick to whichever regime it was made in.
	if _, set := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !set {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store: cannot reach %s:%d/%s: %w",
			cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	db := &DB{pool: pool, sqlDB: stdlib.OpenDBFromPool(pool), now: o.now, passwordCost: o.passwordCost}
	if o.migrate {
		if err := Migrate(ctx, db.sqlDB); err != nil {
			db.Close()
			return nil, fmt.Errorf("open postgres store: %w", err)
		}
	}
	return db, nil
}

// Migrate creates schema auth if needed and applies every embedded migration not yet applied, each
// in its own transaction. Concurrent callers (replicas starting together) serialise on a
// PostgreSQL advisory lock; running it again is a no-op.
func Migrate(ctx context.Context, db *sql.DB) error {
	// goose keeps its version table in schema auth, so the schema must exist before goose looks.
	// CREATE SCHEMA IF NOT EXISTS can still fail with a unique violation when two sessions race,
	// hence the transaction-scoped advisory lock around it.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockID); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS auth`); err != nil {
		return fmt.Errorf("migrate: create schema auth: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: create schema auth: %w", err)
	}

	p, err := newProvider(db)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := appline.Migrate(ctx, db, appline.Postgres); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// SchemaVersions returns the newest applied migration of the store's own line and of the demo
// app's line (store/internal/appline), which Migrate applies after it.
func (db *DB) SchemaVersions(ctx context.Context) (store, app int64, err error) {
	if store, err = MigrationVersion(ctx, db.sqlDB); err != nil {
		return 0, 0, err
	}
	if app, err = appline.Version(ctx, db.sqlDB, appline.Postgres); err != nil {
		return 0, 0, err
	}
	return store, app, nil
}

// MigrationVersion returns the newest applied migration version (0 when none).
func MigrationVersion(ctx context.Context, db *sql.DB) (int64, error) {
	p, err := newProvider(db)
	if err != nil {
		return 0, err
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("migration version: %w", err)
	}
	return v, nil
}

func newProvider(db *sql.DB) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	// Retry the lock every second for up to five minutes: a replica that starts while another
	// migrates waits for it instead of failing.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, fmt.Errorf("migrate: session locker: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithSessionLocker(locker),
		goose.WithTableName(versionTable),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return p, nil
}

// AppTables returns the demo app's handle on its own tables, which Migrate created and migrated
// next to the store's (schema app, the app's migration line, store/internal/appline), whose rows
// reference auth.spaces(id) ON DELETE CASCADE. The app writes no SQL against schema auth; it asks
// for spaces through the store's methods. Do not close it; Close does.
func (db *DB) AppTables() (*sql.DB, string) { return db.sqlDB, db.Dialect() }

// SQL returns a database/sql handle on the store's connection pool, for tests and tools that look
// at the tables. Do not close it; Close does.
func (db *DB) SQL() *sql.DB { return db.sqlDB }

// Pool returns the pgx pool behind the store.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Dialect names the database engine: "postgres".
func (db *DB) Dialect() string { return "postgres" }

// Close releases the connection pool.
func (db *DB) Close() error {
	err := db.sqlDB.Close()
	db.pool.Close()
	return err
}

// clock returns the store's current time, in UTC and at PostgreSQL's microsecond precision, so the
// values the store returns equal the ones it stored.
func (db *DB) clock() time.Time { return db.now().UTC().Truncate(time.Microsecond) }

// querier is what pgxpool.Pool, pgx.Conn and pgx.Tx have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// inTx runs fn in one transaction and commits when it returns nil.
func (db *DB) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation (23505).
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// utc converts a time read from PostgreSQL (pgx returns local time) to UTC.
func utc(t time.Time) time.Time { return t.UTC() }

// utcPtr is utc for nullable columns.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// orNow returns t, or now when t is zero.
func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

// limitArg turns a non-positive limit into SQL NULL, which LIMIT reads as no limit.
func limitArg(n int) *int {
	if n <= 0 {
		return nil
	}
	return &n
}

// knownZones caches the time zone names this server has evaluated (a zone never goes away).
var knownZones sync.Map // name → struct{}

// checkTimezone refuses, as a field error on "timezone", a zone PostgreSQL cannot evaluate. The
// domain accepts only IANA names Go can load, but the server's zone database may be older or
// built differently, and one persona with a zone the server does not know would make every due
// query fail (the weekday is judged in the persona's zone). Empty means the default, UTC.
func (db *DB) checkTimezone(ctx context.Context, zone string) error {
	if zone == "" {
		return nil
	}
	if _, ok := knownZones.Load(zone); ok {
		return nil
	}
	var ok bool
	err := db.pool.QueryRow(ctx, `SELECT now() AT TIME ZONE $1 IS NOT NULL`, zone).Scan(&ok)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "22023" { // invalid_parameter_value: unknown zone
		return &persona.FieldError{Field: "timezone", Message: fmt.Sprintf("must be a time zone the database knows (got %q)", zone)}
	}
	if err != nil {
		return fmt.Errorf("check time zone %q: %w", zone, err)
	}
	knownZones.Store(zone, struct{}{})
	return nil
}
