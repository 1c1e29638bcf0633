package sim

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/persona-runner/persona-runner/model"
)

// Rating is one module's rating in the answer to the rating turn (SPEC §5.3).
type Rating struct {
	Module string `json:"module"`
	Rating int    `json:"rating"`
	Notes  string `json:"notes"`
}

// moduleExperience is what one module did to the persona in this conversation.
type moduleExperience struct {
	module   string
	calls    int
	worked   []string // tools that answered without error
	failures []string // "todo_create rejected my input (title: too long)"
	failed   int
	empty    []string // reads that came back empty after something was added to the module
	// nothingYet are reads that came back empty before anything was added: noted, not held
	// against the module.
	nothingYet []string
	live       int // things added in this module and not since completed, archived or removed
	probesOK   int // boundary probes the app accepted
	probesNo   int // boundary probes the app rejected
}

// rejectionWords mark an error that refused the input rather than failing to do the work.
var rejectionWords = []string{"invalid", "required", "must", "too long", "too short", "maxlength",
	"minlength", "expected", "validation", "type", "schema", "missing", "exceed", "enum", "format",
	"not one of", "at most", "at least", "bad request", "unexpected"}

func (s *Sim) rate(req model.Request, h *history) model.Response {
	var order []string
	byModule := map[string]*moduleExperience{}
	for _, c := range h.calls {
		x := byModule[c.module]
		if x == nil {
			x = &moduleExperience{module: c.module}
			byModule[c.module] = x
			order = append(order, c.module)
		}
		x.calls++
		// An empty list in a fresh space is no fault; an empty list right after adding something
		// to the module, asked for without filters, is what a person notices.
		probe := strings.Contains(c.intent, "probing boundaries")
		switch {
		case c.isError || !c.answered:
			x.failed++
			msg := errorText(c)
			verb := "failed"
			if containsAny(strings.ToLower(msg), rejectionWords...) {
				verb = "rejected my input"
			}
			x.failures = append(x.failures, fmt.Sprintf("%s %s (%s)", c.tool, verb, msg))
			if probe {
				x.probesNo++
			}
		default:
			x.worked = appendUnique(x.worked, c.tool)
			if isEmptyResult(c) {
				if x.live > 0 && unfiltered(c.args) {
					x.empty = appendUnique(x.empty, c.tool)
				} else {
					x.nothingYet = appendUnique(x.nothingYet, c.tool)
				}
			}
			switch v := verbOf(c.tool, c.module); {
			case kindOf(v) == kindCreate:
				x.live++
			case kindOf(v) == kindDelete || hasAnyPrefix(v, "complete", "done", "archive", "finish", "mark"):
				x.live = max(x.live-1, 0)
			}
			if probe {
				x.probesOK++
			}
		}
	}
	newbie := isNewbie(req.Persona.Archetype)
	out := struct {
		Ratings []Rating `json:"ratings"`
	}{Ratings: []Rating{}}
	for _, m := range order {
		x := byModule[m]
		r := s.rng(req.Persona, runKey(req), "rate", m)
		rating := 5 - int(math.Round(4*float64(x.failed)/float64(x.calls)))
		var notes []string
		if x.failed == 0 {
			notes = append(notes, fmt.Sprintf("%d of %d calls worked (%s)", x.calls, x.calls, strings.Join(x.worked, ", ")))
		} else {
			notes = append(notes, fmt.Sprintf("%d of %d calls failed: %s", x.failed, x.calls, strings.Join(x.failures[:min(len(x.failures), 3)], "; ")))
		}
		if len(x.empty) > 0 {
			rating--
			notes = append(notes, fmt.Sprintf("%s came back empty although I had just added something", strings.Join(x.empty, ", ")))
		}
		if len(x.nothingYet) > 0 {
			notes = append(notes, fmt.Sprintf("%s had nothing yet", strings.Join(x.nothingYet, ", ")))
		}
		if x.probesNo > 0 {
			rating--
			notes = append(notes, fmt.Sprintf("it rejected %d boundary value(s) I expected to be accepted", x.probesNo))
		}
		if x.probesOK > 0 {
			notes = append(notes, fmt.Sprintf("it accepted %d call(s) with boundary values (maximum lengths, non-ASCII text, edge dates)", x.probesOK))
		}
		if newbie && x.failed > 0 {
			rating--
			notes = append(notes, "the errors left me unsure what it wanted")
		}
		if x.failed == 0 && len(x.empty) == 0 && r.IntN(4) == 0 {
			rating = 4
			notes = append(notes, "fine, though nothing stood out")
		}
		rating = min(max(rating, 1), 5)
		text := Label + " " + strings.Join(notes, "; ") + "."
		out.Ratings = append(out.Ratings, Rating{Module: m, Rating: rating, Notes: truncateRunes(text, 1000)})
	}
	b, err := json.Marshal(out)
	if err != nil {
		// Ratings hold only strings and ints; marshalling cannot fail.
		b = []byte(`{"ratings":[]}`)
	}
	return model.Response{Text: string(b), StopReason: model.StopEnd}
}

// unfiltered reports whether a read asked for everything (only paging arguments), so that an
// empty answer after adding something is a surprise rather than the effect of a filter.
func unfiltered(args map[string]any) bool {
	for k := range args {
		if !contains([]string{"limit", "offset", "page", "days", "pageSize"}, k) {
			return false
		}
	}
	return true
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func appendUnique(xs []string, x string) []string {
	for _, y := range xs {
		if y == x {
			return xs
		}
	}
	return append(xs, x)
}
