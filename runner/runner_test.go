package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/runner"
	"github.com/persona-runner/persona-runner/target/mana"
)

const goodRating = "Here you go:\n```json\n{\"ratings\":[{\"module\":\"todo\",\"rating\":4.4,\"notes\":\"quick\"},{\"module\":\"notes\",\"rating\":9,\"notes\":\"lovely\"},{\"module\":\"calendar\",\"rating\":1}]}\n```"

func threeCalls() []model.Response {
	return []model.Response{
		{ToolCalls: []model.ToolCall{call("c1", "todo_create", `{ "title": "buy milk" }`), call("c2", "notes_add", `{"text":"hello"}`)}, StopReason: model.StopToolUse},
		{Text: "Let me check.", ToolCalls: []model.ToolCall{call("c3", "todo_list", `{}`)}, StopReason: model.StopToolUse},
		{Text: "A calm day; the list was quick.", StopReason: model.StopEnd},
	}
}

func TestRunRecordsEveryCallInOrder(t *testing.T) {
	t.Parallel()
	p := testPersona("persona.anna@mana.test")
	b := setup(t, testConfig(), day(threeCalls(), goodRating), p)
	res, err := b.r.Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(runner.Result{Due: 1, RanSuccessfully: 1, Failed: []runner.RunFailure{}}, res, cmpopts.IgnoreFields(runner.Result{}, "DurationMs", "Outcomes")); diff != "" {
		t.Fatalf("result (-want +got):\n%s", diff)
	}
	tick, ok := b.store.tickOf(p.UserID)
	if !ok {
		t.Fatal("no tick record")
	}
	type row struct {
		ID, Tool, Module, Hash string
		Result                 persona.Result
		Seq                    int
	}
	var got []row
	for _, a := range b.store.actions {
		if a.LatencyMs == nil || *a.LatencyMs <= 0 {
			t.Errorf("action %d latency %v, want a measured one", a.Seq, a.LatencyMs)
		}
		if a.TickID != tick.TickID || a.PersonaID != p.UserID {
			t.Errorf("action %d belongs to %s/%s", a.Seq, a.TickID, a.PersonaID)
		}
		got = append(got, row{a.ID, a.ToolName, a.Module, a.InputHash, a.Result, a.Seq})
	}
	id := func(seq int, tool string) string { return fmt.Sprintf("%s-%d-%s", tick.TickID, seq, tool) }
	want := []row{
		{id(1, "todo.create"), "todo.create", "todo", "ee7451d2de804f7a", persona.ResultOK, 1},
		{id(2, "notes.add"), "notes.add", "notes", "cbbbdcd27692344d", persona.ResultOK, 2},
		{id(3, "todo.list"), "todo.list", "todo", "44136fa355b3678a", persona.ResultOK, 3},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	if len(want[0].Hash) != 16 {
		t.Errorf("input hash %q is not 16 hex characters", want[0].Hash)
	}
	var fb []string
	for _, f := range b.store.feedback {
		fb = append(fb, fmt.Sprintf("%s %s %d %s", f.ID, f.Module, f.Rating, f.Notes))
	}
	wantFB := []string{tick.TickID + "-todo todo 4 quick", tick.TickID + "-notes notes 5 lovely"}
	if diff := cmp.Diff(wantFB, fb); diff != "" {
		t.Errorf("feedback (-want +got):\n%s", diff)
	}
	if tick.Status != persona.TickOK || tick.ToolCalls != 3 || tick.Errors != 0 || tick.Turns != 4 || tick.RunnerID != "test-runner" {
		t.Errorf("tick record: %+v", tick)
	}
	if tick.Summary != "A calm day; the list was quick." {
		t.Errorf("summary = %q", tick.Summary)
	}
	if tick.InputTokens != 400 || tick.OutputTokens != 50 || tick.CachedTokens != 120 || tick.Model != "sim-1" {
		t.Errorf("tokens %d/%d/%d model %s", tick.InputTokens, tick.OutputTokens, tick.CachedTokens, tick.Model)
	}
	var tr struct {
		Messages     []model.Message `json:"messages"`
		Tools        []string        `json:"tools"`
		RatingTurnAt int             `json:"ratingTurnAt"`
	}
	if err := json.Unmarshal(tick.Transcript, &tr); err != nil {
		t.Fatalf("transcript: %v", err)
	}
	if len(tr.Messages) != 8 || tr.RatingTurnAt != 6 || !strings.Contains(tr.Messages[7].Text, "ratings") {
		t.Errorf("transcript has %d messages, rating at %d", len(tr.Messages), tr.RatingTurnAt)
	}
	if diff := cmp.Diff([]string{"todo_create", "todo_list", "notes_add", "mood_log"}, tr.Tools); diff != "" {
		t.Errorf("model-facing tool names (-want +got):\n%s", diff)
	}
	// The MCP session ran as the persona, in its personal space, with the access token.
	for _, c := range b.tools.calls {
		if !strings.HasSuffix(c, " jwt-"+p.Email+" space-jwt-"+p.Email) {
			t.Errorf("tool call made as %q", c)
		}
	}
	fin := b.eventsOf(runner.RunFinished)
	if len(fin) != 1 || fin[0].Status != persona.TickOK || fin[0].ToolCalls != 3 || len(fin[0].Ratings) != 2 {
		t.Errorf("run finished events: %+v", fin)
	}
}

func TestErrorAttributedToTheCallThatFailed(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"tool error", "transport"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			p := testPersona("persona.ben@mana.test")
			turns := []model.Response{
				{ToolCalls: []model.ToolCall{call("a", "todo_create", `{"title":"x"}`), call("b", "notes_add", `{}`), call("c", "todo_list", `{}`)}},
				{Text: "Bit annoying."},
			}
			b := setup(t, testConfig(), day(turns, goodRating), p)
			b.tools.handle = func(_ context.Context, name string, _ json.RawMessage) (runner.ToolOutput, error) {
				if name != "notes.add" {
					return runner.ToolOutput{Text: "ok " + name}, nil
				}
				if mode == "transport" {
					return runner.ToolOutput{}, errors.New("connection reset by peer")
				}
				return runner.ToolOutput{IsError: true, Text: "text: is required"}, nil
			}
			if _, err := b.r.Tick(context.Background()); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range b.store.actions {
				got = append(got, fmt.Sprintf("%d %s %s %s", a.Seq, a.ToolName, a.Result, a.ErrorMessage))
			}
			msg := "text: is required"
			if mode == "transport" {
				msg = "transport: connection reset by peer"
			}
			want := []string{"1 todo.create ok ", "2 notes.add error " + msg, "3 todo.list ok "}
			if mode == "transport" {
				// Issue 13.3: a failed connection is infrastructure, not a tool result: the call
				// keeps its row (class transport) and the run ends failed at stage mcp.
				want = want[:2]
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			if mode == "transport" {
				tick, _ := b.store.tickOf(p.UserID)
				if tick.Status != persona.TickFailed || tick.Stage != "mcp" || !strings.HasPrefix(tick.Error, "mcp: the connection to") {
					t.Errorf("tick %s %q; want failed at stage mcp", tick.Status, tick.Error)
				}
				if c := b.store.actions[1].ErrorClass; c != persona.ClassTransport {
					t.Errorf("error class %q; want transport", c)
				}
				return
			}
			// The model got each result back under its own call id.
			reqs := b.model.requests()
			results := reqs[1].Messages[2].ToolResults
			gotRes := []string{}
			for _, r := range results {
				gotRes = append(gotRes, fmt.Sprintf("%s %v", r.CallID, r.IsError))
			}
			if diff := cmp.Diff([]string{"a false", "b true", "c false"}, gotRes); diff != "" {
				t.Errorf("tool results (-want +got):\n%s", diff)
			}
			tick, _ := b.store.tickOf(p.UserID)
			if tick.Status != persona.TickOK || tick.Errors != 1 {
				t.Errorf("tick %s with %d errors", tick.Status, tick.Errors)
			}
		})
	}
}

