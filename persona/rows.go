package persona

import (
	"fmt"
	"strings"
)

// ValidateAction checks one action row of a batch; field names carry the row index.
func ValidateAction(i int, a Action) error {
	var es FieldErrors
	f := func(name string) string { return fmt.Sprintf("actions[%d].%s", i, name) }
	if strings.TrimSpace(a.TickID) == "" {
		es.Add(f("tickId"), "is required")
	}
	if strings.TrimSpace(a.ToolName) == "" {
		es.Add(f("toolName"), "is required")
	}
	if a.Result != ResultOK && a.Result != ResultError {
		es.Add(f("result"), "must be ok or error (got %q)", a.Result)
	}
	if a.LatencyMs < 0 {
		es.Add(f("latencyMs"), "must be ≥ 0")
	}
	if a.Seq < 0 {
		es.Add(f("seq"), "must be ≥ 0")
	}
	if len(a.InputHash) > 64 {
		es.Add(f("inputHash"), "must be at most 64 characters")
	}
	return es.Err()
}

// ValidateFeedback checks one feedback row of a batch; field names carry the row index.
func ValidateFeedback(i int, fb Feedback) error {
	var es FieldErrors
	f := func(name string) string { return fmt.Sprintf("feedback[%d].%s", i, name) }
	if strings.TrimSpace(fb.TickID) == "" {
		es.Add(f("tickId"), "is required")
	}
	if strings.TrimSpace(fb.Module) == "" {
		es.Add(f("module"), "is required")
	}
	if fb.Rating < 1 || fb.Rating > 5 {
		es.Add(f("rating"), "must be an integer from 1 to 5 (got %d)", fb.Rating)
	}
	if len([]rune(fb.Notes)) > MaxFeedbackNotes {
		es.Add(f("notes"), "must be at most %d characters", MaxFeedbackNotes)
	}
	return es.Err()
}

// NormalizeAction fills the derived fields of a valid row: module from the tool name, id from
// tick/seq/tool, error message cut to MaxErrorMessage.
func NormalizeAction(personaID string, a Action) Action {
	a.PersonaID = personaID
	if a.Module == "" {
		a.Module = ModuleOf(a.ToolName)
	}
	if a.ID == "" {
		a.ID = ActionID(a.TickID, a.Seq, a.ToolName)
	}
	a.ErrorMessage = Truncate(a.ErrorMessage, MaxErrorMessage)
	return a
}

// NormalizeFeedback fills the id and persona of a valid row.
func NormalizeFeedback(personaID string, fb Feedback) Feedback {
	fb.PersonaID = personaID
	if fb.ID == "" {
		fb.ID = FeedbackID(fb.TickID, fb.Module)
	}
	return fb
}

// ValidateTick checks a tick record.
func ValidateTick(t Tick) error {
	var es FieldErrors
	if strings.TrimSpace(t.TickID) == "" {
		es.Add("tickId", "is required")
	}
	if strings.TrimSpace(t.PersonaID) == "" {
		es.Add("personaId", "is required")
	}
	if !t.Status.Valid() {
		es.Add("status", "must be one of running, ok, failed, timeout, cancelled (got %q)", t.Status)
	}
	if t.ToolCalls < 0 || t.Errors < 0 || t.Turns < 0 || t.InputTokens < 0 || t.OutputTokens < 0 || t.CachedTokens < 0 || t.CostUSD < 0 {
		es.Add("counts", "must be ≥ 0")
	}
	return es.Err()
}
