package persona

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// MaxInt32 bounds the counters PostgreSQL keeps as integer (seq, tool calls, errors, turns):
// a larger value would fail there and be kept by SQLite, so both stores refuse it.
const MaxInt32 = math.MaxInt32

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
	if a.LatencyMs != nil && *a.LatencyMs < 0 {
		es.Add(f("latencyMs"), "must be ≥ 0")
	}
	if a.Seq < 0 || a.Seq > MaxInt32 {
		es.Add(f("seq"), "must be from 0 to %d (got %d)", MaxInt32, a.Seq)
	}
	if len(a.InputHash) > 64 {
		es.Add(f("inputHash"), "must be at most 64 characters")
	}
	for _, k := range []struct{ name, value string }{{"tickId", a.TickID}, {"toolName", a.ToolName}, {"module", a.Module}} {
		if len(k.value) > MaxKeyText {
			es.Add(f(k.name), "must be at most %d bytes (got %d)", MaxKeyText, len(k.value))
		}
	}
	if len(a.Arguments) > 0 && !json.Valid(a.Arguments) {
		es.Add(f("arguments"), "must be valid JSON")
	}
	if a.ErrorClass != "" && (len(a.ErrorClass) > 40 || !validErrorClass.MatchString(string(a.ErrorClass))) {
		es.Add(f("errorClass"), "must be lowercase words joined by '-', at most 40 characters (got %q)", Truncate(string(a.ErrorClass), 60))
	}
	for _, t := range []struct{ name, value string }{
		{"id", a.ID}, {"tickId", a.TickID}, {"toolName", a.ToolName}, {"module", a.Module},
		{"inputHash", a.InputHash}, {"errorMessage", a.ErrorMessage}, {"resultPreview", a.ResultPreview},
	} {
		es.Text(f(t.name), t.value)
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
	for _, t := range []struct{ name, value string }{
		{"id", fb.ID}, {"tickId", fb.TickID}, {"module", fb.Module}, {"notes", fb.Notes},
	} {
		es.Text(f(t.name), t.value)
	}
	return es.Err()
}

