package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

func TestCleanup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	cat := writeFile(t, dir, "cat.yaml", smallCatalog)
	if code, _, errOut := run(t, nil, "seed", "--data", dir, "--catalog", cat); code != 0 {
		t.Fatalf("seed: %s", errOut)
	}
	db := openStore(t, dbPath(dir))
	bo, err := db.PersonaByEmail(ctx, "persona.bo@mana.test")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.InsertActions(ctx, bo.UserID, []persona.Action{{TickID: "t1", ToolName: "calendar.list", Result: persona.ResultOK}}); err != nil {
		t.Fatal(err)
	}

	// Against the full catalog there is nothing to delete.
	code, out, errOut := run(t, nil, "cleanup", "--data", dir, "--catalog", cat)
	if code != 0 || !strings.Contains(out, "nothing to delete: all 2 personas are in the catalog") {
		t.Fatalf("cleanup with nothing to do: code %d, out %q, stderr %q", code, out, errOut)
	}

	// Bo leaves the catalog (and the team).
	adaOnly := strings.Replace(smallCatalog, "members: [persona.ada@mana.test, persona.bo@mana.test]", "members: [persona.ada@mana.test]", 1)
	adaOnly = adaOnly[:strings.Index(adaOnly, "  - name: Bo")]
	writeFile(t, dir, "cat.yaml", adaOnly)

	code, out, errOut = run(t, nil, "cleanup", "--data", dir, "--catalog", cat, "--dry-run")
	if code != 0 || !strings.Contains(out, "persona.bo@mana.test") || !strings.Contains(out, "would delete") ||
		!strings.Contains(out, "dry run: would delete 1, keep 1") || strings.Contains(out, "persona.ada") {
		t.Fatalf("cleanup --dry-run: code %d, out:\n%s\nstderr %q", code, out, errOut)
	}
	if _, err := db.PersonaByEmail(ctx, "persona.bo@mana.test"); err != nil {
		t.Fatalf("dry run deleted bo: %v", err)
	}

	code, out, errOut = run(t, nil, "cleanup", "--data", dir, "--catalog", cat)
	if code != 0 || !strings.Contains(out, "persona.bo@mana.test") || !strings.Contains(out, "deleted 1, kept 1") {
		t.Fatalf("cleanup: code %d, out:\n%s\nstderr %q", code, out, errOut)
	}
	if _, err := db.PersonaByEmail(ctx, "persona.bo@mana.test"); !errors.Is(err, persona.ErrNotFound) {
		t.Fatalf("bo still there: %v", err)
	}
	if _, err := db.UserByEmail(ctx, "persona.bo@mana.test"); !errors.Is(err, persona.ErrNotFound) {
		t.Fatalf("bo's user still there: %v", err)
	}
	if rows, err := db.Actions(ctx, persona.ActionQuery{PersonaID: bo.UserID}); err != nil || len(rows) != 0 {
		t.Fatalf("bo's actions survived: %d, %v", len(rows), err)
	}
	ada, err := db.UserByEmail(ctx, "persona.ada@mana.test")
	if err != nil {
		t.Fatal(err)
	}
	spaces, err := db.SpacesOfUser(ctx, ada.ID)
	if err != nil || len(spaces) != 2 {
		t.Fatalf("ada's spaces after bo left: %v, %v", spaces, err)
	}

	// --all deletes everyone, whatever the catalog says.
	code, out, errOut = run(t, nil, "cleanup", "--data", dir, "--all")
	if code != 0 || !strings.Contains(out, "persona.ada@mana.test") || !strings.Contains(out, "deleted 1, kept 0") {
		t.Fatalf("cleanup --all: code %d, out:\n%s\nstderr %q", code, out, errOut)
	}
	if list, err := db.ListPersonas(ctx, time.Time{}); err != nil || len(list) != 0 {
		t.Fatalf("after cleanup --all: %d personas, %v", len(list), err)
	}

	// A bad catalog stops cleanup before it deletes anything.
	if code, _, _ := run(t, nil, "seed", "--data", dir, "--catalog", writeFile(t, dir, "full.yaml", smallCatalog)); code != 0 {
		t.Fatal("re-seed failed")
	}
	writeFile(t, dir, "cat.yaml", "personas: [")
	code, _, errOut = run(t, nil, "cleanup", "--data", dir, "--catalog", cat)
	if code != 1 || !strings.Contains(errOut, "cat.yaml:1:") {
		t.Fatalf("cleanup with a bad catalog: code %d, stderr %q", code, errOut)
	}
	if list, _ := db.ListPersonas(ctx, time.Time{}); len(list) != 2 {
		t.Fatalf("cleanup with a bad catalog left %d personas, want 2", len(list))
	}
}

// TestCleanupDefaultCatalog checks that cleanup without --catalog keeps the built-in personas.
func TestCleanupDefaultCatalog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if code, _, errOut := run(t, nil, "seed", "--data", dir); code != 0 {
		t.Fatalf("seed: %s", errOut)
	}
	if code, _, errOut := run(t, nil, "seed", "--data", dir, "--catalog", writeFile(t, dir, "extra.yaml", smallCatalog)); code != 0 {
		t.Fatalf("seed extra: %s", errOut)
	}
	code, out, errOut := run(t, nil, "cleanup", "--data", dir)
	if code != 0 || !strings.Contains(out, "deleted 2, kept 10") || !strings.Contains(out, "persona.ada@mana.test") {
		t.Fatalf("cleanup: code %d, out:\n%s\nstderr %q", code, out, errOut)
	}
}
