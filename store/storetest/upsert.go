package storetest

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/persona-runner/persona-runner/persona"
)

// upsertTests are the upsert cases of the suite (listed in Run).
var upsertTests = []suiteTest{
	{"UpsertPersona/Create", testUpsertPersonaCreate},
	{"UpsertPersona/UnchangedWhenNothingDiffers", testUpsertPersonaUnchanged},
	{"UpsertPersona/UpdatesPasswordOnReseed", testUpsertPersonaPassword},
	{"UpsertPersona/UpdatesFields", testUpsertPersonaFields},
	{"UpsertPersona/KeepsCadenceWhenOmitted", testUpsertPersonaKeepsCadence},
	{"UpsertPersona/NeverConvertsHuman", testUpsertPersonaHuman},
	{"UpsertPersona/Invalid", testUpsertPersonaInvalid},
	{"UpsertPersona/SlugCollisions", testSlugCollisions},
	{"UpsertUser", testUpsertUser},
	{"UpsertSpace", testUpsertSpace},
	{"UpsertSpace/Invalid", testUpsertSpaceInvalid},
	{"ApplySeed", testApplySeed},
	{"ApplySeed/DryRunWritesNothing", testApplySeedDryRun},
	{"ApplySeed/ErrorRollsBackAll", testApplySeedRollback},
}

