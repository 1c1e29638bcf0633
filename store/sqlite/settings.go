package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Setting returns the value the store keeps under key, and whether it keeps one.
func (db *DB) Setting(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := db.r.QueryRowContext(ctx, `SELECT value FROM store_settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read setting %s: %w", key, err)
	}
	return v, true, nil
}

// SetSetting stores value under key, replacing what was there.
func (db *DB) SetSetting(ctx context.Context, key, value string) error {
	err := db.write(ctx, func(t *tx) error {
		_, err := t.ExecContext(ctx, `INSERT INTO store_settings (key, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			key, value, micro(t.now))
		return err
	})
	if err != nil {
		return fmt.Errorf("write setting %s: %w", key, err)
	}
	return nil
}
