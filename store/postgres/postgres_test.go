package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/postgres"
	"github.com/persona-runner/persona-runner/store/postgres/pgtest"
	"github.com/persona-runner/persona-runner/store/storetest"
)

// clock is a settable time source for the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)         { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

type bundle struct {
	db    *postgres.DB
	clock *clock
	ctx   context.Context
}

func setup(t *testing.T) bundle {
	t.Helper()
	c := &clock{t: ts("2025-06-02T09:00:00Z")} // a Monday
	db := pgtest.NewDB(t, postgres.WithNow(c.Now))
	return bundle{db: db, clock: c, ctx: context.Background()}
}

func input(email string, cadence persona.Cadence, tz string) persona.PersonaInput {
	return persona.PersonaInput{
		Email: email, Name: "P " + email, Password: "pw-" + email, Archetype: "tester",
		SystemPrompt: "You are a careful tester of this app.", ModuleMix: persona.ModuleMix{"todo": 1},
		TickCadence: cadence, Timezone: tz,
	}
}

func mustPersona(t *testing.T, b bundle, in persona.PersonaInput) string {
	t.Helper()
	id, _, err := b.db.UpsertPersona(b.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() {
			db, err := postgres.Open(ctx, dsn)
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent open: %v", err)
		}
	}
	db, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	files, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	// Numbers are allocated ahead (a gap is a migration still to land): the newest file's.
	var want int64
	for _, f := range files {
		if n, err := strconv.ParseInt(strings.SplitN(f.Name(), "_", 2)[0], 10, 64); err == nil {
			want = max(want, n)
		}
	}
	v, err := postgres.MigrationVersion(ctx, db.SQL())
	if err != nil || v != want {
		t.Fatalf("version = %d, %v; want %d", v, err, want)
	}
	if db.Dialect() != "postgres" {
		t.Errorf("dialect %q", db.Dialect())
	}
}

