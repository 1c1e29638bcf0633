package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/persona-runner/persona-runner/persona"
)

// rowsTests are the rows cases of the suite (listed in Run).
var rowsTests = []suiteTest{
	{"InsertActions/Idempotent", testInsertActions},
	{"InsertActions/BadRowWritesNothing", testInsertActionsBadRow},
	{"InsertActions/UnknownPersona", testInsertActionsUnknown},
	{"InsertActions/MarksUnleasedPersonaActive", testInsertActionsMarksActive},
	{"InsertActions/UnknownLatencyIsNull", testInsertActionsNullLatency},
	{"InsertActions/ConcurrentWritersShareRollups", testConcurrentWritersShareRollups},
	{"InsertFeedback/Idempotent", testInsertFeedback},
	{"InsertFeedback/BadRowWritesNothing", testInsertFeedbackBadRow},
	{"Reads/ActionsFilters", testActionsFilters},
	{"Reads/FeedbackFilters", testFeedbackFilters},
	{"Reads/TicksFilters", testTicksFilters},
	{"Reads/RecentActions", testRecentActions},
	{"Reads/FeedbackByModule", testFeedbackByModule},
	{"Reads/History", testHistory},
	{"Reads/ListPersonas", testListPersonas},
	{"DeletePersona", testDeletePersona},
	{"DeletePersona/Refusals", testDeletePersonaRefusals},
}

func actions(tick string, tools ...string) []persona.Action {
	out := make([]persona.Action, len(tools))
	for i, tool := range tools {
		out[i] = persona.Action{TickID: tick, ToolName: tool, Result: persona.ResultOK, Seq: i, LatencyMs: persona.Latency(int64(10 * i)), InputHash: "abcdef0123456789"}
	}
	return out
}

func (e *env) insertActions(id string, rows []persona.Action) {
	e.t.Helper()
	if w, d, err := e.s.InsertActions(e.ctx, id, rows); err != nil || w != len(rows) || d != 0 {
		e.t.Fatalf("InsertActions = %d, %d, %v; want %d written", w, d, err, len(rows))
	}
}

func (e *env) insertFeedback(id string, rows []persona.Feedback) {
	e.t.Helper()
	if w, d, err := e.s.InsertFeedback(e.ctx, id, rows); err != nil || w != len(rows) || d != 0 {
		e.t.Fatalf("InsertFeedback = %d, %d, %v; want %d written", w, d, err, len(rows))
	}
}

