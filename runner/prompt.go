package runner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/persona"
)

// userMessage is the main turn's opening message (SPEC §5.3 step 2): today's date in the
// persona's time zone, what to do, the modules that suit the persona by weight, the memory digest
// and how to close.
func userMessage(p persona.DuePersona, now time.Time, digest string) string {
	loc := persona.Location(p.Timezone)
	var b strings.Builder
	fmt.Fprintf(&b, "Today is %s (%s).\n", now.In(loc).Format("Monday, 2 January 2006, 15:04"), loc.String())
	b.WriteString("You can use your app through the tools you have. Spend a short day in it doing what you really would " +
		"do today: make between 3 and 8 tool calls, one step at a time, and react to what the app answers.\n")
	if mods := moduleShares(p.ModuleMix); mods != "" {
		b.WriteString("The parts of the app that suit you, most important first: " + mods + ".\n")
	}
	if digest != "" {
		b.WriteString("What you did here on your last days (newest first):\n")
		b.WriteString(digest)
	}
	b.WriteString("When you are done, close with one or two sentences, in character, about how the day in the app went.")
	return b.String()
}

// moduleShares renders the mix as "todo (40%), journal (30%)", heaviest first.
func moduleShares(mix persona.ModuleMix) string {
	mods := mix.Modules()
	var sum float64
	for _, m := range mods {
		sum += mix[m]
	}
	parts := make([]string, len(mods))
	for i, m := range mods {
		parts[i] = fmt.Sprintf("%s (%d%%)", m, int(mix[m]/sum*100+0.5))
	}
	return strings.Join(parts, ", ")
}

// Digest summarises a persona's last runs (newest first) in a few lines, one per run: the date,
// the tools called, what failed, the ratings given and the persona's closing words, so that
// day 2 can build on day 1. Each line stays under about 400 characters.
func Digest(runs []persona.RunHistory, tz string) string {
	loc := persona.Location(tz)
	var b strings.Builder
	for _, h := range runs {
		var line strings.Builder
		fmt.Fprintf(&line, "- %s: ", h.Tick.StartedAt.In(loc).Format("Mon 2 Jan"))
		if len(h.Actions) == 0 {
			line.WriteString("you did not use any tool")
		} else {
			line.WriteString(countTools(h.Actions))
			var failed []string
			for _, a := range h.Actions {
				if a.Result == persona.ResultError {
					failed = append(failed, fmt.Sprintf("%s (%s)", a.ToolName, persona.Truncate(a.ErrorMessage, 60)))
				}
			}
			if len(failed) > 0 {
				if len(failed) > 2 {
					failed = append(failed[:2], fmt.Sprintf("%d more", len(failed)-2))
				}
				line.WriteString("; failed: " + strings.Join(failed, ", "))
			}
		}
		var rated []string
		for _, f := range h.Feedback {
			if f.Module == ParseModule {
				continue
			}
			r := fmt.Sprintf("%s %d/5", f.Module, f.Rating)
			if f.Notes != "" {
				r += fmt.Sprintf(" (%q)", persona.Truncate(f.Notes, 60))
			}
			rated = append(rated, r)
		}
		if len(rated) > 0 {
			line.WriteString(". You rated " + strings.Join(rated, ", "))
		}
		if s := strings.TrimSpace(h.Tick.Summary); s != "" {
			line.WriteString(fmt.Sprintf(". You said: %q", persona.Truncate(s, 120)))
		}
		b.WriteString(persona.Truncate(line.String(), 400))
		b.WriteString("\n")
	}
	return b.String()
}

// countTools renders calls as "todo.create ×2, notes.add" in order of first use.
func countTools(actions []persona.Action) string {
	counts := map[string]int{}
	var order []string
	for _, a := range actions {
		if counts[a.ToolName] == 0 {
			order = append(order, a.ToolName)
		}
		counts[a.ToolName]++
	}
	parts := make([]string, len(order))
	for i, n := range order {
		parts[i] = n
		if counts[n] > 1 {
			parts[i] += " ×" + strconv.Itoa(counts[n])
		}
	}
	return strings.Join(parts, ", ")
}

// ratingMessage asks for the ratings in the same conversation, with no tools (step 4).
func ratingMessage(used []string) string {
	example := make([]string, 0, len(used))
	for _, m := range used {
		example = append(example, fmt.Sprintf(`{"module":%q,"rating":4,"notes":"..."}`, m))
	}
	return "Thank you. Now, still in character, rate each part of the app you used today: " + strings.Join(used, ", ") +
		". For each, give a whole number from 1 (awful) to 5 (great) and one or two sentences on why, from what happened today. " +
		"Answer with JSON only, in exactly this shape: {\"ratings\":[" + strings.Join(example, ",") + "]}"
}

var toolNameJunk = regexp.MustCompile(`[^a-zA-Z0-9_-]`)

// toolNames maps MCP tool names to names a model accepts (^[a-zA-Z0-9_-]{1,64}$, SPEC §5.3) ("todo.create" → "todo_create") and
// back. Names that collide after mapping get a numeric suffix, so the reverse map is exact.
type toolNames struct {
	toModel map[string]string
	toMCP   map[string]string
}

func mapToolNames(mcpNames []string) toolNames {
	sorted := append([]string(nil), mcpNames...)
	sort.Strings(sorted) // suffixes do not depend on the server's listing order
	tn := toolNames{toModel: make(map[string]string, len(sorted)), toMCP: make(map[string]string, len(sorted))}
	for _, name := range sorted {
		if _, dup := tn.toModel[name]; dup {
			continue
		}
		base := toolNameJunk.ReplaceAllString(name, "_")
		if base == "" {
			base = "tool"
		}
		if len(base) > 64 {
			base = base[:64]
		}
		candidate := base
		for n := 2; tn.toMCP[candidate] != ""; n++ {
			suffix := "_" + strconv.Itoa(n)
			b := base
			if len(b)+len(suffix) > 64 {
				b = b[:64-len(suffix)]
			}
			candidate = b + suffix
		}
		tn.toModel[name] = candidate
		tn.toMCP[candidate] = name
	}
	return tn
}

// modelTools turns the app's tools into the model's tool list, in the app's order.
func modelTools(specs []ToolSpec, names toolNames) []model.Tool {
	out := make([]model.Tool, 0, len(specs))
	seen := map[string]bool{}
	for _, s := range specs {
		n := names.toModel[s.Name]
		if seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, model.Tool{Name: n, Description: s.Description, InputSchema: objectSchema(s.InputSchema)})
	}
	return out
}

// objectSchema makes sure a tool's schema is an object with properties: OpenAI-compatible
// servers reject an object schema without "properties", which tools with no inputs often have.
func objectSchema(raw json.RawMessage) json.RawMessage {
	var m map[string]any
	if len(bytes.TrimSpace(raw)) == 0 || json.Unmarshal(raw, &m) != nil || m == nil {
		return json.RawMessage(`{"type":"object","properties":{}}`)
	}
	changed := false
	if _, ok := m["type"]; !ok {
		m["type"] = "object"
		changed = true
	}
	if _, ok := m["properties"]; !ok && m["type"] == "object" {
		m["properties"] = map[string]any{}
		changed = true
	}
	if !changed {
		return raw
	}
	b, err := json.Marshal(m)
	if err != nil {
		return json.RawMessage(`{"type":"object","properties":{}}`)
	}
	return b
}
