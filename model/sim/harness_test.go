package sim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/google/uuid"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/model/sim"
)

// fakeTool is a tool of the in-test app: its model-facing description and its behaviour.
type fakeTool struct {
	name   string
	schema string
	run    func(a *fakeApp, args map[string]any) (any, error)
}

// fakeApp is a tiny todo/habit/notes/mood app that validates input against each tool's schema
// with a real validator and answers the way an MCP tool would: JSON text, isError on failure.
// One fakeApp serves one conversation, so ids are deterministic.
type fakeApp struct {
	tools    []fakeTool
	resolved map[string]*jsonschema.Resolved
	next     int
	records  map[string]map[string]any // id → record
}

func newFakeApp(t testing.TB, tools []fakeTool) *fakeApp {
	t.Helper()
	a := &fakeApp{tools: tools, resolved: map[string]*jsonschema.Resolved{}, records: map[string]map[string]any{}}
	for _, ft := range tools {
		a.resolved[ft.name] = mustResolve(t, ft.schema)
	}
	return a
}

func mustResolve(t testing.TB, schema string) *jsonschema.Resolved {
	t.Helper()
	var s jsonschema.Schema
	if err := json.Unmarshal([]byte(schema), &s); err != nil {
		t.Fatalf("parse schema %s: %v", schema, err)
	}
	rs, err := s.Resolve(nil)
	if err != nil {
		t.Fatalf("resolve schema %s: %v", schema, err)
	}
	return rs
}

func (a *fakeApp) modelTools() []model.Tool {
	out := make([]model.Tool, len(a.tools))
	for i, ft := range a.tools {
		out[i] = model.Tool{Name: ft.name, Description: "test tool " + ft.name, InputSchema: json.RawMessage(ft.schema)}
	}
	return out
}

func (a *fakeApp) newID() string {
	a.next++
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", a.next)
}

func (a *fakeApp) call(tc model.ToolCall) model.ToolResult {
	res := model.ToolResult{CallID: tc.ID}
	fail := func(msg string) model.ToolResult {
		b, _ := json.Marshal(map[string]string{"error": msg})
		res.Content, res.IsError = string(b), true
		return res
	}
	var ft *fakeTool
	for i := range a.tools {
		if a.tools[i].name == tc.Name {
			ft = &a.tools[i]
		}
	}
	if ft == nil {
		return fail("unknown tool " + tc.Name)
	}
	var args map[string]any
	if err := json.Unmarshal(tc.Input, &args); err != nil {
		return fail("invalid JSON arguments: " + err.Error())
	}
	if err := a.resolved[tc.Name].Validate(args); err != nil {
		return fail("invalid input: " + err.Error())
	}
	out, err := ft.run(a, args)
	if err != nil {
		return fail(err.Error())
	}
	b, _ := json.Marshal(out)
	res.Content = string(b)
	return res
}

func (a *fakeApp) create(kind string, args map[string]any) map[string]any {
	rec := map[string]any{"id": a.newID(), "kind": kind}
	for k, v := range args {
		rec[k] = v
	}
	a.records[rec["id"].(string)] = rec
	return rec
}

func (a *fakeApp) find(kind string, id any) (map[string]any, error) {
	s, _ := id.(string)
	rec, ok := a.records[s]
	if !ok || rec["kind"] != kind {
		return nil, fmt.Errorf("%s %v not found", kind, id)
	}
	return rec, nil
}

func (a *fakeApp) list(kind string) []any {
	out := []any{}
	for i := 1; i <= a.next; i++ {
		if rec := a.records[fmt.Sprintf("00000000-0000-4000-8000-%012d", i)]; rec != nil && rec["kind"] == kind {
			out = append(out, rec)
		}
	}
	return out
}

