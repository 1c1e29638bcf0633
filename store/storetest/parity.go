package storetest

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/persona-runner/persona-runner/persona"
)

// The tests of this file hold both stores to one rule where the databases themselves differ:
// PostgreSQL knows fewer time zones than Go, keeps integer counters in 32 bits, refuses NUL
// characters and invalid UTF-8 in text, and SQLite stores all of that.

// parityTests are the parity cases of the suite (listed in Run).
var parityTests = []suiteTest{
	{"Parity/TimezoneLocalRefused", testTimezoneLocalRefused},
	{"Parity/SpaceRules", testSpaceRules},
	{"Parity/CounterBounds", testCounterBounds},
	{"Parity/TickErrorCut", testTickErrorCut},
	{"Parity/NULRefused", testNULRefused},
	{"Parity/LongestFailedCall", testLongestFailedCall},
	{"Parity/TickNumbersAndJSON", testTickNumbersAndJSON},
	{"Parity/TickIDOfAnotherPersona", testTickIDOfAnotherPersona},
	{"Parity/DeletePersonaForgetsLoginLock", testDeletePersonaForgetsLock},
}

// testTimezoneLocalRefused: Go's time.LoadLocation accepts "Local" (the machine's zone), which
// PostgreSQL does not know; a persona with it made every due query fail there.
func testTimezoneLocalRefused(e *env) {
	for _, tz := range []string{"Local", "localtime", "posix/Europe/Berlin", "right/UTC", " UTC", "europe/berlin"} {
		in := input("persona.local@mana.test")
		in.TickCadence, in.Timezone = persona.Weekdays, tz
		_, _, err := e.s.UpsertPersona(e.ctx, in)
		wantErrMentions(e.t, "UpsertPersona(timezone "+tz+")", err, persona.ErrInvalid, "timezone")
		plan := persona.SeedPlan{Personas: []persona.PersonaInput{in}}
		_, err = e.s.ApplySeed(e.ctx, plan, false)
		wantErrMentions(e.t, "ApplySeed(timezone "+tz+")", err, persona.ErrInvalid, "timezone")
	}
	if _, err := e.s.PersonaByEmail(e.ctx, "persona.local@mana.test"); !errors.Is(err, persona.ErrNotFound) {
		e.t.Fatalf("a persona with a refused zone exists (error %v)", err)
	}
	// An update to such a zone is refused too, and the stored zone stays.
	id := e.persona("persona.berlin@mana.test", persona.Weekdays, "Europe/Berlin")
	in := input("persona.berlin@mana.test")
	in.Timezone = "Local"
	_, _, err := e.s.UpsertPersona(e.ctx, in)
	wantErrMentions(e.t, "UpsertPersona(update to Local)", err, persona.ErrInvalid, "timezone")
	if p := e.get(id); p.Timezone != "Europe/Berlin" {
		e.t.Errorf("timezone after a refused update = %q; want Europe/Berlin", p.Timezone)
	}
	// Legacy names IANA still lists work in both stores.
	other := e.persona("persona.legacy@mana.test", persona.Weekdays, "EST5EDT")
	// Start is a Wednesday: both weekday personas are due, and due and claim keep working.
	if got := e.due(0); len(got) != 2 {
		e.t.Errorf("due = %v; want %s and %s", got, id, other)
	}
	if got := e.claim("runner-a", 0, time.Minute); len(got) != 2 {
		e.t.Errorf("claim = %v; want both personas", ids(got))
	}
}

