package storetest

import (
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/persona-runner/persona-runner/persona"
)

// runTests are the run cases of the suite (listed in Run).
var runTests = []suiteTest{
	{"RecordRun/WritesLikeTheSeparateCalls", testRecordRun},
	{"RecordRun/FailureIdempotent", testRecordRunFailureIdempotent},
	{"RecordRun/BadInputWritesNothing", testRecordRunBadInput},
	{"RecordRun/RefusalsWriteNothing", testRecordRunRefusals},
}

// run is a finished run of the persona: three actions, two ratings and the tick record.
func run(id, tick string, status persona.TickStatus, at time.Time) persona.RunRecord {
	return persona.RunRecord{
		Tick: persona.Tick{TickID: tick, PersonaID: id, RunnerID: "r1", Status: status, StartedAt: at.Add(-time.Minute),
			FinishedAt: &at, ToolCalls: 3, Turns: 5, Model: "m", Summary: "A good day.", Error: map[bool]string{true: "model: boom"}[status.Failure()]},
		Actions: actions(tick, "todo.create", "notes.list", "todo.complete"),
		Feedback: []persona.Feedback{
			{TickID: tick, Module: "todo", Rating: 4, Notes: "quick"},
			{TickID: tick, Module: "notes", Rating: 2},
		},
	}
}

// stored is everything the store keeps about one persona's runs.
type stored struct {
	Actions  []persona.Action
	Feedback []persona.Feedback
	Ticks    []persona.Tick
	Persona  persona.Persona
}

func (e *env) stored(id string) stored {
	e.t.Helper()
	a, err := e.s.Actions(e.ctx, persona.ActionQuery{PersonaID: id})
	if err != nil {
		e.t.Fatal(err)
	}
	f, err := e.s.Feedback(e.ctx, persona.FeedbackQuery{PersonaID: id})
	if err != nil {
		e.t.Fatal(err)
	}
	tk, err := e.s.Ticks(e.ctx, persona.TickQuery{PersonaID: id})
	if err != nil {
		e.t.Fatal(err)
	}
	return stored{a, f, tk, e.get(id)}
}

