package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/report"
	"github.com/persona-runner/persona-runner/store"
)

// The report reads the same rows from the local store and through the admin API of a running
// auth service, and shows the failing tool and the module's rating either way.
func TestReportLocalAndThroughAuthAPI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"MANA_SERVICE_KEY": testServiceKey}
	if code, _, errOut := run(t, env, "seed", "--data", dir); code != 0 {
		t.Fatalf("seed: %s", errOut)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, dir+"/persona-runner.db")
	if err != nil {
		t.Fatal(err)
	}
	anna, err := db.PersonaByEmail(ctx, "persona.anna@mana.test")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	rows := []persona.Action{
		{TickID: "t1", ToolName: "todo.create", Result: persona.ResultOK, Seq: 0, CreatedAt: now.Add(-time.Hour)},
		{TickID: "t1", ToolName: "notes.search", Result: persona.ResultError, ErrorMessage: "query: must be at least 2 characters", Seq: 1, CreatedAt: now.Add(-time.Hour)},
	}
	if _, _, err := db.InsertActions(ctx, anna.UserID, rows); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.InsertFeedback(ctx, anna.UserID, []persona.Feedback{{TickID: "t1", Module: "notes", Rating: 2, Notes: "search refused me", CreatedAt: now.Add(-time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	code, out, errOut := run(t, env, "report", "--data", dir)
	if code != 0 || !strings.Contains(out, "notes.search") || !strings.Contains(out, "search refused me") {
		t.Fatalf("report table: code %d, out:\n%s\nstderr %s", code, out, errOut)
	}
	code, local, errOut := run(t, env, "report", "--data", dir, "--format", "json")
	if code != 0 {
		t.Fatalf("report json: %s", errOut)
	}
	code, _, errOut = run(t, env, "report", "--data", dir, "--module", "finance")
	if code != 1 || !strings.Contains(errOut, "--module: no rows for module \"finance\"") {
		t.Fatalf("unknown --module: code %d, stderr %q", code, errOut)
	}
	code, _, errOut = run(t, env, "report", "--data", dir, "--since", "soon")
	if code != 2 || !strings.Contains(errOut, "--since: must be a duration") || strings.Contains(errOut, "since: since") {
		t.Fatalf("bad --since: code %d, stderr %q", code, errOut)
	}

	if code, _, errOut := run(t, env, "admin", "create", "ops@example.com", "--data", dir, "--password", "ops-password-123"); code != 0 {
		t.Fatalf("admin create: %s", errOut)
	}
	url, _, _ := startServeAuth(t, env, "--data", dir, "--addr", "127.0.0.1:0")
	_, token, _ := run(t, env, "admin", "token", "ops@example.com", "--data", dir, "--issuer", url)
	code, remote, errOut := run(t, env, "report", "--auth", url, "--jwt", strings.TrimSpace(token), "--format", "json")
	if code != 0 {
		t.Fatalf("report --auth: code %d, stderr %s", code, errOut)
	}
	var a, b report.Report
	if err := json.Unmarshal([]byte(local), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(remote), &b); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a.FailingTools, b.FailingTools); diff != "" || len(a.FailingTools) != 1 {
		t.Errorf("failing tools differ between local and remote (-local +remote):\n%s", diff)
	}
	if diff := cmp.Diff(a.Modules, b.Modules); diff != "" {
		t.Errorf("modules differ (-local +remote):\n%s", diff)
	}
	if a.Coverage.Offered == 0 || b.Coverage.Offered != a.Coverage.Offered || a.Coverage.Used != 2 {
		t.Errorf("coverage: local %+v, remote %+v", a.Coverage, b.Coverage)
	}
	code, _, errOut = run(t, env, "report", "--auth", url, "--jwt", "not-a-token")
	if code != 1 || !strings.Contains(errOut, "401") && !strings.Contains(strings.ToLower(errOut), "unauthor") {
		t.Errorf("bad token: code %d, stderr %q", code, errOut)
	}
}