// testSpaceRules: UpsertSpace validates the same fields the same way in every store.
func testSpaceRules(e *env) {
	e.upsert(input("persona.anna@mana.test"))
	e.upsert(input("persona.ben@mana.test"))
	members := []string{"persona.anna@mana.test"}
	for _, c := range []struct {
		name  string
		in    persona.SpaceInput
		field string
	}{
		{"no name", persona.SpaceInput{Slug: "club", Type: persona.SpaceClub, Members: members}, "name"},
		{"blank name", persona.SpaceInput{Slug: "club", Name: "  ", Type: persona.SpaceClub, Members: members}, "name"},
		{"no members", persona.SpaceInput{Slug: "club", Name: "Club", Type: persona.SpaceClub}, "members"},
		{"double dash", persona.SpaceInput{Slug: "a--b", Name: "Club", Type: persona.SpaceClub, Members: members}, "slug"},
		{"slug too long", persona.SpaceInput{Slug: strings.Repeat("a", 31), Name: "Club", Type: persona.SpaceClub, Members: members}, "slug"},
		{"personal type", persona.SpaceInput{Slug: "club", Name: "Club", Type: persona.SpacePersonal, Members: members}, "type"},
		{"empty member", persona.SpaceInput{Slug: "club", Name: "Club", Type: persona.SpaceClub, Members: []string{""}}, "members[0]"},
		{"member twice", persona.SpaceInput{Slug: "club", Name: "Club", Type: persona.SpaceClub, Members: []string{members[0], members[0]}}, "members[1]"},
	} {
		_, _, err := e.s.UpsertSpace(e.ctx, c.in)
		wantErrMentions(e.t, "UpsertSpace("+c.name+")", err, persona.ErrInvalid, c.field)
		_, err = e.s.ApplySeed(e.ctx, persona.SeedPlan{Spaces: []persona.SpaceInput{c.in}}, false)
		wantErrMentions(e.t, "ApplySeed("+c.name+")", err, persona.ErrInvalid, c.field)
	}
	anna, _ := e.s.UserByEmail(e.ctx, "persona.anna@mana.test")
	if spaces, _ := e.s.SpacesOfUser(e.ctx, anna.ID); len(spaces) != 1 {
		e.t.Errorf("spaces after refused upserts = %+v; want only the personal one", spaces)
	}
	// The longest slug is accepted, and the name is kept as given.
	slug := strings.Repeat("b", persona.MaxSlugLength)
	id, out, err := e.s.UpsertSpace(e.ctx, persona.SpaceInput{Slug: slug, Name: "B", Type: persona.SpaceTeam, Members: members})
	if err != nil || out != persona.Created {
		e.t.Fatalf("UpsertSpace(30-char slug) = %q, %v; want created", out, err)
	}
	if spaces, _ := e.s.SpacesOfUser(e.ctx, anna.ID); len(spaces) != 2 || spaces[1].ID != id || spaces[1].Name != "B" {
		e.t.Errorf("spaces = %+v; want the personal one and %s named B", spaces, slug)
	}
}

// testCounterBounds: counters PostgreSQL keeps in 32 bits are refused above that in every store.
func testCounterBounds(e *env) {
	if math.MaxInt < math.MaxInt64 {
		e.t.Skip("int is 32 bits here")
	}
	id := e.persona("counter@mana.test", persona.Daily, "UTC")
	rows := actions("tick-big", "todo.create", "todo.list")
	rows[1].Seq = math.MaxInt32 + 1
	_, _, err := e.s.InsertActions(e.ctx, id, rows)
	wantErrMentions(e.t, "InsertActions(seq beyond int32)", err, persona.ErrInvalid, "actions[1].seq")
	if got, _ := e.s.Actions(e.ctx, persona.ActionQuery{PersonaID: id}); len(got) != 0 {
		e.t.Errorf("actions after a refused batch = %d; want none", len(got))
	}
	rows[1].Seq = math.MaxInt32
	e.insertActions(id, rows)
	got, err := e.s.Actions(e.ctx, persona.ActionQuery{PersonaID: id})
	if err != nil || len(got) != 2 || got[1].Seq != math.MaxInt32 || got[1].ID != persona.ActionID("tick-big", math.MaxInt32, "todo.list") {
		e.t.Errorf("actions = %+v, %v; want seq %d kept", got, err, math.MaxInt32)
	}
	for _, c := range []struct {
		field string
		tick  persona.Tick
	}{
		{"toolCalls", persona.Tick{ToolCalls: math.MaxInt32 + 1}},
		{"errors", persona.Tick{Errors: math.MaxInt32 + 1}},
		{"turns", persona.Tick{Turns: math.MaxInt32 + 1}},
	} {
		tk := c.tick
		tk.TickID, tk.PersonaID, tk.Status = "t-"+c.field, id, persona.TickOK
		err := e.s.RecordTick(e.ctx, tk)
		wantErrMentions(e.t, "RecordTick("+c.field+" beyond int32)", err, persona.ErrInvalid, c.field)
		if _, err := e.s.Tick(e.ctx, tk.TickID); !errors.Is(err, persona.ErrNotFound) {
			e.t.Errorf("a refused tick (%s) was stored (error %v)", c.field, err)
		}
	}
	e.tick(persona.Tick{TickID: "t-max", PersonaID: id, Status: persona.TickOK, ToolCalls: math.MaxInt32, Errors: math.MaxInt32, Turns: math.MaxInt32})
	if tk, err := e.s.Tick(e.ctx, "t-max"); err != nil || tk.ToolCalls != math.MaxInt32 || tk.Errors != math.MaxInt32 || tk.Turns != math.MaxInt32 {
		e.t.Errorf("tick = %+v, %v; want the int32 maximum kept", tk, err)
	}
}