func testInsertActions(e *env) {
	id := e.persona("a@mana.test", persona.Daily, "UTC")
	rows := actions("tick-1", "todo.create", "notes.list", "todo.complete")
	rows[1].Result, rows[1].ErrorMessage = persona.ResultError, strings.Repeat("é", 600)
	w, d, err := e.s.InsertActions(e.ctx, id, rows)
	if err != nil || w != 3 || d != 0 {
		e.t.Fatalf("first insert = %d written, %d duplicates, %v; want 3, 0", w, d, err)
	}
	w, d, err = e.s.InsertActions(e.ctx, id, rows)
	if err != nil || w != 0 || d != 3 {
		e.t.Fatalf("replay = %d written, %d duplicates, %v; want 0, 3", w, d, err)
	}
	more := append(actions("tick-1", "todo.create", "notes.list", "todo.complete"), persona.Action{TickID: "tick-1", ToolName: "mood.log", Result: persona.ResultOK, Seq: 3})
	w, d, err = e.s.InsertActions(e.ctx, id, more)
	if err != nil || w != 1 || d != 3 {
		e.t.Fatalf("overlapping insert = %d written, %d duplicates, %v; want 1, 3", w, d, err)
	}
	got, err := e.s.Actions(e.ctx, persona.ActionQuery{PersonaID: id})
	if err != nil {
		e.t.Fatal(err)
	}
	now := e.clock.Now()
	want := []persona.Action{
		{ID: "tick-1-0-todo.create", PersonaID: id, TickID: "tick-1", ToolName: "todo.create", Module: "todo", InputHash: "abcdef0123456789", Result: "ok", LatencyMs: persona.Latency(0), Seq: 0, CreatedAt: now},
		{ID: "tick-1-1-notes.list", PersonaID: id, TickID: "tick-1", ToolName: "notes.list", Module: "notes", InputHash: "abcdef0123456789", Result: "error", ErrorMessage: strings.Repeat("é", 500), LatencyMs: persona.Latency(10), Seq: 1, CreatedAt: now, ErrorClass: persona.ClassServerError},
		{ID: "tick-1-2-todo.complete", PersonaID: id, TickID: "tick-1", ToolName: "todo.complete", Module: "todo", InputHash: "abcdef0123456789", Result: "ok", LatencyMs: persona.Latency(20), Seq: 2, CreatedAt: now},
		{ID: "tick-1-3-mood.log", PersonaID: id, TickID: "tick-1", ToolName: "mood.log", Module: "mood", Result: "ok", Seq: 3, CreatedAt: now},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		e.t.Errorf("stored actions (-want +got):\n%s", diff)
	}
	// A duplicate inside one batch counts once.
	w, d, err = e.s.InsertActions(e.ctx, id, append(actions("tick-2", "todo.list"), actions("tick-2", "todo.list")...))
	if err != nil || w != 1 || d != 1 {
		e.t.Errorf("batch with an inner duplicate = %d, %d, %v; want 1, 1", w, d, err)
	}
	// Explicit ids and times are kept.
	at := Start.Add(-time.Hour)
	w, _, err = e.s.InsertActions(e.ctx, id, []persona.Action{{ID: "custom-id", TickID: "tick-3", ToolName: "x.y", Module: "custom", Result: "ok", CreatedAt: at}})
	if err != nil || w != 1 {
		e.t.Fatal(w, err)
	}
	got, _ = e.s.Actions(e.ctx, persona.ActionQuery{TickID: "tick-3"})
	if len(got) != 1 || got[0].ID != "custom-id" || got[0].Module != "custom" || !got[0].CreatedAt.Equal(at) {
		e.t.Errorf("action with explicit fields = %+v", got)
	}
}

func testInsertActionsBadRow(e *env) {
	id := e.persona("a@mana.test", persona.Daily, "UTC")
	rows := actions("tick-1", "todo.create", "notes.list", "todo.complete")
	rows[2].Result = "maybe"
	_, _, err := e.s.InsertActions(e.ctx, id, rows)
	wantErrMentions(e.t, "InsertActions(bad row)", err, persona.ErrInvalid, "actions[2].result")
	rows[2].Result, rows[1].ToolName = persona.ResultOK, ""
	_, _, err = e.s.InsertActions(e.ctx, id, rows)
	wantErrMentions(e.t, "InsertActions(no tool)", err, persona.ErrInvalid, "actions[1].toolName")
	if got, _ := e.s.Actions(e.ctx, persona.ActionQuery{PersonaID: id}); len(got) != 0 {
		e.t.Errorf("a refused batch wrote %d rows", len(got))
	}
}

func testInsertActionsUnknown(e *env) {
	_, _, err := e.s.InsertActions(e.ctx, "no-such-persona", actions("t", "todo.create"))
	wantErr(e.t, "InsertActions(unknown persona)", err, persona.ErrNotFound)
	_, _, err = e.s.InsertFeedback(e.ctx, "no-such-persona", []persona.Feedback{{TickID: "t", Module: "todo", Rating: 3}})
	wantErr(e.t, "InsertFeedback(unknown persona)", err, persona.ErrNotFound)
	// A human is not a persona either.
	u, _, err := e.s.UpsertUser(e.ctx, persona.UserInput{Email: "h@mana.test", Password: "human-password"})
	if err != nil {
		e.t.Fatal(err)
	}
	_, _, err = e.s.InsertActions(e.ctx, u.ID, actions("t", "todo.create"))
	wantErr(e.t, "InsertActions(human)", err, persona.ErrNotFound)
}

