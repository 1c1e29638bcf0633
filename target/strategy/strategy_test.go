package strategy_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/target"
	"github.com/persona-runner/persona-runner/target/strategy"
	"github.com/persona-runner/persona-runner/target/targettest"
)

// TestCredentialsStayWithTheirTarget: one persona tests three apps at once, each with its own
// strategy (headers from a secret, a token command, none); every app receives only the
// credential its own strategy produced, never another target's.
func TestCredentialsStayWithTheirTarget(t *testing.T) {
	t.Parallel()
	kitchen := targettest.New("tok-kitchen")
	t.Cleanup(kitchen.Close)
	pantry := targettest.New("tok-pantry")
	t.Cleanup(pantry.Close)
	// The open app accepts any bearer token, so that a leaked one would get through and be seen.
	open := targettest.New("", "tok-kitchen", "tok-pantry")
	t.Cleanup(open.Close)
	get := filepath.Join(t.TempDir(), "get-token")
	if err := os.WriteFile(get, []byte("#!/bin/sh\necho tok-pantry\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	set, err := strategy.Set([]target.Config{
		{Name: "kitchen", Default: true, URL: kitchen.MCPURL, Auth: target.AuthConfig{Strategy: target.AuthHeaders,
			Headers: map[string]string{"Authorization": "Bearer ${persona.secrets.token}"}}},
		{Name: "pantry", URL: pantry.MCPURL, Auth: target.AuthConfig{Strategy: target.AuthCommand, Command: []string{get}}},
		{Name: "open", URL: open.MCPURL},
	}, strategy.Options{Getenv: func(k string) string { return map[string]string{"ANNA_KITCHEN": "tok-kitchen"}[k] }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, name := range []string{"kitchen", "pantry", "open"} {
		p := persona.DuePersona{UserID: "u-anna", Email: "anna@kitchen.example", Target: name,
			Secrets: map[string]persona.SecretRef{"token": {Env: "ANNA_KITCHEN"}}}
		s, err := set.Open(ctx, p, target.OpenOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := s.CallTool(ctx, "echo", []byte(`{"text":"hi"}`)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s.Close()
	}
	for name, c := range map[string]struct {
		app       *targettest.Server
		own       string
		forbidden []string
	}{
		"kitchen": {kitchen, "tok-kitchen", []string{"tok-pantry"}},
		"pantry":  {pantry, "tok-pantry", []string{"tok-kitchen"}},
		"open":    {open, "", []string{"tok-kitchen", "tok-pantry"}},
	} {
		for _, f := range c.forbidden {
			if h, seen := c.app.Seen(f); seen {
				t.Errorf("%s received another target's credential %s in %s", name, f, h)
			}
		}
		calls := c.app.Calls()
		if len(calls) != 1 || calls[0].Token != c.own {
			t.Errorf("%s: calls %+v, want one with token %q", name, calls, c.own)
		}
		if c.own == "" {
			for _, h := range c.app.Headers() {
				if h.Get("Authorization") != "" {
					t.Errorf("%s (auth none) received Authorization %q", name, h.Get("Authorization"))
				}
			}
		}
	}
}
