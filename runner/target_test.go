package runner_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/runner"
)

// TestHiddenToolIsAnErrorRowNeverSent: a tool the target's policy hides is not in the model's
// list; a call of it anyway is an error row under its module, and never reaches the app.
func TestHiddenToolIsAnErrorRowNeverSent(t *testing.T) {
	t.Parallel()
	p := testPersona("persona.ida@mana.test")
	turns := []model.Response{
		{ToolCalls: []model.ToolCall{call("c1", "todo_purge", `{}`), call("c2", "todo_list", `{}`)}, StopReason: model.StopToolUse},
		{Text: "Done for today.", StopReason: model.StopEnd},
	}
	b := setup(t, testConfig(), day(turns, goodRating), p)
	b.tools.specs = append(b.tools.specs, runner.ToolSpec{Name: "todo.purge", Description: "Delete every todo", Module: "todo",
		Hidden: "destructive (destructiveHint); name it in tools.allow to offer it"})
	if _, err := b.r.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, req := range b.model.requests() {
		for _, tl := range req.Tools {
			if tl.Name == "todo_purge" {
				t.Fatal("the hidden tool was offered to the model")
			}
		}
	}
	for _, c := range b.tools.calls {
		if strings.HasPrefix(c, "todo.purge ") {
			t.Fatal("the hidden tool's call reached the app")
		}
	}
	rows := b.store.actions
	if len(rows) != 2 {
		t.Fatalf("rows %+v", rows)
	}
	hid := rows[0]
	if hid.ToolName != "todo.purge" || hid.Module != "todo" || hid.Result != persona.ResultError || !strings.Contains(hid.ErrorMessage, "policy hides it") {
		t.Errorf("hidden call row %+v", hid)
	}
	if rows[1].Result != persona.ResultOK {
		t.Errorf("second row %+v", rows[1])
	}
	// The model is told why, in the tool result.
	var told bool
	for _, m := range b.model.requests()[1].Messages {
		for _, r := range m.ToolResults {
			told = told || (r.CallID == "c1" && r.IsError && strings.Contains(r.Content, "policy hides it"))
		}
	}
	if !told {
		t.Error("the model was not told the tool is hidden")
	}
}

// TestModulesComeFromTheTarget: the module of a row is the target's mapping, not the demo's rule.
func TestModulesComeFromTheTarget(t *testing.T) {
	t.Parallel()
	p := testPersona("persona.oda@mana.test")
	turns := []model.Response{
		{ToolCalls: []model.ToolCall{call("c1", "notes_add", `{"text":"x"}`)}, StopReason: model.StopToolUse},
		{Text: "Done.", StopReason: model.StopEnd},
	}
	b := setup(t, testConfig(), day(turns, `{"ratings":[{"module":"writing","rating":4}]}`), p)
	for i := range b.tools.specs {
		if b.tools.specs[i].Name == "notes.add" {
			b.tools.specs[i].Module = "writing"
		}
	}
	if _, err := b.r.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows := b.store.actions
	if len(rows) != 1 || rows[0].Module != "writing" {
		t.Fatalf("rows %+v", rows)
	}
	fb := b.store.feedback
	if !slices.ContainsFunc(fb, func(f persona.Feedback) bool { return f.Module == "writing" && f.Rating == 4 }) {
		t.Errorf("feedback %+v", fb)
	}
}

// TestTickRecordsTargetAndServer: the tick record keeps the target's name and the server's
// initialize identity.
func TestTickRecordsTargetAndServer(t *testing.T) {
	t.Parallel()
	p := testPersona("persona.una@mana.test")
	b := setup(t, testConfig(), day(threeCalls(), goodRating), p)
	if _, err := b.r.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	tick, _ := b.store.tickOf(p.UserID)
	if tick.Target != "demo" || tick.ServerName != "fake-app" || tick.ServerVersion != "1.0.0" {
		t.Errorf("tick target %q server %q %q", tick.Target, tick.ServerName, tick.ServerVersion)
	}
}
