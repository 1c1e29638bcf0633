package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/persona-runner/persona-runner/store"
)

// openStore opens the store the CLI wrote under dir --data, closed when the test ends.
func openStore(t *testing.T, dsn string) store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, store.WithPasswordCost(bcrypt.MinCost))
	if err != nil {
		t.Fatalf("open store %s: %v", dsn, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// writeFile writes content to name in dir and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStoreFlagsDSN(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name  string
		flags StoreFlags
		env   map[string]string
		want  string
	}{
		{"default", StoreFlags{}, nil, DefaultDB},
		{"DATABASE_URL", StoreFlags{}, map[string]string{"DATABASE_URL": "postgres://u@h/db"}, "postgres://u@h/db"},
		{"--db wins over the environment", StoreFlags{DB: "x.db"}, map[string]string{"DATABASE_URL": "postgres://u@h/db"}, "x.db"},
		{"--data", StoreFlags{Data: "/var/lib/pr"}, map[string]string{"DATABASE_URL": "postgres://u@h/db"}, "/var/lib/pr/persona-runner.db"},
	}
	for _, tt := range tests {
		got, err := tt.flags.DSN(env(tt.env))
		if err != nil || got != tt.want {
			t.Errorf("%s: DSN = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	if _, err := (StoreFlags{DB: "a", Data: "b"}).DSN(env(nil)); err == nil {
		t.Error("--db with --data: no error")
	}
}

// TestPasswordCost checks PERSONA_PASSWORD_COST: bcrypt's range, the default, and no weak cost in
// production — through the CLI, which stops before opening the store.
func TestPasswordCost(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		env  map[string]string
		want int
		err  string
	}{
		{env: map[string]string{}, want: 10},
		{env: map[string]string{passwordCostEnv: " 12 "}, want: 12},
		{env: map[string]string{passwordCostEnv: "4"}, want: 4},
		{env: map[string]string{passwordCostEnv: "3"}, err: "PERSONA_PASSWORD_COST must be a bcrypt cost from 4 to 31"},
		{env: map[string]string{passwordCostEnv: "ten"}, err: `(got "ten")`},
		{env: map[string]string{passwordCostEnv: "4", "APP_ENV": "production"}, err: "must be at least 10 in production (got 4)"},
		{env: map[string]string{passwordCostEnv: "11", "NODE_ENV": "production"}, want: 11},
	} {
		s, err := StoreFlags{}.Load(func(k string) string { return tt.env[k] }, "")
		got := s.PasswordCost
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%v: err = %v, want one containing %q", tt.env, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%v: cost = %d, %v; want %d", tt.env, got, err, tt.want)
		}
	}
	dir := t.TempDir()
	code, _, errOut := run(t, map[string]string{passwordCostEnv: "99"}, "admin", "create", "ops@example.com", "--data", dir)
	if code != 2 || !strings.Contains(errOut, "PERSONA_PASSWORD_COST") {
		t.Errorf("admin create with cost 99: code %d, stderr %q", code, errOut)
	}
}

func TestStoreFlagsExclusive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, _, errOut := run(t, nil, "personas", "list", "--db", filepath.Join(dir, "a.db"), "--data", dir)
	if code != 2 || !strings.Contains(errOut, "--db and --data") {
		t.Fatalf("--db with --data: code %d, stderr %q", code, errOut)
	}
}

// TestStoreCannotOpen checks that a store that cannot be opened or migrated ends the command
// with status 3 (could not run) and a message naming the store.
func TestStoreCannotOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	garbage := writeFile(t, dir, "garbage.db", strings.Repeat("this is not a database\n", 400))
	notDir := writeFile(t, dir, "plain-file", "x")
	for name, args := range map[string][]string{
		"not a database":       {"migrate", "--db", garbage},
		"data dir is a file":   {"personas", "list", "--data", notDir},
		"seed into a bad file": {"seed", "--db", garbage},
	} {
		code, out, errOut := run(t, nil, args...)
		if code != 3 || !strings.Contains(errOut, "cannot open the store") || !strings.Contains(errOut, dir) {
			t.Errorf("%s: code %d, stdout %q, stderr %q", name, code, out, errOut)
		}
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i := 0; i < 2; i++ { // the second run finds nothing to do
		code, out, errOut := run(t, nil, "migrate", "--data", dir)
		want := "sqlite store " + filepath.Join(dir, "persona-runner.db") + " is up to date (schema version "
		if code != 0 || !strings.HasPrefix(out, want) || !strings.HasSuffix(out, ", app schema version 2)\n") {
			t.Fatalf("migrate run %d: code %d, out %q, stderr %q", i+1, code, out, errOut)
		}
	}
	// migrate creates the demo app's tables too (issue 12.2: before, only up and serve mcp did).
	var n int
	if err := sqliteFile(t, filepath.Join(dir, "persona-runner.db")).QueryRow(
		`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'app_notes'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("after migrate, app_notes: %d tables, %v; want the app's tables created", n, err)
	}
	// DATABASE_URL names the store when no flag does.
	dsn := filepath.Join(dir, "from-env.db")
	code, out, _ := run(t, map[string]string{"DATABASE_URL": dsn}, "migrate")
	if code != 0 || !strings.Contains(out, dsn) {
		t.Fatalf("migrate with DATABASE_URL: code %d, out %q", code, out)
	}
	if _, err := os.Stat(dsn); err != nil {
		t.Fatalf("DATABASE_URL store not created: %v", err)
	}
}

// sqliteFile opens the SQLite file at path with database/sql alone, closed when the test ends.
func sqliteFile(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