// testInsertActionsMarksActive: rows of a runner that records no ticks (the original) mark the
// persona active, so it is not due again at the next tick; a persona leased by a claim is left to
// its tick record.
func testInsertActionsMarksActive(e *env) {
	free := e.persona("free@mana.test", persona.Daily, "UTC")
	leased := e.persona("leased@mana.test", persona.Daily, "UTC")
	if !e.isDue(free) || !e.isDue(leased) {
		e.t.Fatal("new personas are not due")
	}
	// A refused batch marks nothing.
	bad := actions("t-0", "todo.create")
	bad[0].Result = "maybe"
	if _, _, err := e.s.InsertActions(e.ctx, free, bad); err == nil {
		e.t.Fatal("a bad row was accepted")
	}
	if p := e.get(free); p.LastActiveAt != nil {
		e.t.Fatalf("a refused batch set last_active_at to %v", p.LastActiveAt)
	}
	if got := ids(e.claim("runner-1", 10, 10*time.Minute)); len(got) != 2 {
		e.t.Fatalf("claimed %v, want both", got)
	}
	// Give the free persona its lease back, as a run through ticks would.
	e.tick(persona.Tick{TickID: "t-cancel", PersonaID: free, RunnerID: "runner-1", Status: persona.TickCancelled, StartedAt: e.clock.Now()})

	e.clock.Advance(time.Minute)
	at := e.clock.Now()
	e.insertActions(free, actions("t-1", "todo.create", "todo.create"))
	e.insertActions(leased, actions("t-2", "todo.create"))
	if p := e.get(free); !equalTime(p.LastActiveAt, &at) {
		e.t.Errorf("unleased persona: last_active_at = %v, want the insert's time %v", p.LastActiveAt, at)
	}
	if p := e.get(leased); p.LastActiveAt != nil {
		e.t.Errorf("leased persona: last_active_at = %v, want it left to the tick record", p.LastActiveAt)
	}
	e.clock.Advance(time.Minute)
	if e.isDue(free) {
		e.t.Error("the persona whose rows came in is due again a minute later")
	}
	// Once the lease has expired the rows count again.
	e.clock.Advance(10 * time.Minute)
	at = e.clock.Now()
	e.insertActions(leased, actions("t-3", "notes.list"))
	if p := e.get(leased); !equalTime(p.LastActiveAt, &at) {
		e.t.Errorf("persona with an expired lease: last_active_at = %v, want %v", p.LastActiveAt, at)
	}
	// A replay of rows already stored is still an accepted POST.
	e.clock.Advance(time.Minute)
	at = e.clock.Now()
	if w, d, err := e.s.InsertActions(e.ctx, free, actions("t-1", "todo.create")); err != nil || w != 0 || d != 1 {
		e.t.Fatalf("replay = %d, %d, %v", w, d, err)
	}
	if p := e.get(free); !equalTime(p.LastActiveAt, &at) {
		e.t.Errorf("after a replay: last_active_at = %v, want %v", p.LastActiveAt, at)
	}
}

// testInsertActionsNullLatency: an unknown latency is stored as null and read back as nil; a
// measured 0 ms stays 0.
func testInsertActionsNullLatency(e *env) {
	id := e.persona("n@mana.test", persona.Daily, "UTC")
	rows := actions("t", "todo.create", "todo.list")
	rows[0].LatencyMs = nil
	e.insertActions(id, rows)
	got, err := e.s.Actions(e.ctx, persona.ActionQuery{PersonaID: id})
	if err != nil || len(got) != 2 {
		e.t.Fatal(got, err)
	}
	if got[0].LatencyMs != nil {
		e.t.Errorf("unknown latency read back as %d", *got[0].LatencyMs)
	}
	if got[1].LatencyMs == nil || *got[1].LatencyMs != 10 {
		e.t.Errorf("latency 10 read back as %v", got[1].LatencyMs)
	}
	recent, err := e.s.RecentActions(e.ctx, id, 5)
	if err != nil || len(recent) != 2 {
		e.t.Fatal(recent, err)
	}
	for _, a := range recent {
		if (a.Seq == 0) != (a.LatencyMs == nil) {
			e.t.Errorf("recent action %d latency %v", a.Seq, a.LatencyMs)
		}
	}
}