func TestOpenBadDSNFailsClearly(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := postgres.Open(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err == nil || !strings.Contains(err.Error(), "cannot reach 127.0.0.1:1/none") {
		t.Fatalf("error %v, want one naming the unreachable server", err)
	}
}

func TestUpsertPersonaRules(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := input("persona.anna@mana.test", persona.Hourly, "Europe/Berlin")
	id, out, err := b.db.UpsertPersona(b.ctx, in)
	if err != nil || out != persona.Created {
		t.Fatalf("create: %v %v", out, err)
	}
	if _, out, _ := b.db.UpsertPersona(b.ctx, in); out != persona.Unchanged {
		t.Errorf("again: %v, want unchanged", out)
	}
	// Omitted cadence and timezone keep the stored ones; a new password is stored.
	in2 := in
	in2.TickCadence, in2.Timezone, in2.Password = "", "", "new-password"
	if _, out, err := b.db.UpsertPersona(b.ctx, in2); err != nil || out != persona.Updated {
		t.Fatalf("re-seed: %v %v", out, err)
	}
	p, err := b.db.Persona(b.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if p.TickCadence != persona.Hourly || p.Timezone != "Europe/Berlin" {
		t.Errorf("cadence/tz = %s/%s, want kept", p.TickCadence, p.Timezone)
	}
	u, _ := b.db.User(b.ctx, id)
	if !persona.CheckPassword(u.PasswordHash, "new-password") || u.Kind != persona.KindPersona || u.AccessTier != persona.TierFounder {
		t.Errorf("user after re-seed: %+v", u)
	}
	spaces, err := b.db.SpacesOfUser(b.ctx, id)
	if err != nil || len(spaces) != 1 || spaces[0].Slug != "persona-anna" || spaces[0].Type != persona.SpacePersonal {
		t.Fatalf("spaces: %+v %v", spaces, err)
	}

	// A human is never turned into a persona.
	if _, _, err := b.db.UpsertUser(b.ctx, persona.UserInput{Email: "human@mana.test", Password: "x", Role: persona.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.db.UpsertPersona(b.ctx, input("human@mana.test", "", "")); !errors.Is(err, persona.ErrConflict) {
		t.Errorf("human → persona: %v, want ErrConflict", err)
	}
	bad := input("not an email", "often", "Mars/Base")
	_, _, err = b.db.UpsertPersona(b.ctx, bad)
	var fes persona.FieldErrors
	if !errors.As(err, &fes) || len(fes) != 3 {
		t.Errorf("bad input: %v, want 3 field errors", err)
	}
	// Slug collisions get a suffix.
	id2 := mustPersona(t, b, input("persona.anna@other.test", "", ""))
	spaces, _ = b.db.SpacesOfUser(b.ctx, id2)
	if len(spaces) != 1 || spaces[0].Slug != "persona-anna-2" {
		t.Errorf("collision slug: %+v", spaces)
	}
}

func TestConcurrentCreateOfOneEmail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := input("persona.race@mana.test", "", "")
	ids := make([]string, 4)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			id, _, err := b.db.UpsertPersona(b.ctx, in)
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Fatalf("ids differ: %v", ids)
		}
	}
}

// On a weekend the store leaves the weekday personas out by index (migration 13) only while it
// is Saturday or Sunday in each of their zones; a zone still on Friday keeps its personas due,
// for due and for claim.
func TestWeekendLeavesWeekdayPersonasOut(t *testing.T) {
	t.Parallel()
	b := setup(t)
	daily := mustPersona(t, b, input("persona.daily@mana.test", persona.Daily, "UTC"))
	mustPersona(t, b, input("persona.tokyo@mana.test", persona.Weekdays, "Asia/Tokyo"))
	samoa := mustPersona(t, b, input("persona.samoa@mana.test", persona.Weekdays, "Pacific/Pago_Pago"))

	// Saturday 09:00 UTC is Friday 22:00 in Pago Pago (UTC−11), Saturday 18:00 in Tokyo.
	b.clock.Set(ts("2025-06-07T09:00:00Z"))
	if diff := cmp.Diff(sortIDs(daily, samoa), dueIDs(t, b)); diff != "" {
		t.Errorf("Saturday 09:00 UTC (-want +got):\n%s", diff)
	}
	// Saturday 12:00 UTC is Saturday 01:00 in Pago Pago: a weekend in every zone of theirs.
	b.clock.Set(ts("2025-06-07T12:00:00Z"))
	if diff := cmp.Diff([]string{daily}, dueIDs(t, b)); diff != "" {
		t.Errorf("Saturday 12:00 UTC (-want +got):\n%s", diff)
	}
	claimed, err := b.db.ClaimPersonas(b.ctx, "r1", 10, time.Minute)
	if err != nil || len(claimed) != 1 || claimed[0].UserID != daily {
		t.Errorf("claim on Saturday 12:00 UTC: %+v, %v; want the daily persona only", claimed, err)
	}
	// Back to Friday in Pago Pago (a clock set back, as a test may): its persona is claimed.
	b.clock.Set(ts("2025-06-07T09:00:00Z"))
	claimed, err = b.db.ClaimPersonas(b.ctx, "r1", 10, time.Minute)
	if err != nil || len(claimed) != 1 || claimed[0].UserID != samoa {
		t.Errorf("claim on Saturday 09:00 UTC: %+v, %v; want the Pago Pago persona", claimed, err)
	}
}

func dueIDs(t *testing.T, b bundle) []string {
	t.Helper()
	due, now, err := b.db.DuePersonas(b.ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !now.Equal(b.clock.Now()) {
		t.Errorf("server time %v, want %v", now, b.clock.Now())
	}
	ids := []string{}
	for _, d := range due {
		ids = append(ids, d.UserID)
	}
	return ids
}

func TestDueWeekdaysInPersonaTimezone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tokyo := mustPersona(t, b, input("persona.tokyo@mana.test", persona.Weekdays, "Asia/Tokyo"))
	utcP := mustPersona(t, b, input("persona.utc@mana.test", persona.Weekdays, "UTC"))
	la := mustPersona(t, b, input("persona.la@mana.test", persona.Weekdays, "America/Los_Angeles"))

	// Friday 23:30 UTC is Saturday 08:30 in Tokyo and Friday 16:30 in Los Angeles.
	b.clock.Set(ts("2025-06-06T23:30:00Z"))
	got := dueIDs(t, b)
	want := sortIDs(utcP, la)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Friday 23:30 UTC (-want +got):\n%s", diff)
	}
	// Sunday 16:00 UTC is Monday 01:00 in Tokyo: only Tokyo is due.
	b.clock.Set(ts("2025-06-08T16:00:00Z"))
	if diff := cmp.Diff([]string{tokyo}, dueIDs(t, b)); diff != "" {
		t.Errorf("Sunday 16:00 UTC (-want +got):\n%s", diff)
	}
}