// testTickErrorCut: a long tick error is cut to MaxTickError characters in every store, never
// inside a character; the persona's last_error to MaxErrorMessage.
func testTickErrorCut(e *env) {
	id := e.persona("long@mana.test", persona.Daily, "UTC")
	long := strings.Repeat("é", persona.MaxTickError+500)
	e.tick(persona.Tick{TickID: "t-long", PersonaID: id, Status: persona.TickFailed, Error: long})
	tk, err := e.s.Tick(e.ctx, "t-long")
	if err != nil {
		e.t.Fatal(err)
	}
	if n := utf8.RuneCountInString(tk.Error); n != persona.MaxTickError || !utf8.ValidString(tk.Error) || !strings.HasPrefix(long, tk.Error) {
		e.t.Errorf("stored tick error has %d characters (valid UTF-8: %v); want the first %d", n, utf8.ValidString(tk.Error), persona.MaxTickError)
	}
	if p := e.get(id); utf8.RuneCountInString(p.LastError) != persona.MaxErrorMessage {
		e.t.Errorf("last_error has %d characters; want %d", utf8.RuneCountInString(p.LastError), persona.MaxErrorMessage)
	}
	short := strings.Repeat("x", persona.MaxTickError)
	e.tick(persona.Tick{TickID: "t-short", PersonaID: id, Status: persona.TickFailed, Error: short})
	if tk, _ := e.s.Tick(e.ctx, "t-short"); tk.Error != short {
		e.t.Errorf("an error of exactly %d characters was changed (now %d)", persona.MaxTickError, len(tk.Error))
	}
}

