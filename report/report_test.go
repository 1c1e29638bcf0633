package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/persona-runner/persona-runner/findings"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/report"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// memSource is a hand-written in-memory Source with the filter semantics of persona.Store.
type memSource struct {
	people   []persona.PersonaSummary
	actions  []persona.Action
	feedback []persona.Feedback
	ticks    []persona.Tick
}

func in(t, since, until time.Time) bool {
	return (since.IsZero() || !t.Before(since)) && (until.IsZero() || t.Before(until))
}

func (m *memSource) ListPersonas(context.Context, time.Time) ([]persona.PersonaSummary, error) {
	return m.people, nil
}

func (m *memSource) Actions(_ context.Context, q persona.ActionQuery) ([]persona.Action, error) {
	var out []persona.Action
	for _, a := range m.actions {
		if (q.PersonaID == "" || a.PersonaID == q.PersonaID) && (q.Module == "" || a.Module == q.Module) && in(a.CreatedAt, q.Since, q.Until) {
			out = append(out, a)
		}
	}
	return out, nil
}

func (m *memSource) Feedback(_ context.Context, q persona.FeedbackQuery) ([]persona.Feedback, error) {
	var out []persona.Feedback
	for _, f := range m.feedback {
		if (q.PersonaID == "" || f.PersonaID == q.PersonaID) && (q.Module == "" || f.Module == q.Module) && in(f.CreatedAt, q.Since, q.Until) {
			out = append(out, f)
		}
	}
	return out, nil
}

func (m *memSource) Ticks(_ context.Context, q persona.TickQuery) ([]persona.Tick, error) {
	var out []persona.Tick
	for _, t := range m.ticks {
		if (q.PersonaID == "" || t.PersonaID == q.PersonaID) && in(t.StartedAt, q.Since, q.Until) {
			out = append(out, t)
		}
	}
	return out, nil
}

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// fixture: two personas over two weeks. Anna's todo got worse, notes.search fails a lot.
func fixture() *memSource {
	day := func(d int) time.Time { return now.AddDate(0, 0, -d) }
	m := &memSource{people: []persona.PersonaSummary{
		{UserID: "u-anna", Email: "persona.anna@mana.test", Name: "Anna", Archetype: "adhd-student"},
		{UserID: "u-ben", Email: "persona.ben@mana.test", Name: "Ben", Archetype: "power-user"},
		{UserID: "u-cleo", Email: "persona.cleo@mana.test", Name: "Cleo", Archetype: "overwhelmed-newbie"},
	}}
	act := func(p, tick string, seq int, tool string, ok bool, msg string, d int) {
		r := persona.ResultOK
		if !ok {
			r = persona.ResultError
		}
		m.actions = append(m.actions, persona.Action{ID: persona.ActionID(tick, seq, tool), PersonaID: p, TickID: tick, ToolName: tool,
			Module: persona.ModuleOf(tool), Result: r, ErrorMessage: msg, LatencyMs: persona.Latency(12), Seq: seq, CreatedAt: day(d)})
	}
	fb := func(p, tick, module string, rating int, notes string, d int) {
		m.feedback = append(m.feedback, persona.Feedback{ID: persona.FeedbackID(tick, module), PersonaID: p, TickID: tick, Module: module, Rating: rating, Notes: notes, CreatedAt: day(d)})
	}
	// Previous window (8–14 days ago).
	fb("u-anna", "t0", "todo", 5, "Quick and easy.", 10)
	fb("u-ben", "t0b", "notes", 3, "Search is okay.", 9)
	act("u-anna", "t0", 0, "todo.create", true, "", 10)
	// This window.
	act("u-anna", "t1", 0, "todo.create", true, "", 2)
	act("u-anna", "t1", 1, "notes.search", false, "query: must be at least 2 characters", 2)
	act("u-anna", "t1", 2, "todo.complete", false, "todoId: no todo with that id in this space", 2)
	fb("u-anna", "t1", "todo", 2, "Completing a todo failed | twice.", 2)
	fb("u-anna", "t1", "notes", 2, "Search rejected my query.", 2)
	act("u-ben", "t2", 0, "notes.search", false, "query: must be at least 2 characters", 1)
	act("u-ben", "t2", 1, "notes.search", false, "search index busy", 1)
	act("u-ben", "t2", 2, "notes.create", true, "", 1)
	act("u-ben", "t2", 3, "calendar.createEvent", true, "", 1)
	fb("u-ben", "t2", "notes", 3, "Search is picky.", 1)
	fb("u-ben", "t2", "calendar", 5, "Overlap warning was useful.", 1)
	// Cleo's rating reply could not be used: the run is degraded, __parse is no module.
	fb("u-cleo", "t3", "__parse", 3, "I liked it all, really.", 1)
	m.ticks = []persona.Tick{
		{TickID: "t1", PersonaID: "u-anna", Status: persona.TickOK, StartedAt: day(2), ToolCalls: 3, Errors: 2, Summary: "Got my list sorted, mostly.", Model: "sim",
			InputTokens: 3000, OutputTokens: 600, CostUSD: 0.03},
		{TickID: "t2", PersonaID: "u-ben", Status: persona.TickFailed, StartedAt: day(1), ToolCalls: 4, Errors: 2, Error: "model: 529 overloaded", Model: "sim",
			InputTokens: 4000, OutputTokens: 800, CostUSD: 0.04},
		{TickID: "t2x", PersonaID: "u-ben", Status: persona.TickOK, StartedAt: day(3), ToolCalls: 1, Summary: "Earlier run.", Model: "sim"},
		{TickID: "t3", PersonaID: "u-cleo", Status: persona.TickDegraded, StartedAt: day(1), Summary: "Looked around.", Model: "sim"},
	}
	return m
}

