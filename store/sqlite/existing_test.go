package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/sqlite"
)

func TestWithExistingRefusesMissingFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "store.db")
	_, err := sqlite.Open(context.Background(), path, sqlite.WithExisting())
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("Open(missing, WithExisting) error = %v; want it to name %s and say no such file", err, path)
	}
	if _, err := os.Stat(filepath.Join(dir, "sub")); !os.IsNotExist(err) {
		t.Errorf("Open(missing, WithExisting) created %s (stat: %v)", filepath.Join(dir, "sub"), err)
	}
	_, err = sqlite.Open(context.Background(), dir, sqlite.WithExisting())
	if err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("Open(dir, WithExisting) error = %v; want is a directory", err)
	}
}

func TestWithExistingOpensReadOnlyAndWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store.db")
	db, err := sqlite.Open(ctx, path, sqlite.WithPasswordCost(4))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.UpsertPersona(ctx, personaInput("ro@example.com")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a write would move the modification time past before's

	ro, err := sqlite.Open(ctx, path, sqlite.WithExisting())
	if err != nil {
		t.Fatalf("Open(existing): %v", err)
	}
	defer ro.Close()
	list, err := ro.ListPersonas(ctx, time.Now().Add(-time.Hour))
	if err != nil || len(list) != 1 || list[0].Email != "ro@example.com" {
		t.Fatalf("ListPersonas = %v, %v; want the one persona", list, err)
	}
	if _, _, err := ro.UpsertPersona(ctx, personaInput("w@example.com")); err == nil {
		t.Errorf("UpsertPersona on a store opened WithExisting succeeded; want a read-only error")
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
		t.Errorf("the file changed under a read-only open: %v/%d → %v/%d", before.ModTime(), before.Size(), after.ModTime(), after.Size())
	}
}

func personaInput(email string) persona.PersonaInput {
	return persona.PersonaInput{Email: email, Name: "Ro", Password: "correct horse battery", Archetype: "tester",
		SystemPrompt: "You are a careful tester who tries every feature once.", ModuleMix: persona.ModuleMix{"todo": 1}}
}
