package main

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/persona-runner/persona-runner/config"
	"github.com/persona-runner/persona-runner/store"
	"github.com/persona-runner/persona-runner/store/postgres"
)

// MigrateCmd applies the store's pending migrations.
type MigrateCmd struct {
	StoreFlags `embed:""`
}

// Run opens the store, which applies every pending migration in its own transaction, and reports
// the schema version it is now at.
func (c *MigrateCmd) Run(env *Env) error {
	dsn, err := c.DSN(env.Getenv)
	if err != nil {
		return err
	}
	db, err := c.Open(env.Ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := schemaVersion(env.Ctx, db)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(env.Stdout, "%s store %s is up to date (schema version %d)\n", db.Dialect(), config.RedactDSN(dsn), v)
	return err
}

// schemaVersion reads the newest applied migration from goose's bookkeeping table.
func schemaVersion(ctx context.Context, db store.DB) (int64, error) {
	if db.Dialect() == "postgres" {
		return postgres.MigrationVersion(ctx, db.SQL())
	}
	var v sql.NullInt64
	// The SQLite store keeps goose's default table name.
	err := db.SQL().QueryRowContext(ctx, `SELECT MAX(version_id) FROM goose_db_version WHERE is_applied`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v.Int64, nil
}
