package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/persona-runner/persona-runner/persona"
)

// CreateSession stores a session (an empty ID gets a new one, an empty CreatedAt now).
func (db *DB) CreateSession(ctx context.Context, s persona.Session) error {
	var es persona.FieldErrors
	if s.UserID == "" {
		es.Add("userId", "is required")
	}
	if s.TokenHash == "" {
		es.Add("tokenHash", "is required")
	}
	if s.ExpiresAt.IsZero() {
		es.Add("expiresAt", "is required")
	}
	if err := es.Err(); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	err := db.write(ctx, func(t *tx) error {
		if s.ID == "" {
			s.ID = uuid.NewString()
		}
		if s.CreatedAt.IsZero() {
			s.CreatedAt = t.now
		}
		var n int
		if err := t.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE id = ? AND deleted_at IS NULL`, s.UserID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("user %q: %w", s.UserID, persona.ErrNotFound)
		}
		_, err := t.ExecContext(ctx, `INSERT INTO sessions (id, user_id, token_hash, expires_at, created_at) VALUES (?, ?, ?, ?, ?)`,
			s.ID, s.UserID, s.TokenHash, micro(s.ExpiresAt), micro(s.CreatedAt))
		if err != nil && strings.Contains(err.Error(), "UNIQUE") {
			return fmt.Errorf("session exists: %w", persona.ErrConflict)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// SessionByTokenHash finds an unexpired session of a live user.
func (db *DB) SessionByTokenHash(ctx context.Context, tokenHash string) (persona.Session, error) {
	var (
		s                persona.Session
		expires, created int64
	)
	err := db.r.QueryRowContext(ctx, `SELECT s.id, s.user_id, s.token_hash, s.expires_at, s.created_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = ? AND s.expires_at > ? AND u.deleted_at IS NULL`, tokenHash, micro(db.clock())).
		Scan(&s.ID, &s.UserID, &s.TokenHash, &expires, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("session: %w", persona.ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("get session: %w", err)
	}
	s.ExpiresAt, s.CreatedAt = fromMicro(expires), fromMicro(created)
	return s, nil
}

// DeleteSession removes a session; no error when it is absent.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	err := db.write(ctx, func(t *tx) error {
		_, err := t.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

const keyCols = `id, algorithm, private_key, public_key, created_at`

func scanKey(row scanner) (persona.SigningKey, error) {
	var (
		k       persona.SigningKey
		created int64
	)
	if err := row.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &k.PublicKey, &created); err != nil {
		return k, err
	}
	k.CreatedAt = fromMicro(created)
	return k, nil
}

// EnsureSigningKey stores candidate unless a key exists and returns the newest key. The check
// and the insert share one write transaction, so concurrent callers all get the same key.
func (db *DB) EnsureSigningKey(ctx context.Context, candidate persona.SigningKey) (persona.SigningKey, error) {
	var es persona.FieldErrors
	if candidate.ID == "" {
		es.Add("id", "is required")
	}
	if candidate.Algorithm == "" {
		es.Add("algorithm", "is required")
	}
	if len(candidate.PrivateKey) == 0 || len(candidate.PublicKey) == 0 {
		es.Add("keys", "private and public key are required")
	}
	if err := es.Err(); err != nil {
		return persona.SigningKey{}, fmt.Errorf("ensure signing key: %w", err)
	}
	var out persona.SigningKey
	err := db.write(ctx, func(t *tx) error {
		k, err := scanKey(t.QueryRowContext(ctx, `SELECT `+keyCols+` FROM signing_keys ORDER BY created_at DESC, id DESC LIMIT 1`))
		if err == nil {
			out = k
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if candidate.CreatedAt.IsZero() {
			candidate.CreatedAt = t.now
		}
		candidate.CreatedAt = candidate.CreatedAt.UTC().Truncate(time.Microsecond)
		if _, err := t.ExecContext(ctx, `INSERT INTO signing_keys (`+keyCols+`) VALUES (?, ?, ?, ?, ?)`,
			candidate.ID, candidate.Algorithm, candidate.PrivateKey, candidate.PublicKey, micro(candidate.CreatedAt)); err != nil {
			return err
		}
		out = candidate
		return nil
	})
	if err != nil {
		return persona.SigningKey{}, fmt.Errorf("ensure signing key: %w", err)
	}
	return out, nil
}

// SigningKeys lists every stored key, newest first.
func (db *DB) SigningKeys(ctx context.Context) ([]persona.SigningKey, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+keyCols+` FROM signing_keys ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	defer rows.Close()
	var out []persona.SigningKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list signing keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	return out, nil
}

// RecordLoginFailure counts a failed login and locks the account when the policy says so.
func (db *DB) RecordLoginFailure(ctx context.Context, email string, p persona.LockoutPolicy) (time.Time, error) {
	var until time.Time
	err := db.write(ctx, func(t *tx) error {
		var locked int64
		err := t.QueryRowContext(ctx, `SELECT locked_until FROM login_locks WHERE email = ? AND locked_until > ?`, email, micro(t.now)).Scan(&locked)
		if err == nil {
			// Already locked: the lock stands as it is; failures during it do not extend it.
			until = fromMicro(locked)
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := t.ExecContext(ctx, `DELETE FROM login_failures WHERE email = ? AND failed_at <= ?`, email, micro(t.now.Add(-p.Window))); err != nil {
			return err
		}
		if _, err := t.ExecContext(ctx, `INSERT INTO login_failures (email, failed_at) VALUES (?, ?)`, email, micro(t.now)); err != nil {
			return err
		}
		var n int
		if err := t.QueryRowContext(ctx, `SELECT count(*) FROM login_failures WHERE email = ?`, email).Scan(&n); err != nil {
			return err
		}
		if p.MaxFailures <= 0 || n < p.MaxFailures {
			return nil
		}
		until = t.now.Add(p.LockFor)
		if _, err := t.ExecContext(ctx, `INSERT INTO login_locks (email, locked_until) VALUES (?, ?)
			ON CONFLICT (email) DO UPDATE SET locked_until = excluded.locked_until`, email, micro(until)); err != nil {
			return err
		}
		// The count starts afresh once the lock ends.
		_, err = t.ExecContext(ctx, `DELETE FROM login_failures WHERE email = ?`, email)
		return err
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("record login failure: %w", err)
	}
	return until, nil
}

// LoginLockedUntil returns the end of a current lock, or zero.
func (db *DB) LoginLockedUntil(ctx context.Context, email string) (time.Time, error) {
	var locked int64
	err := db.r.QueryRowContext(ctx, `SELECT locked_until FROM login_locks WHERE email = ? AND locked_until > ?`, email, micro(db.clock())).Scan(&locked)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read login lock: %w", err)
	}
	return fromMicro(locked), nil
}

// ResetLoginFailures forgets the failures (and any lock) of email.
func (db *DB) ResetLoginFailures(ctx context.Context, email string) error {
	err := db.write(ctx, func(t *tx) error {
		if _, err := t.ExecContext(ctx, `DELETE FROM login_failures WHERE email = ?`, email); err != nil {
			return err
		}
		_, err := t.ExecContext(ctx, `DELETE FROM login_locks WHERE email = ?`, email)
		return err
	})
	if err != nil {
		return fmt.Errorf("reset login failures: %w", err)
	}
	return nil
}
