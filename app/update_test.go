package app_test

import (
	"strings"
	"testing"
)

// TestUpdateRefusesABlankTitle: a title must not be blank, on update as on create (an update with
// only white space as the title used to blank it).
func TestUpdateRefusesABlankTitle(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	c := b.connect(t, b.anna, b.anna.Personal)
	note := c.ok(t, "notes.create", map[string]any{"title": "Shopping"})["note"].(map[string]any)
	todo := c.ok(t, "todo.create", map[string]any{"title": "Call mum"})["todo"].(map[string]any)

	if msg := c.fails(t, "notes.update", map[string]any{"id": note["id"], "title": "  \t "}); msg != "invalid input: title: must not be empty" {
		t.Errorf("notes.update with a blank title: %q", msg)
	}
	if msg := c.fails(t, "todo.update", map[string]any{"id": todo["id"], "title": " ", "priority": "high"}); msg != "invalid input: title: must not be empty" {
		t.Errorf("todo.update with a blank title: %q", msg)
	}
	want(t, c.ok(t, "notes.search", nil)["notes"].([]any)[0].(map[string]any), "title", "Shopping")
	want(t, c.ok(t, "todo.list", nil)["todos"].([]any)[0].(map[string]any), "title", "Call mum", "priority", "normal")
	// A title with text around white space is fine.
	got := c.ok(t, "notes.update", map[string]any{"id": note["id"], "title": " Shopping list "})["note"].(map[string]any)
	if !strings.Contains(str(got["title"]), "Shopping list") {
		t.Errorf("notes.update with a real title: %v", got)
	}
}
