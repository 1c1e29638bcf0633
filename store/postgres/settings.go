package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Setting returns the value the store keeps under key, and whether it keeps one.
func (db *DB) Setting(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := db.pool.QueryRow(ctx, `SELECT value FROM auth.store_settings WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read setting %s: %w", key, err)
	}
	return v, true, nil
}

// SetSetting stores value under key, replacing what was there.
func (db *DB) SetSetting(ctx context.Context, key, value string) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO auth.store_settings (key, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		key, value, db.clock())
	if err != nil {
		return fmt.Errorf("write setting %s: %w", key, err)
	}
	return nil
}
