package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store"
	"github.com/persona-runner/persona-runner/store/postgres/pgtest"
	"github.com/persona-runner/persona-runner/web"
)

// now is the fixed clock of the seeded data: a Wednesday noon.
var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// offered are the app's tools for coverage; mood.log is never used by the seed.
var offered = []string{"todo.create", "todo.list", "notes.create", "notes.search", "mood.log"}

// controller is a runner stand-in for the admin controls: it records what it was asked.
type controller struct {
	mu     sync.Mutex
	paused bool
	ticks  int
	onTick func()
}

func (c *controller) Pause()  { c.mu.Lock(); c.paused = true; c.mu.Unlock() }
func (c *controller) Resume() { c.mu.Lock(); c.paused = false; c.mu.Unlock() }
func (c *controller) Paused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused
}
func (c *controller) StartTick() {
	c.mu.Lock()
	c.ticks++
	f := c.onTick
	c.mu.Unlock()
	if f != nil {
		go f()
	}
}

type bundle struct {
	db    store.DB
	srv   *web.Server
	ts    *httptest.Server
	ctl   *controller
	anna  string // persona ids
	ben   string
	cleo  string
	tickA string // anna's recent run (ok, with a transcript)
	tickB string // ben's failed run
}

// stores are the stores every handler test runs on; PostgreSQL is skipped without
// PERSONA_TEST_POSTGRES_URL.
var stores = []string{"sqlite", "postgres"}