// testNULRefused: text with a NUL character (or invalid UTF-8) is refused with a field error in
// every store, and nothing is written.
func testNULRefused(e *env) {
	for _, c := range []struct {
		field string
		edit  func(*persona.PersonaInput)
	}{
		{"name", func(in *persona.PersonaInput) { in.Name = "An\x00na" }},
		{"archetype", func(in *persona.PersonaInput) { in.Archetype = "student\x00" }},
		{"systemPrompt", func(in *persona.PersonaInput) { in.SystemPrompt += "\x00" }},
		{"systemPrompt", func(in *persona.PersonaInput) { in.SystemPrompt += "\xff\xfe" }},
		{"moduleMix", func(in *persona.PersonaInput) { in.ModuleMix["to\x00do"] = 1 }},
	} {
		in := input("persona.nul@mana.test")
		c.edit(&in)
		_, _, err := e.s.UpsertPersona(e.ctx, in)
		wantErrMentions(e.t, "UpsertPersona(bad "+c.field+")", err, persona.ErrInvalid, c.field)
	}
	if _, err := e.s.UserByEmail(e.ctx, "persona.nul@mana.test"); !errors.Is(err, persona.ErrNotFound) {
		e.t.Fatalf("a persona with NUL text exists (error %v)", err)
	}
	_, _, err := e.s.UpsertUser(e.ctx, persona.UserInput{Email: "ops@mana.test", Name: "O\x00ps", Password: "operator-password"})
	wantErrMentions(e.t, "UpsertUser(NUL name)", err, persona.ErrInvalid, "name")

	id := e.persona("persona.text@mana.test", persona.Daily, "UTC")
	_, _, err = e.s.UpsertSpace(e.ctx, persona.SpaceInput{Slug: "club", Name: "Cl\x00ub", Type: persona.SpaceClub, Members: []string{"persona.text@mana.test"}})
	wantErrMentions(e.t, "UpsertSpace(NUL name)", err, persona.ErrInvalid, "name")

	rows := actions("tick-nul", "todo.create", "todo.list")
	rows[1].Result, rows[1].ErrorMessage = persona.ResultError, "boom\x00"
	_, _, err = e.s.InsertActions(e.ctx, id, rows)
	wantErrMentions(e.t, "InsertActions(NUL errorMessage)", err, persona.ErrInvalid, "actions[1].errorMessage")
	rows[1].ErrorMessage, rows[0].ToolName = "boom", "todo.cre\x00ate"
	_, _, err = e.s.InsertActions(e.ctx, id, rows)
	wantErrMentions(e.t, "InsertActions(NUL toolName)", err, persona.ErrInvalid, "actions[0].toolName")
	if got, _ := e.s.Actions(e.ctx, persona.ActionQuery{PersonaID: id}); len(got) != 0 {
		e.t.Errorf("actions after refused batches = %d; want none", len(got))
	}
	fb := []persona.Feedback{{TickID: "tick-nul", Module: "todo", Rating: 4, Notes: "fine\x00"}}
	_, _, err = e.s.InsertFeedback(e.ctx, id, fb)
	wantErrMentions(e.t, "InsertFeedback(NUL notes)", err, persona.ErrInvalid, "feedback[0].notes")
	if got, _ := e.s.Feedback(e.ctx, persona.FeedbackQuery{PersonaID: id}); len(got) != 0 {
		e.t.Errorf("feedback after a refused batch = %d; want none", len(got))
	}
	for _, c := range []struct {
		field string
		tick  persona.Tick
	}{
		{"summary", persona.Tick{Summary: "a day\x00"}},
		{"error", persona.Tick{Error: "\x00"}},
		{"model", persona.Tick{Model: "sim\xff"}},
	} {
		tk := c.tick
		tk.TickID, tk.PersonaID, tk.Status = "t-"+c.field, id, persona.TickFailed
		err := e.s.RecordTick(e.ctx, tk)
		wantErrMentions(e.t, "RecordTick(bad "+c.field+")", err, persona.ErrInvalid, c.field)
	}
	if p := e.get(id); p.FailureCount != 0 {
		e.t.Errorf("a refused tick counted as a failure (%d)", p.FailureCount)
	}
}

// testTickNumbersAndJSON: a cost that is no number or a transcript that is no JSON is refused in
// every store (SQLite would store NaN as NULL and any text as the transcript).
func testTickNumbersAndJSON(e *env) {
	id := e.persona("persona.json@mana.test", persona.Daily, "UTC")
	for _, c := range []struct {
		field string
		tick  persona.Tick
	}{
		{"costUsd", persona.Tick{CostUSD: math.NaN()}},
		{"costUsd", persona.Tick{CostUSD: math.Inf(1)}},
		{"transcript", persona.Tick{Transcript: []byte(`[{"role":"user"`)}},
	} {
		tk := c.tick
		tk.TickID, tk.PersonaID, tk.Status = "t-"+c.field, id, persona.TickOK
		err := e.s.RecordTick(e.ctx, tk)
		wantErrMentions(e.t, "RecordTick(bad "+c.field+")", err, persona.ErrInvalid, c.field)
	}
	if p := e.get(id); p.LastActiveAt != nil {
		e.t.Error("a refused tick changed the persona")
	}
	// A JSON escape of NUL is JSON, and kept.
	e.tick(persona.Tick{TickID: "t-escaped", PersonaID: id, Status: persona.TickOK, Transcript: []byte(`["a\u0000b"]`)})
	if tk, err := e.s.Tick(e.ctx, "t-escaped"); err != nil || !jsonEqual(tk.Transcript, []byte(`["a\u0000b"]`)) {
		e.t.Errorf("transcript = %s, %v", tk.Transcript, err)
	}
}

