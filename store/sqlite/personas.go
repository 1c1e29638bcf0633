package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/persona-runner/persona-runner/persona"
)

// UpsertPersona creates or updates a persona by email.
func (db *DB) UpsertPersona(ctx context.Context, in persona.PersonaInput) (string, persona.Outcome, error) {
	if err := in.Validate(); err != nil {
		return "", "", fmt.Errorf("upsert persona %q: %w", in.Email, err)
	}
	pw, err := db.preparePassword(ctx, in.Email, in.Password)
	if err != nil {
		return "", "", fmt.Errorf("upsert persona %q: %w", in.Email, err)
	}
	var (
		id  string
		out persona.Outcome
	)
	err = db.write(ctx, func(t *tx) error {
		var err error
		id, out, _, err = upsertPersona(ctx, t, in, pw)
		return err
	})
	if err != nil {
		return "", "", fmt.Errorf("upsert persona %q: %w", in.Email, err)
	}
	return id, out, nil
}

// upsertPersona does the work of UpsertPersona inside t and also returns the changed fields.
func upsertPersona(ctx context.Context, t *tx, in persona.PersonaInput, pw passwordPlan) (string, persona.Outcome, []string, error) {
	mix, err := json.Marshal(in.ModuleMix)
	if err != nil {
		return "", "", nil, fmt.Errorf("encode moduleMix: %w", err)
	}
	var (
		id, kindOf, name, hash string
		deleted                sql.NullInt64
	)
	err = t.QueryRowContext(ctx, `SELECT id, kind, name, password_hash, deleted_at FROM users WHERE email = ?`, in.Email).
		Scan(&id, &kindOf, &name, &hash, &deleted)
	if errors.Is(err, sql.ErrNoRows) {
		hash, _, err := pw.resolve("", in.Password)
		if err != nil {
			return "", "", nil, err
		}
		id = uuid.NewString()
		name := in.Name
		if name == "" {
			name = localPart(in.Email)
		}
		if _, err := t.ExecContext(ctx, `INSERT INTO users (id, email, name, email_verified, role, access_tier, kind, password_hash, created_at, updated_at)
			VALUES (?, ?, ?, 1, 'user', 'founder', 'persona', ?, ?, ?)`,
			id, in.Email, name, hash, micro(t.now), micro(t.now)); err != nil {
			return "", "", nil, fmt.Errorf("insert user: %w", err)
		}
		if err := insertPersonaRow(ctx, t, id, in, mix); err != nil {
			return "", "", nil, err
		}
		if _, err := ensurePersonalSpace(ctx, t, id, in.Email, name); err != nil {
			return "", "", nil, err
		}
		return id, persona.Created, nil, nil
	}
	if err != nil {
		return "", "", nil, fmt.Errorf("find user: %w", err)
	}
	if persona.Kind(kindOf) != persona.KindPersona {
		return "", "", nil, fmt.Errorf("email belongs to a %s account, which is never turned into a persona: %w", kindOf, persona.ErrConflict)
	}

	var changed []string
	userChanged := false
	if deleted.Valid {
		changed, userChanged = append(changed, "restored"), true
	}
	if in.Name != "" && in.Name != name {
		name = in.Name
		changed, userChanged = append(changed, "name"), true
	}
	newHash, pwChanged, err := pw.resolve(hash, in.Password)
	if err != nil {
		return "", "", nil, err
	}
	if pwChanged {
		changed, userChanged = append(changed, "password"), true
	}
	if userChanged {
		if _, err := t.ExecContext(ctx, `UPDATE users SET name = ?, password_hash = ?, deleted_at = NULL, updated_at = ? WHERE id = ?`,
			name, newHash, micro(t.now), id); err != nil {
			return "", "", nil, fmt.Errorf("update user: %w", err)
		}
	}

	var (
		archetype, prompt, storedMix, cadence, tz string
	)
	err = t.QueryRowContext(ctx, `SELECT archetype, system_prompt, module_mix, tick_cadence, timezone FROM personas WHERE user_id = ?`, id).
		Scan(&archetype, &prompt, &storedMix, &cadence, &tz)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// A persona user without its persona row (an interrupted manual repair); recreate it.
		if err := insertPersonaRow(ctx, t, id, in, mix); err != nil {
			return "", "", nil, err
		}
		changed = append(changed, "persona")
	case err != nil:
		return "", "", nil, fmt.Errorf("read persona: %w", err)
	default:
		var rowChanged []string
		if in.Archetype != archetype {
			archetype, rowChanged = in.Archetype, append(rowChanged, "archetype")
		}
		if in.SystemPrompt != prompt {
			prompt, rowChanged = in.SystemPrompt, append(rowChanged, "systemPrompt")
		}
		var old persona.ModuleMix
		if json.Unmarshal([]byte(storedMix), &old) != nil || !maps.Equal(old, in.ModuleMix) {
			storedMix, rowChanged = string(mix), append(rowChanged, "moduleMix")
		}
		if in.TickCadence != "" && string(in.TickCadence) != cadence {
			cadence, rowChanged = string(in.TickCadence), append(rowChanged, "tickCadence")
		}
		if in.Timezone != "" && in.Timezone != tz {
			tz, rowChanged = in.Timezone, append(rowChanged, "timezone")
		}
		if len(rowChanged) > 0 {
			if _, err := t.ExecContext(ctx, `UPDATE personas SET archetype = ?, system_prompt = ?, module_mix = ?, tick_cadence = ?, timezone = ? WHERE user_id = ?`,
				archetype, prompt, storedMix, cadence, tz, id); err != nil {
				return "", "", nil, fmt.Errorf("update persona: %w", err)
			}
			changed = append(changed, rowChanged...)
		}
	}
	created, err := ensurePersonalSpace(ctx, t, id, in.Email, name)
	if err != nil {
		return "", "", nil, err
	}
	if created {
		changed = append(changed, "personalSpace")
	}
	if len(changed) == 0 {
		return id, persona.Unchanged, nil, nil
	}
	return id, persona.Updated, changed, nil
}

