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
		var (
			s       persona.Space
			typ     string
			created int64
		)
		if err := rows.Scan(&s.ID, &s.Name, &s.Slug, &typ, &created); err != nil {
			return nil, fmt.Errorf("list spaces of %q: %w", userID, err)
		}
		s.Type, s.CreatedAt = persona.SpaceType(typ), fromMicro(created)
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