func openStore(t testing.TB, dialect string) store.DB {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "dash.db")
	if dialect == "postgres" {
		dsn = pgtest.DSN(t)
	}
	db, err := store.Open(context.Background(), dsn, store.WithNow(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// setup opens a seeded store and serves a dashboard on it; cfg adjusts the configuration (the
// default is open, with a controller).
func setup(t testing.TB, dialect string, cfg func(*web.Config)) *bundle {
	t.Helper()
	b := &bundle{db: openStore(t, dialect), ctl: &controller{}}
	b.seed(t)
	// The findings are awaited (FindingsWait < 0): the pages' tests read them on the first load;
	// TestOverviewAnswersBeforeFindings covers the default wait.
	c := web.Config{Store: b.db, Controller: b.ctl, Open: true, Tools: offered, Now: func() time.Time { return now }, FindingsWait: -1,
		Version: "test", Digest: func(runs []persona.RunHistory, tz string) string {
			var lines []string
			for _, r := range runs {
				lines = append(lines, fmt.Sprintf("remembers %s: %d calls (%s)", r.Tick.StartedAt.Format("2006-01-02"), len(r.Actions), tz))
			}
			return strings.Join(lines, "\n")
		}}
	if cfg != nil {
		cfg(&c)
	}
	srv, err := web.New(c)
	if err != nil {
		t.Fatal(err)
	}
	b.srv = srv
	b.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(b.ts.Close)
	return b
}

func (b *bundle) seed(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	add := func(email, name string, cadence persona.Cadence, tz string, mix persona.ModuleMix) string {
		id, _, err := b.db.UpsertPersona(ctx, persona.PersonaInput{Email: email, Name: name, Password: "correct-horse-battery",
			Archetype: "tester-" + name, SystemPrompt: "You are " + name + ", a person who tests things.", ModuleMix: mix,
			TickCadence: cadence, Timezone: tz})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	b.anna = add("persona.anna@mana.test", "Anna", persona.Daily, "Europe/Berlin", persona.ModuleMix{"todo": 0.6, "notes": 0.4})
	b.ben = add("persona.ben@mana.test", "Ben", persona.Hourly, "UTC", persona.ModuleMix{"notes": 1})
	b.cleo = add("persona.cleo@mana.test", "Cleo", persona.Weekdays, "Asia/Tokyo", persona.ModuleMix{"mood": 1})

	b.tickA = "11111111-aaaa-4aaa-8aaa-000000000001"
	b.tickB = "22222222-bbbb-4bbb-8bbb-000000000002"
	ratingAt := 4
	tr, _ := json.Marshal(map[string]any{
		"model": "claude-sonnet-4-5", "system": "You are Anna, a student.", "tools": []string{"todo_create", "todo_list", "notes_create"},
		"ratingTurnAt": ratingAt,
		"messages": []model.Message{
			{Role: model.User, Text: "Today is Wednesday. Spend a short day in your app."},
			{Role: model.Assistant, Text: "Let me jot down my homework first.", ToolCalls: []model.ToolCall{
				{ID: "c1", Name: "todo_create", Input: json.RawMessage(`{"title":"Essay draft"}`)},
				{ID: "c2", Name: "todo_list", Input: json.RawMessage(`{}`)}}},
			{Role: model.User, ToolResults: []model.ToolResult{{CallID: "c1", Content: `{"id":"t1","title":"Essay draft"}`}, {CallID: "c2", Content: `[{"id":"t1"}]`}}},
			{Role: model.Assistant, Text: "Now a long note about the lecture.", ToolCalls: []model.ToolCall{
				{ID: "c3", Name: "notes_create", Input: json.RawMessage(`{"title":"Lecture"}`)}}},
			{Role: model.User, Text: "Rate each module you used from 1 to 5."},
			{Role: model.Assistant, Text: `{"ratings":[{"module":"todo","rating":4},{"module":"notes","rating":2}]}`},
		},
	})
	// The tool results of c3 are in the action row only (the run's transcript was cut there).
	run := func(rec persona.RunRecord) {
		if _, err := b.db.RecordRun(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	at := func(d time.Duration) time.Time { return now.Add(-d) }
	fin := func(d time.Duration) *time.Time { x := now.Add(-d).Add(90 * time.Second); return &x }
	run(persona.RunRecord{
		Tick: persona.Tick{TickID: b.tickA, PersonaID: b.anna, RunnerID: "r1", Status: persona.TickOK, StartedAt: at(26 * time.Hour),
			FinishedAt: fin(26 * time.Hour), ToolCalls: 3, Errors: 1, Turns: 3, InputTokens: 1200, OutputTokens: 300, CostUSD: 0.0081,
			Model: "claude-sonnet-4-5", Summary: "Got my essay on the list; the note was refused, annoying.", Transcript: tr},
		Actions: []persona.Action{
			{TickID: b.tickA, ToolName: "todo.create", Result: persona.ResultOK, LatencyMs: persona.Latency(12), Seq: 0, CreatedAt: at(26 * time.Hour)},
			{TickID: b.tickA, ToolName: "todo.list", Result: persona.ResultOK, LatencyMs: persona.Latency(30), Seq: 1, CreatedAt: at(26 * time.Hour)},
			{TickID: b.tickA, ToolName: "notes.create", Result: persona.ResultError, LatencyMs: persona.Latency(7), Seq: 2, CreatedAt: at(26 * time.Hour),
				ErrorMessage: "invalid input: title: must be at most 200 characters (got 207)"},
		},
		Feedback: []persona.Feedback{
			{TickID: b.tickA, Module: "todo", Rating: 4, Notes: "Lists work, adding is quick.", CreatedAt: at(26 * time.Hour)},
			{TickID: b.tickA, Module: "notes", Rating: 2, Notes: "My lecture note was refused for its length.", CreatedAt: at(26 * time.Hour)},
		},
	})
	old := "33333333-cccc-4ccc-8ccc-000000000003"
	run(persona.RunRecord{
		Tick: persona.Tick{TickID: old, PersonaID: b.anna, Status: persona.TickOK, StartedAt: at(40 * 24 * time.Hour), FinishedAt: fin(40 * 24 * time.Hour),
			ToolCalls: 1, Model: "claude-sonnet-4-5"},
		Actions:  []persona.Action{{TickID: old, ToolName: "notes.create", Result: persona.ResultOK, LatencyMs: persona.Latency(9), CreatedAt: at(40 * 24 * time.Hour)}},
		Feedback: []persona.Feedback{{TickID: old, Module: "notes", Rating: 5, Notes: "Notes were great back then.", CreatedAt: at(40 * 24 * time.Hour)}},
	})
	run(persona.RunRecord{
		Tick: persona.Tick{TickID: b.tickB, PersonaID: b.ben, Status: persona.TickFailed, StartedAt: at(50 * time.Hour), FinishedAt: fin(50 * time.Hour),
			ToolCalls: 1, Errors: 1, Error: "model unreachable", Model: "claude-sonnet-4-5"},
		Actions: []persona.Action{{TickID: b.tickB, ToolName: "notes.search", Result: persona.ResultError, LatencyMs: persona.Latency(5000), CreatedAt: at(50 * time.Hour),
			ErrorMessage: "search timed out"}},
	})
	// The tick record's target and server columns and the degraded status are not written by
	// the store's Go API yet (other issues wire them); the dashboard reads them all the same.
	deg := "44444444-dddd-4ddd-8ddd-000000000004"
	run(persona.RunRecord{Tick: persona.Tick{TickID: deg, PersonaID: b.ben, Status: persona.TickOK, StartedAt: at(5 * time.Hour), FinishedAt: fin(5 * time.Hour),
		Model: "claude-sonnet-4-5"}})
	table := "persona_ticks"
	if b.db.Dialect() == "postgres" {
		table = "auth.persona_ticks"
	}
	if _, err := b.db.SQL().ExecContext(ctx, `UPDATE `+table+` SET status = 'degraded', target = 'kitchen' WHERE tick_id = '`+deg+`'`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.SQL().ExecContext(ctx, `UPDATE `+table+` SET server_name = 'mana', server_version = '1.2.3', target = 'demo' WHERE tick_id = '`+b.tickA+`'`); err != nil {
		t.Fatal(err)
	}
}

// client is an HTTP client with a cookie jar that does not follow redirects.
func client(t testing.TB) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
