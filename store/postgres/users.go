package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/persona-runner/persona-runner/persona"
)

const userCols = `id, email, name, email_verified, role, access_tier, kind, password_hash, deleted_at, created_at, updated_at`

func scanUser(row pgx.Row) (persona.User, error) {
	var u persona.User
	var role, tier, kind string
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.EmailVerified, &role, &tier, &kind, &u.PasswordHash,
		&u.DeletedAt, &u.CreatedAt, &u.UpdatedAt)
	if err != nil {
		return persona.User{}, err
	}
	u.Role, u.AccessTier, u.Kind = persona.Role(role), persona.Tier(tier), persona.Kind(kind)
	u.DeletedAt, u.CreatedAt, u.UpdatedAt = utcPtr(u.DeletedAt), utc(u.CreatedAt), utc(u.UpdatedAt)
	return u, nil
}

// User returns a live user by id.
func (db *DB) User(ctx context.Context, id string) (persona.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx,
		`SELECT `+userCols+` FROM auth.users WHERE id = $1 AND deleted_at IS NULL`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return persona.User{}, fmt.Errorf("user %q: %w", id, persona.ErrNotFound)
	}
	if err != nil {
		return persona.User{}, fmt.Errorf("user %q: %w", id, err)
	}
	return u, nil
}

// UserByEmail returns a live user by exact email.
func (db *DB) UserByEmail(ctx context.Context, email string) (persona.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx,
		`SELECT `+userCols+` FROM auth.users WHERE email = $1 AND deleted_at IS NULL`, email))
	if errors.Is(err, pgx.ErrNoRows) {
		return persona.User{}, fmt.Errorf("user %q: %w", email, persona.ErrNotFound)
	}
	if err != nil {
		return persona.User{}, fmt.Errorf("user %q: %w", email, err)
	}
	return u, nil
}

// UpsertPersona creates or updates a persona by email in one transaction.
func (db *DB) UpsertPersona(ctx context.Context, in persona.PersonaInput) (string, persona.Outcome, error) {
	if err := in.Validate(); err != nil {
		return "", "", fmt.Errorf("upsert persona: %w", err)
	}
	if err := db.checkTimezone(ctx, in.Timezone); err != nil {
		return "", "", fmt.Errorf("upsert persona: %w", err)
	}
	var id string
	var out persona.Outcome
	// Two concurrent creations of the same new email race on the unique email index; the loser
	// retries and then finds the winner's user, so both callers succeed.
	for attempt := 0; ; attempt++ {
		err := db.inTx(ctx, func(tx pgx.Tx) error {
			var err error
			id, out, _, err = upsertPersona(ctx, tx, db.clock(), db.passwordCost, in)
			return err
		})
		if err == nil {
			return id, out, nil
		}
		if !isUniqueViolation(err) || attempt >= 2 {
			return "", "", fmt.Errorf("upsert persona %q: %w", in.Email, err)
		}
	}
}