func testInsertFeedback(e *env) {
	id := e.persona("f@mana.test", persona.Daily, "UTC")
	rows := []persona.Feedback{
		{TickID: "tick-1", Module: "todo", Rating: 4, Notes: "quick to add things"},
		{TickID: "tick-1", Module: "notes", Rating: 2},
	}
	w, d, err := e.s.InsertFeedback(e.ctx, id, rows)
	if err != nil || w != 2 || d != 0 {
		e.t.Fatalf("first insert = %d, %d, %v; want 2, 0", w, d, err)
	}
	w, d, err = e.s.InsertFeedback(e.ctx, id, rows)
	if err != nil || w != 0 || d != 2 {
		e.t.Fatalf("replay = %d, %d, %v; want 0, 2", w, d, err)
	}
	got, err := e.s.Feedback(e.ctx, persona.FeedbackQuery{PersonaID: id})
	if err != nil {
		e.t.Fatal(err)
	}
	now := e.clock.Now()
	want := []persona.Feedback{
		{ID: "tick-1-notes", PersonaID: id, TickID: "tick-1", Module: "notes", Rating: 2, CreatedAt: now},
		{ID: "tick-1-todo", PersonaID: id, TickID: "tick-1", Module: "todo", Rating: 4, Notes: "quick to add things", CreatedAt: now},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		e.t.Errorf("stored feedback (-want +got):\n%s", diff)
	}
}

func testInsertFeedbackBadRow(e *env) {
	id := e.persona("f@mana.test", persona.Daily, "UTC")
	rows := []persona.Feedback{
		{TickID: "tick-1", Module: "todo", Rating: 4},
		{TickID: "tick-1", Module: "notes", Rating: 6},
	}
	_, _, err := e.s.InsertFeedback(e.ctx, id, rows)
	wantErrMentions(e.t, "InsertFeedback(rating 6)", err, persona.ErrInvalid, "feedback[1].rating")
	rows[1].Rating, rows[0].Module = 0, ""
	_, _, err = e.s.InsertFeedback(e.ctx, id, rows)
	wantErrMentions(e.t, "InsertFeedback(two bad rows)", err, persona.ErrInvalid, "feedback[0].module", "feedback[1].rating")
	if got, _ := e.s.Feedback(e.ctx, persona.FeedbackQuery{PersonaID: id}); len(got) != 0 {
		e.t.Errorf("a refused batch wrote %d rows", len(got))
	}
}

// activity gives two personas actions, feedback and ticks on three days; it returns their ids.
func (e *env) activity() (a, b string) {
	a = e.persona("a@mana.test", persona.Daily, "UTC")
	b = e.persona("b@mana.test", persona.Daily, "UTC")
	for day := range 3 {
		e.clock.Set(Start.Add(time.Duration(day) * 24 * time.Hour))
		for name, id := range map[string]string{"a": a, "b": b} {
			tick := fmt.Sprintf("%s-day%d", name, day)
			e.tick(persona.Tick{TickID: tick, PersonaID: id, RunnerID: "r", Status: persona.TickRunning})
			e.insertActions(id, actions(tick, "todo.create", "notes.create", "todo.list"))
			e.insertFeedback(id, []persona.Feedback{{TickID: tick, Module: "todo", Rating: 1 + day}, {TickID: tick, Module: "notes", Rating: 5}})
			e.clock.Advance(time.Minute)
			status := persona.TickOK
			if day == 1 {
				status = persona.TickFailed
			}
			e.tick(persona.Tick{TickID: tick, PersonaID: id, RunnerID: "r", Status: status, StartedAt: e.clock.Now().Add(-time.Minute)})
		}
	}
	return a, b
}

func actionIDs(list []persona.Action) []string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.TickID + "/" + a.ToolName
	}
	return out
}

func testActionsFilters(e *env) {
	a, b := e.activity()
	day := func(d int) time.Time { return Start.Add(time.Duration(d) * 24 * time.Hour) }
	ta := func(d int) string { return fmt.Sprintf("a-day%d", d) }
	cases := []struct {
		name string
		q    persona.ActionQuery
		want []string
	}{
		{"persona", persona.ActionQuery{PersonaID: a, Limit: 4}, []string{ta(0) + "/todo.create", ta(0) + "/notes.create", ta(0) + "/todo.list", ta(1) + "/todo.create"}},
		{"tick", persona.ActionQuery{TickID: ta(2)}, []string{ta(2) + "/todo.create", ta(2) + "/notes.create", ta(2) + "/todo.list"}},
		{"module and span", persona.ActionQuery{PersonaID: a, Module: "notes", Since: day(1), Until: day(2)}, []string{ta(1) + "/notes.create"}},
		{"since", persona.ActionQuery{PersonaID: a, Module: "notes", Since: day(1)}, []string{ta(1) + "/notes.create", ta(2) + "/notes.create"}},
	}
	for _, c := range cases {
		got, err := e.s.Actions(e.ctx, c.q)
		if err != nil {
			e.t.Fatal(err)
		}
		if diff := cmp.Diff(c.want, actionIDs(got)); diff != "" {
			e.t.Errorf("Actions(%s) (-want +got):\n%s", c.name, diff)
		}
	}
	all, _ := e.s.Actions(e.ctx, persona.ActionQuery{})
	if len(all) != 18 {
		e.t.Errorf("Actions(no filter) = %d rows; want 18", len(all))
	}
	if bs, _ := e.s.Actions(e.ctx, persona.ActionQuery{PersonaID: b}); len(bs) != 9 {
		e.t.Errorf("Actions(b) = %d rows; want 9", len(bs))
	}
}

