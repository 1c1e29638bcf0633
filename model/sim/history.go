package sim

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/persona-runner/persona-runner/model"
)

var (
	isoDate  = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}\b`)
	longDate = regexp.MustCompile(`(?i)\b(?:\d{1,2} )?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? (?:\d{1,2},? )?\d{4}\b`)
)

// call is one tool call the simulator made earlier in this conversation, with what came back.
type call struct {
	seq    int // order among all calls of the conversation
	id     string
	tool   string
	module string
	args   map[string]any
	intent string // the narration line the simulator wrote for it
	// answered is false when no tool result carried this call's id.
	answered bool
	isError  bool
	content  string
	value    any // content decoded as JSON, nil when it is not JSON
}

// history is what the simulator can know from the conversation: its own calls, their results
// and the ids it has seen.
type history struct {
	calls    []*call
	entities []entity
	turns    int // assistant messages so far
}

// entity is an id seen in a successful tool result, with enough context to guess what it names.
type entity struct {
	typ     string // normalised kind: "todo", "habit", "note"…
	id      any    // string or number, as the app returned it
	module  string // module of the tool that returned it
	created bool   // returned as "id" by a tool that creates things
	literal bool   // came from a field named like "todoId" rather than "id"
	seq     int
}

func readHistory(msgs []model.Message, known []string) *history {
	h := &history{}
	byID := map[string]*call{}
	for _, m := range msgs {
		switch m.Role {
		case model.Assistant:
			h.turns++
			intents := parseNarration(m.Text)
			for _, tc := range m.ToolCalls {
				c := &call{seq: len(h.calls), id: tc.ID, tool: tc.Name, module: moduleOf(tc.Name, known), intent: intents[tc.ID]}
				_ = json.Unmarshal(tc.Input, &c.args)
				h.calls = append(h.calls, c)
				byID[tc.ID] = c
			}
		case model.User:
			for _, tr := range m.ToolResults {
				c, ok := byID[tr.CallID]
				if !ok {
					continue
				}
				c.answered, c.isError, c.content = true, tr.IsError, tr.Content
				c.value = decodeLenient(tr.Content)
				if !tr.IsError {
					h.entities = append(h.entities, extractEntities(c)...)
				}
			}
		}
	}
	return h
}

// parseNarration maps call ids to the intents the simulator wrote next to its tool calls, one
// line per call: "[simulated] <call id> <tool>: <intent>".
func parseNarration(text string) map[string]string {
	out := map[string]string{}
	for line := range strings.SplitSeq(text, "\n") {
		rest, ok := strings.CutPrefix(line, Label+" ")
		if !ok {
			continue
		}
		id, rest, ok := strings.Cut(rest, " ")
		if ok {
			out[id] = rest
		}
	}
	return out
}

// decodeLenient decodes content as JSON, or the JSON found between its first '{' or '[' and the
// matching last '}' or ']' when the app wrapped it in prose.
func decodeLenient(content string) any {
	var v any
	if json.Unmarshal([]byte(content), &v) == nil {
		return v
	}
	for _, pair := range [][2]string{{"{", "}"}, {"[", "]"}} {
		i, j := strings.Index(content, pair[0]), strings.LastIndex(content, pair[1])
		if i >= 0 && j > i && json.Unmarshal([]byte(content[i:j+1]), &v) == nil {
			return v
		}
	}
	return nil
}

// moduleOf is the app module of a model-facing tool name. The runner maps todo.create to
// todo_create (SPEC §5.3), so a module with "_" in its own name (habit_tracker.log →
// habit_tracker_log) cannot be told from the name alone: the longest known module (the
// persona's module mix) that the name starts with, followed by "_" or "-", wins; else the text
// before the first "_" or "-" (todo_create → todo, get-tiny-image → get), as the targets'
// default module rule has it (SPEC §10).
func moduleOf(tool string, known []string) string {
	best := ""
	for _, k := range known {
		if len(k) > len(best) && (strings.HasPrefix(tool, k+"_") || strings.HasPrefix(tool, k+"-")) {
			best = k
		}
	}
	if best != "" {
		return best
	}
	if i := strings.IndexAny(tool, "_-"); i > 0 {
		return tool[:i]
	}
	return tool
}

// knownModules are the module names of a persona's module mix.
func knownModules(p model.Persona) []string {
	out := make([]string, 0, len(p.ModuleMix))
	for m := range p.ModuleMix {
		out = append(out, m)
	}
	return out
}

// genericKeys are wrapper keys whose name says nothing about what the ids inside are.
var genericKeys = map[string]bool{"": true, "items": true, "results": true, "data": true, "result": true,
	"records": true, "rows": true, "list": true, "content": true, "structuredContent": true, "created": true,
	"updated": true, "value": true, "values": true, "page": true}

// extractEntities finds ids in a result generically: any field named "id" or ending in "Id"/"ID"/
// "_id" whose value is a string or number.
func extractEntities(c *call) []entity {
	var out []entity
	created := kindOf(verbOf(c.tool, c.module)) == kindCreate
	var walk func(v any, parent string, depth int)
	walk = func(v any, parent string, depth int) {
		if depth > 6 || len(out) >= 50 {
			return
		}
		switch v := v.(type) {
		case map[string]any:
			keys := sortedKeys(v)
			for _, k := range keys {
				if !isIDName(k) {
					continue
				}
				id := v[k]
				switch id.(type) {
				case string, float64:
				default:
					continue
				}
				e := entity{id: id, module: c.module, seq: c.seq}
				if k == "id" {
					e.typ = c.module
					if !genericKeys[parent] {
						e.typ = parent
					}
					e.created = created && depth <= 1
				} else {
					e.typ = idPrefix(k)
					e.literal = true
				}
				e.typ = norm(e.typ)
				if e.typ != "" {
					out = append(out, e)
				}
			}
			for _, k := range keys {
				walk(v[k], k, depth+1)
			}
		case []any:
			for _, x := range v {
				walk(x, parent, depth+1)
			}
		}
	}
	walk(c.value, "", 0)
	if c.value == nil {
		// The runner cuts long results, which leaves JSON that does not parse; ids are still
		// there to be read, as a person would read them.
		for _, m := range idField.FindAllStringSubmatch(c.content, 50) {
			e := entity{id: m[2], module: c.module, seq: c.seq, typ: norm(c.module)}
			if m[1] != "id" {
				e.typ, e.literal = norm(idPrefix(m[1])), true
			}
			out = append(out, e)
		}
	}
	return out
}

// idField finds "id": "…" and "xxxId": "…" pairs in text that is not whole JSON.
var idField = regexp.MustCompile(`"(id|[A-Za-z]+Id|[a-z]+_id)"\s*:\s*"([^"\\]{1,100})"`)

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// isIDName reports whether a field or property name refers to an entity id.
func isIDName(name string) bool {
	if name == "id" || name == "ID" {
		return true
	}
	return len(name) > 2 && (strings.HasSuffix(name, "Id") || strings.HasSuffix(name, "ID") || strings.HasSuffix(name, "_id"))
}

