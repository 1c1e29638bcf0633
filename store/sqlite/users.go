package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

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

func validateUserInput(in *persona.UserInput) error {
	if err := in.Validate(); err != nil {
		return err
	}
	if in.Role == "" {
		in.Role = persona.RoleUser
	}
	if in.Kind == "" {
		in.Kind = persona.KindHuman
	}
	return nil
}

// UpsertUser creates or updates a non-persona account.
func (db *DB) UpsertUser(ctx context.Context, in persona.UserInput) (persona.User, persona.Outcome, error) {
	if err := validateUserInput(&in); err != nil {
		return persona.User{}, "", fmt.Errorf("upsert user %q: %w", in.Email, err)
	}
	pw, err := db.preparePassword(ctx, in.Email, in.Password)
	if err != nil {
		return persona.User{}, "", fmt.Errorf("upsert user %q: %w", in.Email, err)
	}
	var (
		user persona.User
		out  persona.Outcome
	)
	err = db.write(ctx, func(t *tx) error {
		var (
			id, kindOf, name, role, hash string
			deleted                      sql.NullInt64
		)
		err := t.QueryRowContext(ctx, `SELECT id, kind, name, role, password_hash, deleted_at FROM users WHERE email = ?`, in.Email).
			Scan(&id, &kindOf, &name, &role, &hash, &deleted)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			hash, _, err := pw.resolve("", in.Password)
			if err != nil {
				return err
			}
			id = uuid.NewString()
			name := in.Name
			if name == "" {
				name = localPart(in.Email)
			}
			if _, err := t.ExecContext(ctx, `INSERT INTO users (id, email, name, email_verified, role, access_tier, kind, password_hash, created_at, updated_at)
				VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?)`,
				id, in.Email, name, string(in.Role), string(persona.TierFounder), string(in.Kind), hash, micro(t.now), micro(t.now)); err != nil {
				return fmt.Errorf("insert user: %w", err)
			}
			if _, err := ensurePersonalSpace(ctx, t, id, in.Email, name); err != nil {
				return err
			}
			out = persona.Created
		case err != nil:
			return fmt.Errorf("find user: %w", err)
		default:
			if persona.Kind(kindOf) != in.Kind {
				return fmt.Errorf("email belongs to a %s account, not a %s one: %w", kindOf, in.Kind, persona.ErrConflict)
			}
			var changed []string
			if deleted.Valid {
				changed = append(changed, "restored")
			}
			if in.Name != "" && in.Name != name {
				name = in.Name
				changed = append(changed, "name")
			}
			if string(in.Role) != role {
				role = string(in.Role)
				changed = append(changed, "role")
			}
			newHash, pwChanged, err := pw.resolve(hash, in.Password)
			if err != nil {
				return err
			}
			if pwChanged {
				changed = append(changed, "password")
			}
			out = persona.Unchanged
			if len(changed) > 0 {
				out = persona.Updated
				if _, err := t.ExecContext(ctx, `UPDATE users SET name = ?, role = ?, password_hash = ?, deleted_at = NULL, updated_at = ? WHERE id = ?`,
					name, role, newHash, micro(t.now), id); err != nil {
					return fmt.Errorf("update user: %w", err)
				}
			}
			created, err := ensurePersonalSpace(ctx, t, id, in.Email, name)
			if err != nil {
				return err
			}
			if created {
				out = persona.Updated
			}
		}
		user, err = scanUser(t.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
		return err
	})
	if err != nil {
		return persona.User{}, "", fmt.Errorf("upsert user %q: %w", in.Email, err)
	}
	return user, out, nil
}

// passwordPlan carries the slow bcrypt work done before a write transaction, so the single
// writer is not held while hashing.
type passwordPlan struct {
	seen    string // the hash read before the transaction ("" when there was no user)
	matched bool   // seen already verifies the password
	hash    string // a fresh hash of the password when !matched
	cost    int    // the bcrypt cost of a hash made later
}

func (db *DB) preparePassword(ctx context.Context, email, password string) (passwordPlan, error) {
	var seen string
	err := db.r.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE email = ?`, email).Scan(&seen)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return passwordPlan{}, fmt.Errorf("read password hash: %w", err)
	}
	if seen != "" && persona.CheckPassword(seen, password) {
		return passwordPlan{seen: seen, matched: true, cost: db.passwordCost}, nil
	}
	h, err := persona.HashPassword(password, db.passwordCost)
	if err != nil {
		return passwordPlan{}, fmt.Errorf("hash password: %w", err)
	}
	return passwordPlan{seen: seen, hash: h, cost: db.passwordCost}, nil
}

// resolve returns the hash to store given the current one inside the transaction, and whether
// it differs. When the row changed since preparePassword it checks again (rare).
func (p passwordPlan) resolve(current, password string) (string, bool, error) {
	if current == p.seen {
		if p.matched {
			return current, false, nil
		}
		return p.hash, true, nil
	}
	if current != "" && persona.CheckPassword(current, password) {
		return current, false, nil
	}
	if p.hash != "" {
		return p.hash, true, nil
	}
	h, err := persona.HashPassword(password, p.cost)
	if err != nil {
		return "", false, fmt.Errorf("hash password: %w", err)
	}
	return h, true, nil
}

func localPart(email string) string {
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		return email[:i]
	}
	return email
}

// ensurePersonalSpace creates the user's personal space (with an owner membership) unless it
// exists, and reports whether it created one.
func ensurePersonalSpace(ctx context.Context, t *tx, userID, email, name string) (bool, error) {
	var n int
	if err := t.QueryRowContext(ctx, `SELECT count(*) FROM members m JOIN spaces s ON s.id = m.space_id
		WHERE m.user_id = ? AND m.role = 'owner' AND s.type = 'personal'`, userID).Scan(&n); err != nil {
		return false, fmt.Errorf("find personal space: %w", err)
	}
	if n > 0 {
		return false, nil
	}
	slug, err := freeSlug(ctx, t, persona.SlugBase(email))
	if err != nil {
		return false, err
	}
	id := uuid.NewString()
	if _, err := t.ExecContext(ctx, `INSERT INTO spaces (id, name, slug, type, created_at) VALUES (?, ?, ?, 'personal', ?)`,
		id, name, slug, micro(t.now)); err != nil {
		return false, fmt.Errorf("create personal space: %w", err)
	}
	if _, err := t.ExecContext(ctx, `INSERT INTO members (space_id, user_id, role, created_at) VALUES (?, ?, 'owner', ?)`,
		id, userID, micro(t.now)); err != nil {
		return false, fmt.Errorf("add owner to personal space: %w", err)
	}
	return true, nil
}

// freeSlug returns base, or base-2, base-3, … whichever is not taken yet.
func freeSlug(ctx context.Context, t *tx, base string) (string, error) {
	slug := base
	for n := 2; ; n++ {
		var taken int
		if err := t.QueryRowContext(ctx, `SELECT count(*) FROM spaces WHERE slug = ?`, slug).Scan(&taken); err != nil {
			return "", fmt.Errorf("check slug %q: %w", slug, err)
		}
		if taken == 0 {
			return slug, nil
		}
		if n > 100000 {
			return "", fmt.Errorf("no free slug for %q", base)
		}
		slug = persona.SlugWithSuffix(base, n)
	}
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