// upsertPersona is UpsertPersona inside tx. detail lists the fields that changed.
func upsertPersona(ctx context.Context, tx pgx.Tx, now time.Time, cost int, in persona.PersonaInput) (id string, out persona.Outcome, detail string, err error) {
	u, err := scanUser(tx.QueryRow(ctx, `SELECT `+userCols+` FROM auth.users WHERE email = $1 FOR UPDATE`, in.Email))
	if errors.Is(err, pgx.ErrNoRows) {
		id, err = createPersona(ctx, tx, now, cost, in)
		return id, persona.Created, "", err
	}
	if err != nil {
		return "", "", "", err
	}
	if u.Kind != persona.KindPersona {
		return "", "", "", fmt.Errorf("email %s belongs to a %s user, which is never turned into a persona: %w", in.Email, u.Kind, persona.ErrConflict)
	}
	if u.DeletedAt != nil {
		return "", "", "", fmt.Errorf("email %s belongs to a deleted user: %w", in.Email, persona.ErrConflict)
	}

	var changed []string
	if in.Name != "" && in.Name != u.Name {
		changed = append(changed, "name")
		u.Name = in.Name
	}
	if !persona.CheckPassword(u.PasswordHash, in.Password) {
		changed = append(changed, "password")
		if u.PasswordHash, err = persona.HashPassword(in.Password, cost); err != nil {
			return "", "", "", err
		}
	}
	if len(changed) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE auth.users SET name = $2, password_hash = $3, updated_at = $4 WHERE id = $1`,
			u.ID, u.Name, u.PasswordHash, now); err != nil {
			return "", "", "", err
		}
	}

	var cur struct {
		archetype, prompt, cadence, tz string
		mix                            persona.ModuleMix
	}
	err = tx.QueryRow(ctx, `SELECT archetype, system_prompt, module_mix, tick_cadence, timezone
		FROM auth.personas WHERE user_id = $1 FOR UPDATE`, u.ID).
		Scan(&cur.archetype, &cur.prompt, &cur.mix, &cur.cadence, &cur.tz)
	if errors.Is(err, pgx.ErrNoRows) {
		// A persona user without its persona row (left over from an interrupted manual edit) gets
		// the row now; the personal space is created if it is missing too.
		if err := insertPersonaRow(ctx, tx, now, u.ID, in); err != nil {
			return "", "", "", err
		}
		if err := ensurePersonalSpace(ctx, tx, now, u.ID, in.Email, u.Name); err != nil {
			return "", "", "", err
		}
		return u.ID, persona.Updated, strings.Join(append(changed, "persona"), ", "), nil
	}
	if err != nil {
		return "", "", "", err
	}
	next := cur
	next.archetype, next.prompt, next.mix = in.Archetype, in.SystemPrompt, in.ModuleMix
	if in.TickCadence != "" {
		next.cadence = string(in.TickCadence)
	}
	if in.Timezone != "" {
		next.tz = in.Timezone
	}
	for _, c := range []struct {
		field string
		same  bool
	}{
		{"archetype", next.archetype == cur.archetype},
		{"systemPrompt", next.prompt == cur.prompt},
		{"moduleMix", maps.Equal(next.mix, cur.mix)},
		{"tickCadence", next.cadence == cur.cadence},
		{"timezone", next.tz == cur.tz},
	} {
		if !c.same {
			changed = append(changed, c.field)
		}
	}
	if len(changed) == 0 {
		return u.ID, persona.Unchanged, "", nil
	}
	mix, err := json.Marshal(next.mix)
	if err != nil {
		return "", "", "", err
	}
	if _, err := tx.Exec(ctx, `UPDATE auth.personas SET archetype = $2, system_prompt = $3, module_mix = $4,
		tick_cadence = $5, timezone = $6, updated_at = $7 WHERE user_id = $1`,
		u.ID, next.archetype, next.prompt, mix, next.cadence, next.tz, now); err != nil {
		return "", "", "", err
	}
	return u.ID, persona.Updated, strings.Join(changed, ", "), nil
}

// createPersona inserts a new persona user with its persona row, personal space and membership.
func createPersona(ctx context.Context, tx pgx.Tx, now time.Time, cost int, in persona.PersonaInput) (string, error) {
	hash, err := persona.HashPassword(in.Password, cost)
	if err != nil {
		return "", err
	}
	id := uuid.NewString()
	name := in.Name
	if name == "" {
		name = localPart(in.Email)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO auth.users
		(id, email, name, email_verified, role, access_tier, kind, password_hash, created_at, updated_at)
		VALUES ($1, $2, $3, true, 'user', 'founder', 'persona', $4, $5, $5)`,
		id, in.Email, name, hash, now); err != nil {
		return "", err
	}
	if err := insertPersonaRow(ctx, tx, now, id, in); err != nil {
		return "", err
	}
	if err := ensurePersonalSpace(ctx, tx, now, id, in.Email, name); err != nil {
		return "", err
	}
	return id, nil
}

