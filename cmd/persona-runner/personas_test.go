package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/persona-runner/persona-runner/persona"
)

func TestPersonasList(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A read-only command does not create the store it was asked to read.
	code, _, errOut := run(t, nil, "personas", "list", "--data", dir)
	if code != 3 || !strings.Contains(errOut, dbPath(dir)) || !strings.Contains(errOut, "no such file") {
		t.Fatalf("list of a missing store: code %d, stderr %q; want 3 naming %s", code, errOut, dbPath(dir))
	}
	if _, err := os.Stat(dbPath(dir)); !os.IsNotExist(err) {
		t.Fatalf("personas list created %s", dbPath(dir))
	}
	if code, _, errOut := run(t, nil, "migrate", "--data", dir); code != 0 {
		t.Fatalf("migrate: %s", errOut)
	}
	code, out, _ := run(t, nil, "personas", "list", "--data", dir)
	if code != 0 || !strings.Contains(out, "no personas yet") {
		t.Fatalf("empty list: code %d, out %q", code, out)
	}
	code, out, _ = run(t, nil, "personas", "list", "--data", dir, "--format", "json")
	if code != 0 || strings.TrimSpace(out) != `{
  "personas": []
}` {
		t.Fatalf("empty JSON list: code %d, out %q", code, out)
	}
	if code, _, errOut := run(t, nil, "seed", "--data", dir); code != 0 {
		t.Fatalf("seed: %s", errOut)
	}

	code, out, errOut = run(t, nil, "personas", "list", "--data", dir)
	if code != 0 {
		t.Fatalf("list: code %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 12 || strings.Join(strings.Fields(lines[0]), " ") != "EMAIL NAME ARCHETYPE CADENCE TIMEZONE LAST ACTIVE ACTIONS 7D FAILURES" ||
		lines[11] != "10 personas" {
		t.Fatalf("list output:\n%s", out)
	}
	if got := strings.Fields(lines[3]); strings.Join(got, " ") != "persona.diego@mana.test Diego junior-developer weekdays America/Sao_Paulo never 0 0" {
		t.Errorf("diego's row: %q", lines[3])
	}

	code, out, _ = run(t, nil, "personas", "list", "--data", dir, "--format", "json")
	var doc struct {
		Personas []persona.PersonaSummary `json:"personas"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Personas) != 10 {
		t.Fatalf("JSON list: code %d, out %q", code, out)
	}
	if p := doc.Personas[0]; p.Email != "persona.anna@mana.test" || p.TickCadence != persona.Daily || p.Timezone != "Europe/Berlin" || p.UserID == "" {
		t.Errorf("first persona in JSON: %+v", p)
	}

	code, _, errOut = run(t, nil, "personas", "list", "--data", dir, "--format", "xml")
	if code != 2 || !strings.Contains(errOut, "--format") {
		t.Errorf("--format xml: code %d, stderr %q", code, errOut)
	}
}

func TestPersonasShow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	if code, _, errOut := run(t, nil, "seed", "--data", dir); code != 0 {
		t.Fatalf("seed: %s", errOut)
	}
	db := openStore(t, dbPath(dir))
	kenji, err := db.PersonaByEmail(ctx, "persona.kenji@mana.test")
	if err != nil {
		t.Fatal(err)
	}
	actions := []persona.Action{
		{TickID: "tick-aaaaaaaa-1", ToolName: "todo.create", Result: persona.ResultOK, LatencyMs: persona.Latency(12), Seq: 0},
		{TickID: "tick-aaaaaaaa-1", ToolName: "calendar.create", Result: persona.ResultError, ErrorMessage: "start: must be a date", LatencyMs: persona.Latency(7), Seq: 1},
		{TickID: "tick-aaaaaaaa-1", ToolName: "notes.list", Result: persona.ResultOK, Seq: 2}, // latency not measured
	}
	if _, _, err := db.InsertActions(ctx, kenji.UserID, actions); err != nil {
		t.Fatal(err)
	}
	fb := []persona.Feedback{
		{TickID: "tick-aaaaaaaa-1", Module: "todo", Rating: 5, Notes: "fast"},
		{TickID: "tick-aaaaaaaa-1", Module: "calendar", Rating: 2, Notes: "dates are picky"},
	}
	if _, _, err := db.InsertFeedback(ctx, kenji.UserID, fb); err != nil {
		t.Fatal(err)
	}

	for _, key := range []string{"persona.kenji@mana.test", kenji.UserID} {
		code, out, errOut := run(t, nil, "personas", "show", key, "--data", dir)
		if code != 0 {
			t.Fatalf("show %s: code %d, stderr %q", key, code, errOut)
		}
		if strings.Contains(out, "Last active  never") {
			t.Errorf("show %s: rows posted outside a claim did not mark the persona active:\n%s", key, out)
		}
		for _, want := range []string{
			"Email        persona.kenji@mana.test", "User ID      " + kenji.UserID, "Archetype    power-user",
			"Cadence      hourly", "Timezone     Asia/Tokyo", "Modules      todo 0.3, calendar 0.2, notes 0.2, contacts 0.15, habits 0.15",
			"Spaces       persona-kenji (personal)", "You are Kenji",
			"Recent actions (3):", "notes.list       ok      –", "12ms", "calendar.create", "error", "start: must be a date",
			"Ratings by module (2):", "calendar  2.00  1", "todo      5.00  1",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("show %s: output lacks %q:\n%s", key, want, out)
			}
		}
	}

	code, out, _ := run(t, nil, "personas", "show", "persona.maya@mana.test", "--data", dir, "--format", "json")
	var d struct {
		Persona struct {
			Email       string             `json:"email"`
			TickCadence string             `json:"tickCadence"`
			ModuleMix   map[string]float64 `json:"moduleMix"`
			Spaces      []struct {
				Slug string `json:"slug"`
				Type string `json:"type"`
			} `json:"spaces"`
		} `json:"persona"`
		RecentActions    []persona.Action       `json:"recentActions"`
		FeedbackByModule []persona.ModuleRating `json:"feedbackByModule"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil {
		t.Fatalf("show JSON: code %d, out %q", code, out)
	}
	if d.Persona.Email != "persona.maya@mana.test" || d.Persona.TickCadence != "weekdays" || d.Persona.ModuleMix["calendar"] != 0.3 ||
		len(d.Persona.Spaces) != 2 || d.Persona.Spaces[1].Slug != "lindqvist-family" ||
		d.RecentActions == nil || len(d.RecentActions) != 0 || d.FeedbackByModule == nil {
		t.Errorf("show JSON: %+v\n%s", d, out)
	}
	if !strings.Contains(out, `"recentActions": []`) || !strings.Contains(out, `"feedbackByModule": []`) {
		t.Errorf("empty lists must be [] in JSON:\n%s", out)
	}

	code, out, _ = run(t, nil, "personas", "show", "persona.kenji@mana.test", "--data", dir, "--format", "json")
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil || len(d.RecentActions) != 3 || d.RecentActions[0].ToolName != "notes.list" || d.RecentActions[0].LatencyMs != nil ||
		d.RecentActions[1].ToolName != "calendar.create" ||
		len(d.FeedbackByModule) != 2 || d.FeedbackByModule[1].Module != "todo" || d.FeedbackByModule[1].AvgRating != 5 {
		t.Errorf("kenji JSON: %+v", d)
	}

	for _, key := range []string{"persona.nobody@mana.test", "no-such-id"} {
		code, _, errOut := run(t, nil, "personas", "show", key, "--data", dir)
		if code != 1 || !strings.Contains(errOut, `no persona with email or id "`+key+`"`) {
			t.Errorf("show %s: code %d, stderr %q", key, code, errOut)
		}
	}
}
