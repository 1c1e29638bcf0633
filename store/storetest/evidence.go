package storetest

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/persona-runner/persona-runner/persona"
)

// evidenceTests are the evidence cases of the suite (listed in Run).
var evidenceTests = []suiteTest{
	{"Evidence/ArgumentsPreviewClass", testEvidence},
	{"Evidence/RunRecordAndTickServer", testEvidenceRun},
	{"RecordTick/DegradedSchedulesLikeOK", testTickDegraded},
}

// testEvidence: a call's arguments, result preview and error class are kept (issue 10), with
// secret-looking keys redacted and each piece cut at 16 KB; rows without them stay valid and
// read back without them; a failed call without a class gets one from its message.
func testEvidence(e *env) {
	id := e.persona("ev@mana.test", persona.Daily, "UTC")
	long := strings.Repeat("ü", persona.MaxEvidence) // 2 bytes each: twice the cap
	rows := []persona.Action{
		{TickID: "t1", ToolName: "todo.create", Result: persona.ResultOK, Seq: 1,
			Arguments:     json.RawMessage(`{"title":"milk","apiKey":"k-123","nested":{"Password":"p","list":[{"access_token":"x","n":1}]}}`),
			ResultPreview: `{"id":"t-1","title":"milk"}`},
		{TickID: "t1", ToolName: "notes.create", Result: persona.ResultError, Seq: 2, ErrorMessage: "invalid input: title: must be at most 200 characters (got 201)",
			Arguments: json.RawMessage(`{"title":"` + long + `"}`), ResultPreview: long},
		{TickID: "t1", ToolName: "calendar.createEvent", Result: persona.ResultError, Seq: 3, ErrorMessage: "upstream exploded", ErrorClass: persona.ClassTransport},
		{TickID: "t1", ToolName: "mood.log", Result: persona.ResultOK, Seq: 4},
	}
	e.insertActions(id, rows)
	got, err := e.s.Actions(e.ctx, persona.ActionQuery{TickID: "t1"})
	if err != nil || len(got) != 4 {
		e.t.Fatalf("Actions = %d rows, %v", len(got), err)
	}
	var args map[string]any
	if err := json.Unmarshal(got[0].Arguments, &args); err != nil {
		e.t.Fatalf("arguments %s: %v", got[0].Arguments, err)
	}
	want := map[string]any{"title": "milk", "apiKey": persona.Redacted, "nested": map[string]any{"Password": persona.Redacted,
		"list": []any{map[string]any{"access_token": persona.Redacted, "n": float64(1)}}}}
	if diff := cmp.Diff(want, args); diff != "" {
		e.t.Errorf("redacted arguments (-want +got):\n%s", diff)
	}
	if got[0].ResultPreview != `{"id":"t-1","title":"milk"}` || got[0].ErrorClass != "" {
		e.t.Errorf("ok row: preview %q class %q", got[0].ResultPreview, got[0].ErrorClass)
	}
	if n := len(got[1].Arguments); n > persona.MaxEvidence || !json.Valid(got[1].Arguments) {
		e.t.Errorf("long arguments: %d bytes, valid JSON %v; want ≤ %d, valid", n, json.Valid(got[1].Arguments), persona.MaxEvidence)
	}
	if p := got[1].ResultPreview; len(p) > persona.MaxEvidence || !strings.HasSuffix(p, "(cut at 16 KB)") || !strings.HasPrefix(p, "üü") {
		e.t.Errorf("long preview: %d bytes, ends %q", len(p), p[max(0, len(p)-20):])
	}
	if got[1].ErrorClass != persona.ClassInvalidInput || got[2].ErrorClass != persona.ClassTransport {
		e.t.Errorf("classes %q, %q; want invalid-input (from the message), transport (as given)", got[1].ErrorClass, got[2].ErrorClass)
	}
	if got[3].Arguments != nil || got[3].ResultPreview != "" || got[3].ErrorClass != "" {
		e.t.Errorf("row without evidence read back with %+v", got[3])
	}
	// Bad evidence is refused by field, and nothing is written.
	_, _, err = e.s.InsertActions(e.ctx, id, []persona.Action{
		{TickID: "t2", ToolName: "a.b", Result: persona.ResultOK, Arguments: json.RawMessage(`{"x":`)},
		{TickID: "t2", ToolName: "a.c", Result: persona.ResultError, ErrorClass: "Not A Class", Seq: 1},
	})
	wantErrMentions(e.t, "InsertActions(bad evidence)", err, persona.ErrInvalid, "actions[0].arguments", "actions[1].errorClass")
	if rows, _ := e.s.Actions(e.ctx, persona.ActionQuery{TickID: "t2"}); len(rows) != 0 {
		e.t.Errorf("a refused batch wrote %d rows", len(rows))
	}
}

