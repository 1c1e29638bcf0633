package sim_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/jsonschema-go/jsonschema"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/model/sim"
)

// form is a form as apps send it in elicitation/create (the shapes of the MCP reference
// server-everything: formats, ranges, single and multiple choice).
const form = `{"type":"object","properties":{
 "name":{"type":"string","title":"String","description":"Your full, legal name"},
 "check":{"type":"boolean"},
 "email":{"type":"string","format":"email"},
 "homepage":{"type":"string","format":"uri"},
 "birthdate":{"type":"string","format":"date"},
 "integer":{"type":"integer","minimum":1,"maximum":100},
 "number":{"type":"number","minimum":0,"maximum":1000},
 "friend":{"type":"string","enum":["Monica","Rachel","Joey"]},
 "hero":{"type":"string","oneOf":[{"const":"hero-1","title":"Superman"},{"const":"hero-2","title":"Wonder Woman"}]},
 "instruments":{"type":"array","minItems":1,"maxItems":3,"items":{"type":"string","enum":["Guitar","Piano","Drums"]}}
},"required":["name"]}`

func elicitation(schema string) model.Request {
	return model.Request{
		Phase:   model.PhaseElicitation,
		Persona: student,
		TickID:  "t1",
		Messages: []model.Message{{Role: model.User,
			Text: "Today is 2026-03-02. While you use the app it asks you: Please provide inputs for the following fields:"}},
		Tools: []model.Tool{
			{Name: model.AnswerTool, Description: "fill in the form", InputSchema: json.RawMessage(schema)},
			{Name: model.DeclineTool, Description: "decline", InputSchema: json.RawMessage(`{"type":"object","properties":{}}`)},
		},
	}
}

func TestElicitationFillsTheFormValidly(t *testing.T) {
	t.Parallel()
	var sch jsonschema.Schema
	if err := json.Unmarshal([]byte(form), &sch); err != nil {
		t.Fatal(err)
	}
	resolved, err := sch.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	for seed := int64(1); seed <= 30; seed++ {
		resp, err := sim.New(seed).Complete(context.Background(), elicitation(form))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.ToolCalls) != 1 || resp.ToolCalls[0].Name != model.AnswerTool {
			t.Fatalf("seed %d: reply %+v, want one call of %s", seed, resp, model.AnswerTool)
		}
		var content map[string]any
		if err := json.Unmarshal(resp.ToolCalls[0].Input, &content); err != nil {
			t.Fatal(err)
		}
		if err := resolved.Validate(content); err != nil {
			t.Errorf("seed %d: answer %s does not satisfy the form: %v", seed, resp.ToolCalls[0].Input, err)
		}
		if !strings.HasPrefix(resp.Text, sim.Label) {
			t.Errorf("text %q is not labelled", resp.Text)
		}
	}
}

func TestElicitationIsDeterministic(t *testing.T) {
	t.Parallel()
	a, _ := sim.New(7).Complete(context.Background(), elicitation(form))
	b, _ := sim.New(7).Complete(context.Background(), elicitation(form))
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, same request, different answers (-first +second):\n%s", diff)
	}
}

func TestElicitationDeclinesPrivateFields(t *testing.T) {
	t.Parallel()
	for _, schema := range []string{
		`{"type":"object","properties":{"password":{"type":"string"}}}`,
		`{"type":"object","properties":{"cc":{"type":"string","title":"Credit card number"}}}`,
		`{"type":"object","properties":{"x":{"type":"string","description":"your bank PIN"}}}`,
	} {
		resp, err := sim.New(1).Complete(context.Background(), elicitation(schema))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.ToolCalls) != 1 || resp.ToolCalls[0].Name != model.DeclineTool {
			t.Errorf("form %s: reply %+v, want a decline", schema, resp.ToolCalls)
		}
	}
}

func TestSamplingReplyIsLabelledText(t *testing.T) {
	t.Parallel()
	req := model.Request{Phase: model.PhaseSampling, Persona: student, System: "You are a helpful test server.",
		Messages: []model.Message{{Role: model.User, Text: "Resource trigger-sampling-request context: write a haiku"}}}
	a, err := sim.New(3).Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := sim.New(3).Complete(context.Background(), req)
	if a.Text != b.Text || len(a.ToolCalls) != 0 {
		t.Errorf("sampling replies %q / %q (calls %v): want the same text and no tool calls", a.Text, b.Text, a.ToolCalls)
	}
	if !strings.HasPrefix(a.Text, sim.Label) || !strings.Contains(a.Text, "write a haiku") {
		t.Errorf("sampling reply %q: want labelled text naming the request", a.Text)
	}
}