// demoTools is the in-test app's tool set: ids to chain, enums, lengths, formats, arrays.
func demoTools() []fakeTool {
	return []fakeTool{
		{"todo_create", `{"type":"object","required":["title"],"additionalProperties":false,"properties":{
			"title":{"type":"string","minLength":1,"maxLength":200},
			"notes":{"type":"string","maxLength":2000},
			"dueDate":{"type":"string","format":"date"},
			"priority":{"type":"string","enum":["low","normal","high"],"default":"normal"}}}`,
			func(a *fakeApp, args map[string]any) (any, error) {
				return map[string]any{"todo": a.create("todo", args)}, nil
			}},
		{"todo_list", `{"type":"object","properties":{
			"status":{"type":"string","enum":["open","done","all"],"default":"open"},
			"limit":{"type":"integer","minimum":1,"maximum":100,"default":50}}}`,
			func(a *fakeApp, _ map[string]any) (any, error) {
				return map[string]any{"todos": a.list("todo")}, nil
			}},
		{"todo_complete", `{"type":"object","required":["id"],"properties":{"id":{"type":"string","format":"uuid"}}}`,
			func(a *fakeApp, args map[string]any) (any, error) {
				rec, err := a.find("todo", args["id"])
				if err != nil {
					return nil, err
				}
				rec["done"] = true
				return map[string]any{"todo": rec}, nil
			}},
		{"habits_create", `{"type":"object","required":["name"],"properties":{
			"name":{"type":"string","minLength":1,"maxLength":80},
			"frequency":{"type":"string","enum":["daily","weekly"]}}}`,
			func(a *fakeApp, args map[string]any) (any, error) {
				return map[string]any{"habit": a.create("habit", args)}, nil
			}},
		{"habits_log", `{"type":"object","required":["habitId"],"properties":{
			"habitId":{"type":"string","format":"uuid"},
			"date":{"type":"string","format":"date"},
			"note":{"type":"string","maxLength":280}}}`,
			func(a *fakeApp, args map[string]any) (any, error) {
				if _, err := a.find("habit", args["habitId"]); err != nil {
					return nil, err
				}
				return map[string]any{"log": a.create("log", args)}, nil
			}},
		{"habits_list", `{"type":"object","properties":{}}`,
			func(a *fakeApp, _ map[string]any) (any, error) {
				return map[string]any{"habits": a.list("habit")}, nil
			}},
		{"notes_create", `{"type":"object","required":["title"],"properties":{
			"title":{"type":"string","minLength":1,"maxLength":120},
			"content":{"type":"string","maxLength":5000},
			"tags":{"type":"array","items":{"type":"string","minLength":1,"maxLength":30},"maxItems":5,"uniqueItems":true}}}`,
			func(a *fakeApp, args map[string]any) (any, error) {
				return map[string]any{"note": a.create("note", args)}, nil
			}},
		{"notes_update", `{"type":"object","required":["id"],"properties":{
			"id":{"type":"string","format":"uuid"},
			"title":{"type":"string","minLength":1,"maxLength":120},
			"content":{"type":"string","maxLength":5000}}}`,
			func(a *fakeApp, args map[string]any) (any, error) {
				rec, err := a.find("note", args["id"])
				if err != nil {
					return nil, err
				}
				for k, v := range args {
					rec[k] = v
				}
				return map[string]any{"note": rec}, nil
			}},
		{"notes_search", `{"type":"object","required":["query"],"properties":{"query":{"type":"string","minLength":1,"maxLength":100}}}`,
			func(a *fakeApp, _ map[string]any) (any, error) {
				return map[string]any{"notes": a.list("note")}, nil
			}},
		{"mood_log", `{"type":"object","required":["rating"],"properties":{
			"rating":{"type":"integer","minimum":1,"maximum":5},
			"note":{"type":"string","maxLength":500},
			"at":{"type":"string","format":"date-time"}}}`,
			func(a *fakeApp, args map[string]any) (any, error) {
				return map[string]any{"entry": a.create("mood", args)}, nil
			}},
	}
}

// brokenTool always fails, the way a module with a server bug would.
var brokenTool = fakeTool{"broken_do", `{"type":"object","properties":{"what":{"type":"string","maxLength":50}}}`,
	func(*fakeApp, map[string]any) (any, error) {
		return nil, fmt.Errorf("internal error: database is locked")
	}}

// run is one whole simulated persona run: the main turn with tools, then the rating turn.
type run struct {
	Messages []model.Message
	Summary  string
	Ratings  string
}

const userPrompt = "Today is 2026-03-02 (Monday) in your timezone. Use the app through its tools for a short day: 3–8 tool calls. Close with 1–2 sentences."

