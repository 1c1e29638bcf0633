package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/persona-runner/persona-runner/config"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store"
)

// DefaultDB is the store of the embedded default: one SQLite file under ./data.
const DefaultDB = "./data/persona-runner.db"

// dbFile is the SQLite file name inside a --data directory.
const dbFile = "persona-runner.db"

// StoreFlags are the flags of every command that reads the store (SPEC §8). Embed them in a
// command with `embed:""` and call Open.
type StoreFlags struct {
	DB   string `name:"db" placeholder:"DSN" xor:"store" help:"Store: a SQLite file path or a postgres:// URL (default: DATABASE_URL, else ./data/persona-runner.db)."`
	Data string `name:"data" placeholder:"DIR" xor:"store" help:"Data directory; means --db DIR/persona-runner.db."`
}

// DSN resolves the flags and the environment to the store's DSN: --db, else --data, else
// DATABASE_URL, else DefaultDB.
func (f StoreFlags) DSN(getenv func(string) string) (string, error) {
	db, data := strings.TrimSpace(f.DB), strings.TrimSpace(f.Data)
	switch {
	case db != "" && data != "":
		// kong's xor catches this on the command line; this guards other callers.
		return "", usageError{errors.New("--db and --data cannot be used together")}
	case db != "":
		return db, nil
	case data != "":
		return filepath.Join(data, dbFile), nil
	}
	if env := strings.TrimSpace(getenv("DATABASE_URL")); env != "" {
		return env, nil
	}
	return DefaultDB, nil
}

// Open opens (and so migrates) the store the flags name. The error says which store failed and
// why, without a URL's password.
func (f StoreFlags) Open(ctx context.Context, env *Env) (store.DB, error) {
	dsn, err := f.DSN(env.Getenv)
	if err != nil {
		return nil, err
	}
	cost, err := passwordCost(env.Getenv)
	if err != nil {
		return nil, err
	}
	return openDSN(ctx, dsn, store.WithPasswordCost(cost))
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
	if err := checkDSN(dsn); err != nil {
		return nil, usageError{err}
	}
	db, err := store.Open(ctx, dsn, opts...)
	if err != nil {
		return nil, cannotRun{fmt.Errorf("cannot open the store: %w", err)}
	}
	return db, nil
}

// dsnScheme matches a URL scheme at the start of a DSN, such as mysql:// or file://.
var dsnScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// checkDSN refuses a DSN store.Open would refuse for its form alone: empty, or a URL that is not
// postgres://.
func checkDSN(dsn string) error {
	if strings.TrimSpace(dsn) == "" {
		return errors.New("empty database DSN (a SQLite file path or a postgres:// URL)")
	}
	if !store.IsPostgres(dsn) && dsnScheme.MatchString(dsn) {
		scheme, _, _ := strings.Cut(dsn, "://")
		return fmt.Errorf("unknown DSN scheme %q: the store is a SQLite file path or a postgres:// URL", scheme+"://")
	}
	return nil
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

// passwordCostEnv names the variable that sets the bcrypt cost of the password hashes the store
// writes and the auth API compares against.
const passwordCostEnv = "PERSONA_PASSWORD_COST"

// passwordCost reads PERSONA_PASSWORD_COST: a bcrypt cost from 4 to 31, default
// persona.DefaultPasswordCost (10); production refuses one below the default.
func passwordCost(getenv func(string) string) (int, error) {
	v := strings.TrimSpace(getenv(passwordCostEnv))
	if v == "" {
		return persona.DefaultPasswordCost, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < bcrypt.MinCost || n > bcrypt.MaxCost {
		return 0, usageError{fmt.Errorf("%s: must be a bcrypt cost from %d to %d (got %q)", passwordCostEnv, bcrypt.MinCost, bcrypt.MaxCost, v)}
	}
	if n < persona.DefaultPasswordCost && config.ProductionEnv(getenv) {
		return 0, usageError{fmt.Errorf("%s: must be at least %d in production (got %d)", passwordCostEnv, persona.DefaultPasswordCost, n)}
	}
	return n, nil
}

// defaultOutbox is the runner's outbox when RUNNER_OUTBOX and the config file give none: outbox/
// beside the SQLite file of dsn, else (PostgreSQL, the auth API) ./data/outbox.
func defaultOutbox(dsn string) string {
	if dsn != "" && !strings.Contains(dsn, "://") {
		return filepath.Join(filepath.Dir(dsn), "outbox")
	}
	return filepath.Join(filepath.Dir(DefaultDB), "outbox")
}