func insertPersonaRow(ctx context.Context, t *tx, id string, in persona.PersonaInput, mix []byte) error {
	cadence, tz := in.TickCadence, in.Timezone
	if cadence == "" {
		cadence = persona.Daily
	}
	if tz == "" {
		tz = "UTC"
	}
	if _, err := t.ExecContext(ctx, `INSERT INTO personas (user_id, archetype, system_prompt, module_mix, tick_cadence, timezone, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, id, in.Archetype, in.SystemPrompt, string(mix), string(cadence), tz, micro(t.now)); err != nil {
		return fmt.Errorf("insert persona: %w", err)
	}
	return nil
}

// UpsertSpace creates or updates a shared space by slug.
func (db *DB) UpsertSpace(ctx context.Context, in persona.SpaceInput) (string, persona.Outcome, error) {
	if err := in.Validate(); err != nil {
		return "", "", fmt.Errorf("upsert space %q: %w", in.Slug, err)
	}
	var (
		id  string
		out persona.Outcome
	)
	err := db.write(ctx, func(t *tx) error {
		var err error
		id, out, _, err = upsertSpace(ctx, t, in)
		return err
	})
	if err != nil {
		return "", "", fmt.Errorf("upsert space %q: %w", in.Slug, err)
	}
	return id, out, nil
}

// upsertSpace sets the space's name, type and members (the first listed is the owner).
func upsertSpace(ctx context.Context, t *tx, in persona.SpaceInput) (string, persona.Outcome, []string, error) {
	want := make(map[string]string, len(in.Members)) // user id → role
	var es persona.FieldErrors
	for i, email := range in.Members {
		var uid string
		err := t.QueryRowContext(ctx, `SELECT id FROM users WHERE email = ? AND deleted_at IS NULL`, email).Scan(&uid)
		if errors.Is(err, sql.ErrNoRows) {
			es.Add(fmt.Sprintf("members[%d]", i), "no user with email %q", email)
			continue
		}
		if err != nil {
			return "", "", nil, fmt.Errorf("find member %q: %w", email, err)
		}
		want[uid] = persona.MemberMember
		if i == 0 {
			want[uid] = persona.MemberOwner
		}
	}
	if err := es.Err(); err != nil {
		return "", "", nil, err
	}

	var id, name, typ string
	err := t.QueryRowContext(ctx, `SELECT id, name, type FROM spaces WHERE slug = ?`, in.Slug).Scan(&id, &name, &typ)
	out := persona.Updated
	var changed []string
	switch {
	case errors.Is(err, sql.ErrNoRows):
		id, out = uuid.NewString(), persona.Created
		if _, err := t.ExecContext(ctx, `INSERT INTO spaces (id, name, slug, type, created_at) VALUES (?, ?, ?, ?, ?)`,
			id, in.Name, in.Slug, string(in.Type), micro(t.now)); err != nil {
			return "", "", nil, fmt.Errorf("insert space: %w", err)
		}
	case err != nil:
		return "", "", nil, fmt.Errorf("find space: %w", err)
	case typ == string(persona.SpacePersonal):
		return "", "", nil, fmt.Errorf("slug is taken by a personal space: %w", persona.ErrConflict)
	default:
		if name != in.Name {
			changed = append(changed, "name")
		}
		if typ != string(in.Type) {
			changed = append(changed, "type")
		}
		if len(changed) > 0 {
			if _, err := t.ExecContext(ctx, `UPDATE spaces SET name = ?, type = ? WHERE id = ?`, in.Name, string(in.Type), id); err != nil {
				return "", "", nil, fmt.Errorf("update space: %w", err)
			}
		}
	}

	have := map[string]string{}
	rows, err := t.QueryContext(ctx, `SELECT user_id, role FROM members WHERE space_id = ?`, id)
	if err != nil {
		return "", "", nil, fmt.Errorf("read members: %w", err)
	}
	for rows.Next() {
		var uid, role string
		if err := rows.Scan(&uid, &role); err != nil {
			rows.Close()
			return "", "", nil, fmt.Errorf("read members: %w", err)
		}
		have[uid] = role
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", "", nil, fmt.Errorf("read members: %w", err)
	}
	if !maps.Equal(have, want) {
		changed = append(changed, "members")
		for uid := range have {
			if _, ok := want[uid]; !ok {
				if _, err := t.ExecContext(ctx, `DELETE FROM members WHERE space_id = ? AND user_id = ?`, id, uid); err != nil {
					return "", "", nil, fmt.Errorf("remove member: %w", err)
				}
			}
		}
		for uid, role := range want {
			if _, err := t.ExecContext(ctx, `INSERT INTO members (space_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (space_id, user_id) DO UPDATE SET role = excluded.role`, id, uid, role, micro(t.now)); err != nil {
				return "", "", nil, fmt.Errorf("add member: %w", err)
			}
		}
	}
	if out == persona.Created {
		return id, out, nil, nil
	}
	if len(changed) == 0 {
		return id, persona.Unchanged, nil, nil
	}
	return id, persona.Updated, changed, nil
}

// ApplySeed upserts a whole plan in one transaction (rolled back for a dry run or on error).
func (db *DB) ApplySeed(ctx context.Context, plan persona.SeedPlan, dryRun bool) ([]persona.SeedChange, error) {
	pws := make([]passwordPlan, len(plan.Personas))
	for i, in := range plan.Personas {
		if err := in.Validate(); err != nil {
			return nil, fmt.Errorf("apply seed: persona %q: %w", in.Email, err)
		}
		pw, err := db.preparePassword(ctx, in.Email, in.Password)
		if err != nil {
			return nil, fmt.Errorf("apply seed: persona %q: %w", in.Email, err)
		}
		pws[i] = pw
	}
	for _, in := range plan.Spaces {
		if err := in.Validate(); err != nil {
			return nil, fmt.Errorf("apply seed: space %q: %w", in.Slug, err)
		}
	}
	var changes []persona.SeedChange
	errDryRun := errors.New("dry run")
	err := db.write(ctx, func(t *tx) error {
		for i, in := range plan.Personas {
			_, out, changed, err := upsertPersona(ctx, t, in, pws[i])
			if err != nil {
				return fmt.Errorf("persona %q: %w", in.Email, err)
			}
			changes = append(changes, persona.SeedChange{Kind: "persona", Key: in.Email, Outcome: out, Detail: strings.Join(changed, ", ")})
		}
		for _, in := range plan.Spaces {
			_, out, changed, err := upsertSpace(ctx, t, in)
			if err != nil {
				return fmt.Errorf("space %q: %w", in.Slug, err)
			}
			changes = append(changes, persona.SeedChange{Kind: "space", Key: in.Slug, Outcome: out, Detail: strings.Join(changed, ", ")})
		}
		if dryRun {
			return errDryRun
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDryRun) {
		return nil, fmt.Errorf("apply seed: %w", err)
	}
	return changes, nil
}

const personaCols = `p.user_id, u.email, u.name, p.archetype, p.system_prompt, p.module_mix, p.tick_cadence, p.timezone,
	p.last_active_at, p.created_at, p.next_due_at, COALESCE(p.lease_owner, ''), p.lease_expires_at, p.failure_count, p.last_error`

func scanPersona(row scanner) (persona.Persona, error) {
	var (
		p                    persona.Persona
		mix, cadence         string
		last, next, leaseExp sql.NullInt64
		created              int64
	)
	err := row.Scan(&p.UserID, &p.Email, &p.Name, &p.Archetype, &p.SystemPrompt, &mix, &cadence, &p.Timezone,
		&last, &created, &next, &p.LeaseOwner, &leaseExp, &p.FailureCount, &p.LastError)
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal([]byte(mix), &p.ModuleMix); err != nil {
		return p, fmt.Errorf("decode module_mix of %s: %w", p.UserID, err)
	}
	p.TickCadence = persona.Cadence(cadence)
	p.LastActiveAt, p.NextDueAt, p.LeaseExpiresAt = ptrTime(last), ptrTime(next), ptrTime(leaseExp)
	p.CreatedAt = fromMicro(created)
	return p, nil
}

// Persona returns a live persona by user id.
func (db *DB) Persona(ctx context.Context, userID string) (persona.Persona, error) {
	p, err := scanPersona(db.r.QueryRowContext(ctx, `SELECT `+personaCols+` FROM personas p JOIN users u ON u.id = p.user_id
		WHERE p.user_id = ? AND u.deleted_at IS NULL AND u.kind = 'persona'`, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("persona %q: %w", userID, persona.ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("get persona %q: %w", userID, err)
	}
	return p, nil
}

// PersonaByEmail returns a live persona by email.
func (db *DB) PersonaByEmail(ctx context.Context, email string) (persona.Persona, error) {
	p, err := scanPersona(db.r.QueryRowContext(ctx, `SELECT `+personaCols+` FROM personas p JOIN users u ON u.id = p.user_id
		WHERE u.email = ? AND u.deleted_at IS NULL AND u.kind = 'persona'`, email))
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("persona %q: %w", email, persona.ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("get persona %q: %w", email, err)
	}
	return p, nil
}

// ListPersonas lists live personas by email with their action count since actionsSince.
func (db *DB) ListPersonas(ctx context.Context, actionsSince time.Time) ([]persona.PersonaSummary, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+personaCols+`,
		(SELECT count(*) FROM persona_actions a WHERE a.persona_id = p.user_id AND a.created_at >= ?)
		FROM personas p JOIN users u ON u.id = p.user_id
		WHERE u.deleted_at IS NULL AND u.kind = 'persona'
		ORDER BY u.email`, micro(actionsSince))
	if err != nil {
		return nil, fmt.Errorf("list personas: %w", err)
	}
	defer rows.Close()
	var out []persona.PersonaSummary
	for rows.Next() {
		var n int
		p, err := scanPersona(scanFunc(func(dest ...any) error { return rows.Scan(append(dest, &n)...) }))
		if err != nil {
			return nil, fmt.Errorf("list personas: %w", err)
		}
		out = append(out, persona.PersonaSummary{
			UserID: p.UserID, Email: p.Email, Name: p.Name, Archetype: p.Archetype, TickCadence: p.TickCadence,
			Timezone: p.Timezone, LastActiveAt: p.LastActiveAt, CreatedAt: p.CreatedAt, Actions7d: n,
			FailureCount: p.FailureCount, LastError: p.LastError, NextDueAt: p.NextDueAt,
		})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list personas: %w", err)
	}
	return out, nil
}

type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// DeletePersona deletes a persona's user and everything of theirs.
func (db *DB) DeletePersona(ctx context.Context, userID string) error {
	err := db.write(ctx, func(t *tx) error {
		var kindOf, email string
		err := t.QueryRowContext(ctx, `SELECT kind, email FROM users WHERE id = ?`, userID).Scan(&kindOf, &email)
		if errors.Is(err, sql.ErrNoRows) {
			return persona.ErrNotFound
		}
		if err != nil {
			return err
		}
		if persona.Kind(kindOf) != persona.KindPersona {
			return fmt.Errorf("user is a %s: %w", kindOf, persona.ErrNotPersona)
		}
		// Spaces the persona alone belongs to go with it (and app data with them, by foreign key);
		// shared spaces stay for their other members.
		if _, err := t.ExecContext(ctx, `DELETE FROM spaces WHERE id IN (
				SELECT m.space_id FROM members m WHERE m.user_id = ?1
				AND NOT EXISTS (SELECT 1 FROM members o WHERE o.space_id = m.space_id AND o.user_id <> ?1))`, userID); err != nil {
			return fmt.Errorf("delete spaces: %w", err)
		}
		// The user row cascades to the persona row, its actions, feedback and ticks, sessions and
		// memberships.
		if _, err := t.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, userID); err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		if _, err := t.ExecContext(ctx, `DELETE FROM login_failures WHERE email = ?`, email); err != nil {
			return fmt.Errorf("delete login failures: %w", err)
		}
		if _, err := t.ExecContext(ctx, `DELETE FROM login_locks WHERE email = ?`, email); err != nil {
			return fmt.Errorf("delete login lock: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete persona %q: %w", userID, err)
	}
	return nil
}