func playRun(t testing.TB, p model.Provider, persona model.Persona, tick string, tools []fakeTool) run {
	t.Helper()
	ctx := context.Background()
	app := newFakeApp(t, tools)
	// The run label stands for what makes one day differ from another in the opening message.
	msgs := []model.Message{{Role: model.User, Text: userPrompt + "\n(" + tick + ")"}}
	var out run
	for turn := 0; ; turn++ {
		if turn == 15 {
			t.Fatalf("%s: no closing summary after 15 turns", persona.Email)
		}
		resp, err := p.Complete(ctx, model.Request{System: "You are a persona.", Messages: msgs, Tools: app.modelTools(),
			Phase: model.PhaseMain, Persona: persona, TickID: tick})
		if err != nil {
			t.Fatalf("complete: %v", err)
		}
		msgs = append(msgs, model.Message{Role: model.Assistant, Text: resp.Text, ToolCalls: resp.ToolCalls})
		if len(resp.ToolCalls) == 0 {
			if resp.StopReason != model.StopEnd {
				t.Fatalf("closing turn stop reason = %q, want %q", resp.StopReason, model.StopEnd)
			}
			out.Summary = resp.Text
			break
		}
		if resp.StopReason != model.StopToolUse {
			t.Fatalf("tool turn stop reason = %q, want %q", resp.StopReason, model.StopToolUse)
		}
		var results []model.ToolResult
		for _, tc := range resp.ToolCalls {
			results = append(results, app.call(tc))
		}
		msgs = append(msgs, model.Message{Role: model.User, ToolResults: results})
	}
	msgs = append(msgs, model.Message{Role: model.User, Text: `Rate each module you used: {"ratings":[{"module","rating","notes"}]}`})
	resp, err := p.Complete(ctx, model.Request{System: "You are a persona.", Messages: msgs, Phase: model.PhaseRating, Persona: persona, TickID: tick})
	if err != nil {
		t.Fatalf("complete rating: %v", err)
	}
	if len(resp.ToolCalls) > 0 || resp.StopReason != model.StopEnd {
		t.Fatalf("rating turn: %d tool calls, stop %q; want text only, end_turn", len(resp.ToolCalls), resp.StopReason)
	}
	out.Ratings = resp.Text
	out.Messages = msgs
	return out
}

// calls lists the tool calls of a run with their results and the simulator's narration.
type madeCall struct {
	call      model.ToolCall
	result    model.ToolResult
	narration string
}

func (r run) calls() []madeCall {
	var out []madeCall
	byID := map[string]int{}
	for _, m := range r.Messages {
		narr := map[string]string{}
		for line := range strings.SplitSeq(m.Text, "\n") {
			if rest, ok := strings.CutPrefix(line, sim.Label+" "); ok {
				id, rest, _ := strings.Cut(rest, " ")
				narr[id] = rest
			}
		}
		for _, tc := range m.ToolCalls {
			byID[tc.ID] = len(out)
			out = append(out, madeCall{call: tc, narration: narr[tc.ID]})
		}
		for _, tr := range m.ToolResults {
			out[byID[tr.CallID]].result = tr
		}
	}
	return out
}

func (c madeCall) deliberatelyInvalid() bool {
	return strings.Contains(c.narration, "deliberately invalid")
}

func parseRatings(t testing.TB, text string) []sim.Rating {
	t.Helper()
	var out struct {
		Ratings []sim.Rating `json:"ratings"`
	}
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		t.Fatalf("ratings are not the JSON of SPEC §5.3: %v\n%s", err, text)
	}
	return out.Ratings
}

// checkFormats checks the formats the validator treats as annotations: date, date-time, time,
// uuid and email, wherever they appear under properties and items.
func checkFormats(s *jsonschema.Schema, v any, path string) error {
	if s == nil {
		return nil
	}
	switch x := v.(type) {
	case string:
		var err error
		switch s.Format {
		case "date":
			_, err = time.Parse(time.DateOnly, x)
		case "date-time":
			_, err = time.Parse(time.RFC3339, x)
		case "time":
			_, err = time.Parse("15:04:05Z07:00", x)
		case "uuid":
			if !uuidRE.MatchString(x) {
				err = fmt.Errorf("not a UUID")
			} else {
				_, err = uuid.Parse(x)
			}
		case "email":
			_, err = mail.ParseAddress(x)
		}
		if err != nil {
			return fmt.Errorf("%s: %q is not a valid %s: %v", path, x, s.Format, err)
		}
	case map[string]any:
		for k, pv := range x {
			if err := checkFormats(s.Properties[k], pv, path+"."+k); err != nil {
				return err
			}
		}
	case []any:
		for i, iv := range x {
			if err := checkFormats(s.Items, iv, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func persona(email, archetype string, mix map[string]float64) model.Persona {
	return model.Persona{Email: email, Archetype: archetype, ModuleMix: mix, Timezone: "Europe/Berlin"}
}

var (
	student  = persona("persona.anna@mana.test", "adhd-student", map[string]float64{"todo": 0.4, "notes": 0.3, "mood": 0.3})
	runner   = persona("persona.ben@mana.test", "marathon-runner", map[string]float64{"habits": 0.6, "mood": 0.2, "todo": 0.2})
	newbie   = persona("persona.cleo@mana.test", "overwhelmed-newbie", map[string]float64{"todo": 0.7, "notes": 0.3})
	power    = persona("persona.dan@mana.test", "meticulous-power-user", map[string]float64{"todo": 0.3, "notes": 0.3, "habits": 0.2, "mood": 0.2})
	personas = []model.Persona{student, runner, newbie, power}
)
