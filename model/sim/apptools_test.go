package sim_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/persona-runner/persona-runner/app"
	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/model/sim"
)

// demoAppTool is one exposed tool of the demo app as the runner offers it to a model.
type demoAppTool struct {
	tool     model.Tool
	resolved *jsonschema.Resolved
	schema   *jsonschema.Schema
}

func demoAppTools(t *testing.T) []demoAppTool {
	t.Helper()
	infos := app.Tools()
	if len(infos) == 0 {
		t.Fatal("the demo app exposes no tools")
	}
	var out []demoAppTool
	for _, info := range infos {
		raw, err := json.Marshal(info.InputSchema)
		if err != nil {
			t.Fatalf("%s: marshal schema: %v", info.Name, err)
		}
		// The runner maps module.verb to module_verb for models (SPEC §5.3).
		name := strings.ReplaceAll(info.Name, ".", "_")
		out = append(out, demoAppTool{
			tool:     model.Tool{Name: name, Description: info.Description, InputSchema: raw},
			resolved: mustResolve(t, string(raw)),
			schema:   info.InputSchema,
		})
	}
	return out
}

// The simulator's arguments validate against every demo tool's schema over many seeds, and the
// newbie's deliberate mistakes do not.
func TestArgumentsValidateAgainstDemoApp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	archetypes := []string{"adhd-student", "busy-parent", "meticulous-power-user", "backend-developer", "overwhelmed-newbie"}
	mistakes := 0
	for _, dt := range demoAppTools(t) {
		module, _, _ := strings.Cut(dt.tool.Name, "_")
		for _, archetype := range archetypes {
			p := model.Persona{Email: "persona.app@mana.test", Archetype: archetype, ModuleMix: map[string]float64{module: 1}, Timezone: "America/New_York"}
			for seed := range int64(100) {
				resp, err := sim.New(seed).Complete(ctx, model.Request{Messages: []model.Message{{Role: model.User, Text: userPrompt}},
					Tools: []model.Tool{dt.tool}, Phase: model.PhaseMain, Persona: p, TickID: "tick"})
				if err != nil {
					t.Fatal(err)
				}
				r := run{Messages: []model.Message{{Role: model.Assistant, Text: resp.Text, ToolCalls: resp.ToolCalls}}}
				for _, c := range r.calls() {
					var args any
					if err := json.Unmarshal(c.call.Input, &args); err != nil {
						t.Fatalf("%s: input is not JSON: %v", dt.tool.Name, err)
					}
					err := dt.resolved.Validate(args)
					if err == nil {
						err = checkFormats(dt.schema, args, dt.tool.Name)
					}
					switch {
					case c.deliberatelyInvalid():
						mistakes++
						if err == nil {
							t.Errorf("%s seed %d: deliberate mistake %q is valid: %s", dt.tool.Name, seed, c.narration, c.call.Input)
						}
					case err != nil:
						t.Errorf("%s %s seed %d: %s: %v", dt.tool.Name, archetype, seed, c.call.Input, err)
					}
				}
			}
		}
	}
	if mistakes == 0 {
		t.Error("the newbie made no deliberate mistakes against the demo app")
	}
}

// Offered the whole demo app, every persona plays a full run whose valid calls pass every
// schema, using the tools of its own modules.
func TestFullRunsOverDemoApp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tools := demoAppTools(t)
	byName := map[string]demoAppTool{}
	var offered []model.Tool
	for _, dt := range tools {
		byName[dt.tool.Name] = dt
		offered = append(offered, dt.tool)
	}
	mixes := []map[string]float64{
		{"todo": 0.3, "journal": 0.3, "notes": 0.2, "mood": 0.2},
		{"habits": 0.5, "calendar": 0.3, "contacts": 0.2},
	}
	for seed := range int64(40) {
		for i, archetype := range []string{"adhd-student", "meticulous-power-user"} {
			p := model.Persona{Email: "persona.full@mana.test", Archetype: archetype, ModuleMix: mixes[i], Timezone: "Europe/Berlin"}
			msgs := []model.Message{{Role: model.User, Text: userPrompt}}
			for turn := 0; turn < 15; turn++ {
				resp, err := sim.New(seed).Complete(ctx, model.Request{Messages: msgs, Tools: offered, Phase: model.PhaseMain, Persona: p, TickID: "tick"})
				if err != nil {
					t.Fatal(err)
				}
				msgs = append(msgs, model.Message{Role: model.Assistant, Text: resp.Text, ToolCalls: resp.ToolCalls})
				if len(resp.ToolCalls) == 0 {
					break
				}
				var results []model.ToolResult
				for _, tc := range resp.ToolCalls {
					dt, ok := byName[tc.Name]
					if !ok {
						t.Fatalf("seed %d: called %s, which was not offered", seed, tc.Name)
					}
					if module, _, _ := strings.Cut(tc.Name, "_"); p.ModuleMix[module] == 0 {
						t.Errorf("seed %d %s: called %s outside its modules %v", seed, archetype, tc.Name, p.ModuleMix)
					}
					var args any
					_ = json.Unmarshal(tc.Input, &args)
					if err := dt.resolved.Validate(args); err != nil {
						t.Errorf("seed %d %s: %s(%s): %v", seed, archetype, tc.Name, tc.Input, err)
					}
					// Without the app behind it, every call answers with an empty success.
					results = append(results, model.ToolResult{CallID: tc.ID, Content: `{}`})
				}
				msgs = append(msgs, model.Message{Role: model.User, ToolResults: results})
			}
		}
	}
}
