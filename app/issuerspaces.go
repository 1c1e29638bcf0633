package app

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// issuerSlugPrefix marks the spaces the app recorded on the issuer's word (TrustIssuerSpaces).
const issuerSlugPrefix = "issuer-"

// maxSpaceID bounds the ids of spaces recorded on the issuer's word.
const maxSpaceID = 200

// issuerSpace reports whether a space may be used on the token issuer's word: it is unknown
// here (then it is recorded, so the app's rows can refer to it) or was recorded that way before.
// A space the app knows of its own is never one.
func (a *App) issuerSpace(ctx context.Context, space string) (bool, error) {
	if len(space) > maxSpaceID || strings.ContainsFunc(space, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return false, nil
	}
	slug, err := a.spaceSlug(ctx, space)
	if err == nil {
		return strings.HasPrefix(slug, issuerSlugPrefix), nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("look up space: %w", err)
	}
	sum := sha256.Sum256([]byte(space))
	slug = issuerSlugPrefix + hex.EncodeToString(sum[:])[:23] // ≤ 30 characters, as every slug
	now := a.cfg.Now().UTC().Truncate(time.Microsecond)
	var created any = now
	if a.db.d.name == DialectSQLite {
		created = now.UnixMicro()
	}
	// Two first requests may race: the second insert does nothing.
	if _, err := a.db.exec(ctx, `INSERT INTO {spaces} (id, name, slug, type, created_at) VALUES ($1, $2, $3, 'team', $4) ON CONFLICT DO NOTHING`,
		space, "Space "+space+" (known to the token issuer)", slug, created); err != nil {
		return false, fmt.Errorf("record the issuer's space: %w", err)
	}
	a.log.InfoContext(ctx, "space known only to the token issuer recorded (--trust-issuer-spaces)", "space", space)
	slug, err = a.spaceSlug(ctx, space)
	if err != nil {
		return false, fmt.Errorf("look up space: %w", err)
	}
	return strings.HasPrefix(slug, issuerSlugPrefix), nil
}

func (a *App) spaceSlug(ctx context.Context, space string) (string, error) {
	var slug string
	err := a.db.queryRow(ctx, `SELECT slug FROM {spaces} WHERE id = $1`, space).Scan(&slug)
	return slug, err
}
