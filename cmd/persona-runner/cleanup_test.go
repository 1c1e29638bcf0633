package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/catalog"
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

	// Without --yes and without a terminal to ask on, nothing is deleted.
	code, out, errOut = run(t, nil, "cleanup", "--data", dir, "--catalog", cat)
	if code != 2 || !strings.Contains(out, "persona.bo@mana.test") || !strings.Contains(errOut, "confirm with --yes") {
		t.Fatalf("cleanup without --yes: code %d, out:\n%s\nstderr %q", code, out, errOut)
	}
	if _, err := db.PersonaByEmail(ctx, "persona.bo@mana.test"); err != nil {
		t.Fatalf("cleanup without --yes deleted bo: %v", err)
	}

	code, out, errOut = run(t, nil, "cleanup", "--data", dir, "--catalog", cat, "--yes")
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
	code, out, errOut = run(t, nil, "cleanup", "--data", dir, "--all", "-y")
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
	if code != 2 || !strings.Contains(errOut, "cat.yaml:1:") {
		t.Fatalf("cleanup with a bad catalog: code %d, stderr %q", code, errOut)
	}
	if list, _ := db.ListPersonas(ctx, time.Time{}); len(list) != 2 {
		t.Fatalf("cleanup with a bad catalog left %d personas, want 2", len(list))
	}
}

// TestCleanupDefaultCatalog checks that cleanup without --catalog keeps the personas of the
// catalog the store was last seeded from (issue 13.9: it used to keep only the built-in ones,
// deleting every persona of a custom catalog).
func TestCleanupDefaultCatalog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	extra := writeFile(t, dir, "extra.yaml", smallCatalog)
	if code, _, errOut := run(t, nil, "seed", "--data", dir, "--catalog", extra); code != 0 {
		t.Fatalf("seed: %s", errOut)
	}
	code, out, errOut := run(t, nil, "cleanup", "--data", dir, "--yes")
	if code != 0 || !strings.Contains(out, "nothing to delete: all 2 personas are in the catalog") || !strings.Contains(out, "keeping the personas of the "+extra) {
		t.Fatalf("cleanup after a custom seed: code %d, out:\n%s\nstderr %q", code, out, errOut)
	}

	// Seeding the built-in catalog makes it the one cleanup keeps: the custom personas go.
	if code, _, errOut := run(t, nil, "seed", "--data", dir); code != 0 {
		t.Fatalf("seed default: %s", errOut)
	}
	code, out, errOut = run(t, nil, "cleanup", "--data", dir, "--dry-run")
	if code != 0 || !strings.Contains(out, "persona.ada@mana.test") || !strings.Contains(out, "dry run: would delete 2, keep 10") {
		t.Fatalf("cleanup --dry-run: code %d, out:\n%s\nstderr %q", code, out, errOut)
	}
	code, out, errOut = run(t, nil, "cleanup", "--data", dir, "-y")
	if code != 0 || !strings.Contains(out, "deleted 2, kept 10") {
		t.Fatalf("cleanup: code %d, out:\n%s\nstderr %q", code, out, errOut)
	}
	db := openStore(t, dbPath(dir))
	if list, err := db.ListPersonas(ctx, time.Time{}); err != nil || len(list) != 10 {
		t.Fatalf("after cleanup: %d personas, %v; want the 10 built-in ones", len(list), err)
	}
}

// TestCleanupRefuses checks the misuses that must change nothing.
func TestCleanupRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	cat := writeFile(t, dir, "cat.yaml", smallCatalog)

	// --all and --catalog exclude each other.
	code, _, errOut := run(t, nil, "cleanup", "--data", dir, "--all", "--catalog", cat, "--yes")
	if code != 2 || !strings.Contains(errOut, "--all") || !strings.Contains(errOut, "--catalog") {
		t.Fatalf("cleanup --all --catalog: code %d, stderr %q", code, errOut)
	}
	// A missing store is an error naming it, and cleanup does not create it.
	code, _, errOut = run(t, nil, "cleanup", "--data", dir, "--yes")
	if code == 0 || !strings.Contains(errOut, dbPath(dir)) {
		t.Fatalf("cleanup of a missing store: code %d, stderr %q", code, errOut)
	}
	if _, err := os.Stat(dbPath(dir)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("cleanup created the store: %v", err)
	}
	// A store that has no record of its catalog (seeded through the store API, as older
	// versions and seed --auth leave it) is not guessed at.
	db := openStore(t, dbPath(dir))
	c, err := catalog.Load(cat, catalog.DemoModules)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := c.Plan("test-secret")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApplySeed(ctx, plan, false); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = run(t, nil, "cleanup", "--data", dir, "--yes")
	if code != 2 || !strings.Contains(errOut, "no record of the catalog") {
		t.Fatalf("cleanup without a record: code %d, stderr %q", code, errOut)
	}
	if list, _ := db.ListPersonas(ctx, time.Time{}); len(list) != 2 {
		t.Fatalf("refused cleanup left %d personas, want 2", len(list))
	}
}

func TestConfirm(t *testing.T) {
	t.Parallel()
	for answer, want := range map[string]bool{"y\n": true, "YES\n": true, " yes ": true, "\n": false, "n\n": false, "": false, "yep\n": false} {
		var out strings.Builder
		if got := confirm(strings.NewReader(answer), &out, "Delete?"); got != want {
			t.Errorf("confirm(%q) = %v; want %v", answer, got, want)
		}
		if out.String() != "Delete? [y/N] " {
			t.Errorf("prompt = %q", out.String())
		}
	}
}