func testUpsertPersonaCreate(e *env) {
	t := e.t
	in := input("persona.anna@mana.test")
	in.Name = "Anna"
	id, out, err := e.s.UpsertPersona(e.ctx, in)
	if err != nil || out != persona.Created || id == "" {
		t.Fatalf("UpsertPersona = %q, %q, %v; want an id, created", id, out, err)
	}
	p := e.get(id)
	want := persona.Persona{
		UserID: id, Email: in.Email, Name: "Anna", Archetype: in.Archetype, SystemPrompt: in.SystemPrompt,
		ModuleMix: in.ModuleMix, TickCadence: persona.Daily, Timezone: "UTC", CreatedAt: e.clock.Now(),
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("Persona (-want +got):\n%s", diff)
	}
	byEmail, err := e.s.PersonaByEmail(e.ctx, in.Email)
	if err != nil || byEmail.UserID != id {
		t.Errorf("PersonaByEmail = %v, %v; want %s", byEmail.UserID, err, id)
	}
	u, err := e.s.UserByEmail(e.ctx, in.Email)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != id || u.Kind != persona.KindPersona || u.Role != persona.RoleUser || u.AccessTier != persona.TierFounder || !u.EmailVerified || u.DeletedAt != nil {
		t.Errorf("user = %+v; want a live, verified persona with role user and tier founder", u)
	}
	if u.PasswordHash == "" || u.PasswordHash == in.Password || !persona.CheckPassword(u.PasswordHash, in.Password) {
		t.Errorf("stored password hash %q does not verify the password (or is the password)", u.PasswordHash)
	}
	if byID, err := e.s.User(e.ctx, id); err != nil || byID.Email != in.Email {
		t.Errorf("User(id) = %+v, %v", byID, err)
	}
	spaces, err := e.s.SpacesOfUser(e.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(spaces) != 1 || spaces[0].Type != persona.SpacePersonal || spaces[0].Slug != "persona-anna" {
		t.Fatalf("spaces = %+v; want one personal space with slug persona-anna", spaces)
	}
	if ok, err := e.s.IsMember(e.ctx, spaces[0].ID, id); err != nil || !ok {
		t.Errorf("IsMember(personal space) = %v, %v", ok, err)
	}
	if _, err := e.s.Persona(e.ctx, "no-such-id"); !errors.Is(err, persona.ErrNotFound) {
		t.Errorf("Persona(unknown) error = %v, want ErrNotFound", err)
	}
	if _, err := e.s.UserByEmail(e.ctx, "nobody@mana.test"); !errors.Is(err, persona.ErrNotFound) {
		t.Errorf("UserByEmail(unknown) error = %v, want ErrNotFound", err)
	}
}

func testUpsertPersonaUnchanged(e *env) {
	in := input("persona.ben@mana.test")
	in.TickCadence, in.Timezone = persona.Hourly, "Europe/Berlin"
	id := e.upsert(in)
	before, _ := e.s.UserByEmail(e.ctx, in.Email)
	e.clock.Advance(persona.Hourly.Period())
	id2, out, err := e.s.UpsertPersona(e.ctx, in)
	if err != nil || out != persona.Unchanged || id2 != id {
		e.t.Fatalf("second UpsertPersona = %q, %q, %v; want %q, unchanged", id2, out, err, id)
	}
	after, _ := e.s.UserByEmail(e.ctx, in.Email)
	if after.PasswordHash != before.PasswordHash {
		e.t.Error("an unchanged password was re-hashed")
	}
	if !after.UpdatedAt.Equal(before.UpdatedAt) {
		e.t.Errorf("updated_at moved from %v to %v on an unchanged upsert", before.UpdatedAt, after.UpdatedAt)
	}
	if spaces, _ := e.s.SpacesOfUser(e.ctx, id); len(spaces) != 1 {
		e.t.Errorf("spaces after re-seed = %+v; want the one personal space", spaces)
	}
}

func testUpsertPersonaPassword(e *env) {
	in := input("persona.cleo@mana.test")
	id := e.upsert(in)
	old := in.Password
	in.Password = "a-rotated-seed-password"
	id2, out, err := e.s.UpsertPersona(e.ctx, in)
	if err != nil || out != persona.Updated || id2 != id {
		e.t.Fatalf("UpsertPersona(new password) = %q, %q, %v; want %q, updated", id2, out, err, id)
	}
	u, err := e.s.UserByEmail(e.ctx, in.Email)
	if err != nil {
		e.t.Fatal(err)
	}
	if !persona.CheckPassword(u.PasswordHash, in.Password) {
		e.t.Error("the new password does not verify after re-seed")
	}
	if persona.CheckPassword(u.PasswordHash, old) {
		e.t.Error("the old password still verifies after re-seed")
	}
}

func testUpsertPersonaFields(e *env) {
	in := input("persona.dan@mana.test")
	id := e.upsert(in)
	in.Name = "Dan the Second"
	in.Archetype = "night-owl"
	in.SystemPrompt = "You are Dan, who only ever works after midnight."
	in.ModuleMix = persona.ModuleMix{"journal": 1, "todo": 0}
	in.TickCadence, in.Timezone = persona.Weekdays, "America/New_York"
	if _, out, err := e.s.UpsertPersona(e.ctx, in); err != nil || out != persona.Updated {
		e.t.Fatalf("UpsertPersona = %q, %v; want updated", out, err)
	}
	p := e.get(id)
	got := persona.PersonaInput{Email: p.Email, Name: p.Name, Password: in.Password, Archetype: p.Archetype,
		SystemPrompt: p.SystemPrompt, ModuleMix: p.ModuleMix, TickCadence: p.TickCadence, Timezone: p.Timezone}
	if diff := cmp.Diff(in, got); diff != "" {
		e.t.Errorf("persona after update (-want +got):\n%s", diff)
	}
	// A mix change alone is a change.
	in.ModuleMix = persona.ModuleMix{"journal": 0.9, "todo": 0}
	if _, out, err := e.s.UpsertPersona(e.ctx, in); err != nil || out != persona.Updated {
		e.t.Fatalf("UpsertPersona(mix only) = %q, %v; want updated", out, err)
	}
	if p := e.get(id); p.ModuleMix["journal"] != 0.9 {
		e.t.Errorf("module mix = %v; want journal 0.9", p.ModuleMix)
	}
}

func testUpsertPersonaKeepsCadence(e *env) {
	in := input("persona.eva@mana.test")
	in.TickCadence, in.Timezone = persona.Hourly, "Asia/Tokyo"
	id := e.upsert(in)
	in.TickCadence, in.Timezone = "", ""
	if _, out, err := e.s.UpsertPersona(e.ctx, in); err != nil || out != persona.Unchanged {
		e.t.Fatalf("UpsertPersona(cadence omitted) = %q, %v; want unchanged", out, err)
	}
	if p := e.get(id); p.TickCadence != persona.Hourly || p.Timezone != "Asia/Tokyo" {
		e.t.Errorf("cadence, timezone = %s, %s; want hourly, Asia/Tokyo kept", p.TickCadence, p.Timezone)
	}
	in.TickCadence = persona.Weekdays
	if _, out, err := e.s.UpsertPersona(e.ctx, in); err != nil || out != persona.Updated {
		e.t.Fatalf("UpsertPersona(weekdays) = %q, %v; want updated", out, err)
	}
	if p := e.get(id); p.TickCadence != persona.Weekdays || p.Timezone != "Asia/Tokyo" {
		e.t.Errorf("cadence, timezone = %s, %s; want weekdays, Asia/Tokyo", p.TickCadence, p.Timezone)
	}
}

func testUpsertPersonaHuman(e *env) {
	human, out, err := e.s.UpsertUser(e.ctx, persona.UserInput{Email: "real.person@mana.test", Name: "Real", Password: "secret-password", Kind: persona.KindHuman})
	if err != nil || out != persona.Created {
		e.t.Fatalf("UpsertUser = %q, %v", out, err)
	}
	_, _, err = e.s.UpsertPersona(e.ctx, input("real.person@mana.test"))
	wantErr(e.t, "UpsertPersona over a human", err, persona.ErrConflict)
	u, err := e.s.UserByEmail(e.ctx, "real.person@mana.test")
	if err != nil || u.Kind != persona.KindHuman || u.PasswordHash != human.PasswordHash {
		e.t.Errorf("human after refused upsert = %+v, %v; want untouched", u, err)
	}
	if _, err := e.s.Persona(e.ctx, human.ID); !errors.Is(err, persona.ErrNotFound) {
		e.t.Errorf("Persona(human) error = %v; want ErrNotFound", err)
	}
	if e.isDue(human.ID) {
		e.t.Error("a human is due")
	}
}

func testUpsertPersonaInvalid(e *env) {
	in := persona.PersonaInput{
		Email: "not an email", Password: "", Archetype: " ", SystemPrompt: "short",
		ModuleMix: persona.ModuleMix{"todo": -1}, TickCadence: "monthly", Timezone: "Mars/Olympus",
	}
	_, _, err := e.s.UpsertPersona(e.ctx, in)
	wantErrMentions(e.t, "UpsertPersona(bad input)", err, persona.ErrInvalid,
		"email", "password", "archetype", "systemPrompt", "moduleMix", "tickCadence", "timezone")
	var fes persona.FieldErrors
	if !errors.As(err, &fes) || len(fes) < 7 {
		e.t.Errorf("error %v: want FieldErrors listing every bad field", err)
	}
	if list, err := e.s.ListPersonas(e.ctx, Start); err != nil || len(list) != 0 {
		e.t.Errorf("ListPersonas after invalid upsert = %v, %v; want none", list, err)
	}
}

func testSlugCollisions(e *env) {
	// A shared space already has the slug the second persona would get.
	e.upsert(input("owner@mana.test"))
	if _, _, err := e.s.UpsertSpace(e.ctx, persona.SpaceInput{Slug: "persona-ben", Name: "Ben's club", Type: persona.SpaceClub, Members: []string{"owner@mana.test"}}); err != nil {
		e.t.Fatal(err)
	}
	long := "Very.Long+Name_With.MANY.Parts.Beyond.Thirty.Chars"
	cases := []struct{ email, slug string }{
		{"persona.anna@mana.test", "persona-anna"},
		{"persona.anna@other.test", "persona-anna-2"},
		{"Persona.Anna@third.test", "persona-anna-3"},
		{"persona.ben@mana.test", "persona-ben-2"},
		{long + "@mana.test", persona.SlugBase(long + "@mana.test")},
		{long + "@other.test", persona.SlugWithSuffix(persona.SlugBase(long+"@mana.test"), 2)},
	}
	for _, c := range cases {
		id := e.upsert(input(c.email))
		spaces, err := e.s.SpacesOfUser(e.ctx, id)
		if err != nil || len(spaces) != 1 {
			e.t.Fatalf("SpacesOfUser(%s) = %+v, %v", c.email, spaces, err)
		}
		if spaces[0].Slug != c.slug || len(spaces[0].Slug) > 30 {
			e.t.Errorf("personal space of %s has slug %q; want %q (≤ 30 chars)", c.email, spaces[0].Slug, c.slug)
		}
	}
}

func testUpsertUser(e *env) {
	in := persona.UserInput{Email: "ops@mana.test", Name: "Ops", Password: "operator-password", Role: persona.RoleAdmin, Kind: persona.KindHuman}
	u, out, err := e.s.UpsertUser(e.ctx, in)
	if err != nil || out != persona.Created {
		e.t.Fatalf("UpsertUser = %q, %v; want created", out, err)
	}
	if u.ID == "" || u.Email != in.Email || u.Name != "Ops" || u.Role != persona.RoleAdmin || u.Kind != persona.KindHuman || !persona.CheckPassword(u.PasswordHash, in.Password) {
		e.t.Errorf("user = %+v", u)
	}
	if spaces, err := e.s.SpacesOfUser(e.ctx, u.ID); err != nil || len(spaces) != 1 || spaces[0].Type != persona.SpacePersonal {
		e.t.Errorf("spaces of a new user = %+v, %v; want one personal space", spaces, err)
	}
	if _, out, err := e.s.UpsertUser(e.ctx, in); err != nil || out != persona.Unchanged {
		e.t.Errorf("UpsertUser(same) = %q, %v; want unchanged", out, err)
	}
	in.Password, in.Role, in.Name = "another-password", persona.RoleUser, ""
	u2, out, err := e.s.UpsertUser(e.ctx, in)
	if err != nil || out != persona.Updated {
		e.t.Fatalf("UpsertUser(new password, role) = %q, %v; want updated", out, err)
	}
	if u2.ID != u.ID || u2.Role != persona.RoleUser || u2.Name != "Ops" || !persona.CheckPassword(u2.PasswordHash, "another-password") {
		e.t.Errorf("updated user = %+v; want same id, role user, name kept, new password", u2)
	}
	e.upsert(input("persona.fay@mana.test"))
	_, _, err = e.s.UpsertUser(e.ctx, persona.UserInput{Email: "persona.fay@mana.test", Password: "whatever-it-is", Kind: persona.KindHuman})
	wantErr(e.t, "UpsertUser over a persona", err, persona.ErrConflict)
	_, _, err = e.s.UpsertUser(e.ctx, persona.UserInput{Email: "ops@mana.test", Password: "x-password", Kind: persona.KindSystem})
	wantErr(e.t, "UpsertUser changing kind", err, persona.ErrConflict)
	_, _, err = e.s.UpsertUser(e.ctx, persona.UserInput{Email: "", Password: ""})
	wantErrMentions(e.t, "UpsertUser(empty)", err, persona.ErrInvalid, "email", "password")
}

func testUpsertSpace(e *env) {
	a := e.upsert(input("persona.anna@mana.test"))
	b := e.upsert(input("persona.ben@mana.test"))
	in := persona.SpaceInput{Slug: "berg-family", Name: "The Bergs", Type: persona.SpaceFamily, Members: []string{"persona.anna@mana.test", "persona.ben@mana.test"}}
	id, out, err := e.s.UpsertSpace(e.ctx, in)
	if err != nil || out != persona.Created || id == "" {
		e.t.Fatalf("UpsertSpace = %q, %q, %v; want created", id, out, err)
	}
	for _, uid := range []string{a, b} {
		spaces, err := e.s.SpacesOfUser(e.ctx, uid)
		if err != nil || len(spaces) != 2 || spaces[0].Type != persona.SpacePersonal || spaces[1].ID != id ||
			spaces[1].Slug != "berg-family" || spaces[1].Name != "The Bergs" || spaces[1].Type != persona.SpaceFamily {
			e.t.Errorf("SpacesOfUser(%s) = %+v, %v; want personal first, then berg-family", uid, spaces, err)
		}
		if ok, err := e.s.IsMember(e.ctx, id, uid); err != nil || !ok {
			e.t.Errorf("IsMember(%s) = %v, %v", uid, ok, err)
		}
	}
	if id2, out, err := e.s.UpsertSpace(e.ctx, in); err != nil || out != persona.Unchanged || id2 != id {
		e.t.Errorf("UpsertSpace(same) = %q, %q, %v; want unchanged", id2, out, err)
	}
	in.Members, in.Name, in.Type = []string{"persona.ben@mana.test"}, "Bergs", persona.SpaceTeam
	if id2, out, err := e.s.UpsertSpace(e.ctx, in); err != nil || out != persona.Updated || id2 != id {
		e.t.Fatalf("UpsertSpace(fewer members) = %q, %q, %v; want updated", id2, out, err)
	}
	if ok, _ := e.s.IsMember(e.ctx, id, a); ok {
		e.t.Error("a removed member is still a member")
	}
	if ok, _ := e.s.IsMember(e.ctx, id, b); !ok {
		e.t.Error("a kept member is no longer a member")
	}
	spaces, _ := e.s.SpacesOfUser(e.ctx, b)
	if len(spaces) != 2 || spaces[1].Name != "Bergs" || spaces[1].Type != persona.SpaceTeam {
		e.t.Errorf("space after update = %+v; want name Bergs, type team", spaces)
	}
	// A personal space's slug is never taken over.
	_, _, err = e.s.UpsertSpace(e.ctx, persona.SpaceInput{Slug: "persona-anna", Name: "Hijack", Type: persona.SpaceClub, Members: []string{"persona.ben@mana.test"}})
	wantErr(e.t, "UpsertSpace(personal slug)", err, persona.ErrConflict)
}

func testUpsertSpaceInvalid(e *env) {
	e.upsert(input("persona.anna@mana.test"))
	_, _, err := e.s.UpsertSpace(e.ctx, persona.SpaceInput{Slug: "club", Name: "Club", Type: persona.SpaceClub,
		Members: []string{"persona.anna@mana.test", "nobody@mana.test"}})
	wantErrMentions(e.t, "UpsertSpace(unknown member)", err, persona.ErrInvalid, "members[1]")
	_, _, err = e.s.UpsertSpace(e.ctx, persona.SpaceInput{Slug: "Bad Slug!", Name: "Bad", Type: persona.SpacePersonal,
		Members: []string{"persona.anna@mana.test"}})
	wantErrMentions(e.t, "UpsertSpace(bad fields)", err, persona.ErrInvalid, "slug", "type")
	anna, _ := e.s.UserByEmail(e.ctx, "persona.anna@mana.test")
	if spaces, _ := e.s.SpacesOfUser(e.ctx, anna.ID); len(spaces) != 1 {
		e.t.Errorf("spaces after refused upserts = %+v; want only the personal one", spaces)
	}
}

func seedPlan() persona.SeedPlan {
	anna, ben := input("persona.anna@mana.test"), input("persona.ben@mana.test")
	ben.TickCadence, ben.Timezone = persona.Weekdays, "Asia/Tokyo"
	return persona.SeedPlan{
		Personas: []persona.PersonaInput{anna, ben},
		Spaces: []persona.SpaceInput{
			{Slug: "berg-family", Name: "The Bergs", Type: persona.SpaceFamily, Members: []string{anna.Email, ben.Email}},
			{Slug: "ben-team", Name: "Ben's team", Type: persona.SpaceTeam, Members: []string{ben.Email}},
		},
	}
}

func outcomes(changes []persona.SeedChange) []string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = c.Kind + " " + c.Key + " " + string(c.Outcome)
	}
	return out
}

