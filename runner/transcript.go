package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
	"strings"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/persona"
)

// transcript is the whole conversation as stored in the tick record.
type transcript struct {
	Model        string          `json:"model"`
	System       string          `json:"system"`
	Tools        []string        `json:"tools"`
	Messages     []model.Message `json:"messages"`
	RatingTurnAt *int            `json:"ratingTurnAt,omitempty"`
	// ServerStderr is what a stdio server wrote to its stderr during the run (at most 64 KB,
	// its head and tail): the app's own account of what went wrong.
	ServerStderr string `json:"serverStderr,omitempty"`
	// OfferedTools are the tools the target offered this run (MCP names, modules as mapped):
	// what `report --target` measures coverage against.
	OfferedTools []persona.OfferedTool `json:"offeredTools,omitempty"`
}

// stderrer is a session that keeps its server's stderr (target.Session of a stdio target).
type stderrer interface{ Stderr() string }

func (rn *run) record(status persona.TickStatus, errText string) persona.Tick {
	r := rn.r
	finished := r.now()
	t := persona.Tick{
		TickID:       rn.tickID,
		PersonaID:    rn.p.UserID,
		RunnerID:     r.cfg.RunnerID,
		Status:       status,
		StartedAt:    rn.started,
		FinishedAt:   &finished,
		ToolCalls:    len(rn.actions),
		Turns:        rn.turns,
		InputTokens:  rn.usage.InputTokens,
		OutputTokens: rn.usage.OutputTokens,
		CachedTokens: rn.usage.CachedTokens,
		Model:        rn.modelName,
		Summary:      cleanText(rn.summary, 2000),
		// The target and what its server said it is (SPEC §10), so a report can tell runs
		// against one app version from the next.
		Target:        rn.target,
		ServerName:    cleanText(rn.server.Name, 200),
		ServerVersion: cleanText(rn.server.Version, 200),
	}
	for _, a := range rn.actions {
		if a.Result == persona.ResultError {
			t.Errors++
		}
	}
	t.CostUSD = r.cfg.cost(rn.modelName, t.InputTokens, t.OutputTokens, t.CachedTokens)
	msgs := append([]string{}, errText)
	msgs = append(msgs, rn.notes...)
	t.Error = cleanText(strings.Trim(strings.Join(msgs, "; "), "; "), 2000)
	var tools []string // null in the transcript when the tools were never listed
	if rn.modelTools != nil {
		tools = make([]string, len(rn.modelTools))
		for i, t := range rn.modelTools {
			tools[i] = t.Name
		}
	}
	tr := transcript{Model: rn.modelName, System: rn.system, Tools: tools, Messages: rn.messages}
	for _, s := range rn.tools {
		if s.Offered() {
			tr.OfferedTools = append(tr.OfferedTools, persona.OfferedTool{Name: s.Name, Module: s.Module})
		}
	}
	sort.Slice(tr.OfferedTools, func(i, j int) bool { return tr.OfferedTools[i].Name < tr.OfferedTools[j].Name })
	if se, ok := rn.session.(stderrer); ok {
		// Read after the session closed (execute's defer), so the server's last words are in.
		tr.ServerStderr = strings.ToValidUTF8(se.Stderr(), "\uFFFD")
	}
	if rn.ratingAt >= 0 {
		at := rn.ratingAt
		tr.RatingTurnAt = &at
	}
	if tr.Messages == nil {
		tr.Messages = []model.Message{}
	}
	t.Transcript = encodeTranscript(tr)
	return t
}

// maxTranscript keeps a tick record well inside the auth API's 1 MiB request limit.
const maxTranscript = 512 << 10

// encodeTranscript renders the transcript, cutting long texts and then dropping messages when it
// would not fit in maxTranscript. PostgreSQL's jsonb refuses the NUL character, so it is removed.
func encodeTranscript(tr transcript) json.RawMessage {
	b, err := json.Marshal(tr)
	if err == nil && len(b) > maxTranscript {
		short := make([]model.Message, len(tr.Messages))
		for i, m := range tr.Messages {
			m.Text = persona.Truncate(m.Text, 2000)
			if m.ToolResults != nil {
				rs := make([]model.ToolResult, len(m.ToolResults))
				for j, r := range m.ToolResults {
					r.Content = persona.Truncate(r.Content, 500)
					rs[j] = r
				}
				m.ToolResults = rs
			}
			short[i] = m
		}
		tr.Messages = short
		b, err = json.Marshal(tr)
		if err == nil && len(b) > maxTranscript {
			tr.Messages = []model.Message{}
			tr.System = persona.Truncate(tr.System, 2000)
			tr.ServerStderr = persona.Truncate(tr.ServerStderr, 4000)
			b, err = json.Marshal(struct {
				transcript
				Truncated string `json:"truncated"`
			}{tr, "the conversation was too long to keep"})
		}
	}
	if err != nil {
		return nil
	}
	if bytes.Contains(b, []byte(`\u0000`)) {
		var v any
		if json.Unmarshal(b, &v) == nil {
			if b2, err := json.Marshal(stripNUL(v)); err == nil {
				b = b2
			}
		}
	}
	return b
}

// stripNUL removes NUL characters from every string (keys included) of a decoded JSON value.
func stripNUL(v any) any {
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, "\x00", "")
	case []any:
		for i := range x {
			x[i] = stripNUL(x[i])
		}
		return x
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[strings.ReplaceAll(k, "\x00", "")] = stripNUL(e)
		}
		return out
	}
	return v
}

// errUnsaved marks a persist error after which the run's rows may still be written: every
// failure was transient and the persist budget ran out. Such a run goes to the outbox.
var errUnsaved = errors.New("the store did not take the run in time")

// errTickRefused marks a writeRun error after which the store refused the tick record for good.
// It reads as nothing, so the message stays the list of what was not written.
var errTickRefused = errors.New("")