// SpaceRoles is the conformance test of space ownership, which the Store interface does not
// show: rolesQuery, run on db(store), selects the user_id and role of every member of the space
// whose id is its one parameter. The first member of a shared space owns it, the others are
// members, and a re-seed that reorders the list moves the ownership.
func SpaceRoles(t *testing.T, newStore NewStoreFunc, db func(persona.Store) *sql.DB, rolesQuery string) {
	t.Parallel()
	clock := NewClock(Start)
	e := &env{t: t, s: newStore(t, clock), clock: clock, ctx: context.Background()}
	a := e.upsert(input("persona.anna@mana.test"))
	b := e.upsert(input("persona.ben@mana.test"))
	in := persona.SpaceInput{Slug: "berg-family", Name: "The Bergs", Type: persona.SpaceFamily,
		Members: []string{"persona.anna@mana.test", "persona.ben@mana.test"}}
	id, _, err := e.s.UpsertSpace(e.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, want map[string]string) {
		t.Helper()
		rows, err := db(e.s).QueryContext(e.ctx, rolesQuery, id)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := map[string]string{}
		for rows.Next() {
			var uid, role string
			if err := rows.Scan(&uid, &role); err != nil {
				t.Fatal(err)
			}
			got[uid] = role
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s: roles = %v; want %v", what, got, want)
		}
	}
	check("created", map[string]string{a: persona.MemberOwner, b: persona.MemberMember})
	in.Members = []string{"persona.ben@mana.test", "persona.anna@mana.test"}
	if _, out, err := e.s.UpsertSpace(e.ctx, in); err != nil || out != persona.Updated {
		t.Fatalf("UpsertSpace(reordered) = %q, %v; want updated", out, err)
	}
	check("reordered", map[string]string{a: persona.MemberMember, b: persona.MemberOwner})
	if _, out, err := e.s.UpsertSpace(e.ctx, in); err != nil || out != persona.Unchanged {
		t.Errorf("UpsertSpace(same) = %q, %v; want unchanged", out, err)
	}
}

// LegacyZone is the conformance test of the migration that repairs personas stored with Go's
// "Local" zone before validation refused it: corrupt writes that zone into a persona's row and
// remigrate reruns the repairing migration. Afterwards the persona reads UTC, and due and claim
// work.
func LegacyZone(t *testing.T, newStore NewStoreFunc, corrupt func(s persona.Store, userID string) error, remigrate func(s persona.Store) error) {
	t.Parallel()
	clock := NewClock(Start)
	e := &env{t: t, s: newStore(t, clock), clock: clock, ctx: context.Background()}
	id := e.persona("persona.local@mana.test", persona.Weekdays, "UTC")
	other := e.persona("persona.other@mana.test", persona.Daily, "Europe/Berlin")
	if err := corrupt(e.s, id); err != nil {
		t.Fatal(err)
	}
	if err := remigrate(e.s); err != nil {
		t.Fatal(err)
	}
	if p := e.get(id); p.Timezone != "UTC" {
		t.Errorf("timezone after the migration = %q; want UTC", p.Timezone)
	}
	if p := e.get(other); p.Timezone != "Europe/Berlin" {
		t.Errorf("a valid zone was changed to %q", p.Timezone)
	}
	if got := e.due(0); len(got) != 2 {
		t.Errorf("due = %v; want both personas", got)
	}
	if got := e.claim("runner-a", 0, time.Minute); len(got) != 2 {
		t.Errorf("claim = %v; want both personas", ids(got))
	}
}

// testTickIDOfAnotherPersona: reusing another persona's tick id is the same field error in every
// store (SQLite said ErrConflict, PostgreSQL a field error on tickId), and changes nothing.
func testTickIDOfAnotherPersona(e *env) {
	anna := e.persona("persona.anna@mana.test", persona.Daily, "UTC")
	ben := e.persona("persona.ben@mana.test", persona.Daily, "UTC")
	e.tick(persona.Tick{TickID: "tick-x", PersonaID: anna, RunnerID: "r1", Status: persona.TickRunning})
	err := e.s.RecordTick(e.ctx, persona.Tick{TickID: "tick-x", PersonaID: ben, RunnerID: "r1", Status: persona.TickOK})
	wantErrMentions(e.t, "RecordTick(another persona's tick id)", err, persona.ErrInvalid, "tickId", "belongs to another persona")
	var fe *persona.FieldError
	if !errors.As(err, &fe) || fe.Field != "tickId" {
		e.t.Errorf("error %v: want a field error on tickId", err)
	}
	if tk, err := e.s.Tick(e.ctx, "tick-x"); err != nil || tk.PersonaID != anna || tk.Status != persona.TickRunning {
		e.t.Errorf("tick after the refused reuse = %+v, %v; want anna's running tick", tk, err)
	}
	if p := e.get(ben); p.LastActiveAt != nil {
		e.t.Error("the refused tick changed ben's schedule")
	}
}

