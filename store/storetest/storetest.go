// Package storetest is the one conformance suite every persona.Store runs (store/sqlite always,
// store/postgres when PERSONA_TEST_POSTGRES_URL is set). It tests through the Store interface
// only, with an injected clock, so both adapters are held to exactly the same behaviour.
//
// Callers open their stores with the cheapest bcrypt cost (WithPasswordCost(bcrypt.MinCost)); the
// suite creates a few hundred personas.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

// Start is where every test's clock begins: Wednesday 4 March 2026, 10:00 UTC.
var Start = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

// Clock is a settable clock for a store under test. It is safe for concurrent use. Times are
// kept at microsecond precision, the precision both stores keep.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{now: t.UTC().Truncate(time.Microsecond)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t.UTC().Truncate(time.Microsecond)
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d).Truncate(time.Microsecond)
}

// NewStoreFunc returns a fresh, empty, migrated store whose clock is clock; it closes the store
// with t.Cleanup.
type NewStoreFunc func(t *testing.T, clock *Clock) persona.Store

// env is what one test works with.
type env struct {
	t     *testing.T
	s     persona.Store
	clock *Clock
	ctx   context.Context
}

type suiteTest struct {
	name string
	fn   func(e *env)
}

// suite is every test of the conformance suite, listed here and nowhere else.
func suite(fx Fixtures) []suiteTest {
	return slices.Concat(upsertTests, repairTests(fx), scheduleTests, rowsTests, runTests, evidenceTests, authTests, parityTests, targetTests, appSpaceTests, statsTests)
}

// Run runs the whole conformance suite, each test in parallel on its own fresh store; fx puts a
// store into states its interface never produces.
func Run(t *testing.T, newStore NewStoreFunc, fx Fixtures) {
	for _, tc := range suite(fx) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := NewClock(Start)
			s := newStore(t, clock)
			tc.fn(&env{t: t, s: s, clock: clock, ctx: context.Background()})
		})
	}
}

// Helpers. They fail the test on unexpected errors.

// input returns a valid persona input for email.
func input(email string) persona.PersonaInput {
	return persona.PersonaInput{
		Email:        email,
		Name:         strings.Split(email, "@")[0],
		Password:     "pw-" + email,
		Archetype:    "tester",
		SystemPrompt: "You are a careful tester who tries every feature once.",
		ModuleMix:    persona.ModuleMix{"todo": 0.5, "notes": 0.5},
	}
}

func (e *env) upsert(in persona.PersonaInput) string {
	e.t.Helper()
	id, _, err := e.s.UpsertPersona(e.ctx, in)
	if err != nil {
		e.t.Fatalf("UpsertPersona(%s): %v", in.Email, err)
	}
	return id
}

// persona creates a persona with the given cadence and zone and returns its id.
func (e *env) persona(email string, c persona.Cadence, tz string) string {
	e.t.Helper()
	in := input(email)
	in.TickCadence, in.Timezone = c, tz
	return e.upsert(in)
}

func (e *env) get(id string) persona.Persona {
	e.t.Helper()
	p, err := e.s.Persona(e.ctx, id)
	if err != nil {
		e.t.Fatalf("Persona(%s): %v", id, err)
	}
	return p
}

// ran records a successful run of the persona that finished at `at`.
func (e *env) ran(id string, at time.Time) {
	e.t.Helper()
	e.tick(persona.Tick{TickID: fmt.Sprintf("tick-%s-%d", id, at.UnixMicro()), PersonaID: id, RunnerID: "setup",
		Status: persona.TickOK, StartedAt: at.Add(-time.Minute), FinishedAt: &at})
}

func (e *env) tick(tk persona.Tick) {
	e.t.Helper()
	if err := e.s.RecordTick(e.ctx, tk); err != nil {
		e.t.Fatalf("RecordTick(%s, %s): %v", tk.TickID, tk.Status, err)
	}
}

func (e *env) due(limit int) []string {
	e.t.Helper()
	list, now, err := e.s.DuePersonas(e.ctx, limit)
	if err != nil {
		e.t.Fatalf("DuePersonas: %v", err)
	}
	if !now.Equal(e.clock.Now()) {
		e.t.Errorf("DuePersonas server time = %v, want the clock's %v", now, e.clock.Now())
	}
	return ids(list)
}

func (e *env) isDue(id string) bool {
	e.t.Helper()
	for _, d := range e.due(0) {
		if d == id {
			return true
		}
	}
	return false
}

func (e *env) claim(runner string, limit int, lease time.Duration) []persona.DuePersona {
	e.t.Helper()
	list, err := e.s.ClaimPersonas(e.ctx, runner, limit, lease)
	if err != nil {
		e.t.Fatalf("ClaimPersonas(%s, %d): %v", runner, limit, err)
	}
	return list
}

func ids(list []persona.DuePersona) []string {
	out := make([]string, len(list))
	for i, d := range list {
		out[i] = d.UserID
	}
	return out
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error = %v, want %v", what, err, target)
	}
}

func wantErrMentions(t *testing.T, what string, err error, target error, parts ...string) {
	t.Helper()
	wantErr(t, what, err, target)
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not mention %q", what, err, p)
		}
	}
}

func equalTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

// weekday returns the first time at or after Start that is the given weekday and clock time in
// UTC (the tests pick times by weekday).
func weekday(d time.Weekday, hour, minute int) time.Time {
	t := time.Date(Start.Year(), Start.Month(), Start.Day(), hour, minute, 0, 0, time.UTC)
	for t.Weekday() != d || t.Before(Start) {
		t = t.AddDate(0, 0, 1)
	}
	return t
}

// jsonEqual compares two JSON documents by value (PostgreSQL's jsonb reformats them).
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
