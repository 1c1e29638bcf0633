package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/google/uuid"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/accounts"
)

// The account writes follow the rules of package accounts; this file holds only their SQLite
// primitives. A write transaction here holds the one writer connection (BEGIN IMMEDIATE), so
// reading a row inside it locks it against every other writer of the process.

// Compile-time checks that the SQLite primitives are an accounts driver.
var (
	_ accounts.Driver = accountsDriver{}
	_ accounts.Tx     = accountsTx{}
)

func (db *DB) accounts() *accounts.Accounts { return accounts.New(accountsDriver{db}, db.passwordCost) }

// UpsertPersona creates or updates a persona by email (accounts.Accounts.UpsertPersona).
func (db *DB) UpsertPersona(ctx context.Context, in persona.PersonaInput) (string, persona.Outcome, error) {
	return db.accounts().UpsertPersona(ctx, in)
}

// UpsertUser creates or updates a non-persona account (accounts.Accounts.UpsertUser).
func (db *DB) UpsertUser(ctx context.Context, in persona.UserInput) (persona.User, persona.Outcome, error) {
	return db.accounts().UpsertUser(ctx, in)
}

// UpsertSpace creates or updates a shared space by slug (accounts.Accounts.UpsertSpace).
func (db *DB) UpsertSpace(ctx context.Context, in persona.SpaceInput) (string, persona.Outcome, error) {
	return db.accounts().UpsertSpace(ctx, in)
}

// ApplySeed upserts a whole plan in one transaction (accounts.Accounts.ApplySeed).
func (db *DB) ApplySeed(ctx context.Context, plan persona.SeedPlan, dryRun bool) ([]persona.SeedChange, error) {
	return db.accounts().ApplySeed(ctx, plan, dryRun)
}

type accountsDriver struct{ db *DB }

func (d accountsDriver) Write(ctx context.Context, fn func(accounts.Tx) error) error {
	return d.db.write(ctx, func(t *tx) error { return fn(accountsTx{t}) })
}

func (d accountsDriver) PasswordHash(ctx context.Context, email string) (string, error) {
	var h string
	err := d.db.r.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE email = ?`, email).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return h, err
}

// CheckTimezone accepts every zone Validate accepts: SQLite's due rule is evaluated in Go.
func (accountsDriver) CheckTimezone(context.Context, string) error { return nil }

type accountsTx struct{ t *tx }

func (x accountsTx) Now() time.Time { return x.t.now }

func (x accountsTx) LockUserByEmail(ctx context.Context, email string) (persona.User, bool, error) {
	u, err := scanUser(x.t.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE email = ?`, email))
	if errors.Is(err, sql.ErrNoRows) {
		return u, false, nil
	}
	if err != nil {
		return u, false, fmt.Errorf("find user: %w", err)
	}
	return u, true, nil
}

