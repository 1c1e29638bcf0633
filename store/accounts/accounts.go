// Package accounts holds the rules of the store's account writes — the user, persona and space
// upserts and the seed that applies many at once — once, above the dialects. store/sqlite and
// store/postgres each implement Driver (one write transaction) and Tx (the primitives run inside
// it) and own their SQL; the decisions live here, so the two stores cannot drift apart (the
// riverqueue/river driver pattern, see STYLE.md).
//
// The rules, the same on every store:
//   - an email of a soft-deleted user is refused with persona.ErrConflict naming it: an upsert
//     never brings a deleted account back;
//   - an email of another kind of account is refused with persona.ErrConflict (a human is never
//     turned into a persona);
//   - every upsert of a live account repairs its personal space (and a persona its persona row)
//     when they are missing, and says so in the change's detail;
//   - bcrypt runs before the transaction, never while a row is locked: a password is checked
//     against the hash read beforehand, and when that hash changed meanwhile the whole upsert is
//     tried again.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/persona-runner/persona-runner/persona"
)

// PersonaRow is the persona row's settings an upsert compares and writes.
type PersonaRow struct {
	Archetype    string
	SystemPrompt string
	ModuleMix    persona.ModuleMix
	TickCadence  persona.Cadence
	Timezone     string
	// Target names the app under test the persona runs against ("" = the default target).
	Target string
	// Secrets says where each of the persona's secrets is read at run time; never a value.
	Secrets map[string]persona.SecretRef
}

// SpaceRow is a space as an upsert reads and writes it.
type SpaceRow struct {
	ID   string
	Slug string
	Name string
	Type persona.SpaceType
}

// Tx is what a dialect does inside the one write transaction an upsert runs in. Every method
// returns the database's error wrapped with what it was doing.
type Tx interface {
	// Now is the transaction's time (the store's clock, read once per transaction).
	Now() time.Time
	// LockUserByEmail returns the user with email, deleted or not, and keeps other writers off
	// its row until the transaction ends; found is false when there is none.
	LockUserByEmail(ctx context.Context, email string) (u persona.User, found bool, err error)
	// InsertUser inserts u (every field).
	InsertUser(ctx context.Context, u persona.User) error
	// UpdateUser writes u's name, role, password hash and updated time.
	UpdateUser(ctx context.Context, u persona.User) error
	// LockPersonaRow returns the persona row of the user, locked; found is false when there is
	// none.
	LockPersonaRow(ctx context.Context, userID string) (p PersonaRow, found bool, err error)
	// InsertPersonaRow inserts the persona row of the user.
	InsertPersonaRow(ctx context.Context, userID string, p PersonaRow) error
	// UpdatePersonaRow writes the persona row's settings.
	UpdatePersonaRow(ctx context.Context, userID string, p PersonaRow) error
	// HasPersonalSpace reports whether the user is a member of a personal space.
	HasPersonalSpace(ctx context.Context, userID string) (bool, error)
	// CreatePersonalSpace creates a personal space named name with the user as its owner, at the
	// first free slug of slugBase, slugBase-2, slugBase-3, … (persona.SlugWithSuffix).
	CreatePersonalSpace(ctx context.Context, userID, name, slugBase string) error
	// LiveUserID returns the id of the live (not deleted) user with email; found is false when
	// there is none.
	LiveUserID(ctx context.Context, email string) (id string, found bool, err error)
	// LockSpaceBySlug returns the space with slug, locked; found is false when there is none.
	LockSpaceBySlug(ctx context.Context, slug string) (s SpaceRow, found bool, err error)
	// InsertSpace inserts s; persona.ErrConflict when its slug was taken meanwhile.
	InsertSpace(ctx context.Context, s SpaceRow) error
	// UpdateSpace writes s's name and type.
	UpdateSpace(ctx context.Context, s SpaceRow) error
	// SetMembers makes roles (user id → role) exactly the space's members and reports whether
	// anything changed (a member added or removed, or a role changed).
	SetMembers(ctx context.Context, spaceID string, roles map[string]string) (changed bool, err error)
}

// Driver is a dialect's side of the account writes.
type Driver interface {
	// Write runs fn in one write transaction and commits it when fn returns nil; any error rolls
	// it back and is returned. A dialect may run fn again after a conflict between concurrent
	// transactions (a unique index both tried to fill), so fn must not keep state across runs.
	Write(ctx context.Context, fn func(Tx) error) error
	// PasswordHash returns the stored password hash of the user with email, deleted or not, read
	// outside any transaction; "" when there is no such user.
	PasswordHash(ctx context.Context, email string) (string, error)
	// CheckTimezone refuses, as a persona.FieldError on timezone, a zone the database cannot
	// evaluate (Validate has checked the name already). "" is always accepted.
	CheckTimezone(ctx context.Context, zone string) error
}

