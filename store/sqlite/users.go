package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/persona-runner/persona-runner/persona"
)

const userCols = `id, email, name, email_verified, role, access_tier, kind, password_hash, deleted_at, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

func scanUser(row scanner) (persona.User, error) {
	var (
		u                  persona.User
		verified           int
		deleted            sql.NullInt64
		created, updated   int64
		role, tier, kindOf string
	)
	err := row.Scan(&u.ID, &u.Email, &u.Name, &verified, &role, &tier, &kindOf, &u.PasswordHash, &deleted, &created, &updated)
	if err != nil {
		return u, err
	}
	u.EmailVerified = verified == 1
	u.Role, u.AccessTier, u.Kind = persona.Role(role), persona.Tier(tier), persona.Kind(kindOf)
	u.DeletedAt = ptrTime(deleted)
	u.CreatedAt, u.UpdatedAt = fromMicro(created), fromMicro(updated)
	return u, nil
}

// User returns a live user by id.
func (db *DB) User(ctx context.Context, id string) (persona.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ? AND deleted_at IS NULL`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %q: %w", id, persona.ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("get user %q: %w", id, err)
	}
	return u, nil
}

// UserByEmail returns a live user by exact email.
func (db *DB) UserByEmail(ctx context.Context, email string) (persona.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE email = ? AND deleted_at IS NULL`, email))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %q: %w", email, persona.ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("get user %q: %w", email, err)
	}
	return u, nil
}

// SpacesOfUser lists the user's spaces, personal first, then by name.
func (db *DB) SpacesOfUser(ctx context.Context, userID string) ([]persona.Space, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT s.id, s.name, s.slug, s.type, s.created_at
		FROM spaces s JOIN members m ON m.space_id = s.id
		WHERE m.user_id = ?
		ORDER BY s.type <> 'personal', s.name, s.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list spaces of %q: %w", userID, err)
	}
	defer rows.Close()
	var out []persona.Space
	for rows.Next() {
		s, err := scanSpace(rows)
		if err != nil {
			return nil, fmt.Errorf("list spaces of %q: %w", userID, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list spaces of %q: %w", userID, err)
	}
	return out, nil
}

// IsMember reports whether the user is a member of the space.
func (db *DB) IsMember(ctx context.Context, spaceID, userID string) (bool, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM members WHERE space_id = ? AND user_id = ?`, spaceID, userID).Scan(&n); err != nil {
		return false, fmt.Errorf("check membership: %w", err)
	}
	return n > 0, nil
}

// AllSpaces lists every space by slug, at most limit of them (limit ≤ 0: all).
func (db *DB) AllSpaces(ctx context.Context, limit int) ([]persona.Space, error) {
	if limit <= 0 {
		limit = -1 // SQLite's LIMIT -1 is no limit
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id, name, slug, type, created_at FROM spaces ORDER BY slug LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list all spaces: %w", err)
	}
	defer rows.Close()
	out := []persona.Space{}
	for rows.Next() {
		s, err := scanSpace(rows)
		if err != nil {
			return nil, fmt.Errorf("list all spaces: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list all spaces: %w", err)
	}
	return out, nil
}

// Space returns the space with id; ErrNotFound when there is none.
func (db *DB) Space(ctx context.Context, id string) (persona.Space, error) {
	s, err := scanSpace(db.r.QueryRowContext(ctx, `SELECT id, name, slug, type, created_at FROM spaces WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return persona.Space{}, fmt.Errorf("space %q: %w", id, persona.ErrNotFound)
	}
	if err != nil {
		return persona.Space{}, fmt.Errorf("space %q: %w", id, err)
	}
	return s, nil
}

// AddSpace stores s, without members, created now, unless a space with its id or its slug exists:
// then nothing is written and it returns false.
func (db *DB) AddSpace(ctx context.Context, s persona.Space) (bool, error) {
	var added bool
	err := db.write(ctx, func(t *tx) error {
		res, err := t.ExecContext(ctx, `INSERT INTO spaces (id, name, slug, type, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			s.ID, s.Name, s.Slug, string(s.Type), micro(t.now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		added = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("add space %q: %w", s.ID, err)
	}
	return added, nil
}

func scanSpace(row scanner) (persona.Space, error) {
	var (
		s       persona.Space
		typ     string
		created int64
	)
	if err := row.Scan(&s.ID, &s.Name, &s.Slug, &typ, &created); err != nil {
		return persona.Space{}, err
	}
	s.Type, s.CreatedAt = persona.SpaceType(typ), fromMicro(created)
	return s, nil
}
