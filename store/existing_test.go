package store_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/persona-runner/persona-runner/store"
	"github.com/persona-runner/persona-runner/store/postgres/pgtest"
)

// TestOpensADatabaseMainMigratedBefore12_2: a database written by main before issue 12.2 (the
// store opened it, then `up` or `serve mcp` called app.Migrate on its SQL() handle, and a persona
// wrote a note) opens with the store applying both migration lines itself: every migration since
// is applied, the app line's bookkeeping is the one main kept, and the rows are still there. The
// fixtures are that build's databases, dumped (sqlite3 .dump; pg_dump --inserts -n auth -n app).
func TestOpensADatabaseMainMigratedBefore12_2(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		load func(t *testing.T, dump string) string // returns the DSN
	}{
		{"sqlite", func(t *testing.T, dump string) string {
			path := filepath.Join(t.TempDir(), "persona-runner.db")
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(dump); err != nil {
				t.Fatalf("load the dump: %v", err)
			}
			return path
		}},
		{"postgres", func(t *testing.T, dump string) string {
			dsn := pgtest.DSN(t)
			conn, err := pgx.Connect(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(context.Background(), dump); err != nil {
				t.Fatalf("load the dump: %v", err)
			}
			return dsn
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dump, err := os.ReadFile(filepath.Join("testdata", "main-before-12.2."+tc.name+".sql"))
			if err != nil {
				t.Fatal(err)
			}
			// The versions this build migrates a new database to.
			var freshDSN string
			if tc.name == "sqlite" {
				freshDSN = filepath.Join(t.TempDir(), "fresh.db")
			} else {
				freshDSN = pgtest.DSN(t)
			}
			fresh, err := store.Open(ctx, freshDSN)
			if err != nil {
				t.Fatal(err)
			}
			wantStore, wantApp, err := fresh.SchemaVersions(ctx)
			fresh.Close()
			if err != nil {
				t.Fatal(err)
			}

			dsn := tc.load(t, string(dump))
			for round := range 2 { // the second open finds nothing to do
				db, err := store.Open(ctx, dsn)
				if err != nil {
					t.Fatalf("open %d: %v", round, err)
				}
				gotStore, gotApp, err := db.SchemaVersions(ctx)
				if err != nil || gotStore != wantStore || gotApp != wantApp {
					t.Errorf("open %d: schema versions %d, %d, %v; want %d, %d as a new database", round, gotStore, gotApp, err, wantStore, wantApp)
				}
				u, err := db.UserByEmail(ctx, "old@example.com")
				if err != nil {
					t.Fatalf("open %d: the persona main wrote: %v", round, err)
				}
				spaces, err := db.SpacesOfUser(ctx, u.ID)
				if err != nil || len(spaces) != 1 {
					t.Fatalf("open %d: spaces %v, %v", round, spaces, err)
				}
				tables, dialect := db.AppTables()
				prefix := map[string]string{"sqlite": "app_", "postgres": "app."}[dialect]
				var title, key string
				if err := tables.QueryRowContext(ctx, `SELECT title, title_key FROM `+prefix+`notes WHERE space_id = $1`, spaces[0].ID).Scan(&title, &key); err != nil {
					t.Fatalf("open %d: the note main wrote: %v", round, err)
				}
				if title != "Ärger im Büro" || key != "ärger im büro" {
					t.Errorf("open %d: note %q, key %q", round, title, key)
				}
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
