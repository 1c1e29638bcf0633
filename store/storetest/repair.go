package storetest

import (
	"errors"
	"strings"

	"github.com/persona-runner/persona-runner/persona"
)

// Fixtures puts a store into states its interface never produces: rows an operator edited by
// hand or an older version left. Each dialect's test writes them in its own SQL.
type Fixtures struct {
	// SoftDeleteUser marks the user with email deleted (deleted_at set), keeping its rows.
	SoftDeleteUser func(s persona.Store, email string) error
	// DropPersonalSpace deletes the user's personal space, and with it the membership.
	DropPersonalSpace func(s persona.Store, userID string) error
}

// repairTests are the cases of the account rules every store applies alike (package
// store/accounts): a soft-deleted account is never restored by an upsert, and every upsert
// repairs a missing personal space.
func repairTests(fx Fixtures) []suiteTest {
	with := func(fn func(e *env, fx Fixtures)) func(e *env) { return func(e *env) { fn(e, fx) } }
	return []suiteTest{
		{"Accounts/SoftDeletedPersonaRefused", with(testSoftDeletedPersona)},
		{"Accounts/SoftDeletedUserRefused", with(testSoftDeletedUser)},
		{"Accounts/PersonaUpsertRepairsPersonalSpace", with(testPersonaRepairsSpace)},
		{"Accounts/UserUpsertRepairsPersonalSpace", with(testUserRepairsSpace)},
	}
}

// conflictNaming fails the test unless err is ErrConflict and names email.
func (e *env) conflictNaming(what string, err error, email string) {
	e.t.Helper()
	if !errors.Is(err, persona.ErrConflict) || !strings.Contains(err.Error(), email) {
		e.t.Errorf("%s: %v; want ErrConflict naming %s", what, err, email)
	}
}

func testSoftDeletedPersona(e *env, fx Fixtures) {
	in := input("persona.gone@mana.test")
	e.upsert(in)
	if err := fx.SoftDeleteUser(e.s, in.Email); err != nil {
		e.t.Fatal(err)
	}
	_, _, err := e.s.UpsertPersona(e.ctx, in)
	e.conflictNaming("UpsertPersona of a soft-deleted persona", err, in.Email)
	_, err = e.s.ApplySeed(e.ctx, persona.SeedPlan{Personas: []persona.PersonaInput{in}}, false)
	e.conflictNaming("ApplySeed of a soft-deleted persona", err, in.Email)
	if _, err := e.s.UserByEmail(e.ctx, in.Email); !errors.Is(err, persona.ErrNotFound) {
		e.t.Errorf("UserByEmail after the refused upserts: %v; want ErrNotFound (still deleted)", err)
	}
}

func testSoftDeletedUser(e *env, fx Fixtures) {
	in := persona.UserInput{Email: "ops.gone@mana.test", Password: "ops-password-1", Role: persona.RoleAdmin}
	if _, _, err := e.s.UpsertUser(e.ctx, in); err != nil {
		e.t.Fatal(err)
	}
	if err := fx.SoftDeleteUser(e.s, in.Email); err != nil {
		e.t.Fatal(err)
	}
	_, _, err := e.s.UpsertUser(e.ctx, in)
	e.conflictNaming("UpsertUser of a soft-deleted user", err, in.Email)
	if _, err := e.s.UserByEmail(e.ctx, in.Email); !errors.Is(err, persona.ErrNotFound) {
		e.t.Errorf("UserByEmail after the refused upsert: %v; want ErrNotFound (still deleted)", err)
	}
}

// personalSpaces returns the personal spaces of the user.
func (e *env) personalSpaces(userID string) []persona.Space {
	e.t.Helper()
	spaces, err := e.s.SpacesOfUser(e.ctx, userID)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []persona.Space
	for _, s := range spaces {
		if s.Type == persona.SpacePersonal {
			out = append(out, s)
		}
	}
	return out
}

func testPersonaRepairsSpace(e *env, fx Fixtures) {
	in := input("persona.homeless@mana.test")
	id := e.upsert(in)
	if err := fx.DropPersonalSpace(e.s, id); err != nil {
		e.t.Fatal(err)
	}
	if got := e.personalSpaces(id); len(got) != 0 {
		e.t.Fatalf("personal spaces after the fixture dropped it: %v", got)
	}
	// Nothing else differs: the persona row is there, so only the space is repaired.
	changes, err := e.s.ApplySeed(e.ctx, persona.SeedPlan{Personas: []persona.PersonaInput{in}}, false)
	if err != nil || len(changes) != 1 || changes[0].Outcome != persona.Updated || changes[0].Detail != "personalSpace" {
		e.t.Errorf("ApplySeed = %+v, %v; want updated, detail personalSpace", changes, err)
	}
	if got := e.personalSpaces(id); len(got) != 1 || got[0].Slug != persona.SlugBase(in.Email) {
		e.t.Errorf("personal spaces after the seed: %+v; want one at %s", got, persona.SlugBase(in.Email))
	}
	if err := fx.DropPersonalSpace(e.s, id); err != nil {
		e.t.Fatal(err)
	}
	if _, out, err := e.s.UpsertPersona(e.ctx, in); err != nil || out != persona.Updated {
		e.t.Errorf("UpsertPersona without a personal space = %q, %v; want updated", out, err)
	}
	if got := e.personalSpaces(id); len(got) != 1 {
		e.t.Errorf("personal spaces after UpsertPersona: %+v; want one", got)
	}
	if _, out, err := e.s.UpsertPersona(e.ctx, in); err != nil || out != persona.Unchanged {
		e.t.Errorf("UpsertPersona once repaired = %q, %v; want unchanged", out, err)
	}
}

func testUserRepairsSpace(e *env, fx Fixtures) {
	in := persona.UserInput{Email: "ops.homeless@mana.test", Password: "ops-password-1", Role: persona.RoleAdmin}
	u, _, err := e.s.UpsertUser(e.ctx, in)
	if err != nil {
		e.t.Fatal(err)
	}
	if got := e.personalSpaces(u.ID); len(got) != 1 {
		e.t.Fatalf("personal spaces of a new user: %+v; want one", got)
	}
	if err := fx.DropPersonalSpace(e.s, u.ID); err != nil {
		e.t.Fatal(err)
	}
	if _, out, err := e.s.UpsertUser(e.ctx, in); err != nil || out != persona.Updated {
		e.t.Errorf("UpsertUser without a personal space = %q, %v; want updated", out, err)
	}
	if got := e.personalSpaces(u.ID); len(got) != 1 {
		e.t.Errorf("personal spaces after UpsertUser: %+v; want one", got)
	}
	if _, out, err := e.s.UpsertUser(e.ctx, in); err != nil || out != persona.Unchanged {
		e.t.Errorf("UpsertUser once repaired = %q, %v; want unchanged", out, err)
	}
}
