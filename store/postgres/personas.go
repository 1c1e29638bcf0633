package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/persona-runner/persona-runner/persona"
)

const personaCols = `p.user_id, u.email, u.name, p.archetype, p.system_prompt, p.module_mix, p.tick_cadence,
	p.timezone, p.last_active_at, p.created_at, p.next_due_at, COALESCE(p.lease_owner, ''), p.lease_expires_at,
	p.failure_count, p.last_error`

func scanPersona(row pgx.Row) (persona.Persona, error) {
	var p persona.Persona
	var cadence string
	err := row.Scan(&p.UserID, &p.Email, &p.Name, &p.Archetype, &p.SystemPrompt, &p.ModuleMix, &cadence,
		&p.Timezone, &p.LastActiveAt, &p.CreatedAt, &p.NextDueAt, &p.LeaseOwner, &p.LeaseExpiresAt,
		&p.FailureCount, &p.LastError)
	if err != nil {
		return persona.Persona{}, err
	}
	p.TickCadence = persona.Cadence(cadence)
	p.LastActiveAt, p.CreatedAt, p.NextDueAt = utcPtr(p.LastActiveAt), utc(p.CreatedAt), utcPtr(p.NextDueAt)
	p.LeaseExpiresAt = utcPtr(p.LeaseExpiresAt)
	return p, nil
}

// Persona returns a live persona by user id.
func (db *DB) Persona(ctx context.Context, userID string) (persona.Persona, error) {
	p, err := scanPersona(db.pool.QueryRow(ctx, `SELECT `+personaCols+`
		FROM auth.personas p JOIN auth.users u ON u.id = p.user_id
		WHERE p.user_id = $1 AND u.deleted_at IS NULL`, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return persona.Persona{}, fmt.Errorf("persona %q: %w", userID, persona.ErrNotFound)
	}
	if err != nil {
		return persona.Persona{}, fmt.Errorf("persona %q: %w", userID, err)
	}
	return p, nil
}

// PersonaByEmail returns a live persona by email.
func (db *DB) PersonaByEmail(ctx context.Context, email string) (persona.Persona, error) {
	p, err := scanPersona(db.pool.QueryRow(ctx, `SELECT `+personaCols+`
		FROM auth.personas p JOIN auth.users u ON u.id = p.user_id
		WHERE u.email = $1 AND u.deleted_at IS NULL`, email))
	if errors.Is(err, pgx.ErrNoRows) {
		return persona.Persona{}, fmt.Errorf("persona %q: %w", email, persona.ErrNotFound)
	}
	if err != nil {
		return persona.Persona{}, fmt.Errorf("persona %q: %w", email, err)
	}
	return p, nil
}

// ListPersonas lists live personas by email with their action count since actionsSince.
func (db *DB) ListPersonas(ctx context.Context, actionsSince time.Time) ([]persona.PersonaSummary, error) {
	rows, err := db.pool.Query(ctx, `SELECT p.user_id, u.email, u.name, p.archetype, p.tick_cadence, p.timezone,
			p.last_active_at, p.created_at, p.failure_count, p.last_error, p.next_due_at,
			(SELECT count(*) FROM auth.persona_actions a WHERE a.persona_id = p.user_id AND a.created_at >= $1)
		FROM auth.personas p JOIN auth.users u ON u.id = p.user_id
		WHERE u.kind = 'persona' AND u.deleted_at IS NULL
		ORDER BY u.email`, actionsSince)
	if err != nil {
		return nil, fmt.Errorf("list personas: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (persona.PersonaSummary, error) {
		var s persona.PersonaSummary
		var cadence string
		err := r.Scan(&s.UserID, &s.Email, &s.Name, &s.Archetype, &cadence, &s.Timezone, &s.LastActiveAt,
			&s.CreatedAt, &s.FailureCount, &s.LastError, &s.NextDueAt, &s.Actions7d)
		s.TickCadence = persona.Cadence(cadence)
		s.LastActiveAt, s.CreatedAt, s.NextDueAt = utcPtr(s.LastActiveAt), utc(s.CreatedAt), utcPtr(s.NextDueAt)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("list personas: %w", err)
	}
	return list, nil
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
