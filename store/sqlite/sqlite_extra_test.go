package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/sqlite"
	"github.com/persona-runner/persona-runner/store/storetest"
)

func TestPragmasAndMigrate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newStore(t, storetest.NewClock(storetest.Start))
	var mode string
	var fk int
	if err := db.SQL().QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	if err := db.SQL().QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v; want 1", fk, err)
	}
	if db.Dialect() != "sqlite" {
		t.Errorf("Dialect = %q", db.Dialect())
	}
	// Migrate is idempotent on a migrated database.
	for range 2 {
		if err := sqlite.Migrate(ctx, db.SQL()); err != nil {
			t.Fatalf("Migrate again: %v", err)
		}
	}
	var version int
	if err := db.SQL().QueryRowContext(ctx, `SELECT max(version_id) FROM goose_db_version`).Scan(&version); err != nil || version < 1 {
		t.Errorf("goose version = %d, %v", version, err)
	}
}

// The demo app keeps its data in its own tables with foreign keys to spaces; deleting a persona
// deletes the data in the spaces it alone owned and keeps the data of shared spaces.
func TestDeletePersonaCascadesToAppData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newStore(t, storetest.NewClock(storetest.Start))
	app := db.SQL()
	if _, err := app.ExecContext(ctx, `CREATE TABLE todos (id TEXT PRIMARY KEY, space_id TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE, title TEXT)`); err != nil {
		t.Fatal(err)
	}
	in := func(email string) persona.PersonaInput {
		return persona.PersonaInput{Email: email, Password: "pw", Archetype: "a", SystemPrompt: "You are a persona in a test case.", ModuleMix: persona.ModuleMix{"todo": 1}}
	}
	a, _, err := db.UpsertPersona(ctx, in("a@mana.test"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.UpsertPersona(ctx, in("b@mana.test")); err != nil {
		t.Fatal(err)
	}
	shared, _, err := db.UpsertSpace(ctx, persona.SpaceInput{Slug: "shared", Name: "Shared", Type: persona.SpaceTeam, Members: []string{"a@mana.test", "b@mana.test"}})
	if err != nil {
		t.Fatal(err)
	}
	spaces, _ := db.SpacesOfUser(ctx, a)
	personal := spaces[0].ID
	for i, sp := range []string{personal, shared} {
		if _, err := app.ExecContext(ctx, `INSERT INTO todos VALUES (?, ?, 'x')`, fmt.Sprint(i), sp); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.DeletePersona(ctx, a); err != nil {
		t.Fatal(err)
	}
	var left []string
	rows, err := app.QueryContext(ctx, `SELECT space_id FROM todos`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		rows.Scan(&s)
		left = append(left, s)
	}
	rows.Close()
	if len(left) != 1 || left[0] != shared {
		t.Errorf("app rows left = %v; want only the shared space's %s", left, shared)
	}
}

// App writes through SQL and store writes run side by side without errors.
func TestAppWritesBesideStoreWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newStore(t, storetest.NewClock(storetest.Start))
	if _, err := db.SQL().ExecContext(ctx, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`); err != nil {
		t.Fatal(err)
	}
	id, _, err := db.UpsertPersona(ctx, persona.PersonaInput{Email: "w@mana.test", Password: "pw", Archetype: "a",
		SystemPrompt: "You are a persona in a test case.", ModuleMix: persona.ModuleMix{"notes": 1}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for g := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 25 {
				tx, err := db.SQL().BeginTx(ctx, nil)
				if err != nil {
					errs <- err
					return
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO notes (body) VALUES (?)`, fmt.Sprint(g, i)); err != nil {
					tx.Rollback()
					errs <- err
					return
				}
				if err := tx.Commit(); err != nil {
					errs <- err
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 25 {
				if _, _, err := db.InsertActions(ctx, id, []persona.Action{{TickID: fmt.Sprint("t", g), ToolName: "notes.create", Result: "ok", Seq: i}}); err != nil {
					errs <- err
				}
				if _, err := db.ClaimPersonas(ctx, fmt.Sprint("r", g), 1, time.Millisecond); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var notes, actions int
	db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM notes`).Scan(&notes)
	db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM persona_actions`).Scan(&actions)
	if notes != 100 || actions != 100 {
		t.Errorf("notes, actions = %d, %d; want 100, 100", notes, actions)
	}
}

func TestOpenRefusesQuestionMarkPath(t *testing.T) {
	t.Parallel()
	_, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a?b.db"))
	if err == nil {
		t.Fatal("Open(path with '?') succeeded")
	}
}

func TestSpaceRoles(t *testing.T) {
	storetest.SpaceRoles(t, newConformanceStore, func(s persona.Store) *sql.DB { return s.(*sqlite.DB).SQL() },
		`SELECT user_id, role FROM members WHERE space_id = ?`)
}

func TestLegacyZoneMigration(t *testing.T) {
	storetest.LegacyZone(t, newConformanceStore,
		func(s persona.Store, userID string) error {
			_, err := s.(*sqlite.DB).SQL().Exec(`UPDATE personas SET timezone = 'Local' WHERE user_id = ?`, userID)
			return err
		},
		func(s persona.Store) error {
			db := s.(*sqlite.DB).SQL()
			if _, err := db.Exec(`DELETE FROM goose_db_version WHERE version_id >= 2`); err != nil {
				return err
			}
			// Back to the schema before migration 6 too, whose ADD COLUMN cannot run twice.
			for _, col := range []string{"secrets", "target"} {
				if _, err := db.Exec(`ALTER TABLE personas DROP COLUMN ` + col); err != nil {
					return err
				}
			}
			return sqlite.Migrate(context.Background(), db)
		})
}
