package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store"
	"github.com/persona-runner/persona-runner/store/postgres/pgtest"
)

func TestOpenSQLiteCreatesFileAndMigrates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nested", "dir", "persona-runner.db")
	at := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	db, err := store.Open(ctx, path, store.WithNow(func() time.Time { return at }), store.WithMaxConns(2))
	if err != nil {
		t.Fatal(err)
	}
	if db.Dialect() != "sqlite" {
		t.Errorf("Dialect = %q; want sqlite", db.Dialect())
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file: %v", err)
	}
	// Open created the demo app's tables next to the store's (the app's migration line), with
	// foreign keys to spaces(id) enforced on the app's handle.
	tables, dialect := db.AppTables()
	if dialect != "sqlite" {
		t.Errorf("AppTables dialect = %q; want sqlite", dialect)
	}
	if _, err := tables.ExecContext(ctx, `INSERT INTO app_notes (id, space_id, title, created_by, created_at, updated_at)
		VALUES ('n1', 'no-such-space', 't', 'u', 1, 1)`); err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
		t.Errorf("a note in no space: %v; want a foreign key error", err)
	}
	_, _, now, err := dueNow(ctx, db)
	if err != nil || !now.Equal(at) {
		t.Errorf("store clock = %v, %v; want the injected %v", now, err, at)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening an existing, migrated file works (migrations are idempotent).
	db, err = store.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	db.Close()
}

func dueNow(ctx context.Context, db store.DB) ([]persona.DuePersona, int, time.Time, error) {
	list, now, err := db.DuePersonas(ctx, 0)
	return list, len(list), now, err
}

func TestOpenErrorsNameTheStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := store.Open(ctx, ""); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("Open(\"\") error = %v; want one about the empty DSN", err)
	}
	// A path below a regular file can never be created.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(file, "db.sqlite")
	if _, err := store.Open(ctx, bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("Open(%s) error = %v; want it to name the path", bad, err)
	}
	// A file that is not a database cannot be migrated.
	junk := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database ", 200)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(ctx, junk); err == nil || !strings.Contains(err.Error(), junk) {
		t.Errorf("Open(junk file) error = %v; want it to name the file", err)
	}
	// An unreachable PostgreSQL server.
	dsn := "postgres://u:secret@127.0.0.1:1/db?sslmode=disable&connect_timeout=2"
	_, err := store.Open(ctx, dsn)
	if err == nil || !strings.Contains(err.Error(), "postgres") {
		t.Errorf("Open(unreachable postgres) error = %v; want it to say postgres", err)
	}
	if err != nil && strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q leaks the password", err)
	}
}

func TestOpenPostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t) // skips when PERSONA_TEST_POSTGRES_URL is unset
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Dialect() != "postgres" {
		t.Errorf("Dialect = %q; want postgres", db.Dialect())
	}
	if _, err := db.Persona(ctx, "nobody"); !errors.Is(err, persona.ErrNotFound) {
		t.Errorf("Persona(nobody) error = %v; want ErrNotFound", err)
	}
}

func TestSettingsBothStores(t *testing.T) {
	t.Parallel()
	dsns := map[string]string{"sqlite": filepath.Join(t.TempDir(), "s.db")}
	if u := os.Getenv("PERSONA_TEST_POSTGRES_URL"); u != "" {
		dsns["postgres"] = pgtest.DSN(t)
	} else {
		t.Log("PERSONA_TEST_POSTGRES_URL is unset: PostgreSQL part skipped")
	}
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if v, ok, err := db.Setting(ctx, "k"); err != nil || ok || v != "" {
				t.Fatalf("Setting(k) on a new store = %q, %v, %v; want nothing", v, ok, err)
			}
			for _, want := range []string{"one", "two ✓"} {
				if err := db.SetSetting(ctx, "k", want); err != nil {
					t.Fatal(err)
				}
				if v, ok, err := db.Setting(ctx, "k"); err != nil || !ok || v != want {
					t.Fatalf("Setting(k) = %q, %v, %v; want %q", v, ok, err, want)
				}
			}
		})
	}
}
