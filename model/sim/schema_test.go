package sim_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/model/sim"
)

// keywordSchemas cover every keyword the simulator supports, each as the input schema of one
// tool. Formats are checked by checkFormats, since the validator treats them as annotations.
var keywordSchemas = map[string]string{
	"kw_strings": `{"type":"object","required":["title","code","alt","fixed","choice","short","long","day","at","clock","ref","mail","link","slug","loose","path","hex"],"properties":{
		"title":{"type":"string","minLength":3,"maxLength":12},
		"code":{"type":"string","pattern":"^[A-Z]{3}-\\d{4}$"},
		"alt":{"type":"string","pattern":"^(red|green|blue)(-[a-f0-9]{2,4})?$","maxLength":9},
		"fixed":{"const":"v1"},
		"choice":{"type":"string","enum":["low","normal","high"]},
		"short":{"type":"string","minLength":1,"maxLength":1},
		"long":{"type":"string","minLength":300,"maxLength":320},
		"day":{"type":"string","format":"date"},
		"at":{"type":"string","format":"date-time"},
		"clock":{"type":"string","format":"time"},
		"ref":{"type":"string","format":"uuid"},
		"mail":{"type":"string","format":"email"},
		"link":{"type":"string","format":"uri"},
		"notes":{"type":"string","maxLength":40},
		"slug":{"type":"string","pattern":"^[a-z]+(-[a-z]+)*$","maxLength":30},
		"loose":{"type":"string","pattern":"^.{2,5}x?\\.?$"},
		"path":{"type":"string","pattern":"^[^/]+/\\w+$"},
		"hex":{"type":"string","pattern":"^#[0-9a-fA-F]{6}$"},
		"dur":{"type":"string","format":"duration"},
		"host":{"type":"string","format":"hostname"},
		"ip":{"type":"string","format":"ipv4"},
		"mode":{"type":"string","enum":["a","b"],"default":"a"}}}`,
	"kw_numbers": `{"type":"object","required":["count","score","ratio","half","five","neg","any","big","open"],"properties":{
		"count":{"type":"integer","minimum":1,"maximum":3},
		"score":{"type":"integer","exclusiveMinimum":0,"exclusiveMaximum":5},
		"ratio":{"type":"number","minimum":0,"maximum":1},
		"half":{"type":"number","multipleOf":0.5,"minimum":1,"maximum":4},
		"five":{"type":"integer","multipleOf":5,"minimum":7,"maximum":40},
		"neg":{"type":"integer","minimum":-40,"maximum":-10},
		"any":{"type":"number"},
		"big":{"type":"integer","minimum":1000000},
		"open":{"type":"number","exclusiveMinimum":2.5,"exclusiveMaximum":2.75},
		"flag":{"type":"boolean"},
		"limit":{"type":"integer","minimum":1,"maximum":100,"default":20}}}`,
	"kw_arrays": `{"type":"object","required":["tags","pair","people","colors","matrix"],"properties":{
		"tags":{"type":"array","items":{"type":"string","minLength":1,"maxLength":20},"minItems":1,"maxItems":4,"uniqueItems":true},
		"pair":{"type":"array","prefixItems":[{"type":"string","format":"date"},{"type":"integer","minimum":0,"maximum":9}],"minItems":2,"maxItems":2},
		"people":{"type":"array","items":{"type":"object","required":["name","email"],"properties":{"name":{"type":"string","maxLength":30},"email":{"type":"string","format":"email"}},"additionalProperties":false},"maxItems":3},
		"colors":{"type":"array","items":{"enum":["red","green","blue"]},"uniqueItems":true,"minItems":2,"maxItems":3},
		"matrix":{"type":"array","items":{"type":"array","items":{"type":"integer","minimum":0,"maximum":9},"minItems":2,"maxItems":2},"minItems":1,"maxItems":2},
		"empty":{"type":"array","maxItems":0}}}`,
	"kw_objects": `{"type":"object","required":["where"],"additionalProperties":false,"minProperties":3,"properties":{
		"where":{"type":"object","required":["place","when"],"additionalProperties":false,"properties":{
			"place":{"type":"string","maxLength":40},"when":{"type":"string","format":"date-time"},
			"inner":{"type":"object","properties":{"deep":{"type":"integer","minimum":1,"maximum":2}},"required":["deep"]}}},
		"a":{"type":"string"},"b":{"type":"integer"},"c":{"type":"boolean"},
		"card":{"type":"string","maxLength":19},"cvc":{"type":"string","pattern":"^\\d{3}$"}},
		"dependentRequired":{"card":["cvc"]}}`,
	"kw_composition": `{"type":"object","required":["item","either","one","maybe","both","nums"],"$defs":{
			"item":{"type":"object","required":["id","title"],"properties":{"id":{"type":"string","format":"uuid"},"title":{"$ref":"#/$defs/title"}}},
			"title":{"type":"string","minLength":2,"maxLength":60}},
		"properties":{
		"item":{"$ref":"#/$defs/item"},
		"either":{"anyOf":[{"type":"string","maxLength":5},{"type":"integer","minimum":100,"maximum":200}]},
		"one":{"oneOf":[{"type":"string","format":"date"},{"type":"boolean"}]},
		"maybe":{"type":["string","null"],"maxLength":10},
		"both":{"allOf":[{"type":"object","required":["x"],"properties":{"x":{"type":"integer","minimum":3,"maximum":4}}},{"required":["y"],"properties":{"y":{"type":"string","enum":["p","q"]}}}]},
		"nums":{"type":["null","array"],"items":{"type":"integer","minimum":0,"maximum":3}}}}`,
	"kw_legacy": `{"type":"object","required":["legacy"],"properties":{"legacy":{"$ref":"#/definitions/old"}},
		"definitions":{"old":{"type":"string","enum":["x","y"]}}}`,
	"kw_empty":    `{"type":"object"}`,
	"kw_noprops":  `{"type":"object","properties":{}}`,
	"kw_untyped":  `{"properties":{"q":{"maxLength":8}},"required":["q"]}`,
	"kw_idsonly":  `{"type":"object","required":["id","todoId"],"properties":{"id":{"type":"string","format":"uuid"},"todoId":{"type":"integer","minimum":1},"listId":{"type":"string"}}}`,
	"kw_required": `{"type":"object","required":["name","extra"],"properties":{"name":{"type":"string","minLength":1}}}`,
}

