package postgres

import (
	"context"
	"errors"
	"fmt"

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

// SpacesOfUser lists the user's spaces, personal first, then by name.
func (db *DB) SpacesOfUser(ctx context.Context, userID string) ([]persona.Space, error) {
	rows, err := db.pool.Query(ctx, `SELECT s.id, s.name, s.slug, s.type, s.created_at
		FROM auth.spaces s JOIN auth.members m ON m.space_id = s.id
		WHERE m.user_id = $1
		ORDER BY (s.type = 'personal') DESC, s.name, s.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("spaces of user %q: %w", userID, err)
	}
	spaces, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (persona.Space, error) { return scanSpace(r) })
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

// AllSpaces lists every space by slug, at most limit of them (limit ≤ 0: all).
func (db *DB) AllSpaces(ctx context.Context, limit int) ([]persona.Space, error) {
	var max *int
	if limit > 0 {
		max = &limit
	}
	rows, err := db.pool.Query(ctx, `SELECT id, name, slug, type, created_at FROM auth.spaces ORDER BY slug LIMIT $1`, max)
	if err != nil {
		return nil, fmt.Errorf("list all spaces: %w", err)
	}
	spaces, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (persona.Space, error) { return scanSpace(r) })
	if err != nil {
		return nil, fmt.Errorf("list all spaces: %w", err)
	}
	if spaces == nil {
		spaces = []persona.Space{}
	}
	return spaces, nil
}

// Space returns the space with id; ErrNotFound when there is none.
func (db *DB) Space(ctx context.Context, id string) (persona.Space, error) {
	s, err := scanSpace(db.pool.QueryRow(ctx, `SELECT id, name, slug, type, created_at FROM auth.spaces WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
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
	tag, err := db.pool.Exec(ctx, `INSERT INTO auth.spaces (id, name, slug, type, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
		s.ID, s.Name, s.Slug, string(s.Type), db.clock())
	if err != nil {
		return false, fmt.Errorf("add space %q: %w", s.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

func scanSpace(row pgx.Row) (persona.Space, error) {
	var s persona.Space
	var typ string
	if err := row.Scan(&s.ID, &s.Name, &s.Slug, &typ, &s.CreatedAt); err != nil {
		return persona.Space{}, err
	}
	s.Type, s.CreatedAt = persona.SpaceType(typ), utc(s.CreatedAt)
	return s, nil
}