func testFeedbackFilters(e *env) {
	a, _ := e.activity()
	got, err := e.s.Feedback(e.ctx, persona.FeedbackQuery{PersonaID: a, Module: "todo"})
	if err != nil {
		e.t.Fatal(err)
	}
	var ratings []int
	for _, f := range got {
		ratings = append(ratings, f.Rating)
	}
	if diff := cmp.Diff([]int{1, 2, 3}, ratings); diff != "" {
		e.t.Errorf("todo ratings oldest first (-want +got):\n%s", diff)
	}
	got, _ = e.s.Feedback(e.ctx, persona.FeedbackQuery{Module: "notes", Since: Start.Add(24 * time.Hour), Limit: 3})
	if len(got) != 3 {
		e.t.Errorf("Feedback(notes since day 1, limit 3) = %d rows; want 3", len(got))
	}
	got, _ = e.s.Feedback(e.ctx, persona.FeedbackQuery{TickID: "a-day1"})
	if len(got) != 2 {
		e.t.Errorf("Feedback(tick) = %d rows; want 2", len(got))
	}
}

func testTicksFilters(e *env) {
	a, _ := e.activity()
	got, err := e.s.Ticks(e.ctx, persona.TickQuery{PersonaID: a})
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, tk := range got {
		names = append(names, tk.TickID+" "+string(tk.Status))
	}
	want := []string{"a-day2 ok", "a-day1 failed", "a-day0 ok"}
	if diff := cmp.Diff(want, names); diff != "" {
		e.t.Errorf("Ticks newest first (-want +got):\n%s", diff)
	}
	failed, _ := e.s.Ticks(e.ctx, persona.TickQuery{Status: persona.TickFailed})
	if len(failed) != 2 {
		e.t.Errorf("Ticks(failed) = %d; want 2", len(failed))
	}
	span, _ := e.s.Ticks(e.ctx, persona.TickQuery{Since: Start.Add(24 * time.Hour), Until: Start.Add(48 * time.Hour), Limit: 1})
	if len(span) != 1 || !strings.HasSuffix(span[0].TickID, "-day1") {
		e.t.Errorf("Ticks(day 1, limit 1) = %+v", span)
	}
	// Without transcripts: the same records, their transcripts left out.
	tick := got[0]
	tick.Transcript = json.RawMessage(`[{"role":"user","content":"hello"}]`)
	if err := e.s.RecordTick(e.ctx, tick); err != nil {
		e.t.Fatal(err)
	}
	full, err := e.s.Ticks(e.ctx, persona.TickQuery{PersonaID: a})
	if err != nil || len(full) == 0 || len(full[0].Transcript) == 0 {
		e.t.Fatalf("Ticks with transcripts: %+v, %v", full, err)
	}
	bare, err := e.s.Ticks(e.ctx, persona.TickQuery{PersonaID: a, NoTranscript: true})
	if err != nil {
		e.t.Fatal(err)
	}
	for i := range full {
		full[i].Transcript = nil
	}
	if diff := cmp.Diff(full, bare); diff != "" {
		e.t.Errorf("Ticks(NoTranscript) differ from Ticks but for the transcripts (-want +got):\n%s", diff)
	}
}

