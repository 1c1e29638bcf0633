package sim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/model/sim"
)

func TestIdentity(t *testing.T) {
	t.Parallel()
	s := sim.New(1)
	if s.Name() != "sim" || s.Model() != "persona-sim-v1" {
		t.Errorf("Name, Model = %q, %q; want sim, persona-sim-v1", s.Name(), s.Model())
	}
	if got := sim.New(1, sim.WithModel("sim-x")).Model(); got != "sim-x" {
		t.Errorf("WithModel: Model() = %q", got)
	}
	resp, err := s.Complete(context.Background(), model.Request{
		Messages: []model.Message{{Role: model.User, Text: userPrompt}},
		Tools:    newFakeApp(t, demoTools()).modelTools(), Phase: model.PhaseMain, Persona: student, TickID: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != "persona-sim-v1" || resp.Usage != (model.Usage{}) {
		t.Errorf("response model %q usage %+v; want persona-sim-v1 and zero usage", resp.Model, resp.Usage)
	}
	if !strings.HasPrefix(resp.Text, sim.Label) {
		t.Errorf("text %q does not start with %s", resp.Text, sim.Label)
	}
}

func TestCancelledContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := sim.New(1).Complete(ctx, model.Request{Phase: model.PhaseMain})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// A run is a function of seed, persona and conversation (its opening message stands for the day); other seeds play differently.
func TestDeterministic(t *testing.T) {
	t.Parallel()
	for _, p := range personas {
		a := playRun(t, sim.New(42), p, "tick-1", demoTools())
		b := playRun(t, sim.New(42), p, "tick-1", demoTools())
		if diff := cmp.Diff(a, b); diff != "" {
			t.Errorf("%s: same seed, different runs (-first +second):\n%s", p.Email, diff)
		}
		c := playRun(t, sim.New(43), p, "tick-1", demoTools())
		if cmp.Equal(a, c) {
			t.Errorf("%s: seeds 42 and 43 played the same run", p.Email)
		}
		d := playRun(t, sim.New(42), p, "tick-2", demoTools())
		if cmp.Equal(a, d) {
			t.Errorf("%s: ticks 1 and 2 played the same run", p.Email)
		}
	}
}

// Complete is safe for concurrent use and concurrency does not change any run.
func TestConcurrentRunsMatchSequential(t *testing.T) {
	t.Parallel()
	s := sim.New(7)
	want := map[string]run{}
	for i := range 12 {
		p := personas[i%len(personas)]
		tick := fmt.Sprintf("tick-%d", i)
		want[tick] = playRun(t, s, p, tick, demoTools())
	}
	var mu sync.Mutex
	got := map[string]run{}
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			p := personas[i%len(personas)]
			tick := fmt.Sprintf("tick-%d", i)
			r := playRun(t, s, p, tick, demoTools())
			mu.Lock()
			got[tick] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("concurrent runs differ from sequential ones (-want +got):\n%s", diff)
	}
}

func TestRunShape(t *testing.T) {
	t.Parallel()
	for seed := range int64(30) {
		for _, p := range personas {
			r := playRun(t, sim.New(seed), p, "tick", demoTools())
			calls := r.calls()
			if n := len(calls); n < 3 || n > 8 {
				t.Errorf("seed %d %s: %d calls, want 3–8", seed, p.Email, n)
			}
			if !strings.HasPrefix(r.Summary, sim.Label) || strings.Contains(r.Summary, "\n") {
				t.Errorf("seed %d %s: summary %q is not one line starting with %s", seed, p.Email, r.Summary, sim.Label)
			}
			for _, c := range calls {
				if c.narration == "" {
					t.Errorf("seed %d %s: call %s has no [simulated] narration", seed, p.Email, c.call.ID)
				}
			}
			// Every module used is rated once, and only those.
			used := map[string]bool{}
			for _, c := range calls {
				m, _, _ := strings.Cut(c.call.Name, "_")
				used[m] = true
			}
			rated := map[string]bool{}
			for _, rt := range parseRatings(t, r.Ratings) {
				if rated[rt.Module] || !used[rt.Module] {
					t.Errorf("seed %d %s: rating for %q unexpected (used %v)", seed, p.Email, rt.Module, used)
				}
				rated[rt.Module] = true
				if rt.Rating < 1 || rt.Rating > 5 || !strings.HasPrefix(rt.Notes, sim.Label) || utf8.RuneCountInString(rt.Notes) > 1000 {
					t.Errorf("seed %d %s: bad rating %+v", seed, p.Email, rt)
				}
			}
			if len(rated) != len(used) {
				t.Errorf("seed %d %s: rated %v, used %v", seed, p.Email, rated, used)
			}
		}
	}
}

// Personas other than the newbie send only valid input and never invent ids: every call passes
// the app's schema validation and finds the records it names.
func TestValidPersonasSucceed(t *testing.T) {
	t.Parallel()
	for seed := range int64(60) {
		for _, p := range []model.Persona{student, runner, power} {
			r := playRun(t, sim.New(seed), p, "tick", demoTools())
			for _, c := range r.calls() {
				if c.result.IsError {
					t.Errorf("seed %d %s: %s(%s) failed: %s", seed, p.Email, c.call.Name, c.call.Input, c.result.Content)
				}
			}
		}
	}
}

// The persona completes the todo it created, logs the habit it made, updates the note it wrote.
func TestChainingReusesReturnedIDs(t *testing.T) {
	t.Parallel()
	followUps := map[string]int{}
	for seed := range int64(60) {
		for _, p := range []model.Persona{student, runner, power} {
			r := playRun(t, sim.New(seed), p, "tick", demoTools())
			returned := map[string]string{} // id → tool that returned it
			for _, c := range r.calls() {
				var args map[string]any
				if err := json.Unmarshal(c.call.Input, &args); err != nil {
					t.Fatal(err)
				}
				for _, k := range []string{"id", "habitId"} {
					if id, ok := args[k].(string); ok {
						from, seen := returned[id]
						if !seen {
							t.Errorf("seed %d %s: %s used %s=%s, which no earlier result returned", seed, p.Email, c.call.Name, k, id)
						}
						followUps[from+"→"+c.call.Name]++
					}
				}
				if !c.result.IsError {
					for _, id := range idsIn(c.result.Content) {
						if _, ok := returned[id]; !ok {
							returned[id] = c.call.Name
						}
					}
				}
			}
		}
	}
	for _, chain := range []string{"todo_create→todo_complete", "habits_create→habits_log", "notes_create→notes_update"} {
		if followUps[chain] == 0 {
			t.Errorf("no run chained %s; chains seen: %v", chain, followUps)
		}
	}
}

func idsIn(content string) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "id" || strings.HasSuffix(k, "Id")) {
					out = append(out, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var v any
	_ = json.Unmarshal([]byte(content), &v)
	walk(v)
	return out
}

// The overwhelmed newbie sometimes sends invalid input, which the app rejects, and sometimes
// strays into a module outside its mix; its other calls are valid.
func TestNewbieSendsInvalidInput(t *testing.T) {
	t.Parallel()
	invalid, offMix, total := 0, 0, 0
	for seed := range int64(40) {
		r := playRun(t, sim.New(seed), newbie, "tick", demoTools())
		for _, c := range r.calls() {
			total++
			m, _, _ := strings.Cut(c.call.Name, "_")
			if newbie.ModuleMix[m] == 0 {
				offMix++
			}
			rejected := c.result.IsError && strings.Contains(c.result.Content, "invalid input")
			if c.deliberatelyInvalid() {
				invalid++
				if !rejected {
					t.Errorf("seed %d: deliberately invalid %s(%s) passed validation: %s", seed, c.call.Name, c.call.Input, c.narration)
				}
			} else if rejected {
				t.Errorf("seed %d: %s(%s) was rejected but not meant to be: %s", seed, c.call.Name, c.call.Input, c.result.Content)
			}
		}
	}
	if invalid == 0 || offMix == 0 {
		t.Errorf("newbie over 40 runs (%d calls): %d invalid, %d outside its mix; want some of each", total, invalid, offMix)
	}
	if invalid > total/2 {
		t.Errorf("newbie sent %d invalid calls of %d; a newbie still mostly succeeds", invalid, total)
	}
}

// The power user probes boundaries with values that are still valid.
func TestPowerUserProbesBoundaries(t *testing.T) {
	t.Parallel()
	tools := demoTools()
	schemaOf := map[string]map[string]any{}
	for _, ft := range tools {
		var s map[string]any
		if err := json.Unmarshal([]byte(ft.schema), &s); err != nil {
			t.Fatal(err)
		}
		schemaOf[ft.name] = s["properties"].(map[string]any)
	}
	seen := map[string]int{}
	for seed := range int64(40) {
		r := playRun(t, sim.New(seed), power, "tick", tools)
		for _, c := range r.calls() {
			if c.result.IsError {
				t.Errorf("seed %d: boundary value rejected: %s(%s): %s", seed, c.call.Name, c.call.Input, c.result.Content)
			}
			var args map[string]any
			_ = json.Unmarshal(c.call.Input, &args)
			for k, v := range args {
				prop, _ := schemaOf[c.call.Name][k].(map[string]any)
				switch v := v.(type) {
				case string:
					if maxLen, ok := prop["maxLength"].(float64); ok && utf8.RuneCountInString(v) == int(maxLen) {
						seen["max length"]++
					}
					if strings.Contains(v, "東京") {
						seen["non-ASCII"]++
					}
					if v == "" {
						seen["empty optional"]++
					}
					if strings.HasSuffix(v, "-02-29") || strings.HasSuffix(v, "-12-31") {
						seen["date edge"]++
					}
				case float64:
					if v == prop["minimum"] || v == prop["maximum"] {
						seen["number edge"]++
					}
				}
			}
		}
	}
	for _, probe := range []string{"max length", "non-ASCII", "empty optional", "date edge", "number edge"} {
		if seen[probe] == 0 {
			t.Errorf("power user never probed %s over 40 runs (saw %v)", probe, seen)
		}
	}
}

// A module whose calls all failed is rated low, with notes that say so; a module that worked is
// rated well.
func TestRatingsReflectErrors(t *testing.T) {
	t.Parallel()
	tools := append(demoTools(), brokenTool)
	p := persona("persona.eve@mana.test", "parent", map[string]float64{"broken": 0.5, "todo": 0.5})
	checked := 0
	for seed := range int64(20) {
		r := playRun(t, sim.New(seed), p, "tick", tools)
		stats := map[string][2]int{} // module → calls, failures
		for _, c := range r.calls() {
			m, _, _ := strings.Cut(c.call.Name, "_")
			s := stats[m]
			s[0]++
			if c.result.IsError {
				s[1]++
			}
			stats[m] = s
		}
		for _, rt := range parseRatings(t, r.Ratings) {
			s := stats[rt.Module]
			switch {
			case s[1] == s[0]:
				checked++
				want := fmt.Sprintf("%d of %d calls failed", s[0], s[0])
				if rt.Rating > 2 || !strings.Contains(rt.Notes, want) || !strings.Contains(rt.Notes, "database is locked") {
					t.Errorf("seed %d: all %d calls of %s failed, rating %d notes %q; want ≤ 2 and notes with %q and the error", seed, s[0], rt.Module, rt.Rating, rt.Notes, want)
				}
			case s[1] == 0:
				if rt.Rating < 3 || !strings.Contains(rt.Notes, "calls worked") {
					t.Errorf("seed %d: %s worked every time yet rated %d: %q", seed, rt.Module, rt.Rating, rt.Notes)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no run used the broken module; the test proves nothing")
	}
}

// The rating turn answers from the conversation it is given, including errors reported by an
// app the simulator has never seen, and with nothing used it rates nothing.
func TestRatingFromConversation(t *testing.T) {
	t.Parallel()
	s := sim.New(1)
	msgs := []model.Message{
		{Role: model.User, Text: userPrompt},
		{Role: model.Assistant, ToolCalls: []model.ToolCall{
			{ID: "a", Name: "todo_create", Input: json.RawMessage(`{"title":"x"}`)},
			{ID: "b", Name: "todo_create", Input: json.RawMessage(`{"title":"y"}`)},
			{ID: "c", Name: "todo_list", Input: json.RawMessage(`{}`)},
			{ID: "d", Name: "notes_search", Input: json.RawMessage(`{"query":"z"}`)},
			{ID: "e", Name: "mood_log", Input: json.RawMessage(`{"rating":3}`)},
			{ID: "f", Name: "mood_recent", Input: json.RawMessage(`{"days":7}`)},
		}},
		{Role: model.User, ToolResults: []model.ToolResult{
			{CallID: "a", Content: `{"error":"title: too long (max 200)"}`, IsError: true},
			{CallID: "b", Content: `{"todo":{"id":"1"}}`},
			{CallID: "c", Content: `{"todos":[{"id":"1"}]}`},
			{CallID: "d", Content: `{"notes":[]}`},
			{CallID: "e", Content: `{"entry":{"id":"m1","rating":3}}`},
			{CallID: "f", Content: `{"since":"2026-02-24","days":[],"entries":[]}`},
		}},
		{Role: model.User, Text: "Rate the modules you used."},
	}
	resp, err := s.Complete(context.Background(), model.Request{Messages: msgs, Phase: model.PhaseRating, Persona: student, TickID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]sim.Rating{}
	for _, r := range parseRatings(t, resp.Text) {
		got[r.Module] = r
	}
	if todo := got["todo"]; todo.Rating != 4 || !strings.Contains(todo.Notes, "1 of 3 calls failed: todo_create rejected my input (title: too long (max 200))") {
		t.Errorf("todo rating = %+v; want 4 with the rejected title in the notes", todo)
	}
	// An empty search in a fresh space is noted, not held against the module; an empty list
	// right after adding something is.
	if notes := got["notes"]; notes.Rating < 4 || !strings.Contains(notes.Notes, "notes_search had nothing yet") {
		t.Errorf("notes rating = %+v; want ≥ 4 and the empty search noted", notes)
	}
	if mood := got["mood"]; mood.Rating > 4 || !strings.Contains(mood.Notes, "mood_recent came back empty although I had just added something") {
		t.Errorf("mood rating = %+v; want ≤ 4 and the surprising empty list in the notes", mood)
	}
	if len(got) != 3 {
		t.Errorf("rated %d modules, want 3: %v", len(got), got)
	}

	resp, err = s.Complete(context.Background(), model.Request{Messages: msgs[:1], Phase: model.PhaseRating, Persona: student, TickID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text != `{"ratings":[]}` {
		t.Errorf("rating with no calls = %s, want an empty list", resp.Text)
	}
}

// Dates follow the day the runner names in the first user message.
func TestDatesFollowTheConversation(t *testing.T) {
	t.Parallel()
	for seed := range int64(40) {
		r := playRun(t, sim.New(seed), student, "tick", demoTools())
		for _, c := range r.calls() {
			var args map[string]any
			_ = json.Unmarshal(c.call.Input, &args)
			for _, k := range []string{"dueDate", "date"} {
				if d, ok := args[k].(string); ok && (d < "2026-03-02" || d > "2026-03-16") {
					t.Errorf("seed %d: %s %s=%s, want within two weeks of 2026-03-02", seed, c.call.Name, k, d)
				}
			}
			if at, ok := args["at"].(string); ok && !strings.HasPrefix(at, "2026-03-02T") && !strings.HasSuffix(at, "+01:00") {
				t.Errorf("seed %d: %s at=%s, want 2026-03-02 in Europe/Berlin", seed, c.call.Name, at)
			}
		}
	}
}

// With no tools the persona closes at once, saying why.
func TestNoTools(t *testing.T) {
	t.Parallel()
	resp, err := sim.New(1).Complete(context.Background(), model.Request{
		Messages: []model.Message{{Role: model.User, Text: userPrompt}}, Phase: model.PhaseMain, Persona: student, TickID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.ToolCalls) != 0 || resp.StopReason != model.StopEnd || !strings.HasPrefix(resp.Text, sim.Label) {
		t.Errorf("response = %+v; want a [simulated] closing line", resp)
	}
}

// The runner opens with a long-form date and may quote older dates in the memory digest; the
// first date written is today.
func TestDateFromRunnerMessage(t *testing.T) {
	t.Parallel()
	msg := "Today is Monday, 2 March 2026, 15:04 (Europe/Berlin).\nYou can use your app through the tools you have.\n" +
		"What you did here on your last days (newest first):\n- Sun 1 Mar: todo.create ×2; failed: todo.create (dueDate 2099-12-31 rejected)\n"
	tools := []model.Tool{{Name: "todo_create", InputSchema: json.RawMessage(`{"type":"object","required":["dueDate"],"properties":{"dueDate":{"type":"string","format":"date"}}}`)}}
	for seed := range int64(30) {
		resp, err := sim.New(seed).Complete(context.Background(), model.Request{Messages: []model.Message{{Role: model.User, Text: msg}},
			Tools: tools, Phase: model.PhaseMain, Persona: student, TickID: "t"})
		if err != nil {
			t.Fatal(err)
		}
		var args struct{ DueDate string }
		_ = json.Unmarshal(resp.ToolCalls[0].Input, &args)
		if args.DueDate < "2026-03-02" || args.DueDate > "2026-03-16" {
			t.Errorf("seed %d: dueDate %s, want within two weeks of 2026-03-02", seed, args.DueDate)
		}
	}
}

// Ids are found even in a result the runner cut short, which no longer parses as JSON.
func TestChainingFromCutResult(t *testing.T) {
	t.Parallel()
	tools := []model.Tool{{Name: "todo_complete", InputSchema: json.RawMessage(`{"type":"object","required":["id"],"properties":{"id":{"type":"string"}}}`)}}
	msgs := []model.Message{
		{Role: model.User, Text: userPrompt},
		{Role: model.Assistant, ToolCalls: []model.ToolCall{{ID: "c1", Name: "todo_list", Input: json.RawMessage(`{}`)}}},
		{Role: model.User, ToolResults: []model.ToolResult{{CallID: "c1",
			Content: `{"todos":[{"id":"todo-1","title":"Buy milk"},{"id":"todo-2","title":"Call Sam"},{"id":"todo-3","tit …(cut)`}}},
	}
	for seed := range int64(20) {
		resp, err := sim.New(seed).Complete(context.Background(), model.Request{Messages: msgs, Tools: tools,
			Phase: model.PhaseMain, Persona: student, TickID: "t"})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range resp.ToolCalls {
			var args struct{ ID string }
			_ = json.Unmarshal(tc.Input, &args)
			if !strings.HasPrefix(args.ID, "todo-") {
				t.Errorf("seed %d: completed %q, want an id from the cut list", seed, args.ID)
			}
		}
	}
}

func TestWithCalls(t *testing.T) {
	t.Parallel()
	for seed := range int64(10) {
		r := playRun(t, sim.New(seed, sim.WithCalls(1, 2)), student, "tick", demoTools())
		if n := len(r.calls()); n < 1 || n > 2 {
			t.Errorf("seed %d: %d calls, want 1–2", seed, n)
		}
	}
}

// TestModuleNamesWithUnderscores: the runner maps habit_tracker.log to habit_tracker_log, so the
// module is not the text before the first "_"; the simulator takes it from the persona's module
// mix and rates habit_tracker, the module the runner records, not "habit".
func TestModuleNamesWithUnderscores(t *testing.T) {
	t.Parallel()
	tools := []fakeTool{
		{"habit_tracker_log", `{"type":"object","required":["name"],"properties":{"name":{"type":"string","minLength":1,"maxLength":80}}}`,
			func(a *fakeApp, args map[string]any) (any, error) {
				return map[string]any{"entry": a.create("entry", args)}, nil
			}},
		{"habit_tracker_list", `{"type":"object","properties":{}}`,
			func(a *fakeApp, _ map[string]any) (any, error) {
				return map[string]any{"entries": a.list("entry")}, nil
			}},
		{"todo_list", `{"type":"object","properties":{}}`,
			func(a *fakeApp, _ map[string]any) (any, error) {
				return map[string]any{"todos": a.list("todo")}, nil
			}},
	}
	p := persona("persona.hugo@mana.test", "marathon-runner", map[string]float64{"habit_tracker": 1})
	run := playRun(t, sim.New(7), p, "tick-1", tools)
	if len(run.calls()) == 0 {
		t.Fatal("no calls made")
	}
	for _, c := range run.calls() {
		if !strings.HasPrefix(c.call.Name, "habit_tracker_") {
			t.Errorf("call of %s, outside the persona's only module", c.call.Name)
		}
	}
	var modules []string
	for _, r := range parseRatings(t, run.Ratings) {
		modules = append(modules, r.Module)
	}
	if diff := cmp.Diff([]string{"habit_tracker"}, modules); diff != "" {
		t.Errorf("rated modules (-want +got):\n%s", diff)
	}
}