// Passwords hashes and checks passwords; persona.HashPassword and persona.CheckPassword by
// default.
type Passwords struct {
	Hash  func(password string, cost int) (string, error)
	Check func(hash, password string) bool
}

// Accounts applies the rules over one driver.
type Accounts struct {
	d    Driver
	cost int
	pw   Passwords
}

// New returns the account rules over d, writing bcrypt hashes of the given cost.
func New(d Driver, cost int) *Accounts {
	return &Accounts{d: d, cost: cost, pw: Passwords{Hash: persona.HashPassword, Check: persona.CheckPassword}}
}

// WithPasswords returns a copy of a that hashes and checks passwords with pw (tests).
func (a *Accounts) WithPasswords(pw Passwords) *Accounts {
	c := *a
	c.pw = pw
	return &c
}

// attempts bounds the tries of an upsert whose password hash another writer changed between the
// hashing and the transaction.
const attempts = 3

// errStale says the password hash read before the transaction changed before it locked the row.
var errStale = errors.New("the password hash changed while the upsert hashed")

// password is the bcrypt work done before a transaction for one email.
type password struct {
	seen    string // the stored hash read beforehand ("" when there was no user)
	matched bool   // seen verifies the password already
	hash    string // a fresh hash of the password when !matched
	noLogin bool   // the account has no password (persona.PersonaInput.NoLogin)
}

// preparePersona is prepare for a persona: one without a login gets no password (an empty hash,
// which no login accepts) and costs no bcrypt work.
func (a *Accounts) preparePersona(ctx context.Context, in persona.PersonaInput) (password, error) {
	if in.NoLogin {
		return password{noLogin: true}, nil
	}
	return a.prepare(ctx, in.Email, in.Password)
}

func (a *Accounts) prepare(ctx context.Context, email, pw string) (password, error) {
	seen, err := a.d.PasswordHash(ctx, email)
	if err != nil {
		return password{}, fmt.Errorf("read password hash: %w", err)
	}
	if seen != "" && a.pw.Check(seen, pw) {
		return password{seen: seen, matched: true}, nil
	}
	h, err := a.pw.Hash(pw, a.cost)
	if err != nil {
		return password{}, fmt.Errorf("hash password: %w", err)
	}
	return password{seen: seen, hash: h}, nil
}

// resolve returns the hash to store given the one found under the lock, and whether it changes;
// errStale when the stored hash is no longer the one prepare read.
func (p password) resolve(current string) (string, bool, error) {
	if p.noLogin {
		return "", current != "", nil
	}
	if current != p.seen {
		return "", false, errStale
	}
	if p.matched {
		return current, false, nil
	}
	return p.hash, true, nil
}

// retry runs try until it does not fail with errStale, at most attempts times.
func retry(try func() error) error {
	var err error
	for range attempts {
		if err = try(); !errors.Is(err, errStale) {
			return err
		}
	}
	return err
}

// UpsertPersona creates or updates the persona with in.Email (see persona.Store.UpsertPersona).
func (a *Accounts) UpsertPersona(ctx context.Context, in persona.PersonaInput) (string, persona.Outcome, error) {
	if err := a.checkPersona(ctx, in); err != nil {
		return "", "", fmt.Errorf("upsert persona %q: %w", in.Email, err)
	}
	var (
		id  string
		out persona.Outcome
	)
	err := retry(func() error {
		pw, err := a.preparePersona(ctx, in)
		if err != nil {
			return err
		}
		return a.d.Write(ctx, func(tx Tx) error {
			id, out, _, err = upsertPersona(ctx, tx, in, pw)
			return err
		})
	})
	if err != nil {
		return "", "", fmt.Errorf("upsert persona %q: %w", in.Email, err)
	}
	return id, out, nil
}

func (a *Accounts) checkPersona(ctx context.Context, in persona.PersonaInput) error {
	if err := in.Validate(); err != nil {
		return err
	}
	return a.d.CheckTimezone(ctx, in.Timezone)
}

// now is the transaction's time at the precision both stores keep.
func now(tx Tx) time.Time { return tx.Now().UTC().Truncate(time.Microsecond) }

