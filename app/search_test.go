package app_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/persona-runner/persona-runner/store/postgres"
	"github.com/persona-runner/persona-runner/store/sqlite"
)

// titles returns the value of key of every record in the list under listKey of a tool's result.
func titles(t *testing.T, out map[string]any, listKey, key string) []string {
	t.Helper()
	list, ok := out[listKey].([]any)
	if !ok {
		t.Fatalf("result has no %s list: %v", listKey, out)
	}
	var got []string
	for _, r := range list {
		got = append(got, str(r.(map[string]any)[key]))
	}
	slices.Sort(got)
	return got
}

// TestSearchIgnoresCaseBeyondASCII: notes.search and contacts.search ignore the case of every
// letter, not only of A–Z, and find the same records on both engines (SQLite's lower() and LIKE
// fold ASCII only), rows written before the search keys existed included.
func TestSearchIgnoresCaseBeyondASCII(t *testing.T) {
	bothStores(t, func(t *testing.T, pg bool) {
		b := setup(t, options{postgres: pg})
		writeBeforeTheSearchKeys(t, b, pg)
		c := b.connect(t, b.anna, b.anna.Personal)
		// Rows written before the migration that added the search keys are found like new ones.
		for tool, query := range map[string]string{"notes.search": "ödön", "contacts.search": "ærø"} {
			if got := c.ok(t, tool, map[string]any{"query": query})["count"]; got != 1.0 {
				t.Errorf("%s %q finds %v records, want the one written before the migration", tool, query, got)
			}
		}
		if got := c.ok(t, "notes.search", map[string]any{"query": "über"})["count"]; got != 1.0 {
			t.Errorf("notes.search %q finds %v notes, want the one written before the migration", "über", got)
		}

		c.ok(t, "notes.create", map[string]any{"title": "Émile's birthday", "body": "Gift: a book by ÖRSTED"})
		c.ok(t, "notes.create", map[string]any{"title": "Łódź trip", "body": "ΑΘΗΝΑ next"})
		c.ok(t, "notes.create", map[string]any{"title": "Emile (no accent)", "body": "plain"})
		c.ok(t, "contacts.create", map[string]any{"name": "Émile Zola", "notes": "Met in ŁÓDŹ"})
		c.ok(t, "contacts.create", map[string]any{"name": "Ørjan", "email": "orjan@example.com"})

		for _, tc := range []struct {
			tool, query string
			want        []string
		}{
			{"notes.search", "émile", []string{"Émile's birthday"}},
			{"notes.search", "ÉMILE", []string{"Émile's birthday"}},
			{"notes.search", "örsted", []string{"Émile's birthday"}},
			{"notes.search", "łódź", []string{"Łódź trip"}},
			{"notes.search", "αθηνα", []string{"Łódź trip"}},
			{"notes.search", "EMILE", []string{"Emile (no accent)"}}, // case is ignored, accents are not
			{"contacts.search", "émile", []string{"Émile Zola"}},
			{"contacts.search", "łódź", []string{"Émile Zola"}},
			{"contacts.search", "øRJ", []string{"Ørjan"}},
			{"contacts.search", "ORJAN@", []string{"Ørjan"}},
		} {
			listKey, key := "notes", "title"
			if tc.tool == "contacts.search" {
				listKey, key = "contacts", "name"
			}
			out := c.ok(t, tc.tool, map[string]any{"query": tc.query})
			if got := titles(t, out, listKey, key); !slices.Equal(got, tc.want) {
				t.Errorf("%s %q: %q, want %q", tc.tool, tc.query, got, tc.want)
			}
		}

		// An update changes what the note is found by.
		found := c.ok(t, "notes.search", map[string]any{"query": "Łódź trip"})["notes"].([]any)
		if len(found) != 1 {
			t.Fatalf("notes.search %q finds %d notes, want 1", "Łódź trip", len(found))
		}
		c.ok(t, "notes.update", map[string]any{"id": found[0].(map[string]any)["id"], "title": "Kraków trip"})
		for query, want := range map[string]int{"łódź": 0, "KRAKÓW": 1, "αθηνα": 1} {
			if got := c.ok(t, "notes.search", map[string]any{"query": query})["count"]; got != float64(want) {
				t.Errorf("after the update, notes.search %q finds %v notes, want %d", query, got, want)
			}
		}
	})
}

// writeBeforeTheSearchKeys takes the app's tables back to their first version (as the store's
// app line's down migrations do), writes a note and a contact there as the code of that version
// did, and migrates the store again.
func writeBeforeTheSearchKeys(t *testing.T, b *bundle, pg bool) {
	t.Helper()
	ctx := context.Background()
	db, _ := b.store.AppTables()
	prefix := "app_"
	down := []string{"DELETE FROM app_goose_db_version WHERE version_id > 1"}
	if pg {
		prefix = "app."
		down = []string{"DROP TABLE app.rate_calls", "DELETE FROM app.goose_db_version WHERE version_id > 1"}
	}
	for _, table := range []string{"notes", "contacts"} {
		cols := []string{"title", "body"}
		if table == "contacts" {
			cols = []string{"name", "email", "phone", "notes"}
		}
		for _, c := range cols {
			down = append(down, fmt.Sprintf("ALTER TABLE %s%s DROP COLUMN %s_key", prefix, table, c))
		}
	}
	for _, q := range down {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %snotes (id, space_id, title, body, created_by, created_at, updated_at)
		VALUES ('0b6c4f4e-3f6a-4d8e-9a51-2f1f8c7d9e10', $1, 'Ödön''s list', 'ÜBER', $2, 1, 1)`, prefix), b.anna.Personal, b.anna.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %scontacts (id, space_id, name, created_by, created_at)
		VALUES ('1b6c4f4e-3f6a-4d8e-9a51-2f1f8c7d9e10', $1, 'Ærø Ferry', $2, 1)`, prefix), b.anna.Personal, b.anna.ID); err != nil {
		t.Fatal(err)
	}
	var err error
	if pg {
		err = postgres.Migrate(ctx, db)
	} else {
		err = sqlite.Migrate(ctx, db)
	}
	if err != nil {
		t.Fatal(err)
	}
}