func (x accountsTx) InsertUser(ctx context.Context, u persona.User) error {
	if _, err := x.t.ExecContext(ctx, `INSERT INTO users (id, email, name, email_verified, role, access_tier, kind, password_hash, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.Name, boolInt(u.EmailVerified), string(u.Role), string(u.AccessTier), string(u.Kind), u.PasswordHash,
		micro(u.CreatedAt), micro(u.UpdatedAt)); err != nil {
		return fmt.Errorf("insert user: %w", err)
	}
	return nil
}

func (x accountsTx) UpdateUser(ctx context.Context, u persona.User) error {
	if _, err := x.t.ExecContext(ctx, `UPDATE users SET name = ?, role = ?, password_hash = ?, updated_at = ? WHERE id = ?`,
		u.Name, string(u.Role), u.PasswordHash, micro(u.UpdatedAt), u.ID); err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	return nil
}

func (x accountsTx) LockPersonaRow(ctx context.Context, userID string) (accounts.PersonaRow, bool, error) {
	var (
		p                     accounts.PersonaRow
		mix, cadence, secrets string
	)
	err := x.t.QueryRowContext(ctx, `SELECT archetype, system_prompt, module_mix, tick_cadence, timezone, target, secrets FROM personas WHERE user_id = ?`, userID).
		Scan(&p.Archetype, &p.SystemPrompt, &mix, &cadence, &p.Timezone, &p.Target, &secrets)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("read persona: %w", err)
	}
	p.TickCadence = persona.Cadence(cadence)
	// A mix that does not decode reads as empty, so the upsert writes the given one.
	_ = json.Unmarshal([]byte(mix), &p.ModuleMix)
	// Unreadable secrets read as none, so the upsert writes the given ones.
	p.Secrets, _ = persona.DecodeSecrets([]byte(secrets))
	return p, true, nil
}

func (x accountsTx) InsertPersonaRow(ctx context.Context, userID string, p accounts.PersonaRow) error {
	mix, err := json.Marshal(p.ModuleMix)
	if err != nil {
		return fmt.Errorf("encode moduleMix: %w", err)
	}
	secrets, err := persona.EncodeSecrets(p.Secrets)
	if err != nil {
		return err
	}
	if _, err := x.t.ExecContext(ctx, `INSERT INTO personas (user_id, archetype, system_prompt, module_mix, tick_cadence, timezone, target, secrets, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, userID, p.Archetype, p.SystemPrompt, string(mix), string(p.TickCadence), p.Timezone, p.Target, secrets, micro(x.t.now)); err != nil {
		return fmt.Errorf("insert persona: %w", err)
	}
	return nil
}

func (x accountsTx) UpdatePersonaRow(ctx context.Context, userID string, p accounts.PersonaRow) error {
	mix, err := json.Marshal(p.ModuleMix)
	if err != nil {
		return fmt.Errorf("encode moduleMix: %w", err)
	}
	secrets, err := persona.EncodeSecrets(p.Secrets)
	if err != nil {
		return err
	}
	if _, err := x.t.ExecContext(ctx, `UPDATE personas SET archetype = ?, system_prompt = ?, module_mix = ?, tick_cadence = ?, timezone = ?, target = ?, secrets = ? WHERE user_id = ?`,
		p.Archetype, p.SystemPrompt, string(mix), string(p.TickCadence), p.Timezone, p.Target, secrets, userID); err != nil {
		return fmt.Errorf("update persona: %w", err)
	}
	return nil
}

func (x accountsTx) HasPersonalSpace(ctx context.Context, userID string) (bool, error) {
	var n int
	if err := x.t.QueryRowContext(ctx, `SELECT count(*) FROM members m JOIN spaces s ON s.id = m.space_id
		WHERE m.user_id = ? AND s.type = 'personal'`, userID).Scan(&n); err != nil {
		return false, fmt.Errorf("find personal space: %w", err)
	}
	return n > 0, nil
}

func (x accountsTx) CreatePersonalSpace(ctx context.Context, userID, name, slugBase string) error {
	slug := slugBase
	for n := 2; ; n++ {
		var taken int
		if err := x.t.QueryRowContext(ctx, `SELECT count(*) FROM spaces WHERE slug = ?`, slug).Scan(&taken); err != nil {
			return fmt.Errorf("check slug %q: %w", slug, err)
		}
		if taken == 0 {
			break
		}
		if n > 100000 {
			return fmt.Errorf("no free slug for %q", slugBase)
		}
		slug = persona.SlugWithSuffix(slugBase, n)
	}
	id := uuid.NewString()
	if _, err := x.t.ExecContext(ctx, `INSERT INTO spaces (id, name, slug, type, created_at) VALUES (?, ?, ?, 'personal', ?)`,
		id, name, slug, micro(x.t.now)); err != nil {
		return fmt.Errorf("create personal space: %w", err)
	}
	if _, err := x.t.ExecContext(ctx, `INSERT INTO members (space_id, user_id, role, created_at) VALUES (?, ?, 'owner', ?)`,
		id, userID, micro(x.t.now)); err != nil {
		return fmt.Errorf("add owner to personal space: %w", err)
	}
	return nil
}

func (x accountsTx) LiveUserID(ctx context.Context, email string) (string, bool, error) {
	var id string
	err := x.t.QueryRowContext(ctx, `SELECT id FROM users WHERE email = ? AND deleted_at IS NULL`, email).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("find member %q: %w", email, err)
	}
	return id, true, nil
}

func (x accountsTx) LockSpaceBySlug(ctx context.Context, slug string) (accounts.SpaceRow, bool, error) {
	s := accounts.SpaceRow{Slug: slug}
	var typ string
	err := x.t.QueryRowContext(ctx, `SELECT id, name, type FROM spaces WHERE slug = ?`, slug).Scan(&s.ID, &s.Name, &typ)
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("find space: %w", err)
	}
	s.Type = persona.SpaceType(typ)
	return s, true, nil
}

func (x accountsTx) InsertSpace(ctx context.Context, s accounts.SpaceRow) error {
	if _, err := x.t.ExecContext(ctx, `INSERT INTO spaces (id, name, slug, type, created_at) VALUES (?, ?, ?, ?, ?)`,
		s.ID, s.Name, s.Slug, string(s.Type), micro(x.t.now)); err != nil {
		return fmt.Errorf("insert space: %w", err)
	}
	return nil
}

func (x accountsTx) UpdateSpace(ctx context.Context, s accounts.SpaceRow) error {
	if _, err := x.t.ExecContext(ctx, `UPDATE spaces SET name = ?, type = ? WHERE id = ?`, s.Name, string(s.Type), s.ID); err != nil {
		return fmt.Errorf("update space: %w", err)
	}
	return nil
}

func (x accountsTx) SetMembers(ctx context.Context, spaceID string, roles map[string]string) (bool, error) {
	have := map[string]string{}
	rows, err := x.t.QueryContext(ctx, `SELECT user_id, role FROM members WHERE space_id = ?`, spaceID)
	if err != nil {
		return false, fmt.Errorf("read members: %w", err)
	}
	for rows.Next() {
		var uid, role string
		if err := rows.Scan(&uid, &role); err != nil {
			rows.Close()
			return false, fmt.Errorf("read members: %w", err)
		}
		have[uid] = role
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("read members: %w", err)
	}
	if maps.Equal(have, roles) {
		return false, nil
	}
	for uid := range have {
		if _, ok := roles[uid]; !ok {
			if _, err := x.t.ExecContext(ctx, `DELETE FROM members WHERE space_id = ? AND user_id = ?`, spaceID, uid); err != nil {
				return false, fmt.Errorf("remove member: %w", err)
			}
		}
	}
	for uid, role := range roles {
		if _, err := x.t.ExecContext(ctx, `INSERT INTO members (space_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (space_id, user_id) DO UPDATE SET role = excluded.role`, spaceID, uid, role, micro(x.t.now)); err != nil {
			return false, fmt.Errorf("add member: %w", err)
		}
	}
	return true, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