// lockLive locks the user with email and refuses a deleted one or one of another kind.
func lockLive(ctx context.Context, tx Tx, email string, kind persona.Kind) (persona.User, bool, error) {
	u, found, err := tx.LockUserByEmail(ctx, email)
	if err != nil || !found {
		return u, found, err
	}
	if u.DeletedAt != nil {
		return u, true, fmt.Errorf("email %s belongs to a deleted user, which an upsert does not restore: %w", email, persona.ErrConflict)
	}
	if u.Kind != kind {
		if kind == persona.KindPersona {
			return u, true, fmt.Errorf("email %s belongs to a %s user, which is never turned into a persona: %w", email, u.Kind, persona.ErrConflict)
		}
		return u, true, fmt.Errorf("email %s belongs to a %s user, not a %s one: %w", email, u.Kind, kind, persona.ErrConflict)
	}
	return u, true, nil
}

// upsertPersona is UpsertPersona inside tx; changed names what an update changed.
func upsertPersona(ctx context.Context, tx Tx, in persona.PersonaInput, pw password) (string, persona.Outcome, []string, error) {
	at := now(tx)
	u, found, err := lockLive(ctx, tx, in.Email, persona.KindPersona)
	if err != nil {
		return "", "", nil, err
	}
	if !found {
		u, err := insertUser(ctx, tx, at, persona.UserInput{Email: in.Email, Name: in.Name, Role: persona.RoleUser, Kind: persona.KindPersona}, pw)
		if err != nil {
			return "", "", nil, err
		}
		if err := tx.InsertPersonaRow(ctx, u.ID, newPersonaRow(in)); err != nil {
			return "", "", nil, err
		}
		if err := tx.CreatePersonalSpace(ctx, u.ID, u.Name, persona.SlugBase(in.Email)); err != nil {
			return "", "", nil, err
		}
		return u.ID, persona.Created, nil, nil
	}

	changed, err := updateUser(ctx, tx, at, &u, in.Name, u.Role, pw)
	if err != nil {
		return "", "", nil, err
	}
	cur, found, err := tx.LockPersonaRow(ctx, u.ID)
	switch {
	case err != nil:
		return "", "", nil, err
	case !found:
		// A persona user without its persona row (an interrupted manual repair) gets it back.
		if err := tx.InsertPersonaRow(ctx, u.ID, newPersonaRow(in)); err != nil {
			return "", "", nil, err
		}
		changed = append(changed, "persona")
	default:
		next := cur
		next.Archetype, next.SystemPrompt, next.ModuleMix = in.Archetype, in.SystemPrompt, in.ModuleMix
		next.Target, next.Secrets = in.Target, in.Secrets
		if in.TickCadence != "" {
			next.TickCadence = in.TickCadence
		}
		if in.Timezone != "" {
			next.Timezone = in.Timezone
		}
		var rowChanged []string
		for _, c := range []struct {
			field string
			same  bool
		}{
			{"archetype", next.Archetype == cur.Archetype},
			{"systemPrompt", next.SystemPrompt == cur.SystemPrompt},
			{"moduleMix", maps.Equal(next.ModuleMix, cur.ModuleMix)},
			{"tickCadence", next.TickCadence == cur.TickCadence},
			{"timezone", next.Timezone == cur.Timezone},
			{"target", next.Target == cur.Target},
			{"secrets", maps.Equal(next.Secrets, cur.Secrets)},
		} {
			if !c.same {
				rowChanged = append(rowChanged, c.field)
			}
		}
		if len(rowChanged) > 0 {
			if err := tx.UpdatePersonaRow(ctx, u.ID, next); err != nil {
				return "", "", nil, err
			}
			changed = append(changed, rowChanged...)
		}
	}
	repaired, err := ensurePersonalSpace(ctx, tx, u)
	if err != nil {
		return "", "", nil, err
	}
	if repaired {
		changed = append(changed, "personalSpace")
	}
	if len(changed) == 0 {
		return u.ID, persona.Unchanged, nil, nil
	}
	return u.ID, persona.Updated, changed, nil
}

// newPersonaRow is the row of a new persona: cadence daily and zone UTC unless given.
func newPersonaRow(in persona.PersonaInput) PersonaRow {
	p := PersonaRow{Archetype: in.Archetype, SystemPrompt: in.SystemPrompt, ModuleMix: in.ModuleMix,
		TickCadence: in.TickCadence, Timezone: in.Timezone, Target: in.Target, Secrets: in.Secrets}
	if p.TickCadence == "" {
		p.TickCadence = persona.Daily
	}
	if p.Timezone == "" {
		p.Timezone = "UTC"
	}
	return p
}

