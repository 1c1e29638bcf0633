package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/accounts"
)

// The account writes follow the rules of package accounts; this file holds only their
// PostgreSQL primitives. Rows an upsert reads are locked with FOR UPDATE until its transaction
// ends.

// Compile-time checks that the PostgreSQL primitives are an accounts driver.
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

// Write runs fn in a transaction. Two concurrent creations of the same new email (or slug) race
// on a unique index; the loser runs fn again and then finds the winner's row.
func (d accountsDriver) Write(ctx context.Context, fn func(accounts.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := d.db.inTx(ctx, func(tx pgx.Tx) error { return fn(accountsTx{tx, d.db.clock()}) })
		if err == nil || !isUniqueViolation(err) || attempt >= 2 {
			return err
		}
	}
}

func (d accountsDriver) PasswordHash(ctx context.Context, email string) (string, error) {
	var h string
	err := d.db.pool.QueryRow(ctx, `SELECT password_hash FROM auth.users WHERE email = $1`, email).Scan(&h)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return h, err
}

// CheckTimezone refuses a zone PostgreSQL does not know: its due query evaluates the zone.
func (d accountsDriver) CheckTimezone(ctx context.Context, zone string) error {
	return d.db.checkTimezone(ctx, zone)
}

type accountsTx struct {
	tx  pgx.Tx
	now time.Time
}

func (x accountsTx) Now() time.Time { return x.now }

func (x accountsTx) LockUserByEmail(ctx context.Context, email string) (persona.User, bool, error) {
	u, err := scanUser(x.tx.QueryRow(ctx, `SELECT `+userCols+` FROM auth.users WHERE email = $1 FOR UPDATE`, email))
	if errors.Is(err, pgx.ErrNoRows) {
		return u, false, nil
	}
	if err != nil {
		return u, false, fmt.Errorf("find user: %w", err)
	}
	return u, true, nil
}

func (x accountsTx) InsertUser(ctx context.Context, u persona.User) error {
	if _, err := x.tx.Exec(ctx, `INSERT INTO auth.users
		(id, email, name, email_verified, role, access_tier, kind, password_hash, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		u.ID, u.Email, u.Name, u.EmailVerified, string(u.Role), string(u.AccessTier), string(u.Kind), u.PasswordHash,
		u.CreatedAt, u.UpdatedAt); err != nil {
		return fmt.Errorf("insert user: %w", err)
	}
	return nil
}

func (x accountsTx) UpdateUser(ctx context.Context, u persona.User) error {
	if _, err := x.tx.Exec(ctx, `UPDATE auth.users SET name = $2, role = $3, password_hash = $4, updated_at = $5 WHERE id = $1`,
		u.ID, u.Name, string(u.Role), u.PasswordHash, u.UpdatedAt); err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	return nil
}

func (x accountsTx) LockPersonaRow(ctx context.Context, userID string) (accounts.PersonaRow, bool, error) {
	var (
		p       accounts.PersonaRow
		cadence string
		secrets []byte
	)
	err := x.tx.QueryRow(ctx, `SELECT archetype, system_prompt, module_mix, tick_cadence, timezone, target, secrets
		FROM auth.personas WHERE user_id = $1 FOR UPDATE`, userID).
		Scan(&p.Archetype, &p.SystemPrompt, &p.ModuleMix, &cadence, &p.Timezone, &p.Target, &secrets)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("read persona: %w", err)
	}
	p.TickCadence = persona.Cadence(cadence)
	// Unreadable secrets read as none, so the upsert writes the given ones.
	p.Secrets, _ = persona.DecodeSecrets(secrets)
	return p, true, nil
}

func (x accountsTx) InsertPersonaRow(ctx context.Context, userID string, p accounts.PersonaRow) error {
	secrets, err := persona.EncodeSecrets(p.Secrets)
	if err != nil {
		return err
	}
	if _, err := x.tx.Exec(ctx, `INSERT INTO auth.personas
		(user_id, archetype, system_prompt, module_mix, tick_cadence, timezone, target, secrets, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`,
		userID, p.Archetype, p.SystemPrompt, p.ModuleMix, string(p.TickCadence), p.Timezone, p.Target, secrets, x.now); err != nil {
		return fmt.Errorf("insert persona: %w", err)
	}
	return nil
}

func (x accountsTx) UpdatePersonaRow(ctx context.Context, userID string, p accounts.PersonaRow) error {
	secrets, err := persona.EncodeSecrets(p.Secrets)
	if err != nil {
		return err
	}
	if _, err := x.tx.Exec(ctx, `UPDATE auth.personas SET archetype = $2, system_prompt = $3, module_mix = $4,
		tick_cadence = $5, timezone = $6, target = $7, secrets = $8, updated_at = $9 WHERE user_id = $1`,
		userID, p.Archetype, p.SystemPrompt, p.ModuleMix, string(p.TickCadence), p.Timezone, p.Target, secrets, x.now); err != nil {
		return fmt.Errorf("update persona: %w", err)
	}
	return nil
}

func (x accountsTx) HasPersonalSpace(ctx context.Context, userID string) (bool, error) {
	var has bool
	if err := x.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth.members m JOIN auth.spaces s ON s.id = m.space_id
		WHERE m.user_id = $1 AND s.type = 'personal')`, userID).Scan(&has); err != nil {
		return false, fmt.Errorf("find personal space: %w", err)
	}
	return has, nil
}

// CreatePersonalSpace takes the first free slug with ON CONFLICT DO NOTHING, which makes the
// search race-free: a slug taken by a concurrent transaction moves it on to the next suffix.
func (x accountsTx) CreatePersonalSpace(ctx context.Context, userID, name, slugBase string) error {
	spaceID := uuid.NewString()
	for n := 1; ; n++ {
		slug := slugBase
		if n > 1 {
			slug = persona.SlugWithSuffix(slugBase, n)
		}
		tag, err := x.tx.Exec(ctx, `INSERT INTO auth.spaces (id, name, slug, type, created_at)
			VALUES ($1, $2, $3, 'personal', $4) ON CONFLICT (slug) DO NOTHING`, spaceID, name, slug, x.now)
		if err != nil {
			return fmt.Errorf("create personal space: %w", err)
		}
		if tag.RowsAffected() == 1 {
			break
		}
		if n > 100000 {
			return fmt.Errorf("no free slug for %q", slugBase)
		}
	}
	if _, err := x.tx.Exec(ctx, `INSERT INTO auth.members (space_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)`,
		spaceID, userID, x.now); err != nil {
		return fmt.Errorf("add owner to personal space: %w", err)
	}
	return nil
}

func (x accountsTx) LiveUserID(ctx context.Context, email string) (string, bool, error) {
	var id string
	err := x.tx.QueryRow(ctx, `SELECT id FROM auth.users WHERE email = $1 AND deleted_at IS NULL`, email).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
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
	err := x.tx.QueryRow(ctx, `SELECT id, name, type FROM auth.spaces WHERE slug = $1 FOR UPDATE`, slug).Scan(&s.ID, &s.Name, &typ)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("find space: %w", err)
	}
	s.Type = persona.SpaceType(typ)
	return s, true, nil
}