func sortIDs(ids ...string) []string {
	out := append([]string(nil), ids...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestDueCadencesAndOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	hourly := mustPersona(t, b, input("h@mana.test", persona.Hourly, ""))
	daily := mustPersona(t, b, input("d@mana.test", persona.Daily, ""))
	never := mustPersona(t, b, input("n@mana.test", persona.Daily, ""))
	start := b.clock.Now()
	ok := func(id string, at time.Time) {
		t.Helper()
		tick := persona.Tick{TickID: "t-" + id + at.String(), PersonaID: id, RunnerID: "r", Status: persona.TickOK, StartedAt: at, FinishedAt: &at}
		if err := b.db.RecordTick(b.ctx, tick); err != nil {
			t.Fatal(err)
		}
	}
	ok(hourly, start.Add(-90*time.Minute))
	ok(daily, start.Add(-2*time.Hour))
	// never-run first; hourly (ran 90 min ago) is due, daily (2 h ago) is not.
	if diff := cmp.Diff([]string{never, hourly}, dueIDs(t, b)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	b.clock.Advance(22 * time.Hour)
	// All three due: never-run, then the oldest last_active_at (daily ran before hourly).
	if diff := cmp.Diff([]string{never, daily, hourly}, dueIDs(t, b)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	due, _, err := b.db.DuePersonas(b.ctx, 2)
	if err != nil || len(due) != 2 || due[1].UserID != daily || due[0].PersonalSpaceID == "" {
		t.Errorf("limited due: %+v %v", due, err)
	}
}

func TestClaimNeverDoublesAndExpiredLeaseIsClaimable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const n = 30
	for i := range n {
		mustPersona(t, b, input(fmt.Sprintf("p%02d@mana.test", i), "", ""))
	}
	var mu sync.Mutex
	seen := map[string]string{}
	var wg sync.WaitGroup
	for r := range 8 {
		wg.Go(func() {
			runner := fmt.Sprintf("runner-%d", r)
			for {
				got, err := b.db.ClaimPersonas(b.ctx, runner, 3, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, d := range got {
					if prev, dup := seen[d.UserID]; dup {
						t.Errorf("persona %s claimed by %s and %s", d.UserID, prev, runner)
					}
					seen[d.UserID] = runner
					if d.LeaseExpiresAt == nil || !d.LeaseExpiresAt.Equal(b.clock.Now().Add(time.Minute)) {
						t.Errorf("lease expiry %v", d.LeaseExpiresAt)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("claimed %d, want %d", len(seen), n)
	}
	if due := dueIDs(t, b); len(due) != 0 {
		t.Errorf("leased personas reported due: %v", due)
	}
	b.clock.Advance(time.Minute)
	again, err := b.db.ClaimPersonas(b.ctx, "late", 0, time.Minute)
	if err != nil || len(again) != n {
		t.Fatalf("after expiry claimed %d, %v; want %d", len(again), err, n)
	}
}

func TestInsertActionsAndFeedback(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := mustPersona(t, b, input("a@mana.test", "", ""))
	rows := []persona.Action{
		{TickID: "t1", ToolName: "todo.create", Result: persona.ResultOK, Seq: 0},
		{TickID: "t1", ToolName: "notes.list", Result: persona.ResultError, ErrorMessage: "boom", Seq: 1},
	}
	w, d, err := b.db.InsertActions(b.ctx, id, rows)
	if err != nil || w != 2 || d != 0 {
		t.Fatalf("first insert: %d %d %v", w, d, err)
	}
	w, d, err = b.db.InsertActions(b.ctx, id, append(rows, persona.Action{TickID: "t1", ToolName: "mood.log", Result: "ok", Seq: 2}))
	if err != nil || w != 1 || d != 2 {
		t.Fatalf("retry: %d %d %v", w, d, err)
	}
	got, err := b.db.Actions(b.ctx, persona.ActionQuery{PersonaID: id})
	if err != nil || len(got) != 3 || got[0].ID != "t1-0-todo.create" || got[1].Module != "notes" || got[1].ErrorMessage != "boom" {
		t.Fatalf("actions: %+v %v", got, err)
	}
	_, _, err = b.db.InsertActions(b.ctx, id, []persona.Action{{TickID: "t2", ToolName: "x", Result: "ok"}, {TickID: "t2", ToolName: "y", Result: "maybe", Seq: 1}})
	var fes persona.FieldErrors
	if !errors.As(err, &fes) || fes[0].Field != "actions[1].result" {
		t.Errorf("bad row: %v", err)
	}
	if got, _ := b.db.Actions(b.ctx, persona.ActionQuery{TickID: "t2"}); len(got) != 0 {
		t.Errorf("bad batch wrote %d rows", len(got))
	}
	if _, _, err := b.db.InsertActions(b.ctx, "nobody", rows); !errors.Is(err, persona.ErrNotFound) {
		t.Errorf("unknown persona: %v", err)
	}

	fb := []persona.Feedback{{TickID: "t1", Module: "todo", Rating: 4}, {TickID: "t1", Module: "notes", Rating: 1}, {TickID: "t0", Module: "todo", Rating: 5}}
	if w, d, err := b.db.InsertFeedback(b.ctx, id, fb); err != nil || w != 3 || d != 0 {
		t.Fatalf("feedback: %d %d %v", w, d, err)
	}
	if w, d, err := b.db.InsertFeedback(b.ctx, id, fb[:1]); err != nil || w != 0 || d != 1 {
		t.Fatalf("feedback retry: %d %d %v", w, d, err)
	}
	if _, _, err := b.db.InsertFeedback(b.ctx, id, []persona.Feedback{{TickID: "t1", Module: "x", Rating: 6}}); !errors.Is(err, persona.ErrInvalid) {
		t.Errorf("rating 6: %v", err)
	}
	byModule, err := b.db.FeedbackByModule(b.ctx, id)
	want := []persona.ModuleRating{{Module: "notes", AvgRating: 1, Count: 1}, {Module: "todo", AvgRating: 4.5, Count: 2}}
	if diff := cmp.Diff(want, byModule); diff != "" || err != nil {
		t.Errorf("by module %v (-want +got):\n%s", err, diff)
	}
}

func TestRecordTickBackoffAndSuccess(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := mustPersona(t, b, input("f@mana.test", persona.Hourly, ""))
	if _, err := b.db.ClaimPersonas(b.ctx, "r1", 1, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	now := b.clock.Now()
	for i, wantDelay := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
		tick := persona.Tick{TickID: fmt.Sprintf("fail-%d", i), PersonaID: id, RunnerID: "r1", Status: persona.TickFailed, Error: "model down"}
		if err := b.db.RecordTick(b.ctx, tick); err != nil {
			t.Fatal(err)
		}
		// A retried request must not count twice.
		if err := b.db.RecordTick(b.ctx, tick); err != nil {
			t.Fatal(err)
		}
		p, _ := b.db.Persona(b.ctx, id)
		if p.FailureCount != i+1 || p.NextDueAt == nil || !p.NextDueAt.Equal(now.Add(wantDelay)) || p.LeaseOwner != "" || p.LastError != "model down" {
			t.Fatalf("after failure %d: count %d next %v lease %q err %q", i+1, p.FailureCount, p.NextDueAt, p.LeaseOwner, p.LastError)
		}
	}
	if due := dueIDs(t, b); len(due) != 0 {
		t.Errorf("backed-off persona due: %v", due)
	}
	b.clock.Advance(4 * time.Minute)
	if due := dueIDs(t, b); len(due) != 1 {
		t.Errorf("after back-off: %v", due)
	}
	fin := b.clock.Now()
	if err := b.db.RecordTick(b.ctx, persona.Tick{TickID: "ok-1", PersonaID: id, RunnerID: "r1", Status: persona.TickOK, FinishedAt: &fin, Transcript: []byte(`{"a": 1}`)}); err != nil {
		t.Fatal(err)
	}
	p, _ := b.db.Persona(b.ctx, id)
	if p.FailureCount != 0 || p.NextDueAt != nil || p.LastActiveAt == nil || !p.LastActiveAt.Equal(fin) || p.LastError != "" {
		t.Errorf("after ok: %+v", p)
	}
	tk, err := b.db.Tick(b.ctx, "ok-1")
	if err != nil || string(tk.Transcript) != `{"a": 1}` {
		t.Errorf("tick: %+v %v", tk, err)
	}
	if err := b.db.RecordTick(b.ctx, persona.Tick{TickID: "x", PersonaID: "nobody", Status: persona.TickOK}); !errors.Is(err, persona.ErrNotFound) {
		t.Errorf("unknown persona: %v", err)
	}
	if err := b.db.RecordTick(b.ctx, persona.Tick{TickID: "x", PersonaID: id, Status: "done"}); !errors.Is(err, persona.ErrInvalid) {
		t.Errorf("bad status: %v", err)
	}
	hist, err := b.db.History(b.ctx, id, 2)
	if err != nil || len(hist) != 2 {
		t.Errorf("history: %d %v", len(hist), err)
	}
}

func TestDeletePersona(t *testing.T) {
	t.Parallel()
	b := setup(t)
	anna := mustPersona(t, b, input("anna@mana.test", "", ""))
	ben := mustPersona(t, b, input("ben@mana.test", "", ""))
	if _, _, err := b.db.UpsertSpace(b.ctx, persona.SpaceInput{Slug: "fam", Name: "Fam", Type: persona.SpaceFamily, Members: []string{"anna@mana.test", "ben@mana.test"}}); err != nil {
		t.Fatal(err)
	}
	solo, _, err := b.db.UpsertSpace(b.ctx, persona.SpaceInput{Slug: "solo", Name: "Solo", Type: persona.SpaceClub, Members: []string{"anna@mana.test"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.db.InsertActions(b.ctx, anna, []persona.Action{{TickID: "t", ToolName: "todo.x", Result: "ok"}}); err != nil {
		t.Fatal(err)
	}
	if err := b.db.CreateSession(b.ctx, persona.Session{ID: "s1", UserID: anna, TokenHash: "h1", ExpiresAt: b.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := b.db.DeletePersona(b.ctx, anna); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.User(b.ctx, anna); !errors.Is(err, persona.ErrNotFound) {
		t.Errorf("user remains: %v", err)
	}
	if _, err := b.db.SessionByTokenHash(b.ctx, "h1"); !errors.Is(err, persona.ErrNotFound) {
		t.Errorf("session remains: %v", err)
	}
	if got, _ := b.db.Actions(b.ctx, persona.ActionQuery{}); len(got) != 0 {
		t.Errorf("actions remain: %d", len(got))
	}
	var n int
	if err := b.db.SQL().QueryRow(`SELECT count(*) FROM auth.spaces WHERE id = $1 OR slug = 'anna'`, solo).Scan(&n); err != nil || n != 0 {
		t.Errorf("anna's own spaces remain: %d %v", n, err)
	}
	spaces, _ := b.db.SpacesOfUser(b.ctx, ben)
	if len(spaces) != 2 || spaces[1].Slug != "fam" {
		t.Errorf("ben's spaces: %+v", spaces)
	}
	if err := b.db.DeletePersona(b.ctx, anna); !errors.Is(err, persona.ErrNotFound) {
		t.Errorf("again: %v", err)
	}
	h, _, _ := b.db.UpsertUser(b.ctx, persona.UserInput{Email: "h@mana.test", Password: "x"})
	if err := b.db.DeletePersona(b.ctx, h.ID); !errors.Is(err, persona.ErrNotPersona) {
		t.Errorf("human: %v", err)
	}
}

func TestApplySeedDryRunAndRollback(t *testing.T) {
	t.Parallel()
	b := setup(t)
	plan := persona.SeedPlan{
		Personas: []persona.PersonaInput{input("a@mana.test", "", ""), input("b@mana.test", "", "")},
		Spaces:   []persona.SpaceInput{{Slug: "team-x", Name: "Team", Type: persona.SpaceTeam, Members: []string{"a@mana.test", "b@mana.test"}}},
	}
	changes, err := b.db.ApplySeed(b.ctx, plan, true)
	if err != nil || len(changes) != 3 || changes[2].Outcome != persona.Created {
		t.Fatalf("dry run: %+v %v", changes, err)
	}
	if list, _ := b.db.ListPersonas(b.ctx, time.Time{}); len(list) != 0 {
		t.Fatalf("dry run wrote %d personas", len(list))
	}
	if _, err := b.db.ApplySeed(b.ctx, plan, false); err != nil {
		t.Fatal(err)
	}
	changes, err = b.db.ApplySeed(b.ctx, plan, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if c.Outcome != persona.Unchanged {
			t.Errorf("second seed: %+v", c)
		}
	}
	bad := plan
	bad.Personas = append([]persona.PersonaInput{input("c@mana.test", "", "")}, plan.Personas...)
	bad.Spaces = []persona.SpaceInput{{Slug: "s", Type: persona.SpaceTeam, Members: []string{"ghost@mana.test"}}}
	if _, err := b.db.ApplySeed(b.ctx, bad, false); !errors.Is(err, persona.ErrInvalid) {
		t.Fatalf("unknown member: %v", err)
	}
	if _, err := b.db.PersonaByEmail(b.ctx, "c@mana.test"); !errors.Is(err, persona.ErrNotFound) {
		t.Errorf("failed seed left c behind: %v", err)
	}
}

func TestLoginLockoutAndSigningKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := persona.DefaultLockout
	for i := range 4 {
		until, err := b.db.RecordLoginFailure(b.ctx, "x@mana.test", p)
		if err != nil || !until.IsZero() {
			t.Fatalf("failure %d: %v %v", i+1, until, err)
		}
		b.clock.Advance(time.Minute)
	}
	until, err := b.db.RecordLoginFailure(b.ctx, "x@mana.test", p)
	if err != nil || !until.Equal(b.clock.Now().Add(30*time.Minute)) {
		t.Fatalf("fifth failure: %v %v", until, err)
	}
	if got, _ := b.db.LoginLockedUntil(b.ctx, "x@mana.test"); !got.Equal(until) {
		t.Errorf("locked until %v", got)
	}
	b.clock.Advance(31 * time.Minute)
	if got, _ := b.db.LoginLockedUntil(b.ctx, "x@mana.test"); !got.IsZero() {
		t.Errorf("lock outlived: %v", got)
	}

	keys := make([]persona.SigningKey, 4)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := b.db.EnsureSigningKey(b.ctx, persona.SigningKey{ID: fmt.Sprintf("k%d", i), Algorithm: "EdDSA", PrivateKey: []byte{1}, PublicKey: []byte{2}})
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if k.ID != keys[0].ID {
			t.Fatalf("replicas got different keys: %v %v", k.ID, keys[0].ID)
		}
	}
	if all, _ := b.db.SigningKeys(b.ctx); len(all) != 1 {
		t.Errorf("stored %d keys", len(all))
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, newConformanceStore, storetest.Fixtures{
		SoftDeleteUser: func(s persona.Store, email string) error {
			_, err := s.(*postgres.DB).Pool().Exec(context.Background(),
				`UPDATE auth.users SET deleted_at = updated_at WHERE email = $1`, email)
			return err
		},
		DropPersonalSpace: func(s persona.Store, userID string) error {
			_, err := s.(*postgres.DB).Pool().Exec(context.Background(), `DELETE FROM auth.spaces WHERE type = 'personal'
				AND id IN (SELECT space_id FROM auth.members WHERE user_id = $1)`, userID)
			return err
		},
	})
}

func newConformanceStore(t *testing.T, clock *storetest.Clock) persona.Store {
	return pgtest.NewDB(t, postgres.WithNow(clock.Now))
}

func TestSpaceRoles(t *testing.T) {
	storetest.SpaceRoles(t, newConformanceStore, func(s persona.Store) *sql.DB { return s.(*postgres.DB).SQL() },
		`SELECT user_id, role FROM auth.members WHERE space_id = $1`)
}

// TestLegacyZoneMigration also shows why the repair is needed: with a "Local" row, PostgreSQL's
// due query fails for every persona.
func TestLegacyZoneMigration(t *testing.T) {
	storetest.LegacyZone(t, newConformanceStore,
		func(s persona.Store, userID string) error {
			ctx := context.Background()
			if _, err := s.(*postgres.DB).Pool().Exec(ctx, `UPDATE auth.personas SET timezone = 'Local' WHERE user_id = $1`, userID); err != nil {
				return err
			}
			if _, _, err := s.DuePersonas(ctx, 0); err == nil || !strings.Contains(err.Error(), "time zone") {
				return fmt.Errorf("due with a Local zone: error %v; want PostgreSQL's unknown time zone", err)
			}
			return nil
		},
		func(s persona.Store) error {
			db := s.(*postgres.DB)
			ctx := context.Background()
			if _, err := db.Pool().Exec(ctx, `DELETE FROM auth.goose_db_version WHERE version_id >= 4`); err != nil {
				return err
			}
			return postgres.Migrate(ctx, db.SQL())
		})
}