// testDeletePersonaForgetsLock: deleting a persona deletes its login failures and lock (kept by
// email) in every store, so the persona seeded again can log in.
func testDeletePersonaForgetsLock(e *env) {
	email := "persona.locked@mana.test"
	id := e.upsert(input(email))
	p := persona.DefaultLockout
	for range p.MaxFailures {
		if _, err := e.s.RecordLoginFailure(e.ctx, email, p); err != nil {
			e.t.Fatal(err)
		}
	}
	if until, _ := e.s.LoginLockedUntil(e.ctx, email); until.IsZero() {
		e.t.Fatal("the persona is not locked after the failures")
	}
	if err := e.s.DeletePersona(e.ctx, id); err != nil {
		e.t.Fatal(err)
	}
	e.upsert(input(email))
	if until, err := e.s.LoginLockedUntil(e.ctx, email); err != nil || !until.IsZero() {
		e.t.Errorf("lock of a deleted and re-created persona = %v, %v; want none", until, err)
	}
	if until, _ := e.s.RecordLoginFailure(e.ctx, email, p); !until.IsZero() {
		e.t.Errorf("the first failure after re-creation locks until %v; old failures were kept", until)
	}
}

// testLongestFailedCall: a failed call whose keys (tick id, tool name, module) are as long as
// allowed and whose error message is 500 incompressible four-byte characters is stored whole in
// every store (PostgreSQL's failed-calls index holds all of it beside the row's keys: a B-tree
// entry over 2,704 bytes would refuse the insert), the message cut to MaxErrorMessageBytes
// without splitting a character; a key one byte longer is refused naming the field.
func testLongestFailedCall(e *env) {
	id := e.persona("persona.longest@mana.test", persona.Daily, "UTC")
	rng := rand.New(rand.NewPCG(1, 2))
	text := func(n int, alphabet []rune) string {
		var b strings.Builder
		for b.Len() < n {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()[:n]
	}
	var letters, emoji []rune
	for r := 'a'; r <= 'z'; r++ {
		letters = append(letters, r, r-'a'+'A')
	}
	for r := rune(0x1F300); r < 0x1F5FF; r++ {
		emoji = append(emoji, r)
	}
	row := persona.Action{
		TickID: text(persona.MaxKeyText, letters), ToolName: text(persona.MaxKeyText, letters),
		Module: text(persona.MaxKeyText, letters), InputHash: strings.Repeat("f", 64), Result: persona.ResultError,
		ErrorMessage: text(persona.MaxErrorMessage*4, emoji), ErrorClass: "server-error", Seq: math.MaxInt32,
	}
	if _, _, err := e.s.InsertActions(e.ctx, id, []persona.Action{row}); err != nil {
		e.t.Fatalf("InsertActions(longest failed call) = %v; want it stored", err)
	}
	got, err := e.s.Actions(e.ctx, persona.ActionQuery{PersonaID: id})
	if err != nil || len(got) != 1 {
		e.t.Fatalf("Actions = %d rows, %v; want the one", len(got), err)
	}
	msg := got[0].ErrorMessage
	if len(msg) > persona.MaxErrorMessageBytes || len(msg) < persona.MaxErrorMessageBytes-3 || !utf8.ValidString(msg) || !strings.HasPrefix(row.ErrorMessage, msg) {
		e.t.Errorf("stored message has %d bytes (valid UTF-8: %v); want the first whole characters within %d", len(msg), utf8.ValidString(msg), persona.MaxErrorMessageBytes)
	}
	if got[0].ToolName != row.ToolName || got[0].Module != row.Module || got[0].TickID != row.TickID {
		e.t.Errorf("stored keys changed: tool %d, module %d, tick %d bytes", len(got[0].ToolName), len(got[0].Module), len(got[0].TickID))
	}
	row.ToolName += "x"
	row.TickID = "tick-longer"
	_, _, err = e.s.InsertActions(e.ctx, id, []persona.Action{row})
	wantErrMentions(e.t, "InsertActions(toolName over MaxKeyText)", err, persona.ErrInvalid, "actions[0].toolName")
}
