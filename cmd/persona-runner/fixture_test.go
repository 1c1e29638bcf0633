package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store"
)

// storeCase says what went wrong in the runs writeRuns records; the zero value is a clean week.
type storeCase struct {
	toolErrors bool // ben's notes.search fails with a server error in every run
	lowRating  int  // when set, every journal rating is this (else 4 or 5)
	unusable   bool // one rating reply was unusable: a degraded run
	failedRun  bool // one run failed
}

// writeRuns seeds a SQLite store in dir through the public store API with three personas, each
// with three runs over the last three days on app version 2.0.0 (and, eight days ago, a clean
// run on 1.0.0), and returns the --data flag value.
func writeRuns(t *testing.T, c storeCase) string {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, dbFile), store.WithPasswordCost(4))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC().Truncate(time.Second)
	for pi, n := range []string{"anna", "ben", "cleo"} {
		id, _, err := db.UpsertPersona(ctx, persona.PersonaInput{Email: "persona." + n + "@mana.test", Name: n, Password: "pw-" + n + "-long-enough",
			Archetype: "tester", SystemPrompt: "You are a careful tester who tries every feature once.", ModuleMix: persona.ModuleMix{"todo": 1}})
		if err != nil {
			t.Fatal(err)
		}
		for day := -8; day < 0; day++ {
			if day > -8 && day < -3 {
				continue
			}
			version := "2.0.0"
			if day == -8 {
				version = "1.0.0"
			}
			start := now.Add(time.Duration(day)*24*time.Hour + time.Duration(pi)*time.Minute)
			fin := start.Add(time.Minute)
			tick := fmt.Sprintf("t%d-%s", -day, n)
			run := persona.RunRecord{Tick: persona.Tick{TickID: tick, PersonaID: id, RunnerID: "r1", Status: persona.TickOK,
				StartedAt: start, FinishedAt: &fin, ToolCalls: 3, Turns: 4, InputTokens: 1200, OutputTokens: 300, CostUSD: 0.0125,
				Model: "sim", Summary: n + " planned the day.", Target: "demo", ServerName: "mana", ServerVersion: version}}
			act := func(tool, args string, ok bool, msg string) {
				a := persona.Action{TickID: tick, ToolName: tool, Seq: len(run.Actions), Result: persona.ResultOK, LatencyMs: persona.Latency(40),
					CreatedAt: start.Add(time.Duration(len(run.Actions)) * time.Second), Arguments: json.RawMessage(args),
					ResultPreview: `{"ok":true}`}
				if !ok {
					a.Result, a.ErrorMessage, a.ResultPreview = persona.ResultError, msg, ""
					run.Tick.Errors++
				}
				run.Actions = append(run.Actions, a)
			}
			act("todo.create", `{"title":"call mum"}`, true, "")
			act("notes.create", `{"title":"Groceries"}`, true, "")
			act("notes.search", `{"query":"milk"}`, !(c.toolErrors && n == "ben" && day > -8), "internal error: search index unavailable")
			journal := 4 + pi%2
			if c.lowRating > 0 && day > -8 {
				journal = c.lowRating
			}
			run.Feedback = []persona.Feedback{
				{TickID: tick, Module: "todo", Rating: 5, Notes: "todo was quick", CreatedAt: fin},
				{TickID: tick, Module: "journal", Rating: journal, Notes: fmt.Sprintf("journal felt like a %d", journal), CreatedAt: fin},
			}
			if c.unusable && n == "cleo" && day == -1 {
				run.Tick.Status, run.Tick.Error = persona.TickDegraded, "rating: unusable rating reply"
				run.Feedback = append(run.Feedback, persona.Feedback{TickID: tick, Module: "__parse", Rating: 3,
					Notes: "unusable rating reply: no JSON object in the reply", CreatedAt: fin})
			}
			if _, err := db.RecordRun(ctx, run); err != nil {
				t.Fatal(err)
			}
		}
		if c.failedRun && n == "anna" {
			start := now.Add(-2 * time.Hour)
			fin := start.Add(30 * time.Second)
			if err := db.RecordTick(ctx, persona.Tick{TickID: "failed-anna", PersonaID: id, RunnerID: "r1", Status: persona.TickFailed,
				StartedAt: start, FinishedAt: &fin, Error: "mcp: connect to MCP: no answer within 30s", Target: "demo", Model: "sim"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}