// TestUnknownToolNamesAreRecordedAndBucketed: calls of tools the app did not list — empty, made
// up, absurd — each get an error row and the rest of the batch goes on; their rows are valid for
// the store, and the metric puts them all under module "unknown".
func TestUnknownToolNamesAreRecordedAndBucketed(t *testing.T) {
	t.Parallel()
	p := testPersona("persona.uma@mana.test")
	long := strings.Repeat("x", 300) + "\x00.evil"
	turns := []model.Response{
		{ToolCalls: []model.ToolCall{
			call("a", "", `{}`), call("b", "todo_delete", `{"id":1}`), call("c", long, `{}`), call("d", "todo_list", `{}`),
		}},
		{Text: "Some tools were missing."},
	}
	b := setup(t, testConfig(), day(turns, `{"ratings":[{"module":"todo","rating":3}]}`), p)
	res, err := b.r.Tick(context.Background())
	if err != nil || res.RanSuccessfully != 1 {
		t.Fatalf("tick: %+v %v", res, err)
	}
	var got []string
	for _, a := range b.store.actions {
		got = append(got, fmt.Sprintf("%d %s %s %s", a.Seq, a.ToolName, a.Module, a.Result))
		if a.Result == persona.ResultError && !strings.HasPrefix(a.ErrorMessage, "unknown tool ") {
			t.Errorf("row %d error %q", a.Seq, a.ErrorMessage)
		}
	}
	want := []string{"1 unknown unknown error", "2 todo_delete unknown error", "3 " + strings.Repeat("x", 64) + " unknown error", "4 todo.list todo ok"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	if len(b.tools.calls) != 1 {
		t.Errorf("calls made on the app: %q", b.tools.calls)
	}
	srv := httptest.NewServer(b.r.Handler())
	defer srv.Close()
	m := grep(get(t, srv.URL+"/metrics"), "persona_tool_calls_total{")
	if diff := cmp.Diff(`persona_tool_calls_total{module="todo",result="ok"} 1`+"\n"+`persona_tool_calls_total{module="unknown",result="error"} 3`, m); diff != "" {
		t.Errorf("tool call metrics (-want +got):\n%s", diff)
	}
}

// TestMalformedArgumentsAreAnErrorRow: arguments that are not a JSON object — broken JSON as a
// model sent it, the same kept as a JSON string (as the adapters keep it), or an array — never
// reach the app; each call gets an error row saying why, and the model gets the error back.
func TestMalformedArgumentsAreAnErrorRow(t *testing.T) {
	t.Parallel()
	p := testPersona("persona.mo@mana.test")
	turns := []model.Response{
		{ToolCalls: []model.ToolCall{
			call("a", "todo_create", `{"title": "mi`),
			{ID: "b", Name: "todo_create", Input: model.WireArgs([]byte(`{"title": "mi`))},
			call("c", "todo_list", `[1,2]`),
			call("d", "todo_list", `{}`),
		}},
		{Text: "My typing was off today."},
	}
	b := setup(t, testConfig(), day(turns, `{"ratings":[{"module":"todo","rating":3}]}`), p)
	if _, err := b.r.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range b.store.actions {
		got = append(got, fmt.Sprintf("%d %s %s %s", a.Seq, a.ToolName, a.Result, a.ErrorMessage))
	}
	const tail = "; send the arguments as one JSON object"
	want := []string{
		`1 todo.create error malformed tool call: arguments are not a JSON object: "{\"title\": \"mi"` + tail,
		`2 todo.create error malformed tool call: arguments are not a JSON object: "{\"title\": \"mi"` + tail,
		`3 todo.list error malformed tool call: arguments are not a JSON object: "[1,2]"` + tail,
		"4 todo.list ok ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	if len(b.tools.calls) != 1 || !strings.HasPrefix(b.tools.calls[0], "todo.list ") {
		t.Errorf("calls made on the app: %q", b.tools.calls)
	}
	results := b.model.requests()[1].Messages[2].ToolResults
	if len(results) != 4 || !results[0].IsError || !results[2].IsError || results[3].IsError {
		t.Errorf("tool results: %+v", results)
	}
	tick, _ := b.store.tickOf(p.UserID)
	if tick.Errors != 3 || !json.Valid(tick.Transcript) || len(tick.Transcript) == 0 {
		t.Errorf("tick: %d errors, transcript %d bytes valid=%v", tick.Errors, len(tick.Transcript), json.Valid(tick.Transcript))
	}
}

func TestRatingTurnContinuesTheConversationWithoutToolUse(t *testing.T) {
	t.Parallel()
	p := testPersona("persona.cleo@mana.test")
	b := setup(t, testConfig(), day(threeCalls(), goodRating), p)
	if _, err := b.r.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := b.model.requests()
	last, main := reqs[len(reqs)-1], reqs[len(reqs)-2]
	if last.Phase != model.PhaseRating || main.Phase != model.PhaseMain || len(main.Tools) != 4 {
		t.Fatalf("phases %s/%s, tools %d", main.Phase, last.Phase, len(main.Tools))
	}
	// The history has tool calls, which the APIs refuse without the tool definitions: the rating
	// turn keeps them and forbids their use.
	if !cmp.Equal(main.Tools, last.Tools) || last.ToolChoice != model.ToolChoiceNone || last.CanCallTools() || !main.CanCallTools() {
		t.Errorf("rating turn: %d tools, choice %q; main turn choice %q", len(last.Tools), last.ToolChoice, main.ToolChoice)
	}
	// The main turn's messages, its closing answer included, come first, unchanged.
	mainConv := append(main.Messages, model.Message{Role: model.Assistant, Text: "A calm day; the list was quick."})
	if diff := cmp.Diff(mainConv, last.Messages[:len(mainConv)]); diff != "" {
		t.Errorf("rating turn does not continue the conversation (-want +got):\n%s", diff)
	}
	ask := last.Messages[len(last.Messages)-1]
	if ask.Role != model.User || !strings.Contains(ask.Text, "todo, notes") || !strings.Contains(ask.Text, `{"ratings":[`) {
		t.Errorf("rating request: %+v", ask)
	}
	if last.System != p.SystemPrompt || last.Persona.Email != p.Email || last.TickID == "" {
		t.Errorf("rating request lost the persona: %+v", last)
	}
	first := reqs[0].Messages[0].Text
	for _, want := range []string{"Europe/Berlin", "between 3 and 8 tool calls", "todo (60%), notes (40%)", "one or two sentences"} {
		if !strings.Contains(first, want) {
			t.Errorf("user message lacks %q:\n%s", want, first)
		}
	}
}

func TestParseRowsOnUnusableRatings(t *testing.T) {
	t.Parallel()
	for name, reply := range map[string]string{
		"prose":       "I liked it a lot, four stars!",
		"non-numeric": `{"ratings":[{"module":"todo","rating":"great","notes":"x"}]}`,
		"missing":     `{"scores":{"todo":4}}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := testPersona("persona.dora@mana.test")
			b := setup(t, testConfig(), day(threeCalls()[1:], reply), p)
			if _, err := b.r.Tick(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(b.store.feedback) != 1 {
				t.Fatalf("feedback: %+v", b.store.feedback)
			}
			f := b.store.feedback[0]
			if f.Module != runner.ParseModule || f.Rating != 3 || !strings.Contains(f.Notes, "unusable rating reply") {
				t.Errorf("parse row: %+v", f)
			}
		})
	}
}

// TestSummaryIsTheClosingWords: the tick's summary is what the persona says when it closes the
// day; narration along with tool calls is not, and a run cut off before closing has none.
func TestSummaryIsTheClosingWords(t *testing.T) {
	t.Parallel()
	narrated := []model.Response{
		{Text: "Let me check my list.", ToolCalls: []model.ToolCall{call("c1", "todo_list", `{}`)}},
		{Text: "Adding milk.", ToolCalls: []model.ToolCall{call("c2", "todo_create", `{"title":"milk"}`)}},
	}
	for name, tc := range map[string]struct {
		turns    []model.Response
		maxTurns int
		want     string
	}{
		"closing words":    {append(slices.Clone(narrated), model.Response{Text: "  Milk is on the list.  "}), 15, "Milk is on the list."},
		"silent close":     {append(slices.Clone(narrated), model.Response{}), 15, ""},
		"cut off by turns": {narrated, 2, ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.MaxTurns = tc.maxTurns
			p := testPersona("persona.sum@mana.test")
			b := setup(t, cfg, day(tc.turns, `{"ratings":[]}`), p)
			if _, err := b.r.Tick(context.Background()); err != nil {
				t.Fatal(err)
			}
			tick, _ := b.store.tickOf(p.UserID)
			if tick.Summary != tc.want {
				t.Errorf("summary = %q, want %q", tick.Summary, tc.want)
			}
		})
	}
}

func TestMemoryDigestInUserMessage(t *testing.T) {
	t.Parallel()
	p := testPersona("persona.emil@mana.test")
	b := setup(t, testConfig(), day(threeCalls(), goodRating), p)
	yesterday := time.Date(2025, 11, 24, 9, 0, 0, 0, time.UTC)
	b.store.history[p.UserID] = []persona.RunHistory{{
		Tick: persona.Tick{StartedAt: yesterday, Summary: "The todo list lost my item."},
		Actions: []persona.Action{
			{ToolName: "todo.create", Result: persona.ResultOK},
			{ToolName: "todo.create", Result: persona.ResultError, ErrorMessage: "title: is required"},
		},
		Feedback: []persona.Feedback{{Module: "todo", Rating: 2, Notes: "lost my item"}},
	}}
	if _, err := b.r.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	msg := b.model.requests()[0].Messages[0].Text
	for _, want := range []string{"last days", "Mon 24 Nov", "todo.create ×2", "title: is required", "todo 2/5", "lost my item", "The todo list lost my item."} {
		if !strings.Contains(msg, want) {
			t.Errorf("digest lacks %q:\n%s", want, msg)
		}
	}
}

func TestDeadlineRecordsTimeout(t *testing.T) {
	t.Parallel()
	// On a fake clock: the 50 ms deadline passes only once every goroutine of the run waits,
	// so a loaded machine cannot make the first call miss it.
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.RunDeadline = 50 * time.Millisecond
		p := testPersona("persona.finn@mana.test")
		turns := []model.Response{{ToolCalls: []model.ToolCall{call("1", "todo_create", `{}`), call("2", "todo_list", `{}`)}}}
		b := setup(t, cfg, day(turns, goodRating), p)
		b.tools.handle = func(ctx context.Context, name string, _ json.RawMessage) (runner.ToolOutput, error) {
			if name == "todo.list" {
				<-ctx.Done() // the app hangs until the run's deadline
				return runner.ToolOutput{}, ctx.Err()
			}
			return runner.ToolOutput{Text: "ok"}, nil
		}
		res, err := b.r.Tick(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		tick, _ := b.store.tickOf(p.UserID)
		if tick.Status != persona.TickTimeout || !strings.Contains(tick.Error, "deadline") || tick.FinishedAt == nil {
			t.Errorf("tick: %s %q", tick.Status, tick.Error)
		}
		if len(res.Failed) != 1 || res.Failed[0].Persona != p.Email {
			t.Errorf("result: %+v", res)
		}
		// The call finished before the deadline is kept; the one cut off keeps its audit row, which
		// says it was cut off rather than blaming the app.
		var got []string
		for _, a := range b.store.actions {
			got = append(got, fmt.Sprintf("%d %s %s %s", a.Seq, a.ToolName, a.Result, a.ErrorMessage))
		}
		want := []string{"1 todo.create ok ", "2 todo.list error cut off: the run ended during the call (run deadline exceeded); its outcome is unknown"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("actions (-want +got):\n%s", diff)
		}
		if tick.ToolCalls != 2 || tick.Errors != 1 {
			t.Errorf("tick counts %d calls, %d errors", tick.ToolCalls, tick.Errors)
		}
	})
}

func TestTokenBudgetStopsGracefully(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.TokenBudget = 200
	p := testPersona("persona.gia@mana.test")
	loop := func(_ context.Context, req model.Request, n int) (model.Response, error) {
		return model.Response{ToolCalls: []model.ToolCall{call(fmt.Sprint(n), "todo_list", `{}`)}, Usage: model.Usage{InputTokens: 90, OutputTokens: 10}}, nil
	}
	b := setup(t, cfg, loop, p)
	if _, err := b.r.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	tick, _ := b.store.tickOf(p.UserID)
	if tick.Status != persona.TickOK || tick.Turns != 2 || !strings.Contains(tick.Error, "token budget of 200") {
		t.Errorf("tick: %s turns %d error %q", tick.Status, tick.Turns, tick.Error)
	}
	for _, r := range b.model.requests() {
		if r.Phase == model.PhaseRating {
			t.Error("the rating turn must not run past the budget")
		}
	}
}

func TestMaxTurnsAndChunking(t *testing.T) {
	t.Parallel()
	p := testPersona("persona.hal@mana.test")
	many := func(_ context.Context, req model.Request, n int) (model.Response, error) {
		if req.Phase == model.PhaseRating {
			return model.Response{Text: `{"ratings":[{"module":"todo","rating":2}]}`}, nil
		}
		calls := make([]model.ToolCall, 50)
		for i := range calls {
			calls[i] = call(fmt.Sprintf("t%d-%d", n, i), "todo_list", fmt.Sprintf(`{"page":%d}`, i))
		}
		return model.Response{ToolCalls: calls}, nil
	}
	b := setup(t, testConfig(), many, p)
	if _, err := b.r.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(b.store.actions) != 750 {
		t.Fatalf("%d actions, want 15 turns × 50", len(b.store.actions))
	}
	if diff := cmp.Diff([]int{500, 250}, b.store.batches); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
	for i, a := range b.store.actions {
		if a.Seq != i+1 {
			t.Fatalf("row %d has seq %d", i, a.Seq)
		}
	}
	tick, _ := b.store.tickOf(p.UserID)
	if tick.Turns != 16 || !strings.Contains(tick.Error, "maximum of 15 model turns") {
		t.Errorf("tick turns %d error %q", tick.Turns, tick.Error)
	}
}

func TestPersistenceRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	p := testPersona("persona.ida@mana.test")
	b := setup(t, testConfig(), day(threeCalls(), goodRating), p)
	b.store.failActions = 2
	if _, err := b.r.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	tick, _ := b.store.tickOf(p.UserID)
	if len(b.store.actions) != 3 || tick.Status != persona.TickOK {
		t.Errorf("after two transient failures: %d actions, status %s", len(b.store.actions), tick.Status)
	}

	q := testPersona("persona.jon@mana.test")
	b2 := setup(t, testConfig(), day(threeCalls(), goodRating), q)
	b2.store.failActions = 1
	b2.store.failErr = fmt.Errorf("actions[0].result: %w", persona.ErrInvalid)
	if _, err := b2.r.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	tick2, _ := b2.store.tickOf(q.UserID)
	if tick2.Status != persona.TickFailed || !strings.HasPrefix(tick2.Error, "persist: actions 1–3 of 3 not written") {
		t.Errorf("a permanent failure must fail the run: %s %q", tick2.Status, tick2.Error)
	}
}

// heldRunningRecord is a store that takes a run's running record only once the model has been
// asked for that run's first turn, and notes the order of the records it takes.
type heldRunningRecord struct {
	*memStore
	asked chan struct{} // closed at the model's first request
	late  bool          // the running record gave up waiting: the run waited for it
	order []persona.TickStatus
}

func (s *heldRunningRecord) RecordTick(ctx context.Context, t persona.Tick) error {
	if t.Status == persona.TickRunning {
		select {
		case <-s.asked:
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Minute): // not a timing check: a run that waits would never ask
			s.memStore.mu.Lock()
			s.late = true
			s.memStore.mu.Unlock()
		}
	}
	s.memStore.mu.Lock()
	s.order = append(s.order, t.Status)
	s.memStore.mu.Unlock()
	return s.memStore.RecordTick(ctx, t)
}

// TestRunDoesNotWaitForItsRunningRecord: the running record is written while the run starts
// (a store may commit it with other writes, and a run that waited for that commit started a batch
// late, issue 15), and the final record is written only after it, so it is never overwritten by
// it.
func TestRunDoesNotWaitForItsRunningRecord(t *testing.T) {
	t.Parallel()
	p := testPersona("persona.liv@mana.test")
	st := &heldRunningRecord{memStore: newMemStore(p), asked: make(chan struct{})}
	var once sync.Once
	answer := day(threeCalls(), goodRating)
	m := &scripted{answer: func(ctx context.Context, req model.Request, n int) (model.Response, error) {
		once.Do(func() { close(st.asked) })
		return answer(ctx, req, n)
	}}
	tools := demoTools()
	tools.strategy = &mana.Strategy{Auth: &fakeAuth{secret: persona.DevSeedSecret}, SeedSecret: persona.DevSeedSecret}
	r, err := runner.New(testConfig(), runner.Deps{Provider: m, Persistence: st, Targets: tools})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Tick(context.Background())
	if err != nil || res.RanSuccessfully != 1 {
		t.Fatalf("tick: %+v, %v", res, err)
	}
	st.memStore.mu.Lock()
	late, order, actions := st.late, slices.Clone(st.order), len(st.actions)
	st.memStore.mu.Unlock()
	if late {
		t.Error("the run waited for its running record before asking the model")
	}
	if want := []persona.TickStatus{persona.TickRunning, persona.TickOK}; !slices.Equal(order, want) {
		t.Errorf("records taken in the order %v, want %v", order, want)
	}
	if tk, _ := st.tickOf(p.UserID); tk.Status != persona.TickOK || actions != 3 {
		t.Errorf("stored: %s with %d actions; want ok with 3", tk.Status, actions)
	}
}

// TestFailedPersistenceFailsTheRun: a run whose rows or record could not be written is a failed
// run everywhere it is reported — tick result, run event, /metrics — not only in its record.
func TestFailedPersistenceFailsTheRun(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		fail       func(*memStore)
		wantErr    string
		wantRecord bool
	}{
		{"actions", func(s *memStore) { s.failActions = 1 }, "persist: actions 1–3 of 3 not written: actions[0].result: invalid", true},
		{"tick record", func(s *memStore) { s.failTicks = 2 } /* the running record and the final one */, "persist: tick record not written: actions[0].result: invalid", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := testPersona("persona.pia@mana.test")
			b := setup(t, testConfig(), day(threeCalls(), goodRating), p)
			b.store.failErr = fmt.Errorf("actions[0].result: %w", persona.ErrInvalid)
			tc.fail(b.store)
			res, err := b.r.Tick(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if res.RanSuccessfully != 0 || len(res.Failed) != 1 || !strings.HasPrefix(res.Failed[0].Error, tc.wantErr) {
				t.Errorf("result: %+v, want one failure starting %q", res, tc.wantErr)
			}
			fin := b.eventsOf(runner.RunFinished)
			if len(fin) != 1 || fin[0].Status != persona.TickFailed || !strings.HasPrefix(fin[0].Error, tc.wantErr) {
				t.Errorf("run finished events: %+v", fin)
			}
			tick, recorded := b.store.tickOf(p.UserID)
			if recorded != tc.wantRecord || (recorded && (tick.Status != persona.TickFailed || !strings.HasPrefix(tick.Error, tc.wantErr))) {
				t.Errorf("tick record (%v): %s %q", recorded, tick.Status, tick.Error)
			}
			srv := httptest.NewServer(b.r.Handler())
			defer srv.Close()
			m := get(t, srv.URL+"/metrics")
			for _, want := range []string{`persona_ticks_total{result="failed"} 1`, `persona_ticks_total{result="ok"} 0`, `persona_errors_total{stage="persist"} 1`} {
				if !hasLine(m, want) {
					t.Errorf("metrics lack %s:\n%s", want, grep(m, "persona_"))
				}
			}
		})
	}
}

func TestLoginFailureFailsTheRun(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	p := testPersona("persona.kai@mana.test")
	b := setup(t, cfg, day(threeCalls(), goodRating), p)
	b.auth.mu.Lock()
	b.auth.secret = "another-secret" // the runner derives a password the auth API does not accept
	b.auth.mu.Unlock()
	res, err := b.r.Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tick, _ := b.store.tickOf(p.UserID)
	if tick.Status != persona.TickFailed || !strings.HasPrefix(tick.Error, "login:") {
		t.Errorf("tick %s %q", tick.Status, tick.Error)
	}
	if len(res.Failed) != 1 || !strings.Contains(res.Failed[0].Error, "invalid credentials") {
		t.Errorf("result %+v", res)
	}
}

// TestModelFailureFailsTheRunWithOnePrefix: a model error ends the run as failed, and the error
// says its stage once ("model: turn 1: …", not "model: model turn 1: …").
func TestModelFailureFailsTheRunWithOnePrefix(t *testing.T) {
	t.Parallel()
	p := testPersona("persona.nia@mana.test")
	fail := func(context.Context, model.Request, int) (model.Response, error) {
		return model.Response{}, &model.Error{Status: 400, Message: "400 invalid_request_error: bad"}
	}
	b := setup(t, testConfig(), fail, p)
	res, err := b.r.Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const want = "model: turn 1: 400 invalid_request_error: bad"
	tick, _ := b.store.tickOf(p.UserID)
	if tick.Status != persona.TickFailed || tick.Error != want || len(res.Failed) != 1 || res.Failed[0].Error != want {
		t.Errorf("tick %s %q, result %+v; want %q", tick.Status, tick.Error, res, want)
	}
}

func TestLongRunRefreshesTheAccessToken(t *testing.T) {
	t.Parallel()
	p := testPersona("persona.max@mana.test")
	b := setup(t, testConfig(), day(threeCalls(), goodRating), p)
	b.tools.strategy.RefreshAfter = time.Nanosecond // every call counts as long after the login
	if _, err := b.r.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b.auth.refreshes == 0 {
		t.Fatal("the access token was never refreshed")
	}
	// Calls made after a refresh carry the new token on the same MCP session.
	last := b.tools.calls[len(b.tools.calls)-1]
	if !strings.Contains(last, "jwt-refreshed-") {
		t.Errorf("last tool call made with %q", last)
	}
}
