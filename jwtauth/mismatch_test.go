package jwtauth_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/persona-runner/persona-runner/jwtauth"
	"github.com/persona-runner/persona-runner/persona"
)

// TestMismatchSpelledOut: a validly signed token for another issuer or audience is refused
// with both values named; a token whose signature fails names neither (no forged value echoed).
func TestMismatchSpelledOut(t *testing.T) {
	t.Parallel()
	k := mustKey(t)
	tok := mustIssue(t, mustIssuer(t, k, "http://localhost:3001", nil))
	ctx := context.Background()

	_, err := jwtauth.NewStaticVerifier([]persona.SigningKey{k}, "http://127.0.0.1:3001", jwtauth.Audience).Verify(ctx, tok)
	want := `the token's iss is "http://localhost:3001", this service expects "http://127.0.0.1:3001"`
	if !errors.Is(err, jwtauth.ErrInvalidToken) || !strings.Contains(err.Error(), want) {
		t.Errorf("issuer: %v, want %s", err, want)
	}
	_, err = jwtauth.NewStaticVerifier([]persona.SigningKey{k}, "http://localhost:3001", "kitchen").Verify(ctx, tok)
	want = `the token's aud is "mana", this service expects "kitchen"`
	if !errors.Is(err, jwtauth.ErrInvalidToken) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "iss is") {
		t.Errorf("audience: %v, want %s", err, want)
	}

	// Signed by another key: refused for its signature, and its claims are not repeated.
	other := mustKey(t)
	other.ID = k.ID
	forged := mustIssue(t, mustIssuer(t, other, "http://evil.example", nil))
	_, err = jwtauth.NewStaticVerifier([]persona.SigningKey{k}, "http://localhost:3001", jwtauth.Audience).Verify(ctx, forged)
	if err == nil || strings.Contains(err.Error(), "evil.example") {
		t.Errorf("forged token: %v", err)
	}
}
