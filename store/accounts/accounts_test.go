package accounts_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/accounts"
)

// memDriver is an in-memory driver that knows whether a transaction is open, so a test can see
// what runs under the row lock. hashes can make the stored hash change between the read before
// the transaction and the lock, as a concurrent writer would.
type memDriver struct {
	mu     sync.Mutex
	inTx   bool
	users  map[string]persona.User // by email
	rows   map[string]accounts.PersonaRow
	spaces map[string]bool // user ids with a personal space
	writes int
	// racer, when set, runs at the start of each transaction (the concurrent writer).
	racer func(d *memDriver)
}

func newMem() *memDriver {
	return &memDriver{users: map[string]persona.User{}, rows: map[string]accounts.PersonaRow{}, spaces: map[string]bool{}}
}

func (d *memDriver) Write(ctx context.Context, fn func(accounts.Tx) error) error {
	d.mu.Lock()
	d.inTx, d.writes = true, d.writes+1
	if d.racer != nil {
		d.racer(d)
	}
	d.mu.Unlock()
	defer func() { d.mu.Lock(); d.inTx = false; d.mu.Unlock() }()
	return fn(memTx{d})
}

func (d *memDriver) PasswordHash(_ context.Context, email string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.users[email].PasswordHash, nil
}

func (d *memDriver) CheckTimezone(context.Context, string) error { return nil }

func (d *memDriver) locked() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.inTx }

type memTx struct{ d *memDriver }

func (x memTx) Now() time.Time { return time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC) }
func (x memTx) LockUserByEmail(_ context.Context, email string) (persona.User, bool, error) {
	u, ok := x.d.users[email]
	return u, ok, nil
}
func (x memTx) InsertUser(_ context.Context, u persona.User) error {
	x.d.users[u.Email] = u
	return nil
}
func (x memTx) UpdateUser(_ context.Context, u persona.User) error {
	x.d.users[u.Email] = u
	return nil
}
func (x memTx) LockPersonaRow(_ context.Context, id string) (accounts.PersonaRow, bool, error) {
	p, ok := x.d.rows[id]
	return p, ok, nil
}
func (x memTx) InsertPersonaRow(_ context.Context, id string, p accounts.PersonaRow) error {
	x.d.rows[id] = p
	return nil
}
func (x memTx) UpdatePersonaRow(_ context.Context, id string, p accounts.PersonaRow) error {
	x.d.rows[id] = p
	return nil
}
func (x memTx) HasPersonalSpace(_ context.Context, id string) (bool, error) {
	return x.d.spaces[id], nil
}
func (x memTx) CreatePersonalSpace(_ context.Context, id, _, _ string) error {
	x.d.spaces[id] = true
	return nil
}
func (x memTx) LiveUserID(context.Context, string) (string, bool, error) { return "", false, nil }
func (x memTx) LockSpaceBySlug(context.Context, string) (accounts.SpaceRow, bool, error) {
	return accounts.SpaceRow{}, false, nil
}
func (x memTx) InsertSpace(context.Context, accounts.SpaceRow) error { return nil }
func (x memTx) UpdateSpace(context.Context, accounts.SpaceRow) error { return nil }
func (x memTx) SetMembers(context.Context, string, map[string]string) (bool, error) {
	return false, nil
}

// fakePasswords is a cheap stand-in for bcrypt that fails the test when it runs inside a
// transaction.
func fakePasswords(t *testing.T, d *memDriver, hashed *int) accounts.Passwords {
	return accounts.Passwords{
		Hash: func(pw string, _ int) (string, error) {
			if d.locked() {
				t.Error("a password was hashed inside the transaction")
			}
			*hashed++
			return "h:" + pw, nil
		},
		Check: func(hash, pw string) bool {
			if d.locked() {
				t.Error("a password was checked inside the transaction")
			}
			return hash == "h:"+pw
		},
	}
}

var in = persona.PersonaInput{Email: "persona.anna@mana.test", Name: "Anna", Password: "pw-anna-1234",
	Archetype: "tester", SystemPrompt: "You are a careful tester who tries every feature once.",
	ModuleMix: persona.ModuleMix{"todo": 1}}

// TestHashingStaysOutsideTheTransaction: creating, re-seeding with the same password and with a
// new one hash and check only before the transaction, on every store (the rule is here, once).
func TestHashingStaysOutsideTheTransaction(t *testing.T) {
	d := newMem()
	hashed := 0
	a := accounts.New(d, 4).WithPasswords(fakePasswords(t, d, &hashed))
	ctx := context.Background()
	if _, out, err := a.UpsertPersona(ctx, in); err != nil || out != persona.Created {
		t.Fatalf("create: %q %v", out, err)
	}
	if _, out, err := a.UpsertPersona(ctx, in); err != nil || out != persona.Unchanged {
		t.Fatalf("same password: %q %v", out, err)
	}
	next := in
	next.Password = "pw-anna-5678"
	if _, out, err := a.UpsertPersona(ctx, next); err != nil || out != persona.Updated {
		t.Fatalf("new password: %q %v", out, err)
	}
	if got := d.users[in.Email].PasswordHash; got != "h:pw-anna-5678" {
		t.Errorf("stored hash %q", got)
	}
	if _, err := a.ApplySeed(ctx, persona.SeedPlan{Personas: []persona.PersonaInput{in}}, false); err != nil {
		t.Fatal(err)
	}
	if hashed != 3 {
		t.Errorf("%d hashes, want 3 (create, new password, seed back)", hashed)
	}
}

// TestHashChangedMeanwhileIsTriedAgain: when another writer changes the hash between the hashing
// and the lock, the upsert starts over (hashing outside again) instead of hashing under the lock.
func TestHashChangedMeanwhileIsTriedAgain(t *testing.T) {
	d := newMem()
	hashed := 0
	a := accounts.New(d, 4).WithPasswords(fakePasswords(t, d, &hashed))
	ctx := context.Background()
	if _, _, err := a.UpsertPersona(ctx, in); err != nil {
		t.Fatal(err)
	}
	raced := false
	d.racer = func(d *memDriver) {
		if !raced {
			raced = true
			u := d.users[in.Email]
			u.PasswordHash = "h:someone-else"
			d.users[in.Email] = u
		}
	}
	d.writes = 0
	if _, out, err := a.UpsertPersona(ctx, in); err != nil || out != persona.Updated {
		t.Fatalf("upsert after a concurrent change: %q %v; want updated", out, err)
	}
	if d.writes != 2 || d.users[in.Email].PasswordHash != "h:"+in.Password {
		t.Errorf("%d transactions, hash %q; want 2 and the input's password", d.writes, d.users[in.Email].PasswordHash)
	}
}