func testRecentActions(e *env) {
	a, _ := e.activity()
	got, err := e.s.RecentActions(e.ctx, a, 4)
	if err != nil {
		e.t.Fatal(err)
	}
	ta := func(d int) string { return fmt.Sprintf("a-day%d", d) }
	want := []string{ta(2) + "/todo.list", ta(2) + "/notes.create", ta(2) + "/todo.create", ta(1) + "/todo.list"}
	if diff := cmp.Diff(want, actionIDs(got)); diff != "" {
		e.t.Errorf("RecentActions (-want +got):\n%s", diff)
	}
	if all, _ := e.s.RecentActions(e.ctx, a, 20); len(all) != 9 {
		e.t.Errorf("RecentActions(20) = %d; want all 9", len(all))
	}
}

func testFeedbackByModule(e *env) {
	a, _ := e.activity()
	got, err := e.s.FeedbackByModule(e.ctx, a)
	if err != nil {
		e.t.Fatal(err)
	}
	want := []persona.ModuleRating{{Module: "notes", AvgRating: 5, Count: 3}, {Module: "todo", AvgRating: 2, Count: 3}}
	if diff := cmp.Diff(want, got); diff != "" {
		e.t.Errorf("FeedbackByModule (-want +got):\n%s", diff)
	}
	// A real average, not an integer one.
	e.insertFeedback(a, []persona.Feedback{{TickID: "extra", Module: "todo", Rating: 5}})
	got, _ = e.s.FeedbackByModule(e.ctx, a)
	if len(got) != 2 || got[1].AvgRating != 2.75 || got[1].Count != 4 {
		e.t.Errorf("FeedbackByModule after a 5 = %+v; want todo 2.75 over 4", got)
	}
	if none, err := e.s.FeedbackByModule(e.ctx, "nobody"); err != nil || len(none) != 0 {
		e.t.Errorf("FeedbackByModule(nobody) = %v, %v; want empty", none, err)
	}
}

func testHistory(e *env) {
	a, _ := e.activity()
	// A cancelled and a still-running tick are not history.
	e.clock.Advance(time.Hour)
	e.tick(persona.Tick{TickID: "cancelled", PersonaID: a, RunnerID: "r", Status: persona.TickCancelled})
	e.tick(persona.Tick{TickID: "running", PersonaID: a, RunnerID: "r", Status: persona.TickRunning})
	got, err := e.s.History(e.ctx, a, 2)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(got) != 2 {
		e.t.Fatalf("History(2) = %d runs; want 2", len(got))
	}
	ta := func(d int) string { return fmt.Sprintf("a-day%d", d) }
	for i, d := range []int{2, 1} {
		h := got[i]
		if h.Tick.TickID != ta(d) {
			e.t.Errorf("run %d = %s; want %s", i, h.Tick.TickID, ta(d))
		}
		if diff := cmp.Diff([]string{ta(d) + "/todo.create", ta(d) + "/notes.create", ta(d) + "/todo.list"}, actionIDs(h.Actions)); diff != "" {
			e.t.Errorf("run %d actions (-want +got):\n%s", i, diff)
		}
		if len(h.Feedback) != 2 {
			e.t.Errorf("run %d feedback = %+v; want 2 rows", i, h.Feedback)
		}
	}
	if all, _ := e.s.History(e.ctx, a, 10); len(all) != 3 {
		e.t.Errorf("History(10) = %d runs; want the 3 finished ones", len(all))
	}
}

func testListPersonas(e *env) {
	a, b := e.activity()
	c := e.persona("c@mana.test", persona.Hourly, "Asia/Tokyo")
	got, err := e.s.ListPersonas(e.ctx, Start.Add(24*time.Hour))
	if err != nil {
		e.t.Fatal(err)
	}
	type row struct {
		ID, Email string
		Actions   int
		Failures  int
	}
	var rows []row
	for _, p := range got {
		rows = append(rows, row{p.UserID, p.Email, p.Actions7d, p.FailureCount})
	}
	// Day 1 failed, day 2 succeeded, so failures are cleared.
	want := []row{{a, "a@mana.test", 6, 0}, {b, "b@mana.test", 6, 0}, {c, "c@mana.test", 0, 0}}
	if diff := cmp.Diff(want, rows); diff != "" {
		e.t.Errorf("ListPersonas (-want +got):\n%s", diff)
	}
	if got[2].TickCadence != persona.Hourly || got[2].Timezone != "Asia/Tokyo" || got[2].LastActiveAt != nil || got[0].LastActiveAt == nil {
		e.t.Errorf("summaries = %+v", got)
	}
}