// testRecordRun: one RecordRun stores exactly what InsertActions, InsertFeedback and RecordTick
// store (rows, tick record, released lease, schedule), and a replay writes nothing new.
func testRecordRun(e *env) {
	one := e.persona("persona.one@mana.test", persona.Daily, "UTC")
	two := e.persona("persona.two@mana.test", persona.Daily, "UTC")
	if got := e.claim("r1", 0, time.Hour); len(got) != 2 {
		e.t.Fatalf("claimed %v; want both", ids(got))
	}
	e.clock.Advance(time.Minute)
	at := e.clock.Now()

	sep := run(one, "tick-one", persona.TickOK, at)
	e.insertActions(one, sep.Actions)
	e.insertFeedback(one, sep.Feedback)
	e.tick(sep.Tick)

	rec := run(two, "tick-two", persona.TickOK, at)
	w, err := e.s.RecordRun(e.ctx, rec)
	if want := (persona.RunWritten{Actions: 3, Feedback: 2}); err != nil || w != want {
		e.t.Fatalf("RecordRun = %+v, %v; want %+v", w, err, want)
	}
	want, got := e.stored(one), e.stored(two)
	// Only the persona and the tick differ.
	norm := func(s stored) stored {
		for i := range s.Actions {
			s.Actions[i].PersonaID, s.Actions[i].TickID, s.Actions[i].ID = "", "", ""
		}
		for i := range s.Feedback {
			s.Feedback[i].PersonaID, s.Feedback[i].TickID, s.Feedback[i].ID = "", "", ""
		}
		for i := range s.Ticks {
			s.Ticks[i].PersonaID, s.Ticks[i].TickID = "", ""
		}
		s.Persona.UserID, s.Persona.Email, s.Persona.Name, s.Persona.CreatedAt = "", "", "", time.Time{}
		return s
	}
	if diff := cmp.Diff(norm(want), norm(got)); diff != "" {
		e.t.Errorf("RecordRun stored (-separate calls +RecordRun):\n%s", diff)
	}
	if p := e.get(two); p.LeaseOwner != "" || p.LeaseExpiresAt != nil || p.LastActiveAt == nil || !p.LastActiveAt.Equal(at) {
		e.t.Errorf("persona after RecordRun: lease %q %v, last active %v; want released, %v", p.LeaseOwner, p.LeaseExpiresAt, p.LastActiveAt, at)
	}
	if got := e.stored(two); len(got.Actions) != 3 || got.Actions[0].ID != "tick-two-0-todo.create" || got.Feedback[0].ID != "tick-two-notes" {
		e.t.Errorf("derived ids: %+v %+v", got.Actions, got.Feedback)
	}

	// A replay (a retry after a write that landed) writes nothing and changes nothing.
	before := e.stored(two)
	e.clock.Advance(time.Minute)
	w, err = e.s.RecordRun(e.ctx, rec)
	if want := (persona.RunWritten{ActionDuplicates: 3, FeedbackDuplicates: 2}); err != nil || w != want {
		e.t.Fatalf("replayed RecordRun = %+v, %v; want %+v", w, err, want)
	}
	if diff := cmp.Diff(before, e.stored(two)); diff != "" {
		e.t.Errorf("replay changed (-before +after):\n%s", diff)
	}
	// Overlapping with rows written before by the separate calls: only the new ones count.
	more := run(one, "tick-one", persona.TickOK, at)
	more.Actions = append(more.Actions, persona.Action{TickID: "tick-one", ToolName: "mood.log", Result: persona.ResultOK, Seq: 3})
	w, err = e.s.RecordRun(e.ctx, more)
	if want := (persona.RunWritten{Actions: 1, ActionDuplicates: 3, FeedbackDuplicates: 2}); err != nil || w != want {
		e.t.Errorf("overlapping RecordRun = %+v, %v; want %+v", w, err, want)
	}
	// A run without rows is a tick record alone.
	e.clock.Advance(25 * time.Hour)
	empty := persona.RunRecord{Tick: persona.Tick{TickID: "tick-empty", PersonaID: two, RunnerID: "r1", Status: persona.TickOK}}
	if w, err := e.s.RecordRun(e.ctx, empty); err != nil || w != (persona.RunWritten{}) {
		e.t.Errorf("RecordRun(no rows) = %+v, %v", w, err)
	}
	if p := e.get(two); p.LastActiveAt == nil || !p.LastActiveAt.Equal(e.clock.Now()) {
		e.t.Errorf("last active after a run without rows = %v; want %v", p.LastActiveAt, e.clock.Now())
	}
}

// testRecordRunFailureIdempotent: a failed run backs the persona off once, however often the
// same record is written.
func testRecordRunFailureIdempotent(e *env) {
	id := e.persona("persona.f@mana.test", persona.Daily, "UTC")
	rec := run(id, "tick-f", persona.TickFailed, e.clock.Now())
	for range 2 {
		if _, err := e.s.RecordRun(e.ctx, rec); err != nil {
			e.t.Fatal(err)
		}
	}
	p := e.get(id)
	next := e.clock.Now().Add(persona.Backoff(persona.Daily, 1))
	if p.FailureCount != 1 || p.LastError != "model: boom" || p.NextDueAt == nil || !p.NextDueAt.Equal(next) {
		e.t.Errorf("after a failed run written twice: failures %d, last error %q, next due %v; want 1, %q, %v",
			p.FailureCount, p.LastError, p.NextDueAt, "model: boom", next)
	}
	if e.isDue(id) {
		e.t.Error("a backed-off persona is due")
	}
}

