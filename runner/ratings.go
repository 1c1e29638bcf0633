package runner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/persona-runner/persona-runner/persona"
)

// ParseModule is the module of the feedback row that stands for a rating reply nobody could use.
const ParseModule = "__parse"

// Rating is one module's rating parsed from the persona's reply.
type Rating struct {
	Module string `json:"module"`
	Rating int    `json:"rating"`
	Notes  string `json:"notes"`
}

// ParseRatings reads the rating turn's reply (SPEC §5.3 step 4) for the modules used in the run.
// It tolerates code fences and prose by reading from the first '{' to the last '}'; ratings are
// rounded and clamped to 1–5, notes cut to 1000 characters, and modules not used are ignored
// (matched case-insensitively, first entry wins). Whatever cannot be used — no JSON, invalid
// JSON, no "ratings" list, an entry without a module or with a rating that is not a number, or no
// entry for any module used — adds one row for module "__parse" with rating 3 and notes saying
// why; usable entries next to unusable ones are kept. The result is never empty.
func ParseRatings(reply string, used []string) []Rating {
	canon := make(map[string]string, len(used))
	for _, m := range used {
		canon[strings.ToLower(strings.TrimSpace(m))] = m
	}
	var out []Rating
	var why []string
	fail := func(format string, args ...any) { why = append(why, fmt.Sprintf(format, args...)) }

	start, end := strings.IndexByte(reply, '{'), strings.LastIndexByte(reply, '}')
	if start < 0 || end < start {
		return []Rating{parseRow(reply, "no JSON object in the reply")}
	}
	var doc struct {
		Ratings *[]json.RawMessage `json:"ratings"`
	}
	if err := json.Unmarshal([]byte(reply[start:end+1]), &doc); err != nil {
		return []Rating{parseRow(reply, "invalid JSON: "+err.Error())}
	}
	if doc.Ratings == nil {
		return []Rating{parseRow(reply, `the reply has no "ratings" list`)}
	}
	seen := map[string]bool{}
	for i, raw := range *doc.Ratings {
		var e struct {
			Module any             `json:"module"`
			Rating json.RawMessage `json:"rating"`
			Notes  any             `json:"notes"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			fail("ratings[%d] is not an object", i)
			continue
		}
		name, ok := e.Module.(string)
		if !ok || strings.TrimSpace(name) == "" {
			fail("ratings[%d] has no module name", i)
			continue
		}
		module, ok := canon[strings.ToLower(strings.TrimSpace(name))]
		if !ok || seen[module] {
			// A module the persona did not use today, or a second rating of one, is ignored.
			continue
		}
		r, ok := ratingValue(e.Rating)
		if !ok {
			fail("ratings[%d] (%s) has a rating that is not a number: %s", i, module, persona.Truncate(string(bytes.TrimSpace(e.Rating)), 40))
			continue
		}
		seen[module] = true
		notes, _ := e.Notes.(string)
		out = append(out, Rating{Module: module, Rating: r, Notes: cleanText(notes, persona.MaxFeedbackNotes)})
	}
	if len(out) == 0 && len(why) == 0 {
		fail("no rating for any module used (%s)", strings.Join(used, ", "))
	}
	if len(why) > 0 {
		out = append(out, parseRow(reply, strings.Join(why, "; ")))
	}
	return out
}

// ratingValue reads a rating given as a JSON number or a string holding one, rounded to the
// nearest whole number and clamped to 1–5.
func ratingValue(raw json.RawMessage) (int, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false
	}
	var f float64
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, false
		}
		f = v
	} else if json.Unmarshal(raw, &f) != nil {
		return 0, false
	}
	return int(math.Max(1, math.Min(5, math.Round(f)))), true
}

// parseRow is the "__parse" row: rating 3 and notes saying why, with the start of the reply so
// that a reader can see what the model said.
func parseRow(reply, why string) Rating {
	notes := "unusable rating reply: " + why
	if r := cleanText(reply, 200); r != "" {
		notes += " — reply began: " + r
	}
	return Rating{Module: ParseModule, Rating: 3, Notes: cleanText(notes, persona.MaxFeedbackNotes)}
}

// cleanText makes text from a model or a tool safe to store: valid UTF-8 without NUL bytes
// (PostgreSQL refuses both), trimmed, at most n characters.
func cleanText(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return persona.Truncate(strings.TrimSpace(s), n)
}
