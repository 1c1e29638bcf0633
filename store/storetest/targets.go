package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

// targetTests are the persona's target, secrets and login (issue 9.3).
var targetTests = []suiteTest{
	{"UpsertPersona/TargetAndSecrets", testPersonaTarget},
	{"UpsertPersona/NoLogin", testPersonaNoLogin},
	{"ApplySeed/NoLogin", testApplySeedNoLogin},
}

var tickSeq atomic.Int64

// duePersona returns the due and the claimed view of the persona with email (SPEC §4: what a
// runner in this process or through the internal API gets).
func (e *env) duePersona(email string) (due, claimed persona.DuePersona) {
	e.t.Helper()
	list, _, err := e.s.DuePersonas(e.ctx, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, d := range list {
		if d.Email == email {
			due = d
		}
	}
	got, err := e.s.ClaimPersonas(e.ctx, "r-targets", 0, time.Minute)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, d := range got {
		if d.Email == email {
			claimed = d
		}
		if err := e.s.RecordTick(e.ctx, persona.Tick{TickID: fmt.Sprintf("t-targets-%d", tickSeq.Add(1)),
			PersonaID: d.UserID, RunnerID: "r-targets", Status: persona.TickCancelled, StartedAt: e.clock.Now()}); err != nil {
			e.t.Fatal(err)
		}
	}
	if due.Email == "" || claimed.Email == "" {
		e.t.Fatalf("%s is not due (%v) or not claimed (%v)", email, list, got)
	}
	return due, claimed
}

// A persona's target and secret references are stored and come back with the due list and a
// claim, so that a runner in another process opens the persona on its own target; the values of
// the secrets are never given to the store, only where they are read.
func testPersonaTarget(e *env) {
	t := e.t
	in := input("anna@kitchen.example")
	in.Target = "kitchen"
	in.Secrets = map[string]persona.SecretRef{"token": {Env: "ANNA_TOKEN"}, "cert": {File: "/run/secrets/anna.pem"}}
	if _, out, err := e.s.UpsertPersona(e.ctx, in); err != nil || out != persona.Created {
		t.Fatalf("UpsertPersona = %q, %v", out, err)
	}
	plain := input("maya@mana.test")
	e.upsert(plain)
	for _, view := range []string{"due", "claimed"} {
		due, claimed := e.duePersona(in.Email)
		d := map[string]persona.DuePersona{"due": due, "claimed": claimed}[view]
		if d.Target != "kitchen" || !reflect.DeepEqual(d.Secrets, in.Secrets) {
			t.Errorf("%s: target %q, secrets %v; want kitchen, %v", view, d.Target, d.Secrets, in.Secrets)
		}
		p, _ := e.duePersona(plain.Email)
		if p.Target != "" || p.Secrets != nil {
			t.Errorf("%s: a persona of the default target has target %q, secrets %v", view, p.Target, p.Secrets)
		}
	}

	// The same input again changes nothing; another target or other secrets are an update that
	// names the field.
	if _, out, err := e.s.UpsertPersona(e.ctx, in); err != nil || out != persona.Unchanged {
		t.Errorf("reseed = %q, %v; want unchanged", out, err)
	}
	in.Target = "bakery"
	in.Secrets = map[string]persona.SecretRef{"token": {Env: "ANNA_BAKERY_TOKEN"}}
	changes, err := e.s.ApplySeed(e.ctx, persona.SeedPlan{Personas: []persona.PersonaInput{in}}, false)
	if err != nil || len(changes) != 1 || changes[0].Outcome != persona.Updated ||
		!strings.Contains(changes[0].Detail, "target") || !strings.Contains(changes[0].Detail, "secrets") {
		t.Errorf("ApplySeed with another target and secrets = %+v, %v; want updated target, secrets", changes, err)
	}
	e.clock.Advance(48 * time.Hour)
	if d, _ := e.duePersona(in.Email); d.Target != "bakery" || !reflect.DeepEqual(d.Secrets, in.Secrets) {
		t.Errorf("after the update: target %q, secrets %v", d.Target, d.Secrets)
	}
	// Back to the default target without secrets.
	in.Target, in.Secrets = "", nil
	if _, out, err := e.s.UpsertPersona(e.ctx, in); err != nil || out != persona.Updated {
		t.Errorf("back to the default = %q, %v; want updated", out, err)
	}
	e.clock.Advance(48 * time.Hour)
	if d, _ := e.duePersona(in.Email); d.Target != "" || d.Secrets != nil {
		t.Errorf("back to the default: target %q, secrets %v", d.Target, d.Secrets)
	}

	// A bad target name or secret reference is refused naming the field, and changes nothing.
	bad := input("ben@kitchen.example")
	bad.Target = "Kitchen App"
	bad.Secrets = map[string]persona.SecretRef{"token": {Env: "A", File: "/b"}}
	_, _, err = e.s.UpsertPersona(e.ctx, bad)
	if !errors.Is(err, persona.ErrInvalid) || !strings.Contains(err.Error(), "target") || !strings.Contains(err.Error(), "secrets.token") {
		t.Errorf("bad target and secret = %v; want invalid naming target and secrets.token", err)
	}
	if _, err := e.s.UserByEmail(e.ctx, bad.Email); !errors.Is(err, persona.ErrNotFound) {
		t.Errorf("a refused persona was stored: %v", err)
	}
}

// A persona without a login (its target's auth is not mana) has no password: no password verifies
// its stored hash, and a persona that had one loses it.
func testPersonaNoLogin(e *env) {
	t := e.t
	in := input("anna@kitchen.example")
	in.Target, in.NoLogin, in.Password = "kitchen", true, ""
	id, out, err := e.s.UpsertPersona(e.ctx, in)
	if err != nil || out != persona.Created {
		t.Fatalf("UpsertPersona = %q, %v", out, err)
	}
	u, err := e.s.UserByEmail(e.ctx, in.Email)
	if err != nil {
		t.Fatal(err)
	}
	if u.PasswordHash != "" || u.ID != id || u.Kind != persona.KindPersona {
		t.Errorf("user %+v; want a persona without a password hash", u)
	}
	for _, guess := range []string{"", "pw-" + in.Email, u.PasswordHash} {
		if persona.CheckPassword(u.PasswordHash, guess) {
			t.Errorf("password %q verifies a persona without a login", guess)
		}
	}
	if _, out, err := e.s.UpsertPersona(e.ctx, in); err != nil || out != persona.Unchanged {
		t.Errorf("reseed = %q, %v; want unchanged", out, err)
	}

	// A persona with a password that moves to a target without a login loses its password.
	ben := input("ben@kitchen.example")
	e.upsert(ben)
	ben.NoLogin, ben.Password = true, ""
	changes, err := e.s.ApplySeed(e.ctx, persona.SeedPlan{Personas: []persona.PersonaInput{ben}}, false)
	if err != nil || len(changes) != 1 || changes[0].Outcome != persona.Updated || !strings.Contains(changes[0].Detail, "password") {
		t.Errorf("ApplySeed without login = %+v, %v; want updated password", changes, err)
	}
	if u, err := e.s.UserByEmail(e.ctx, ben.Email); err != nil || u.PasswordHash != "" || persona.CheckPassword(u.PasswordHash, "pw-"+ben.Email) {
		t.Errorf("after moving to a target without login: hash %q, %v", u.PasswordHash, err)
	}
	// And back: the password is set again.
	ben.NoLogin, ben.Password = false, "pw-"+ben.Email
	if _, out, err := e.s.UpsertPersona(e.ctx, ben); err != nil || out != persona.Updated {
		t.Errorf("back to a login = %q, %v; want updated", out, err)
	}
	if u, err := e.s.UserByEmail(e.ctx, ben.Email); err != nil || !persona.CheckPassword(u.PasswordHash, ben.Password) {
		t.Errorf("the password does not verify after getting a login back: %v", err)
	}

	// noLogin with a password is a contradiction, refused naming the field.
	bad := input("cem@kitchen.example")
	bad.NoLogin = true
	if _, _, err := e.s.UpsertPersona(e.ctx, bad); !errors.Is(err, persona.ErrInvalid) || !strings.Contains(err.Error(), "password") {
		t.Errorf("noLogin with a password = %v; want invalid naming password", err)
	}
}

// A seed plan mixing personas with and without a login stores each as it says.
func testApplySeedNoLogin(e *env) {
	t := e.t
	with, without := input("maya@mana.test"), input("anna@kitchen.example")
	without.Target, without.NoLogin, without.Password = "kitchen", true, ""
	changes, err := e.s.ApplySeed(e.ctx, persona.SeedPlan{Personas: []persona.PersonaInput{with, without}}, false)
	if err != nil || len(changes) != 2 {
		t.Fatalf("ApplySeed = %+v, %v", changes, err)
	}
	if u, err := e.s.UserByEmail(e.ctx, with.Email); err != nil || !persona.CheckPassword(u.PasswordHash, with.Password) {
		t.Errorf("%s: its password does not verify (%v)", with.Email, err)
	}
	if u, err := e.s.UserByEmail(e.ctx, without.Email); err != nil || u.PasswordHash != "" {
		t.Errorf("%s: hash %q, %v; want none", without.Email, u.PasswordHash, err)
	}
}
