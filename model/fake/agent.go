package fake

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/persona-runner/persona-runner/model"
)

// Agent plays a whole persona run from the conversation alone, so one handler serves any number
// of personas at once (benchmarks, load tests): while tools are offered it makes calls tool
// calls, one per turn, going round the offered tools with arguments made from each tool's
// required properties, then closes with a short text; when no tools may be called (the rating
// turn, which defines them with tool choice "none") it rates every module it used 4 out of 5, a module being the tool name up to its first
// "_" (todo_create → todo).
func Agent(calls int) func(Request) Step {
	return func(req Request) Step {
		made := req.ToolCalls()
		if !req.HasTools() {
			return Text(Ratings(made))
		}
		if len(made) >= calls {
			return Text("That was a good day in the app; I got done what I wanted.")
		}
		tool := req.Tools[len(made)%len(req.Tools)]
		return ToolCalls(model.ToolCall{Name: tool.Name, Input: SampleArgs(tool.InputSchema)})
	}
}

// Ratings is the ratings JSON of the rating turn for the modules of calls, each rated 4.
func Ratings(calls []model.ToolCall) string {
	type rating struct {
		Module string `json:"module"`
		Rating int    `json:"rating"`
		Notes  string `json:"notes"`
	}
	var modules []string
	for _, c := range calls {
		m, _, _ := strings.Cut(c.Name, "_")
		if !slices.Contains(modules, m) {
			modules = append(modules, m)
		}
	}
	out := struct {
		Ratings []rating `json:"ratings"`
	}{Ratings: []rating{}}
	for _, m := range modules {
		out.Ratings = append(out.Ratings, rating{Module: m, Rating: 4, Notes: fmt.Sprintf("%s did what I needed.", m)})
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// SampleArgs makes arguments that satisfy a JSON schema's required properties by type: the
// first enum value, else "sample", 1, true, [] or {}. An unreadable schema gives {}.
func SampleArgs(schema json.RawMessage) json.RawMessage {
	var s struct {
		Properties map[string]struct {
			Type any   `json:"type"`
			Enum []any `json:"enum"`
		} `json:"properties"`
		Required []string `json:"required"`
	}
	if json.Unmarshal(schema, &s) != nil {
		return json.RawMessage(`{}`)
	}
	args := map[string]any{}
	for _, name := range s.Required {
		p := s.Properties[name]
		if len(p.Enum) > 0 {
			args[name] = p.Enum[0]
			continue
		}
		typ, _ := p.Type.(string)
		if list, ok := p.Type.([]any); ok && len(list) > 0 {
			typ, _ = list[0].(string)
		}
		switch typ {
		case "integer", "number":
			args[name] = 1
		case "boolean":
			args[name] = true
		case "array":
			args[name] = []any{}
		case "object":
			args[name] = map[string]any{}
		default:
			args[name] = "sample"
		}
	}
	b, _ := json.Marshal(args)
	return b
}
