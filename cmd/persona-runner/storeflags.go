package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/persona-runner/persona-runner/config"
	"github.com/persona-runner/persona-runner/store"
)

// DefaultDB is the store of the embedded default: one SQLite file under ./data.
const DefaultDB = config.DefaultDB

// dbFile is the SQLite file name inside a --data directory.
const dbFile = "persona-runner.db"

// StoreFlags are the flags of every command that reads the store (SPEC §8). Embed them in a
// command with `embed:""` and call Open.
type StoreFlags struct {
	DB   string `name:"db" placeholder:"DSN" xor:"store" help:"Store: a SQLite file path or a postgres:// URL (default: DATABASE_URL, else ./data/persona-runner.db)."`
	Data string `name:"data" placeholder:"DIR" xor:"store" help:"Data directory; means --db DIR/persona-runner.db."`
}

// overrides are the flags as configuration overrides of the key db, naming the flag.
func (f StoreFlags) overrides() config.Overrides {
	db, data := strings.TrimSpace(f.DB), strings.TrimSpace(f.Data)
	var o config.Overrides
	if db != "" {
		o = append(o, config.Override{Flag: "--db", Key: "db", Apply: func(c *config.Config) error { c.DB = config.DSN(db); return nil }})
	}
	if data != "" {
		dsn := filepath.Join(data, dbFile)
		o = append(o, config.Override{Flag: "--data", Key: "db", Apply: func(c *config.Config) error { c.DB = config.DSN(dsn); return nil }})
	}
	return o
}

// Load resolves the store through the configuration loader: --db, else --data, else
// DATABASE_URL, else the file's db (path, when not empty), else DefaultDB; and the password cost.
func (f StoreFlags) Load(getenv func(string) string, path string) (config.Store, error) {
	if strings.TrimSpace(f.DB) != "" && strings.TrimSpace(f.Data) != "" {
		// kong's xor catches this on the command line; this guards other callers.
		return config.Store{}, usageError{errors.New("--db and --data cannot be used together")}
	}
	return config.LoadStore(path, getenv, f.overrides())
}

// DSN resolves the flags and the environment to the store's DSN (Load).
func (f StoreFlags) DSN(getenv func(string) string) (string, error) {
	s, err := f.Load(getenv, "")
	return s.DB.Value(), err
}

// Open opens (and so migrates) the store the flags name. The error says which store failed and
// why, without a URL's password.
func (f StoreFlags) Open(ctx context.Context, env *Env) (store.DB, error) {
	s, err := f.Load(env.Getenv, "")
	if err != nil {
		return nil, err
	}
	return openConfigStore(ctx, s)
}

// openConfigStore opens (and so migrates) the configured store.
func openConfigStore(ctx context.Context, s config.Store, opts ...store.Option) (store.DB, error) {
	return openDSN(ctx, s.DB.Value(), append([]store.Option{store.WithPasswordCost(s.PasswordCost)}, opts...)...)
}

// OpenExisting opens the store the flags name for a read-only command: it never creates one (a
// missing SQLite file is an error naming its path), and a SQLite file is opened read-only,
// neither migrated nor written.
func (f StoreFlags) OpenExisting(ctx context.Context, env *Env) (store.DB, error) {
	dsn, err := f.DSN(env.Getenv)
	if err != nil {
		return nil, err
	}
	return openDSN(ctx, dsn, store.WithExisting())
}

// openDSN opens the store at dsn. A DSN that names no store (empty, an unknown scheme) is a
// usage error (exit 2); a store that cannot be opened, reached or migrated could not run (exit 3).
func openDSN(ctx context.Context, dsn string, opts ...store.Option) (store.DB, error) {
	if err := config.CheckDSN(dsn); err != nil {
		return nil, usageError{err}
	}
	db, err := store.Open(ctx, dsn, opts...)
	if err != nil {
		return nil, cannotRun{fmt.Errorf("cannot open the store: %w", err)}
	}
	return db, nil
}

// MustExist fails, naming the path, when the flags name a SQLite file that does not exist (the
// error wraps fs.ErrNotExist) or a directory.
func (f StoreFlags) MustExist(env *Env) error {
	dsn, err := f.DSN(env.Getenv)
	if err != nil || store.IsPostgres(dsn) {
		return err
	}
	fi, err := os.Stat(dsn)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return cannotRun{fmt.Errorf("cannot open the store: %q: %w (up, seed and migrate create it; or name another with --db or --data)", dsn, fs.ErrNotExist)}
	case err != nil:
		return cannotRun{fmt.Errorf("cannot open the store: %w", err)}
	case fi.IsDir():
		return cannotRun{fmt.Errorf("cannot open the store: %q is a directory, not a SQLite file (--data names the directory, --db the file)", dsn)}
	}
	return nil
}

// defaultOutbox is the runner's outbox when RUNNER_OUTBOX and the config file give none: outbox/
// beside the SQLite file of dsn, else (PostgreSQL, the auth API) ./data/outbox.
func defaultOutbox(dsn string) string {
	if dsn != "" && !strings.Contains(dsn, "://") {
		return filepath.Join(filepath.Dir(dsn), "outbox")
	}
	return filepath.Join(filepath.Dir(DefaultDB), "outbox")
}