var offered = []string{"todo.create", "todo.list", "todo.complete", "notes.create", "notes.search", "calendar.createEvent", "contacts.create"}

func build(t *testing.T, o report.Options) *report.Report {
	t.Helper()
	o.Now, o.Offered = now, offered
	if o.Since == 0 {
		o.Since = 7 * 24 * time.Hour
	}
	r, err := report.Build(context.Background(), fixture(), o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestBuild(t *testing.T) {
	t.Parallel()
	r := build(t, report.Options{})
	if got := r.FailingTools[0]; got.Tool != "notes.search" || got.Errors != 3 || got.Calls != 3 || len(got.Samples) != 2 {
		t.Errorf("top failing tool = %+v; want notes.search with 3 errors and 2 distinct samples", got)
	}
	if r.Modules[0].Module != "todo" || r.Modules[0].AvgRating != 2 || r.Modules[0].Trend == nil || *r.Modules[0].Trend != -3 {
		t.Errorf("worst module = %+v; want todo at 2.00, trend -3", r.Modules[0])
	}
	if r.Coverage.Offered != 7 || r.Coverage.Used != 5 || !cmp.Equal(r.Coverage.NeverUsed, []string{"contacts.create", "todo.list"}) {
		t.Errorf("coverage = %+v", r.Coverage)
	}
	var ben report.PersonaStat
	for _, p := range r.Personas {
		if p.Email == "persona.ben@mana.test" {
			ben = p
		}
	}
	if ben.Runs != 2 || ben.LastStatus != "failed" || ben.LastError != "model: 529 overloaded" {
		t.Errorf("ben = %+v; want 2 runs, last failed", ben)
	}
	if r.Runs.Total != 4 || r.Runs.ByStatus["degraded"] != 1 || r.Runs.ToolCalls != 7 || r.Runs.Errors != 4 {
		t.Errorf("runs = %+v", r.Runs)
	}
	for _, m := range r.Modules {
		if m.Module == "__parse" {
			t.Errorf("__parse ranked as a module: %+v", m)
		}
	}
	if r.UnusableRatings != 1 {
		t.Errorf("unusable ratings = %d, want 1 (shown apart)", r.UnusableRatings)
	}
	// The findings come first and name what went wrong: the failing tools, the failed run and
	// the unusable rating reply.
	kinds := map[findings.Kind]int{}
	for _, f := range r.Findings {
		kinds[f.Kind]++
	}
	if kinds[findings.KindToolError] == 0 || kinds[findings.KindFailedRuns] != 1 || kinds[findings.KindUnusableRatings] != 1 {
		t.Errorf("findings by kind = %v; want tool errors, one failed-runs and one unusable-ratings", kinds)
	}
}

// Cost: totals, by day, by persona, and by module shared by calls.
func TestCost(t *testing.T) {
	t.Parallel()
	c := build(t, report.Options{}).Cost
	if c.USD != 0.07 || c.InputTokens != 7000 || c.OutputTokens != 1400 || len(c.ByDay) != 3 {
		t.Fatalf("cost = %+v", c)
	}
	if c.ByPersona[0].Key != "persona.ben@mana.test" || c.ByPersona[0].USD != 0.04 {
		t.Errorf("by persona = %+v; want ben first at $0.04", c.ByPersona)
	}
	// anna's run (3 calls: todo 2, notes 1) costs 0.03; ben's (notes 3, calendar 1) 0.04.
	want := map[string]float64{"todo": 0.02, "notes": 0.04, "calendar": 0.01}
	for _, row := range c.ByModule {
		if row.USD != want[row.Key] {
			t.Errorf("module %s costs %v, want %v", row.Key, row.USD, want[row.Key])
		}
	}
}

// --module keeps the findings about that module only.
func TestFindingsFollowTheModule(t *testing.T) {
	t.Parallel()
	r := build(t, report.Options{Module: "notes"})
	if len(r.Findings) == 0 {
		t.Fatal("no findings for notes")
	}
	for _, f := range r.Findings {
		if f.Module != "notes" {
			t.Errorf("finding %s (%s) is not about notes", f.ID, f.Title)
		}
	}
}

func TestBuildFilters(t *testing.T) {
	t.Parallel()
	r := build(t, report.Options{Persona: "persona.anna@mana.test", Module: "todo"})
	if len(r.Personas) != 1 || r.Personas[0].Email != "persona.anna@mana.test" {
		t.Fatalf("persona filter: %+v", r.Personas)
	}
	if len(r.Modules) != 1 || r.Modules[0].Module != "todo" {
		t.Errorf("module filter: %+v", r.Modules)
	}
	if len(r.FailingTools) != 1 || r.FailingTools[0].Tool != "todo.complete" {
		t.Errorf("failing tools filtered: %+v", r.FailingTools)
	}
	if r.Coverage.Offered != 3 {
		t.Errorf("coverage limited to module: %+v", r.Coverage)
	}
	if r.Runs.Total != 1 || r.Runs.ToolCalls != 2 {
		t.Errorf("runs with the module filter = %+v; want anna's one run that used todo, 2 todo calls", r.Runs)
	}
	cal := build(t, report.Options{Module: "calendar"})
	if cal.Runs.Total != 1 || cal.Runs.ByStatus["failed"] != 1 {
		t.Errorf("calendar runs = %+v; want only ben's failed run t2", cal.Runs)
	}
	for _, p := range cal.Personas {
		if want := map[string]int{"persona.ben@mana.test": 1}[p.Email]; p.Runs != want {
			t.Errorf("calendar: %s has %d runs, want %d", p.Email, p.Runs, want)
		}
	}
	if none := build(t, report.Options{Module: "contacts"}); none.Runs.Total != 0 || len(none.Modules) != 0 || none.Coverage.Offered != 1 {
		t.Errorf("an offered module nobody used: %+v", none)
	}
	_, err := report.Build(context.Background(), fixture(), report.Options{Now: now, Since: time.Hour, Module: "finance", Offered: offered})
	var fe *persona.FieldError
	if !errors.As(err, &fe) || fe.Field != "module" || !strings.Contains(fe.Message, "calendar, contacts, notes, todo") {
		t.Errorf("unknown module: err = %v, want a module field error listing the app's modules", err)
	}
	_, err = report.Build(context.Background(), fixture(), report.Options{Now: now, Since: time.Hour, Persona: "nobody@x"})
	if !errors.Is(err, persona.ErrNotFound) {
		t.Errorf("unknown persona: err = %v, want ErrNotFound", err)
	}
	_, err = report.Build(context.Background(), fixture(), report.Options{Now: now})
	if !errors.Is(err, persona.ErrInvalid) {
		t.Errorf("zero window: err = %v, want ErrInvalid", err)
	}
}

func TestGolden(t *testing.T) {
	t.Parallel()
	r := build(t, report.Options{})
	for _, format := range report.Formats {
		var buf bytes.Buffer
		if err := report.Write(&buf, r, format); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "report."+format+".golden")
		if *update {
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create)", err)
		}
		if diff := cmp.Diff(string(want), buf.String()); diff != "" {
			t.Errorf("%s output differs from %s (-want +got):\n%s", format, path, diff)
		}
	}
	var back report.Report
	var buf bytes.Buffer
	if err := report.Write(&buf, r, "json"); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || len(back.FailingTools) != len(r.FailingTools) {
		t.Errorf("json does not round-trip: %v", err)
	}
	if err := report.Write(&buf, r, "yaml"); err == nil || !strings.Contains(err.Error(), "format") {
		t.Errorf("unknown format: err = %v", err)
	}
}