// The simulator's arguments validate against every supported keyword over many seeds, for
// archetypes with and without boundary probing.
func TestArgumentsValidateAgainstSchemas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, schema := range keywordSchemas {
		rs := mustResolve(t, schema)
		var root jsonschema.Schema
		if err := json.Unmarshal([]byte(schema), &root); err != nil {
			t.Fatal(err)
		}
		tools := []model.Tool{{Name: name, InputSchema: json.RawMessage(schema)}}
		for _, archetype := range []string{"adhd-student", "meticulous-power-user", "parent", "developer"} {
			p := model.Persona{Email: "persona.kw@mana.test", Archetype: archetype, ModuleMix: map[string]float64{"kw": 1}, Timezone: "Asia/Tokyo"}
			for seed := range int64(150) {
				resp, err := sim.New(seed).Complete(ctx, model.Request{Messages: []model.Message{{Role: model.User, Text: userPrompt}},
					Tools: tools, Phase: model.PhaseMain, Persona: p, TickID: "tick"})
				if err != nil {
					t.Fatal(err)
				}
				if len(resp.ToolCalls) == 0 {
					t.Fatalf("%s seed %d: no tool call", name, seed)
				}
				for _, tc := range resp.ToolCalls {
					var args any
					if err := json.Unmarshal(tc.Input, &args); err != nil {
						t.Fatalf("%s seed %d: input is not JSON: %v", name, seed, err)
					}
					if err := rs.Validate(args); err != nil {
						t.Errorf("%s %s seed %d: %s does not validate: %v", name, archetype, seed, tc.Input, err)
					} else if err := checkFormats(&root, args, name); err != nil {
						t.Errorf("%s %s seed %d: %v", name, archetype, seed, err)
					}
				}
			}
		}
	}
}

// The newbie's deliberate mistakes are invalid against the schema; everything else it sends is
// valid.
func TestNewbieMistakesAreInvalid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mistakes := 0
	for name, schema := range keywordSchemas {
		rs := mustResolve(t, schema)
		tools := []model.Tool{{Name: name, InputSchema: json.RawMessage(schema)}}
		p := model.Persona{Email: "persona.nb@mana.test", Archetype: "overwhelmed-newbie", ModuleMix: map[string]float64{"kw": 1}}
		for seed := range int64(150) {
			resp, err := sim.New(seed).Complete(ctx, model.Request{Messages: []model.Message{{Role: model.User, Text: userPrompt}},
				Tools: tools, Phase: model.PhaseMain, Persona: p, TickID: "tick"})
			if err != nil {
				t.Fatal(err)
			}
			r := run{Messages: []model.Message{{Role: model.Assistant, Text: resp.Text, ToolCalls: resp.ToolCalls}}}
			for _, c := range r.calls() {
				var args any
				_ = json.Unmarshal(c.call.Input, &args)
				err := rs.Validate(args)
				switch {
				case c.deliberatelyInvalid():
					mistakes++
					if err == nil {
						t.Errorf("%s seed %d: deliberate mistake %q is valid: %s", name, seed, c.narration, c.call.Input)
					}
				case err != nil:
					t.Errorf("%s seed %d: %s is invalid without meaning to be: %v", name, seed, c.call.Input, err)
				}
			}
		}
	}
	if mistakes == 0 {
		t.Fatal("the newbie made no deliberate mistakes")
	}
}