func insertPersonaRow(ctx context.Context, tx pgx.Tx, now time.Time, userID string, in persona.PersonaInput) error {
	cadence, tz := in.TickCadence, in.Timezone
	if cadence == "" {
		cadence = persona.Daily
	}
	if tz == "" {
		tz = "UTC"
	}
	mix, err := json.Marshal(in.ModuleMix)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO auth.personas
		(user_id, archetype, system_prompt, module_mix, tick_cadence, timezone, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`,
		userID, in.Archetype, in.SystemPrompt, mix, string(cadence), tz, now)
	return err
}

// ensurePersonalSpace gives the user a personal space (slug from the email, -2, -3, … on
// collision) with the user as owner, unless it has one.
func ensurePersonalSpace(ctx context.Context, tx pgx.Tx, now time.Time, userID, email, name string) error {
	var has bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth.members m JOIN auth.spaces s ON s.id = m.space_id
		WHERE m.user_id = $1 AND s.type = 'personal')`, userID).Scan(&has); err != nil {
		return err
	}
	if has {
		return nil
	}
	base := persona.SlugBase(email)
	spaceID := uuid.NewString()
	// ON CONFLICT DO NOTHING makes the slug search race-free: a slug taken by a concurrent
	// transaction simply moves us on to the next suffix.
	for n := 1; ; n++ {
		slug := base
		if n > 1 {
			slug = persona.SlugWithSuffix(base, n)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO auth.spaces (id, name, slug, type, created_at)
			VALUES ($1, $2, $3, 'personal', $4) ON CONFLICT (slug) DO NOTHING`, spaceID, name, slug, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			break
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO auth.members (space_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)`,
		spaceID, userID, now)
	return err
}

func localPart(email string) string {
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		return email[:i]
	}
	return email
}

// UpsertUser creates or updates a non-persona account.
func (db *DB) UpsertUser(ctx context.Context, in persona.UserInput) (persona.User, persona.Outcome, error) {
	if in.Kind == "" {
		in.Kind = persona.KindHuman
	}
	if in.Role == "" {
		in.Role = persona.RoleUser
	}
	if err := in.Validate(); err != nil {
		return persona.User{}, "", fmt.Errorf("upsert user: %w", err)
	}

	var u persona.User
	var out persona.Outcome
	for attempt := 0; ; attempt++ {
		err := db.inTx(ctx, func(tx pgx.Tx) error {
			var err error
			u, out, err = upsertUser(ctx, tx, db.clock(), db.passwordCost, in)
			return err
		})
		if err == nil {
			return u, out, nil
		}
		if !isUniqueViolation(err) || attempt >= 2 {
			return persona.User{}, "", fmt.Errorf("upsert user %q: %w", in.Email, err)
		}
	}
}

func upsertUser(ctx context.Context, tx pgx.Tx, now time.Time, cost int, in persona.UserInput) (persona.User, persona.Outcome, error) {
	u, err := scanUser(tx.QueryRow(ctx, `SELECT `+userCols+` FROM auth.users WHERE email = $1 FOR UPDATE`, in.Email))
	if errors.Is(err, pgx.ErrNoRows) {
		hash, err := persona.HashPassword(in.Password, cost)
		if err != nil {
			return persona.User{}, "", err
		}
		name := in.Name
		if name == "" {
			name = localPart(in.Email)
		}
		u = persona.User{ID: uuid.NewString(), Email: in.Email, Name: name, EmailVerified: true, Role: in.Role,
			AccessTier: persona.TierFounder, Kind: in.Kind, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
		if _, err := tx.Exec(ctx, `INSERT INTO auth.users
			(id, email, name, email_verified, role, access_tier, kind, password_hash, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`,
			u.ID, u.Email, u.Name, u.EmailVerified, string(u.Role), string(u.AccessTier), string(u.Kind), u.PasswordHash, now); err != nil {
			return persona.User{}, "", err
		}
		if err := ensurePersonalSpace(ctx, tx, now, u.ID, u.Email, u.Name); err != nil {
			return persona.User{}, "", err
		}
		return u, persona.Created, nil
	}
	if err != nil {
		return persona.User{}, "", err
	}
	if u.Kind != in.Kind {
		return persona.User{}, "", fmt.Errorf("email %s belongs to a %s user, not %s: %w", in.Email, u.Kind, in.Kind, persona.ErrConflict)
	}
	if u.DeletedAt != nil {
		return persona.User{}, "", fmt.Errorf("email %s belongs to a deleted user: %w", in.Email, persona.ErrConflict)
	}
	changed := false
	if in.Name != "" && in.Name != u.Name {
		u.Name, changed = in.Name, true
	}
	if in.Role != u.Role {
		u.Role, changed = in.Role, true
	}
	if !persona.CheckPassword(u.PasswordHash, in.Password) {
		if u.PasswordHash, err = persona.HashPassword(in.Password, cost); err != nil {
			return persona.User{}, "", err
		}
		changed = true
	}
	if !changed {
		return u, persona.Unchanged, nil
	}
	u.UpdatedAt = now
	if _, err := tx.Exec(ctx, `UPDATE auth.users SET name = $2, role = $3, password_hash = $4, updated_at = $5 WHERE id = $1`,
		u.ID, u.Name, string(u.Role), u.PasswordHash, now); err != nil {
		return persona.User{}, "", err
	}
	return u, persona.Updated, nil
}

// UpsertSpace creates or updates a shared space by slug with exactly the given members.
func (db *DB) UpsertSpace(ctx context.Context, in persona.SpaceInput) (string, persona.Outcome, error) {
	if err := in.Validate(); err != nil {
		return "", "", fmt.Errorf("upsert space %q: %w", in.Slug, err)
	}
	var id string
	var out persona.Outcome
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		id, out, _, err = upsertSpace(ctx, tx, db.clock(), in)
		return err
	})
	if err != nil {
		return "", "", fmt.Errorf("upsert space %q: %w", in.Slug, err)
	}
	return id, out, nil
}

