package app_test

import (
	"strings"
	"testing"
)

// TestNULInTextIsAToolErrorNamingTheField: a NUL character in a text argument is refused with a
// tool error naming the field on both engines (PostgreSQL cannot store it in text), and nothing
// is written.
func TestNULInTextIsAToolErrorNamingTheField(t *testing.T) {
	bothStores(t, func(t *testing.T, pg bool) {
		b := setup(t, options{postgres: pg})
		c := b.connect(t, b.anna, b.anna.Personal)
		cases := []struct {
			tool, field string
			args        map[string]any
		}{
			{"notes.create", "title", map[string]any{"title": "a\x00b"}},
			{"notes.create", "body", map[string]any{"title": "ok", "body": "x\x00"}},
			{"notes.search", "query", map[string]any{"query": "\x00"}},
			{"todo.create", "notes", map[string]any{"title": "ok", "notes": "a\x00"}},
			{"journal.add", "body", map[string]any{"body": "\x00\x00"}},
			{"contacts.create", "name", map[string]any{"name": "Ann\x00"}},
			{"contacts.search", "query", map[string]any{"query": "a\x00"}},
			{"habits.create", "name", map[string]any{"name": "run\x00"}},
			{"mood.log", "note", map[string]any{"rating": 3, "note": "\x00"}},
			{"calendar.createEvent", "location", map[string]any{"title": "x", "start": "2025-06-03T09:00:00Z", "end": "2025-06-03T10:00:00Z", "location": "\x00"}},
		}
		for _, tc := range cases {
			msg := c.fails(t, tc.tool, tc.args)
			if want := "invalid input: " + tc.field + ": must not contain NUL characters"; !strings.HasPrefix(msg, want) {
				t.Errorf("%s with NUL in %s: %q, want it to start with %q", tc.tool, tc.field, msg, want)
			}
		}
		for tool, key := range map[string]string{"notes.search": "count", "todo.list": "count", "journal.list": "count",
			"contacts.search": "count", "habits.list": "count", "mood.today": "count"} {
			if got := c.ok(t, tool, nil)[key]; got != 0.0 {
				t.Errorf("%s: %v records after the refused calls, want none", tool, got)
			}
		}
		_, metrics := b.get(t, "/metrics")
		if strings.Contains(metrics, `result="error"`) {
			t.Errorf("a NUL was counted as an app error:\n%s", grep(metrics, `result="error"`))
		}
	})
}