func (x accountsTx) InsertSpace(ctx context.Context, s accounts.SpaceRow) error {
	tag, err := x.tx.Exec(ctx, `INSERT INTO auth.spaces (id, name, slug, type, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (slug) DO NOTHING`, s.ID, s.Name, s.Slug, string(s.Type), x.now)
	if err != nil {
		return fmt.Errorf("insert space: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("slug %s was taken concurrently: %w", s.Slug, persona.ErrConflict)
	}
	return nil
}

func (x accountsTx) UpdateSpace(ctx context.Context, s accounts.SpaceRow) error {
	if _, err := x.tx.Exec(ctx, `UPDATE auth.spaces SET name = $2, type = $3 WHERE id = $1`, s.ID, s.Name, string(s.Type)); err != nil {
		return fmt.Errorf("update space: %w", err)
	}
	return nil
}

func (x accountsTx) SetMembers(ctx context.Context, spaceID string, roles map[string]string) (bool, error) {
	ids, rs := make([]string, 0, len(roles)), make([]string, 0, len(roles))
	for id, role := range roles {
		ids, rs = append(ids, id), append(rs, role)
	}
	del, err := x.tx.Exec(ctx, `DELETE FROM auth.members WHERE space_id = $1 AND NOT (user_id = ANY($2))`, spaceID, ids)
	if err != nil {
		return false, fmt.Errorf("remove members: %w", err)
	}
	ins, err := x.tx.Exec(ctx, `INSERT INTO auth.members (space_id, user_id, role, created_at)
		SELECT $1, u.id, u.role, $4 FROM unnest($2::text[], $3::text[]) AS u(id, role)
		ON CONFLICT (space_id, user_id) DO UPDATE SET role = excluded.role
		WHERE auth.members.role IS DISTINCT FROM excluded.role`, spaceID, ids, rs, x.now)
	if err != nil {
		return false, fmt.Errorf("add members: %w", err)
	}
	return del.RowsAffected() > 0 || ins.RowsAffected() > 0, nil
}
