package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/persona-runner/persona-runner/persona"
)

// signingKeyLockID serialises EnsureSigningKey across replicas that start at the same moment.
const signingKeyLockID int64 = 0x70657273_6f6e6b31 // "personk1"

// CreateSession stores a session (only the token's hash).
func (db *DB) CreateSession(ctx context.Context, s persona.Session) error {
	var es persona.FieldErrors
	if s.ID == "" {
		es.Add("id", "is required")
	}
	if s.UserID == "" {
		es.Add("userId", "is required")
	}
	if s.TokenHash == "" {
		es.Add("tokenHash", "is required")
	}
	if err := es.Err(); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO auth.sessions (id, user_id, token_hash, expires_at, created_at)
		VALUES ($1, $2, $3, $4, $5)`, s.ID, s.UserID, s.TokenHash, s.ExpiresAt, orNow(s.CreatedAt, db.clock()))
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// SessionByTokenHash finds an unexpired session by the hash of its token.
func (db *DB) SessionByTokenHash(ctx context.Context, tokenHash string) (persona.Session, error) {
	var s persona.Session
	err := db.pool.QueryRow(ctx, `SELECT id, user_id, token_hash, expires_at, created_at FROM auth.sessions
		WHERE token_hash = $1 AND expires_at > $2`, tokenHash, db.clock()).
		Scan(&s.ID, &s.UserID, &s.TokenHash, &s.ExpiresAt, &s.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return persona.Session{}, fmt.Errorf("session: %w", persona.ErrNotFound)
	}
	if err != nil {
		return persona.Session{}, fmt.Errorf("session: %w", err)
	}
	s.ExpiresAt, s.CreatedAt = utc(s.ExpiresAt), utc(s.CreatedAt)
	return s, nil
}

// DeleteSession removes a session; deleting an absent one is not an error.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM auth.sessions WHERE id = $1`, id); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// EnsureSigningKey stores candidate unless a key exists and returns the newest key. A transaction
// advisory lock makes replicas starting together agree on one key.
func (db *DB) EnsureSigningKey(ctx context.Context, candidate persona.SigningKey) (persona.SigningKey, error) {
	var key persona.SigningKey
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, signingKeyLockID); err != nil {
			return err
		}
		keys, err := signingKeys(ctx, tx, 1)
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			key = keys[0]
			return nil
		}
		if candidate.ID == "" || len(candidate.PrivateKey) == 0 || len(candidate.PublicKey) == 0 {
			return &persona.FieldError{Field: "signingKey", Message: "needs an id, a private and a public key"}
		}
		candidate.CreatedAt = orNow(candidate.CreatedAt, db.clock()).UTC()
		if _, err := tx.Exec(ctx, `INSERT INTO auth.signing_keys (id, algorithm, private_key, public_key, created_at)
			VALUES ($1, $2, $3, $4, $5)`, candidate.ID, candidate.Algorithm, candidate.PrivateKey, candidate.PublicKey,
			candidate.CreatedAt); err != nil {
			return err
		}
		key = candidate
		return nil
	})
	if err != nil {
		return persona.SigningKey{}, fmt.Errorf("ensure signing key: %w", err)
	}
	return key, nil
}

// SigningKeys lists every stored key, newest first.
func (db *DB) SigningKeys(ctx context.Context) ([]persona.SigningKey, error) {
	keys, err := signingKeys(ctx, db.pool, 0)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return keys, nil
}

func signingKeys(ctx context.Context, q querier, limit int) ([]persona.SigningKey, error) {
	rows, err := q.Query(ctx, `SELECT id, algorithm, private_key, public_key, created_at FROM auth.signing_keys
		ORDER BY created_at DESC, id DESC LIMIT $1`, limitArg(limit))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (persona.SigningKey, error) {
		var k persona.SigningKey
		err := r.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &k.PublicKey, &k.CreatedAt)
		k.CreatedAt = utc(k.CreatedAt)
		return k, err
	})
}

// RecordLoginFailure records one failed login and locks the account when the failures inside the
// policy window reach the maximum.
func (db *DB) RecordLoginFailure(ctx context.Context, email string, p persona.LockoutPolicy) (time.Time, error) {
	now := db.clock()
	var lockedUntil time.Time
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		// Serialise the failures of one email so two concurrent attempts both count.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "login:"+email); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM auth.login_failures WHERE email = $1 AND failed_at <= $2`,
			email, now.Add(-p.Window)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO auth.login_failures (email, failed_at) VALUES ($1, $2)`, email, now); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM auth.login_failures WHERE email = $1`, email).Scan(&n); err != nil {
			return err
		}
		if p.MaxFailures > 0 && n >= p.MaxFailures {
			lockedUntil = now.Add(p.LockFor)
			_, err := tx.Exec(ctx, `INSERT INTO auth.login_locks (email, locked_until) VALUES ($1, $2)
				ON CONFLICT (email) DO UPDATE SET locked_until = greatest(auth.login_locks.locked_until, excluded.locked_until)`,
				email, lockedUntil)
			if err != nil {
				return err
			}
			return tx.QueryRow(ctx, `SELECT locked_until FROM auth.login_locks WHERE email = $1`, email).Scan(&lockedUntil)
		}
		err := tx.QueryRow(ctx, `SELECT locked_until FROM auth.login_locks WHERE email = $1 AND locked_until > $2`,
			email, now).Scan(&lockedUntil)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("record login failure: %w", err)
	}
	if lockedUntil.IsZero() {
		return time.Time{}, nil
	}
	return lockedUntil.UTC(), nil
}

// LoginLockedUntil returns the end of the account's current lock, or zero.
func (db *DB) LoginLockedUntil(ctx context.Context, email string) (time.Time, error) {
	var until time.Time
	err := db.pool.QueryRow(ctx, `SELECT locked_until FROM auth.login_locks WHERE email = $1 AND locked_until > $2`,
		email, db.clock()).Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("login locked until: %w", err)
	}
	return until.UTC(), nil
}

// ResetLoginFailures forgets the failures and any lock of email.
func (db *DB) ResetLoginFailures(ctx context.Context, email string) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM auth.login_failures WHERE email = $1`, email); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM auth.login_locks WHERE email = $1`, email)
		return err
	})
	if err != nil {
		return fmt.Errorf("reset login failures: %w", err)
	}
	return nil
}
