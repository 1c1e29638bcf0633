package target_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/target"
	"github.com/persona-runner/persona-runner/target/strategy"
	"github.com/persona-runner/persona-runner/target/targettest"
)

func kitchen(url, transport string) target.Config {
	return target.Config{
		Name: "kitchen", Default: true, URL: url, Transport: transport,
		Auth:    target.AuthConfig{Strategy: target.AuthHeaders, Headers: map[string]string{"Authorization": "Bearer ${persona.secrets.token}"}},
		Modules: map[string]string{"echo": "utilities"},
		Tools:   target.PolicyConfig{Deny: []string{"admin.*"}},
	}
}

func personaWithToken(email, env string) persona.DuePersona {
	return persona.DuePersona{UserID: "u-" + email, Email: email, Secrets: map[string]persona.SecretRef{"token": {Env: env}}}
}

func TestHeadersTargetOverStreamableHTTPAndSSE(t *testing.T) {
	t.Parallel()
	app := targettest.New("tok-anna", "tok-ben")
	t.Cleanup(app.Close)
	env := map[string]string{"ANNA_TOKEN": "tok-anna", "BEN_TOKEN": "tok-ben"}
	for _, tc := range []struct{ transport, url string }{
		{target.TransportStreamableHTTP, app.MCPURL},
		{target.TransportSSE, app.SSEURL},
	} {
		t.Run(tc.transport, func(t *testing.T) {
			set, err := strategy.Set([]target.Config{kitchen(tc.url, tc.transport)}, strategy.Options{Getenv: func(k string) string { return env[k] }})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for _, p := range []persona.DuePersona{personaWithToken("anna@kitchen.example", "ANNA_TOKEN"), personaWithToken("ben@kitchen.example", "BEN_TOKEN")} {
				s, err := set.Open(ctx, p, target.OpenOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if got := s.Server(); got.Name != targettest.Name || got.Version != targettest.Version || got.ProtocolVersion == "" {
					t.Errorf("server info %+v", got)
				}
				tools, err := s.ListTools(ctx)
				if err != nil {
					t.Fatal(err)
				}
				byName := map[string]target.Tool{}
				for _, tl := range tools {
					byName[tl.Name] = tl
				}
				if len(byName) != len(targettest.Tools) {
					t.Fatalf("tools %v", tools)
				}
				for name, want := range map[string]struct {
					module string
					hidden bool
				}{
					"recipes.find": {"recipes", false}, "recipes.add": {"recipes", false}, "pantry_add": {"pantry", false},
					"pantry_clear": {"pantry", true}, "admin.wipe": {"admin", true}, "echo": {"utilities", false},
				} {
					tl := byName[name]
					if tl.Module != want.module || (tl.Hidden != "") != want.hidden {
						t.Errorf("%s: module %q hidden %q", name, tl.Module, tl.Hidden)
					}
				}
				if !strings.Contains(byName["admin.wipe"].Hidden, "tools.deny") || !strings.Contains(byName["pantry_clear"].Hidden, "destructive") {
					t.Errorf("reasons: %q, %q", byName["admin.wipe"].Hidden, byName["pantry_clear"].Hidden)
				}
				if a := byName["recipes.find"].Annotations; a.Title != "Find recipes" || a.ReadOnlyHint == nil || !*a.ReadOnlyHint {
					t.Errorf("annotations of recipes.find: %+v", a)
				}
				if a := byName["echo"].Annotations; a.OpenWorldHint == nil || *a.OpenWorldHint || a.IdempotentHint == nil || !*a.IdempotentHint {
					t.Errorf("annotations of echo: %+v", a)
				}
				out, err := s.CallTool(ctx, "recipes.find", json.RawMessage(`{"text":"soup"}`))
				if err != nil || out.IsError || !strings.Contains(out.Text, "recipes.find") {
					t.Errorf("call: %+v %v", out, err)
				}
				before := len(app.Calls())
				if _, err := s.CallTool(ctx, "pantry_clear", json.RawMessage(`{}`)); !errors.Is(err, target.ErrHidden) {
					t.Errorf("hidden tool call: %v", err)
				}
				if len(app.Calls()) != before {
					t.Error("a hidden tool's call reached the app")
				}
				s.Close()
			}
		})
	}
	// Each persona's own token arrived with its calls, and only those tokens.
	tokens := map[string]int{}
	for _, c := range app.Calls() {
		tokens[c.Token]++
		if c.Tool == "pantry_clear" || c.Tool == "admin.wipe" {
			t.Errorf("hidden tool %s was called", c.Tool)
		}
	}
	if tokens["tok-anna"] != 2 || tokens["tok-ben"] != 2 || len(tokens) != 2 {
		t.Errorf("tokens of calls: %v", tokens)
	}
}

func TestWrongTokenNamesTheServersMessage(t *testing.T) {
	t.Parallel()
	app := targettest.New("right")
	t.Cleanup(app.Close)
	set, err := strategy.Set([]target.Config{kitchen(app.MCPURL, "")}, strategy.Options{Getenv: func(string) string { return "wrong" }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = set.Open(ctx, personaWithToken("anna@kitchen.example", "X"), target.OpenOptions{})
	var he *target.HTTPError
	if err == nil || target.StageOf(err, "") != target.StageConnect || !errors.As(err, &he) || he.Status != 401 ||
		!strings.Contains(err.Error(), "401 Unauthorized: "+targettest.Unauthorized) {
		t.Fatalf("open with a wrong token: %v", err)
	}
}

func TestMissingSecretFailsBeforeConnecting(t *testing.T) {
	t.Parallel()
	app := targettest.New("right")
	t.Cleanup(app.Close)
	set, err := strategy.Set([]target.Config{kitchen(app.MCPURL, "")}, strategy.Options{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = set.Open(context.Background(), personaWithToken("anna@kitchen.example", "ANNA_TOKEN"), target.OpenOptions{})
	if err == nil || target.StageOf(err, "") != target.StageSecrets || !strings.Contains(err.Error(), "ANNA_TOKEN is not set") {
		t.Fatalf("open without the secret: %v", err)
	}
	if len(app.Headers()) != 0 {
		t.Error("the app was contacted without credentials")
	}
}