// NormalizeAction fills the derived fields of a valid row: module from the tool name, id from
// tick/seq/tool, error message cut to MaxErrorMessage characters and MaxErrorMessageBytes, the error class of a failed call from its
// message when none was given; and keeps its evidence safe to store: secret-looking argument
// values redacted, arguments and result preview cut to MaxEvidence (EvidenceArguments).
func NormalizeAction(personaID string, a Action) Action {
	a.PersonaID = personaID
	if a.Module == "" {
		a.Module = ModuleOf(a.ToolName)
	}
	if a.ID == "" {
		a.ID = ActionID(a.TickID, a.Seq, a.ToolName)
	}
	a.ErrorMessage = TruncateBytes(a.ErrorMessage, MaxErrorMessage, MaxErrorMessageBytes)
	if a.Result == ResultError && a.ErrorClass == "" {
		a.ErrorClass = ClassifyError(a.ErrorMessage)
	}
	if a.Result == ResultOK {
		a.ErrorClass = ""
	}
	a.Arguments = EvidenceArguments(a.Arguments)
	a.ResultPreview = EvidencePreview(a.ResultPreview)
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

// ValidateTick checks a tick record, naming each bad field.
func ValidateTick(t Tick) error {
	var es FieldErrors
	if strings.TrimSpace(t.TickID) == "" {
		es.Add("tickId", "is required")
	}
	if strings.TrimSpace(t.PersonaID) == "" {
		es.Add("personaId", "is required")
	}
	if !t.Status.Valid() {
		es.Add("status", "must be one of running, ok, degraded, failed, timeout, cancelled, abandoned (got %q)", t.Status)
	}
	for _, c := range []struct {
		name string
		v    int
	}{{"toolCalls", t.ToolCalls}, {"errors", t.Errors}, {"turns", t.Turns}} {
		if c.v < 0 || c.v > MaxInt32 {
			es.Add(c.name, "must be from 0 to %d (got %d)", MaxInt32, c.v)
		}
	}
	for _, c := range []struct {
		name string
		v    int64
	}{{"inputTokens", t.InputTokens}, {"outputTokens", t.OutputTokens}, {"cachedTokens", t.CachedTokens}} {
		if c.v < 0 {
			es.Add(c.name, "must be ≥ 0 (got %d)", c.v)
		}
	}
	// SQLite stores NaN as NULL (refused by NOT NULL) while PostgreSQL keeps it.
	if t.CostUSD < 0 || math.IsNaN(t.CostUSD) || math.IsInf(t.CostUSD, 0) {
		es.Add("costUsd", "must be a number ≥ 0 (got %v)", t.CostUSD)
	}
	for _, f := range []struct{ name, value string }{
		{"tickId", t.TickID}, {"personaId", t.PersonaID}, {"runnerId", t.RunnerID}, {"model", t.Model},
		{"summary", t.Summary}, {"error", t.Error}, {"target", t.Target}, {"serverName", t.ServerName},
		{"serverVersion", t.ServerVersion}, {"stage", t.Stage},
	} {
		es.Text(f.name, f.value)
	}
	if len(t.Stage) > 40 {
		es.Add("stage", "must be at most 40 characters (got %d)", len(t.Stage))
	}
	// PostgreSQL's json column refuses what is not JSON; SQLite's TEXT would keep it.
	if len(t.Transcript) > 0 && !json.Valid(t.Transcript) {
		es.Add("transcript", "must be valid JSON")
	} else if len(t.Transcript) > 0 {
		es.Text("transcript", string(t.Transcript))
	}
	return es.Err()
}

// MaxTickError is the longest tick error kept, in characters; longer ones are cut.
const MaxTickError = 2000

// NormalizeTick prepares a valid tick record for storage the same way in every store: the error
// text is cut to MaxTickError characters (never inside a character).
func NormalizeTick(t Tick) Tick {
	t.Error = Truncate(t.Error, MaxTickError)
	return t
}

// RunRecord is everything one persona run writes (SPEC §5.3 step 5): its action rows, its
// feedback rows and its tick record, all of the persona Tick.PersonaID.
type RunRecord struct {
	Tick     Tick
	Actions  []Action
	Feedback []Feedback
}

// RunWritten counts the rows RecordRun inserted and the ones it skipped because their ids
// existed.
type RunWritten struct {
	Actions, ActionDuplicates    int
	Feedback, FeedbackDuplicates int
}

// ValidateActionRows checks a batch of action rows (InsertActions) and returns every problem
// of every row at once, named "actions[i].…".
func ValidateActionRows(rows []Action) error {
	var es FieldErrors
	for i, a := range rows {
		es.merge(ValidateAction(i, a))
	}
	return es.Err()
}

// ValidateFeedbackRows checks a batch of feedback rows (InsertFeedback) and returns every
// problem of every row at once, named "feedback[i].…".
func ValidateFeedbackRows(rows []Feedback) error {
	var es FieldErrors
	for i, fb := range rows {
		es.merge(ValidateFeedback(i, fb))
	}
	return es.Err()
}

// ValidateRun checks a whole run record the way InsertActions, InsertFeedback and RecordTick
// check their parts, and returns every problem at once: rows named "actions[i].…" and
// "feedback[i].…", the tick's fields by name.
func ValidateRun(run RunRecord) error {
	var es FieldErrors
	es.merge(ValidateActionRows(run.Actions))
	es.merge(ValidateFeedbackRows(run.Feedback))
	es.merge(ValidateTick(run.Tick))
	return es.Err()
}

// merge records the problems of err, the FieldErrors of another validation (nil adds nothing).
func (es *FieldErrors) merge(err error) {
	var fes FieldErrors
	if errors.As(err, &fes) {
		*es = append(*es, fes...)
	}
}