func testApplySeed(e *env) {
	plan := seedPlan()
	changes, err := e.s.ApplySeed(e.ctx, plan, false)
	if err != nil {
		e.t.Fatal(err)
	}
	want := []string{"persona persona.anna@mana.test created", "persona persona.ben@mana.test created",
		"space berg-family created", "space ben-team created"}
	if diff := cmp.Diff(want, outcomes(changes)); diff != "" {
		e.t.Errorf("first seed (-want +got):\n%s", diff)
	}
	ben, err := e.s.PersonaByEmail(e.ctx, "persona.ben@mana.test")
	if err != nil || ben.TickCadence != persona.Weekdays || ben.Timezone != "Asia/Tokyo" {
		e.t.Errorf("ben = %+v, %v", ben, err)
	}
	if spaces, _ := e.s.SpacesOfUser(e.ctx, ben.UserID); len(spaces) != 3 {
		e.t.Errorf("ben's spaces = %+v; want personal, berg-family and ben-team", spaces)
	}
	changes, err = e.s.ApplySeed(e.ctx, plan, false)
	if err != nil {
		e.t.Fatal(err)
	}
	want = []string{"persona persona.anna@mana.test unchanged", "persona persona.ben@mana.test unchanged",
		"space berg-family unchanged", "space ben-team unchanged"}
	if diff := cmp.Diff(want, outcomes(changes)); diff != "" {
		e.t.Errorf("second seed (-want +got):\n%s", diff)
	}
	plan.Personas[0].Archetype = "changed-archetype"
	plan.Spaces[1].Members = []string{"persona.anna@mana.test", "persona.ben@mana.test"}
	changes, err = e.s.ApplySeed(e.ctx, plan, false)
	if err != nil {
		e.t.Fatal(err)
	}
	want = []string{"persona persona.anna@mana.test updated", "persona persona.ben@mana.test unchanged",
		"space berg-family unchanged", "space ben-team updated"}
	if diff := cmp.Diff(want, outcomes(changes)); diff != "" {
		e.t.Errorf("third seed (-want +got):\n%s", diff)
	}
	if !strings.Contains(changes[0].Detail, "archetype") {
		e.t.Errorf("detail of the updated persona = %q; want it to name archetype", changes[0].Detail)
	}
}