// upsertSpace writes a valid space (its callers check the input before the transaction).
func upsertSpace(ctx context.Context, tx pgx.Tx, now time.Time, in persona.SpaceInput) (id string, out persona.Outcome, detail string, err error) {
	// Resolve member emails first so an unknown one fails before anything is written.
	memberIDs := make([]string, len(in.Members))
	var es persona.FieldErrors
	for i, email := range in.Members {
		err := tx.QueryRow(ctx, `SELECT id FROM auth.users WHERE email = $1 AND deleted_at IS NULL`, email).Scan(&memberIDs[i])
		if errors.Is(err, pgx.ErrNoRows) {
			es.Add(fmt.Sprintf("members[%d]", i), "no user with email %s", email)
			continue
		}
		if err != nil {
			return "", "", "", err
		}
	}
	if err := es.Err(); err != nil {
		return "", "", "", err
	}

	var curName, curType string
	err = tx.QueryRow(ctx, `SELECT id, name, type FROM auth.spaces WHERE slug = $1 FOR UPDATE`, in.Slug).Scan(&id, &curName, &curType)
	var changed []string
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		id, out = uuid.NewString(), persona.Created
		tag, err := tx.Exec(ctx, `INSERT INTO auth.spaces (id, name, slug, type, created_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (slug) DO NOTHING`, id, in.Name, in.Slug, string(in.Type), now)
		if err != nil {
			return "", "", "", err
		}
		if tag.RowsAffected() == 0 {
			return "", "", "", fmt.Errorf("slug %s was taken concurrently: %w", in.Slug, persona.ErrConflict)
		}
	case err != nil:
		return "", "", "", err
	case curType == string(persona.SpacePersonal):
		return "", "", "", fmt.Errorf("slug %s is a personal space: %w", in.Slug, persona.ErrConflict)
	default:
		out = persona.Unchanged
		if curName != in.Name {
			changed = append(changed, "name")
		}
		if curType != string(in.Type) {
			changed = append(changed, "type")
		}
		if len(changed) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE auth.spaces SET name = $2, type = $3 WHERE id = $1`, id, in.Name, string(in.Type)); err != nil {
				return "", "", "", err
			}
		}
	}

	// The first member owns the space, the others are members; a changed role counts as a change
	// of the members.
	roles := make([]string, len(memberIDs))
	for i := range roles {
		roles[i] = persona.MemberMember
	}
	roles[0] = persona.MemberOwner
	del, err := tx.Exec(ctx, `DELETE FROM auth.members WHERE space_id = $1 AND NOT (user_id = ANY($2))`, id, memberIDs)
	if err != nil {
		return "", "", "", err
	}
	ins, err := tx.Exec(ctx, `INSERT INTO auth.members (space_id, user_id, role, created_at)
		SELECT $1, u.id, u.role, $4 FROM unnest($2::text[], $3::text[]) AS u(id, role)
		ON CONFLICT (space_id, user_id) DO UPDATE SET role = excluded.role
		WHERE auth.members.role IS DISTINCT FROM excluded.role`, id, memberIDs, roles, now)
	if err != nil {
		return "", "", "", err
	}
	if del.RowsAffected() > 0 || ins.RowsAffected() > 0 {
		changed = append(changed, "members")
	}
	if out == persona.Created {
		return id, out, "", nil
	}
	if len(changed) > 0 {
		out = persona.Updated
	}
	return id, out, strings.Join(changed, ", "), nil
}

// ApplySeed upserts the plan's personas, then its spaces, in one transaction.
func (db *DB) ApplySeed(ctx context.Context, plan persona.SeedPlan, dryRun bool) ([]persona.SeedChange, error) {
	for i, in := range plan.Personas {
		if err := in.Validate(); err != nil {
			return nil, fmt.Errorf("apply seed: personas[%d] (%s): %w", i, in.Email, err)
		}
		if err := db.checkTimezone(ctx, in.Timezone); err != nil {
			return nil, fmt.Errorf("apply seed: personas[%d] (%s): %w", i, in.Email, err)
		}
	}
	for i, in := range plan.Spaces {
		if err := in.Validate(); err != nil {
			return nil, fmt.Errorf("apply seed: spaces[%d] (%s): %w", i, in.Slug, err)
		}
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("apply seed: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	now := db.clock()
	changes := make([]persona.SeedChange, 0, len(plan.Personas)+len(plan.Spaces))
	for i, in := range plan.Personas {
		_, out, detail, err := upsertPersona(ctx, tx, now, db.passwordCost, in)
		if err != nil {
			return nil, fmt.Errorf("apply seed: personas[%d] (%s): %w", i, in.Email, err)
		}
		changes = append(changes, persona.SeedChange{Kind: "persona", Key: in.Email, Outcome: out, Detail: detail})
	}
	for i, in := range plan.Spaces {
		_, out, detail, err := upsertSpace(ctx, tx, now, in)
		if err != nil {
			return nil, fmt.Errorf("apply seed: spaces[%d] (%s): %w", i, in.Slug, err)
		}
		changes = append(changes, persona.SeedChange{Kind: "space", Key: in.Slug, Outcome: out, Detail: detail})
	}
	if dryRun {
		return changes, nil // the deferred rollback discards everything
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("apply seed: commit: %w", err)
	}
	return changes, nil
}

// SpacesOfUser lists the user's spaces, personal first, then by name.
func (db *DB) SpacesOfUser(ctx context.Context, userID string) ([]persona.Space, error) {
	rows, err := db.pool.Query(ctx, `SELECT s.id, s.name, s.slug, s.type, s.created_at
		FROM auth.spaces s JOIN auth.members m ON m.space_id = s.id
		WHERE m.user_id = $1
		ORDER BY (s.type = 'personal') DESC, s.name, s.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("spaces of user %q: %w", userID, err)
	}
	spaces, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (persona.Space, error) {
		var s persona.Space
		var typ string
		err := r.Scan(&s.ID, &s.Name, &s.Slug, &typ, &s.CreatedAt)
		s.Type, s.CreatedAt = persona.SpaceType(typ), utc(s.CreatedAt)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("spaces of user %q: %w", userID, err)
	}
	return spaces, nil
}