// insertUser inserts a new, verified founder-tier account.
func insertUser(ctx context.Context, tx Tx, at time.Time, in persona.UserInput, pw password) (persona.User, error) {
	hash, _, err := pw.resolve("")
	if err != nil {
		return persona.User{}, err
	}
	name := in.Name
	if name == "" {
		name = localPart(in.Email)
	}
	u := persona.User{ID: uuid.NewString(), Email: in.Email, Name: name, EmailVerified: true, Role: in.Role,
		AccessTier: persona.TierFounder, Kind: in.Kind, PasswordHash: hash, CreatedAt: at, UpdatedAt: at}
	if err := tx.InsertUser(ctx, u); err != nil {
		return persona.User{}, err
	}
	return u, nil
}

// updateUser applies name (when given), role and password to u and writes it when any changed;
// it returns the fields that changed.
func updateUser(ctx context.Context, tx Tx, at time.Time, u *persona.User, name string, role persona.Role, pw password) ([]string, error) {
	var changed []string
	if name != "" && name != u.Name {
		u.Name, changed = name, append(changed, "name")
	}
	if role != u.Role {
		u.Role, changed = role, append(changed, "role")
	}
	hash, pwChanged, err := pw.resolve(u.PasswordHash)
	if err != nil {
		return nil, err
	}
	if pwChanged {
		u.PasswordHash, changed = hash, append(changed, "password")
	}
	if len(changed) > 0 {
		u.UpdatedAt = at
		if err := tx.UpdateUser(ctx, *u); err != nil {
			return nil, err
		}
	}
	return changed, nil
}

// ensurePersonalSpace creates u's personal space unless it has one, and reports whether it did.
func ensurePersonalSpace(ctx context.Context, tx Tx, u persona.User) (bool, error) {
	has, err := tx.HasPersonalSpace(ctx, u.ID)
	if err != nil || has {
		return false, err
	}
	if err := tx.CreatePersonalSpace(ctx, u.ID, u.Name, persona.SlugBase(u.Email)); err != nil {
		return false, err
	}
	return true, nil
}

func localPart(email string) string {
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		return email[:i]
	}
	return email
}

// UpsertUser creates or updates a non-persona account (see persona.Store.UpsertUser).
func (a *Accounts) UpsertUser(ctx context.Context, in persona.UserInput) (persona.User, persona.Outcome, error) {
	if in.Kind == "" {
		in.Kind = persona.KindHuman
	}
	if in.Role == "" {
		in.Role = persona.RoleUser
	}
	if err := in.Validate(); err != nil {
		return persona.User{}, "", fmt.Errorf("upsert user %q: %w", in.Email, err)
	}
	var (
		u   persona.User
		out persona.Outcome
	)
	err := retry(func() error {
		pw, err := a.prepare(ctx, in.Email, in.Password)
		if err != nil {
			return err
		}
		return a.d.Write(ctx, func(tx Tx) error {
			u, out, err = upsertUser(ctx, tx, in, pw)
			return err
		})
	})
	if err != nil {
		return persona.User{}, "", fmt.Errorf("upsert user %q: %w", in.Email, err)
	}
	return u, out, nil
}

func upsertUser(ctx context.Context, tx Tx, in persona.UserInput, pw password) (persona.User, persona.Outcome, error) {
	at := now(tx)
	u, found, err := lockLive(ctx, tx, in.Email, in.Kind)
	if err != nil {
		return persona.User{}, "", err
	}
	if !found {
		u, err := insertUser(ctx, tx, at, in, pw)
		if err != nil {
			return persona.User{}, "", err
		}
		if err := tx.CreatePersonalSpace(ctx, u.ID, u.Name, persona.SlugBase(in.Email)); err != nil {
			return persona.User{}, "", err
		}
		return u, persona.Created, nil
	}
	changed, err := updateUser(ctx, tx, at, &u, in.Name, in.Role, pw)
	if err != nil {
		return persona.User{}, "", err
	}
	repaired, err := ensurePersonalSpace(ctx, tx, u)
	if err != nil {
		return persona.User{}, "", err
	}
	if len(changed) == 0 && !repaired {
		return u, persona.Unchanged, nil
	}
	return u, persona.Updated, nil
}

// UpsertSpace creates or updates a shared space by slug (see persona.Store.UpsertSpace).
func (a *Accounts) UpsertSpace(ctx context.Context, in persona.SpaceInput) (string, persona.Outcome, error) {
	if err := in.Validate(); err != nil {
		return "", "", fmt.Errorf("upsert space %q: %w", in.Slug, err)
	}
	var (
		id  string
		out persona.Outcome
	)
	err := a.d.Write(ctx, func(tx Tx) error {
		var err error
		id, out, _, err = upsertSpace(ctx, tx, in)
		return err
	})
	if err != nil {
		return "", "", fmt.Errorf("upsert space %q: %w", in.Slug, err)
	}
	return id, out, nil
}