func TestParseSince(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "36h": 36 * time.Hour, "1.5d": 36 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := report.ParseSince(in); err != nil || got != want {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "7", "-1d", "0h", "xd", "7 d"} {
		if _, err := report.ParseSince(bad); err == nil {
			t.Errorf("ParseSince(%q): want an error", bad)
		}
	}
}

// TestOutagesAreNotToolErrors is issue 13.3: calls that failed before the app answered (the
// connection refused, the token refused) are counted apart, in no tool's or module's error rate.
func TestOutagesAreNotToolErrors(t *testing.T) {
	src := fixture()
	before, err := report.Build(context.Background(), src, report.Options{Now: now, Offered: offered, Since: 7 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i, msg := range []string{"transport: connection refused", "transport: unauthorized (401)"} {
		src.actions = append(src.actions, persona.Action{ID: fmt.Sprintf("t9-%d-todo.list", i), PersonaID: "u-anna", TickID: "t9",
			ToolName: "todo.list", Module: "todo", Result: persona.ResultError, ErrorMessage: msg, Seq: i, CreatedAt: now.Add(-time.Hour)})
	}
	r, err := report.Build(context.Background(), src, report.Options{Now: now, Offered: offered, Since: 7 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if r.Runs.InfraErrors != 2 || r.Runs.Errors != before.Runs.Errors {
		t.Errorf("infra errors %d (want 2), tool errors %d (want %d)", r.Runs.InfraErrors, r.Runs.Errors, before.Runs.Errors)
	}
	for _, f := range r.FailingTools {
		if f.Tool == "todo.list" {
			t.Errorf("todo.list blamed for an outage: %+v", f)
		}
	}
	if diff := cmp.Diff(before.Modules, r.Modules); diff != "" {
		t.Errorf("module stats changed by outages (-before +after):\n%s", diff)
	}
}