// IsMember reports whether the user is a member of the space.
func (db *DB) IsMember(ctx context.Context, spaceID, userID string) (bool, error) {
	var ok bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth.members WHERE space_id = $1 AND user_id = $2)`,
		spaceID, userID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("is member: %w", err)
	}
	return ok, nil
}

// DeletePersona deletes the persona's user and everything of theirs. Rows that reference the user
// (persona, actions, feedback, ticks, sessions, memberships) go by ON DELETE CASCADE; the spaces
// no other user is a member of are deleted explicitly first, taking their app data with them.
func (db *DB) DeletePersona(ctx context.Context, userID string) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var kind, email string
		err := tx.QueryRow(ctx, `SELECT kind, email FROM auth.users WHERE id = $1 FOR UPDATE`, userID).Scan(&kind, &email)
		if errors.Is(err, pgx.ErrNoRows) {
			return persona.ErrNotFound
		}
		if err != nil {
			return err
		}
		if kind != string(persona.KindPersona) {
			return fmt.Errorf("user is %s: %w", kind, persona.ErrNotPersona)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM auth.spaces s
			WHERE EXISTS (SELECT 1 FROM auth.members m WHERE m.space_id = s.id AND m.user_id = $1)
			  AND NOT EXISTS (SELECT 1 FROM auth.members m WHERE m.space_id = s.id AND m.user_id <> $1)`, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM auth.users WHERE id = $1`, userID); err != nil {
			return err
		}
		// Login failures and locks are kept by email, not by user: they go explicitly, as on
		// SQLite, so a persona seeded again with the same email does not start out locked.
		if _, err := tx.Exec(ctx, `DELETE FROM auth.login_failures WHERE email = $1`, email); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM auth.login_locks WHERE email = $1`, email)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete persona %q: %w", userID, err)
	}
	return nil
}
