package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/runner"
)

// TestCallsKeepTheirEvidence: each action row keeps the call's arguments (secrets redacted), a
// preview of the result or error, and the error class; recordArguments: false keeps neither.
func TestCallsKeepTheirEvidence(t *testing.T) {
	t.Parallel()
	turns := []model.Response{
		{ToolCalls: []model.ToolCall{call("c1", "todo_create", `{"title":"milk","password":"hunter2"}`), call("c2", "notes_add", `{"text":"x"}`)}, StopReason: model.StopToolUse},
		{Text: "Done for today.", StopReason: model.StopEnd},
	}
	handle := func(_ context.Context, name string, _ json.RawMessage) (runner.ToolOutput, error) {
		if name == "notes.add" {
			return runner.ToolOutput{}, errors.New("connection refused")
		}
		return runner.ToolOutput{Text: `{"id":"t1","title":"milk"}`}, nil
	}
	for _, record := range []bool{true, false} {
		cfg := testConfig()
		cfg.RecordArguments = record
		p := testPersona("persona.eve@mana.test")
		b := setup(t, cfg, day(turns, goodRating), p)
		b.tools.handle = handle
		if _, err := b.r.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(b.store.actions) != 2 {
			t.Fatalf("actions: %+v", b.store.actions)
		}
		ok, failed := b.store.actions[0], b.store.actions[1]
		if failed.ErrorClass != persona.ClassTransport || ok.ErrorClass != "" {
			t.Errorf("record=%v: classes %q, %q; want none, transport", record, ok.ErrorClass, failed.ErrorClass)
		}
		if !record {
			if ok.Arguments != nil || ok.ResultPreview != "" || failed.ResultPreview != "" {
				t.Errorf("recordArguments false kept evidence: %+v", b.store.actions)
			}
			continue
		}
		if string(ok.Arguments) != `{"password":"[redacted]","title":"milk"}` || ok.ResultPreview != `{"id":"t1","title":"milk"}` {
			t.Errorf("ok row evidence: %s, %q", ok.Arguments, ok.ResultPreview)
		}
		if string(failed.Arguments) != `{"text":"x"}` || !strings.Contains(failed.ResultPreview, "connection refused") {
			t.Errorf("failed row evidence: %s, %q", failed.Arguments, failed.ResultPreview)
		}
	}
}

// TestUnusableRatingsDegradeTheRun: a rating reply nobody can use makes the run degraded (the
// calls worked, the ratings did not), neither successful nor failed in the tick's result.
func TestUnusableRatingsDegradeTheRun(t *testing.T) {
	t.Parallel()
	p := testPersona("persona.finn@mana.test")
	b := setup(t, testConfig(), day(threeCalls(), "Five stars, lovely!"), p)
	res, err := b.r.Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.RanSuccessfully != 0 || len(res.Failed) != 0 || len(res.Degraded) != 1 || res.Degraded[0].Persona != p.Email {
		t.Errorf("result: %+v", res)
	}
	tick, _ := b.store.tickOf(p.UserID)
	if tick.Status != persona.TickDegraded || !strings.Contains(tick.Error, "unusable rating reply") || tick.ToolCalls != 3 {
		t.Errorf("tick: status %s error %q calls %d", tick.Status, tick.Error, tick.ToolCalls)
	}
	if fin := b.eventsOf(runner.RunFinished); len(fin) != 1 || fin[0].Status != persona.TickDegraded {
		t.Errorf("run finished events: %+v", fin)
	}
}

// TestRatingToolCallIsRetriedWithoutTools: a rating reply that calls a tool (a server that
// ignores tool choice none) is asked once more with no tools at all, over the conversation
// written out as text; the refused call is never made.
func TestRatingToolCallIsRetriedWithoutTools(t *testing.T) {
	t.Parallel()
	p := testPersona("persona.gus@mana.test")
	answer := func(ctx context.Context, req model.Request, n int) (model.Response, error) {
		if req.Phase == model.PhaseRating && len(req.Tools) > 0 {
			return model.Response{ToolCalls: []model.ToolCall{call("r1", "todo_list", `{}`)}, StopReason: model.StopToolUse}, nil
		}
		return day(threeCalls(), goodRating)(ctx, req, n)
	}
	b := setup(t, testConfig(), answer, p)
	if _, err := b.r.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := b.model.requests()
	retry := reqs[len(reqs)-1]
	if retry.Phase != model.PhaseRating || len(retry.Tools) != 0 || retry.CanCallTools() {
		t.Fatalf("retry: phase %s, %d tools", retry.Phase, len(retry.Tools))
	}
	for i, m := range retry.Messages {
		if len(m.ToolCalls) > 0 || len(m.ToolResults) > 0 {
			t.Errorf("retry message %d still carries tool calls or results: %+v", i, m)
		}
	}
	flat := ""
	for _, m := range retry.Messages {
		flat += m.Text + "\n"
	}
	for _, want := range []string{"todo_create", `"title":"buy milk"`, "answered", "answer with the JSON only"} {
		if !strings.Contains(flat, want) {
			t.Errorf("retry conversation lacks %q:\n%s", want, flat)
		}
	}
	if len(b.tools.calls) != 3 {
		t.Errorf("%d tool calls made, want 3 (the rating turn's call is never run)", len(b.tools.calls))
	}
	tick, _ := b.store.tickOf(p.UserID)
	if tick.Status != persona.TickOK || len(b.store.feedback) != 2 || !strings.Contains(tick.Error, "asked again without tools") {
		t.Errorf("tick %s (%q), feedback %+v", tick.Status, tick.Error, b.store.feedback)
	}
	if !json.Valid(tick.Transcript) {
		t.Error("transcript is not JSON")
	}
}