func testApplySeedDryRun(e *env) {
	changes, err := e.s.ApplySeed(e.ctx, seedPlan(), true)
	if err != nil {
		e.t.Fatal(err)
	}
	want := []string{"persona persona.anna@mana.test created", "persona persona.ben@mana.test created",
		"space berg-family created", "space ben-team created"}
	if diff := cmp.Diff(want, outcomes(changes)); diff != "" {
		e.t.Errorf("dry run (-want +got):\n%s", diff)
	}
	assertEmpty(e.t, e)
}

func testApplySeedRollback(e *env) {
	plan := seedPlan()
	plan.Spaces[1].Members = []string{"persona.ben@mana.test", "stranger@mana.test"}
	_, err := e.s.ApplySeed(e.ctx, plan, false)
	wantErrMentions(e.t, "ApplySeed(unknown member)", err, persona.ErrInvalid, "ben-team", "members[1]")
	assertEmpty(e.t, e)

	// An existing human in the plan aborts the whole seed too.
	if _, _, err := e.s.UpsertUser(e.ctx, persona.UserInput{Email: "persona.ben@mana.test", Password: "human-password", Kind: persona.KindHuman}); err != nil {
		e.t.Fatal(err)
	}
	_, err = e.s.ApplySeed(e.ctx, seedPlan(), false)
	wantErr(e.t, "ApplySeed(human in plan)", err, persona.ErrConflict)
	if _, err := e.s.UserByEmail(e.ctx, "persona.anna@mana.test"); !errors.Is(err, persona.ErrNotFound) {
		e.t.Errorf("anna exists after a failed seed (error %v)", err)
	}
}

// assertEmpty checks that no persona of seedPlan exists.
func assertEmpty(t *testing.T, e *env) {
	t.Helper()
	if list, err := e.s.ListPersonas(e.ctx, Start); err != nil || len(list) != 0 {
		t.Errorf("ListPersonas = %+v, %v; want none", list, err)
	}
	for _, email := range []string{"persona.anna@mana.test", "persona.ben@mana.test"} {
		if _, err := e.s.UserByEmail(e.ctx, email); !errors.Is(err, persona.ErrNotFound) {
			t.Errorf("UserByEmail(%s) error = %v; want ErrNotFound", email, err)
		}
	}
}
