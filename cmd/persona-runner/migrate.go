package main

import (
	"fmt"

	"github.com/persona-runner/persona-runner/config"
)

// MigrateCmd applies the store's pending migrations: the store's own line and the demo app's.
type MigrateCmd struct {
	StoreFlags `embed:""`
}

// Run opens the store, which applies every pending migration of both its lines (the store's
// tables, then the demo app's), each in its own transaction, and reports the schema version each
// line is now at.
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
	store, app, err := db.SchemaVersions(env.Ctx)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(env.Stdout, "%s store %s is up to date (schema version %d, app schema version %d)\n",
		db.Dialect(), config.RedactDSN(dsn), store, app)
	return err
}