// testEvidenceRun: RecordRun keeps the evidence too, and a tick record keeps the target and the
// server's name and version.
func testEvidenceRun(e *env) {
	id := e.persona("evrun@mana.test", persona.Daily, "UTC")
	at := e.clock.Now()
	run := persona.RunRecord{
		Tick: persona.Tick{TickID: "r1", PersonaID: id, RunnerID: "r", Status: persona.TickOK, StartedAt: at, FinishedAt: &at,
			Target: "kitchen", ServerName: "mana", ServerVersion: "2.1.0", Stage: "mcp"},
		Actions: []persona.Action{{TickID: "r1", ToolName: "todo.list", Result: persona.ResultError, Seq: 1, LatencyMs: persona.Latency(5),
			ErrorMessage: "rate limit: at most 30 calls", Arguments: json.RawMessage(`{"token":"t"}`), ResultPreview: "rate limit: at most 30 calls"}},
	}
	if _, err := e.s.RecordRun(e.ctx, run); err != nil {
		e.t.Fatal(err)
	}
	tk, err := e.s.Tick(e.ctx, "r1")
	if err != nil {
		e.t.Fatal(err)
	}
	if tk.Target != "kitchen" || tk.ServerName != "mana" || tk.ServerVersion != "2.1.0" || tk.Stage != "mcp" {
		e.t.Errorf("tick server fields and stage: %q %q %q %q", tk.Target, tk.ServerName, tk.ServerVersion, tk.Stage)
	}
	got, err := e.s.Actions(e.ctx, persona.ActionQuery{TickID: "r1"})
	if err != nil || len(got) != 1 {
		e.t.Fatalf("Actions = %v, %v", got, err)
	}
	if string(got[0].Arguments) != `{"token":"[redacted]"}` || got[0].ErrorClass != persona.ClassRateLimited || got[0].ResultPreview == "" {
		e.t.Errorf("run row evidence: %s %q %q", got[0].Arguments, got[0].ErrorClass, got[0].ResultPreview)
	}
}

// testTickDegraded: a degraded run (calls worked, ratings unusable) did its day: it moves
// last_active_at and clears back-off like ok, and History includes it.
func testTickDegraded(e *env) {
	id := e.persona("degraded@mana.test", persona.Hourly, "UTC")
	e.claim("runner-a", 1, time.Hour)
	fin := e.clock.Now()
	e.tick(persona.Tick{TickID: "t-d", PersonaID: id, RunnerID: "runner-a", Status: persona.TickDegraded, FinishedAt: &fin,
		Error: "rating: unusable rating reply"})
	p := e.get(id)
	if !equalTime(p.LastActiveAt, &fin) || p.FailureCount != 0 || p.LeaseOwner != "" {
		e.t.Errorf("after degraded: last %v failures %d lease %q; want last=%v, no failures, no lease", p.LastActiveAt, p.FailureCount, p.LeaseOwner, fin)
	}
	h, err := e.s.History(e.ctx, id, 5)
	if err != nil || len(h) != 1 || h[0].Tick.Status != persona.TickDegraded {
		e.t.Errorf("History = %+v, %v; want the degraded run", h, err)
	}
	ts, err := e.s.Ticks(e.ctx, persona.TickQuery{PersonaID: id, Status: persona.TickDegraded})
	if err != nil || len(ts) != 1 {
		e.t.Errorf("Ticks(status degraded) = %d, %v", len(ts), err)
	}
}