// idPrefix is the entity kind named by an id field: todoId → todo, habit_id → habit.
func idPrefix(name string) string {
	for _, suf := range []string{"_id", "Id", "ID"} {
		if p, ok := strings.CutSuffix(name, suf); ok {
			return p
		}
	}
	return name
}

// dropSeparators removes the separators of snake and kebab case.
var dropSeparators = strings.NewReplacer("_", "", "-", "")

// norm lowercases a kind and makes it singular enough to compare: "Habits" → "habit",
// "entries" → "entry", "journal_entry" → "journalentry".
func norm(s string) string {
	s = strings.ToLower(dropSeparators.Replace(s))
	switch {
	case strings.HasSuffix(s, "ies") && len(s) > 4:
		return s[:len(s)-3] + "y"
	case strings.HasSuffix(s, "ses") || strings.HasSuffix(s, "xes"):
		return s[:len(s)-2]
	case strings.HasSuffix(s, "s") && !strings.HasSuffix(s, "ss") && len(s) > 3:
		return s[:len(s)-1]
	}
	return s
}

// sameKind reports whether two normalised kinds name the same thing, allowing one to extend the
// other (journal vs journalentry).
func sameKind(a, b string) bool {
	if a == b {
		return a != ""
	}
	if len(a) < 3 || len(b) < 3 {
		return false
	}
	return strings.HasPrefix(a, b) || strings.HasPrefix(b, a)
}

// errorText is the gist of a failed result: its "message" or "error" field when it is JSON,
// else its first line, cut to 120 characters.
func errorText(c *call) string {
	text := strings.TrimSpace(c.content)
	if obj, ok := c.value.(map[string]any); ok {
		for _, k := range []string{"message", "error", "detail", "details"} {
			if s, ok := obj[k].(string); ok && s != "" {
				text = s
				break
			}
		}
	}
	if !c.answered {
		text = "no result came back"
	}
	text, _, _ = strings.Cut(text, "\n")
	return truncateRunes(text, 120)
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

// isEmptyResult reports whether a successful result holds nothing: null, [], {}, or an object
// whose lists are all empty and whose nested objects are empty too ({"todos":[],"count":0}).
func isEmptyResult(c *call) bool {
	if c.isError || !c.answered {
		return false
	}
	switch v := c.value.(type) {
	case nil:
		t := strings.ToLower(strings.TrimSpace(c.content))
		return t == "" || t == "null" || strings.HasPrefix(t, "no ") || strings.Contains(t, "nothing found")
	case []any:
		return len(v) == 0
	case map[string]any:
		if len(v) == 0 {
			return true
		}
		lists := 0
		for _, x := range v {
			switch x := x.(type) {
			case []any:
				if len(x) > 0 {
					return false
				}
				lists++
			case map[string]any:
				if len(x) > 0 {
					return false
				}
			}
		}
		return lists > 0
	}
	return false
}