// testRecordRunBadInput: every bad field of the rows and the tick is named at once, as the
// separate calls name them, and nothing is written.
func testRecordRunBadInput(e *env) {
	id := e.persona("persona.bad@mana.test", persona.Daily, "UTC")
	e.claim("r1", 0, time.Hour)
	rec := run(id, "tick-bad", persona.TickOK, e.clock.Now())
	rec.Actions[1].ToolName = ""
	rec.Feedback[0].Rating = 6
	rec.Tick.Status = "done"
	_, err := e.s.RecordRun(e.ctx, rec)
	wantErrMentions(e.t, "RecordRun(bad fields)", err, persona.ErrInvalid, "actions[1].toolName", "feedback[0].rating", "status")
	rec = run(id, "tick-bad", persona.TickOK, e.clock.Now())
	rec.Actions[2].ErrorMessage = "nul\x00"
	_, err = e.s.RecordRun(e.ctx, rec)
	wantErrMentions(e.t, "RecordRun(NUL)", err, persona.ErrInvalid, "actions[2].errorMessage")
	e.wantNothingWritten(id, "tick-bad")
	if p := e.get(id); p.LeaseOwner != "r1" {
		e.t.Errorf("a refused run released the lease (owner %q)", p.LeaseOwner)
	}
}

// testRecordRunRefusals: an unknown persona, a human and another persona's tick id are refused
// as RecordTick refuses them, with none of the rows written.
func testRecordRunRefusals(e *env) {
	_, err := e.s.RecordRun(e.ctx, run("no-such-persona", "tick-u", persona.TickOK, e.clock.Now()))
	wantErr(e.t, "RecordRun(unknown persona)", err, persona.ErrNotFound)
	u, _, err := e.s.UpsertUser(e.ctx, persona.UserInput{Email: "h@mana.test", Password: "human-password"})
	if err != nil {
		e.t.Fatal(err)
	}
	_, err = e.s.RecordRun(e.ctx, run(u.ID, "tick-h", persona.TickOK, e.clock.Now()))
	wantErr(e.t, "RecordRun(human)", err, persona.ErrNotFound)
	if a, _ := e.s.Actions(e.ctx, persona.ActionQuery{}); len(a) != 0 {
		e.t.Errorf("refused runs wrote %d actions", len(a))
	}

	anna := e.persona("persona.anna@mana.test", persona.Daily, "UTC")
	ben := e.persona("persona.ben@mana.test", persona.Daily, "UTC")
	e.tick(persona.Tick{TickID: "tick-x", PersonaID: anna, RunnerID: "r1", Status: persona.TickRunning})
	rec := run(ben, "tick-x", persona.TickOK, e.clock.Now())
	rec.Actions, rec.Feedback = actions("tick-ben", "todo.create"), []persona.Feedback{{TickID: "tick-ben", Module: "todo", Rating: 3}}
	_, err = e.s.RecordRun(e.ctx, rec)
	wantErrMentions(e.t, "RecordRun(another persona's tick id)", err, persona.ErrInvalid, "tickId", "belongs to another persona")
	e.wantNothingWritten(ben, "tick-ben")
	if tk, err := e.s.Tick(e.ctx, "tick-x"); err != nil || tk.PersonaID != anna || tk.Status != persona.TickRunning {
		e.t.Errorf("tick after the refused reuse = %+v, %v; want anna's running tick", tk, err)
	}
}

func (e *env) wantNothingWritten(id, tick string) {
	e.t.Helper()
	s := e.stored(id)
	if len(s.Actions)+len(s.Feedback)+len(s.Ticks) != 0 {
		e.t.Errorf("a refused run wrote %d actions, %d feedback rows, %d ticks", len(s.Actions), len(s.Feedback), len(s.Ticks))
	}
	if _, err := e.s.Tick(e.ctx, tick); err == nil {
		e.t.Errorf("tick %s exists after a refused run", tick)
	}
	if p := e.get(id); p.LastActiveAt != nil || p.FailureCount != 0 {
		e.t.Errorf("a refused run changed the schedule: %+v", p)
	}
}