func testDeletePersona(e *env) {
	a, b := e.activity()
	// a shares berg-family with b and is alone in solo-club.
	if _, _, err := e.s.UpsertSpace(e.ctx, persona.SpaceInput{Slug: "berg-family", Name: "Bergs", Type: persona.SpaceFamily, Members: []string{"a@mana.test", "b@mana.test"}}); err != nil {
		e.t.Fatal(err)
	}
	shared, _ := e.s.SpacesOfUser(e.ctx, b)
	if _, _, err := e.s.UpsertSpace(e.ctx, persona.SpaceInput{Slug: "solo-club", Name: "Solo", Type: persona.SpaceClub, Members: []string{"a@mana.test"}}); err != nil {
		e.t.Fatal(err)
	}
	if err := e.s.CreateSession(e.ctx, persona.Session{ID: "session-a", UserID: a, TokenHash: "hash-a", ExpiresAt: e.clock.Now().Add(time.Hour)}); err != nil {
		e.t.Fatal(err)
	}
	if err := e.s.DeletePersona(e.ctx, a); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.s.User(e.ctx, a); !errors.Is(err, persona.ErrNotFound) {
		e.t.Errorf("User after delete: %v; want ErrNotFound", err)
	}
	if _, err := e.s.Persona(e.ctx, a); !errors.Is(err, persona.ErrNotFound) {
		e.t.Errorf("Persona after delete: %v; want ErrNotFound", err)
	}
	if _, err := e.s.SessionByTokenHash(e.ctx, "hash-a"); !errors.Is(err, persona.ErrNotFound) {
		e.t.Errorf("session after delete: %v; want ErrNotFound", err)
	}
	acts, _ := e.s.Actions(e.ctx, persona.ActionQuery{PersonaID: a})
	fbs, _ := e.s.Feedback(e.ctx, persona.FeedbackQuery{PersonaID: a})
	tks, _ := e.s.Ticks(e.ctx, persona.TickQuery{PersonaID: a})
	if len(acts)+len(fbs)+len(tks) != 0 {
		e.t.Errorf("rows left after delete: %d actions, %d feedback, %d ticks", len(acts), len(fbs), len(tks))
	}
	if spaces, _ := e.s.SpacesOfUser(e.ctx, a); len(spaces) != 0 {
		e.t.Errorf("memberships left after delete: %+v", spaces)
	}
	// b and the shared space are untouched.
	if got, _ := e.s.SpacesOfUser(e.ctx, b); !cmp.Equal(shared, got) {
		e.t.Errorf("b's spaces after deleting a = %+v; want %+v", got, shared)
	}
	if bs, _ := e.s.Actions(e.ctx, persona.ActionQuery{PersonaID: b}); len(bs) != 9 {
		e.t.Errorf("b's actions after deleting a = %d; want 9", len(bs))
	}
	// The spaces a alone owned are gone: their slugs are free again.
	if _, out, err := e.s.UpsertSpace(e.ctx, persona.SpaceInput{Slug: "solo-club", Name: "Solo", Type: persona.SpaceClub, Members: []string{"b@mana.test"}}); err != nil || out != persona.Created {
		e.t.Errorf("solo-club after delete: %q, %v; want it created anew", out, err)
	}
	a2 := e.upsert(input("a@mana.test"))
	if spaces, _ := e.s.SpacesOfUser(e.ctx, a2); len(spaces) != 1 || spaces[0].Slug != "a" {
		e.t.Errorf("personal space of a re-created persona = %+v; want slug a (the old space is gone)", spaces)
	}
}

func testDeletePersonaRefusals(e *env) {
	u, _, err := e.s.UpsertUser(e.ctx, persona.UserInput{Email: "human@mana.test", Password: "human-password"})
	if err != nil {
		e.t.Fatal(err)
	}
	wantErr(e.t, "DeletePersona(human)", e.s.DeletePersona(e.ctx, u.ID), persona.ErrNotPersona)
	if _, err := e.s.User(e.ctx, u.ID); err != nil {
		e.t.Errorf("the human is gone after a refused delete: %v", err)
	}
	wantErr(e.t, "DeletePersona(unknown)", e.s.DeletePersona(e.ctx, "no-such-user"), persona.ErrNotFound)
}
