package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/persona-runner/persona-runner/persona"
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
	known, err := a.store.Space(ctx, space)
	if err == nil {
		return strings.HasPrefix(known.Slug, issuerSlugPrefix), nil
	}
	if !errors.Is(err, persona.ErrNotFound) {
		return false, fmt.Errorf("look up space: %w", err)
	}
	sum := sha256.Sum256([]byte(space))
	// Two first requests may race: the second adds nothing.
	if _, err := a.store.AddSpace(ctx, persona.Space{ID: space, Name: "Space " + space + " (known to the token issuer)",
		Slug: issuerSlugPrefix + hex.EncodeToString(sum[:])[:23], // ≤ 30 characters, as every slug
		Type: persona.SpaceTeam}); err != nil {
		return false, fmt.Errorf("record the issuer's space: %w", err)
	}
	a.log.InfoContext(ctx, "space known only to the token issuer recorded (--trust-issuer-spaces)", "space", space)
	known, err = a.store.Space(ctx, space)
	if err != nil {
		return false, fmt.Errorf("look up space: %w", err)
	}
	return strings.HasPrefix(known.Slug, issuerSlugPrefix), nil
}
