package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

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
