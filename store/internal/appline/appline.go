// Package appline is the demo app's migration line, which the store owns and applies next to its
// own (issue 12.2): the app's tables live in the store's database (prefixed app_ on SQLite, in
// schema app on PostgreSQL) and reference the store's spaces, so the store creates and migrates
// them when it opens, and hands the app a handle on them (AppTables). The app writes no SQL
// against the store's tables; it asks the store for spaces through methods.
//
// The line keeps the bookkeeping of the app's own migrations before the store owned them (goose
// table app_goose_db_version, or app.goose_db_version), so a database migrated by an earlier
// build opens and migrates as it is.
package appline

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/persona-runner/persona-runner/store/sqlitelock"
)

//go:embed migrations
var migrationFiles embed.FS

// migrationLockID is the PostgreSQL advisory lock key that serialises the app line's migrations.
// It differs from the store line's key, so the two runs never wait for each other.
const migrationLockID int64 = 0x6d616e61_61707031 // "manaapp1"

// Dialect is what differs between the engines for the app's line.
type Dialect struct {
	// Name is "sqlite" or "postgres" (the name of the migration directory too).
	Name string
	// TablePrefix goes before each of the app's table names: "app_" (a name prefix) or "app." (a
	// schema).
	TablePrefix string
	// versionTable is goose's bookkeeping table of the line.
	versionTable string
	goose        goose.Dialect
}

// The two dialects of the line.
var (
	SQLite   = Dialect{Name: "sqlite", TablePrefix: "app_", versionTable: "app_goose_db_version", goose: goose.DialectSQLite3}
	Postgres = Dialect{Name: "postgres", TablePrefix: "app.", versionTable: "app.goose_db_version", goose: goose.DialectPostgres}
)

// Migrate applies the line's pending migrations to db, after the store's own line (the app's
// tables reference the store's spaces), and returns how many it applied. It is idempotent:
// processes opening a new SQLite file at once take turns on the file's lock, PostgreSQL replicas
// starting together on an advisory lock.
func Migrate(ctx context.Context, db *sql.DB, d Dialect) (int, error) {
	p, err := provider(ctx, db, d, true)
	if err != nil {
		return 0, fmt.Errorf("migrate app tables: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate app tables: %w", err)
	}
	return len(res), nil
}

// Version returns the newest applied migration of the line (0 when none).
func Version(ctx context.Context, db *sql.DB, d Dialect) (int64, error) {
	p, err := provider(ctx, db, d, false)
	if err != nil {
		return 0, fmt.Errorf("app schema version: %w", err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("app schema version: %w", err)
	}
	return v, nil
}

// DownTo takes the app's tables back to version (tests of what a later migration does to the
// rows written before it).
func DownTo(ctx context.Context, db *sql.DB, d Dialect, version int64) error {
	p, err := provider(ctx, db, d, true)
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, version)
	return err
}

// provider returns the goose provider of the line on db: the SQL files of the dialect and the Go
// migrations (those that need Go to compute their data). With locked, migrations take the lock.
func provider(ctx context.Context, db *sql.DB, d Dialect, locked bool) (*goose.Provider, error) {
	var opts []goose.ProviderOption
	switch d.Name {
	case Postgres.Name:
		// goose keeps its version table in schema app, so the schema must exist before goose
		// looks.
		if err := createSchema(ctx, db); err != nil {
			return nil, err
		}
		if locked {
			locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 300))
			if err != nil {
				return nil, fmt.Errorf("session locker: %w", err)
			}
			opts = append(opts, goose.WithSessionLocker(locker))
		}
	case SQLite.Name:
		if locked {
			// Processes opening a new SQLite file at once take turns (store/sqlitelock).
			locker, err := sqlitelock.ForDB(ctx, db)
			if err != nil {
				return nil, err
			}
			opts = append(opts, goose.WithLocker(locker))
		}
	default:
		return nil, fmt.Errorf("app line: unknown dialect %q", d.Name)
	}
	fsys, err := fs.Sub(migrationFiles, "migrations/"+d.Name)
	if err != nil {
		return nil, err
	}
	opts = append(opts, goose.WithTableName(d.versionTable), goose.WithDisableGlobalRegistry(true),
		goose.WithGoMigrations(searchKeysMigration(d)))
	return goose.NewProvider(d.goose, db, fsys, opts...)
}

// createSchema creates schema app unless it exists. Two replicas racing on CREATE SCHEMA IF NOT
// EXISTS can still collide, hence the transaction-scoped advisory lock around it.
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