// upsertSpace sets a valid space's name, type and members: the first listed owns it, the others
// are members, and a changed role counts as a change of the members.
func upsertSpace(ctx context.Context, tx Tx, in persona.SpaceInput) (string, persona.Outcome, []string, error) {
	// Member emails first, so an unknown one fails before anything is written.
	roles := make(map[string]string, len(in.Members))
	var es persona.FieldErrors
	for i, email := range in.Members {
		uid, found, err := tx.LiveUserID(ctx, email)
		if err != nil {
			return "", "", nil, err
		}
		if !found {
			es.Add(fmt.Sprintf("members[%d]", i), "no user with email %s", email)
			continue
		}
		roles[uid] = persona.MemberMember
		if i == 0 {
			roles[uid] = persona.MemberOwner
		}
	}
	if err := es.Err(); err != nil {
		return "", "", nil, err
	}

	cur, found, err := tx.LockSpaceBySlug(ctx, in.Slug)
	if err != nil {
		return "", "", nil, err
	}
	next := SpaceRow{ID: cur.ID, Slug: in.Slug, Name: in.Name, Type: in.Type}
	var changed []string
	switch {
	case !found:
		next.ID = uuid.NewString()
		if err := tx.InsertSpace(ctx, next); err != nil {
			return "", "", nil, err
		}
	case cur.Type == persona.SpacePersonal:
		return "", "", nil, fmt.Errorf("slug %s is taken by a personal space: %w", in.Slug, persona.ErrConflict)
	default:
		if cur.Name != in.Name {
			changed = append(changed, "name")
		}
		if cur.Type != in.Type {
			changed = append(changed, "type")
		}
		if len(changed) > 0 {
			if err := tx.UpdateSpace(ctx, next); err != nil {
				return "", "", nil, err
			}
		}
	}
	membersChanged, err := tx.SetMembers(ctx, next.ID, roles)
	if err != nil {
		return "", "", nil, err
	}
	if !found {
		return next.ID, persona.Created, nil, nil
	}
	if membersChanged {
		changed = append(changed, "members")
	}
	if len(changed) == 0 {
		return next.ID, persona.Unchanged, nil, nil
	}
	return next.ID, persona.Updated, changed, nil
}

// errDryRun rolls back a dry run's transaction.
var errDryRun = errors.New("dry run")

// ApplySeed upserts every persona, then every space, in one transaction (see
// persona.Store.ApplySeed). Every password is hashed before the transaction begins.
func (a *Accounts) ApplySeed(ctx context.Context, plan persona.SeedPlan, dryRun bool) ([]persona.SeedChange, error) {
	for i, in := range plan.Personas {
		if err := a.checkPersona(ctx, in); err != nil {
			return nil, fmt.Errorf("apply seed: personas[%d] (%s): %w", i, in.Email, err)
		}
	}
	for i, in := range plan.Spaces {
		if err := in.Validate(); err != nil {
			return nil, fmt.Errorf("apply seed: spaces[%d] (%s): %w", i, in.Slug, err)
		}
	}
	var changes []persona.SeedChange
	err := retry(func() error {
		pws := make([]password, len(plan.Personas))
		for i, in := range plan.Personas {
			pw, err := a.preparePersona(ctx, in)
			if err != nil {
				return fmt.Errorf("personas[%d] (%s): %w", i, in.Email, err)
			}
			pws[i] = pw
		}
		err := a.d.Write(ctx, func(tx Tx) error {
			changes = make([]persona.SeedChange, 0, len(plan.Personas)+len(plan.Spaces))
			for i, in := range plan.Personas {
				_, out, changed, err := upsertPersona(ctx, tx, in, pws[i])
				if err != nil {
					return fmt.Errorf("personas[%d] (%s): %w", i, in.Email, err)
				}
				changes = append(changes, persona.SeedChange{Kind: "persona", Key: in.Email, Outcome: out, Detail: strings.Join(changed, ", ")})
			}
			for i, in := range plan.Spaces {
				_, out, changed, err := upsertSpace(ctx, tx, in)
				if err != nil {
					return fmt.Errorf("spaces[%d] (%s): %w", i, in.Slug, err)
				}
				changes = append(changes, persona.SeedChange{Kind: "space", Key: in.Slug, Outcome: out, Detail: strings.Join(changed, ", ")})
			}
			if dryRun {
				return errDryRun
			}
			return nil
		})
		if errors.Is(err, errDryRun) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("apply seed: %w", err)
	}
	return changes, nil
}
