package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/persona-runner/persona-runner/target/targettest"
)

// TestTargetsCheckCommandAndOAuth2: `targets check` of a config file whose targets get their
// tokens from a command (per persona, from the catalog) and from an OAuth 2.0 token endpoint;
// a failing token command is named in one line with its stderr, exit 3.
func TestTargetsCheckCommandAndOAuth2(t *testing.T) {
	t.Parallel()
	app := targettest.New("tok-anna@kitchen.example", "at-oauth")
	t.Cleanup(app.Close)
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, _ := r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		if id != "runner" || secret != "oauth-secret" || r.FormValue("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": "unknown client"})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at-oauth", "token_type": "Bearer", "expires_in": 600})
	}))
	t.Cleanup(tokens.Close)
	dir := t.TempDir()
	get := filepath.Join(dir, "get-token")
	if err := os.WriteFile(get, []byte("#!/bin/sh\n[ \"$1\" = fail ] && { echo 'vault: permission denied' >&2; exit 2; }\nprintf '{\"token\":\"tok-%s\",\"expires_in\":300}' \"$PERSONA_EMAIL\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, dir, "config.yaml", `targets:
  - name: kitchen
    default: true
    url: `+app.MCPURL+`
    auth: {strategy: command, command: [`+get+`, "${MODE}"]}
  - name: pantry
    url: `+app.MCPURL+`
    auth:
      strategy: oauth2
      oauth2: {tokenUrl: `+tokens.URL+`/token, clientId: runner, clientSecret: "${PANTRY_SECRET}"}
`)
	cat := writeFile(t, dir, "personas.yaml", kitchenCatalog[:strings.Index(kitchenCatalog, "  - name: Maya")])
	env := map[string]string{"MODE": "ok", "PANTRY_SECRET": "oauth-secret"}
	code, out, errOut := run(t, env, "targets", "check", "kitchen", "--config", cfg, "--catalog", cat)
	if code != 0 || !strings.Contains(out, "target kitchen ("+app.MCPURL+", streamable-http, auth command) as anna@kitchen.example") ||
		!strings.Contains(out, "server "+targettest.Name) {
		t.Errorf("command target: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = run(t, env, "targets", "check", "pantry", "--config", cfg)
	if code != 0 || !strings.Contains(out, "auth oauth2") || !strings.Contains(out, "6 tools, 4 offered") {
		t.Errorf("oauth2 target: exit %d\n%s\n%s", code, out, errOut)
	}

	env = map[string]string{"MODE": "fail", "PANTRY_SECRET": "nope"}
	code, _, errOut = run(t, env, "targets", "check", "kitchen", "--config", cfg, "--catalog", cat)
	if code != 3 || !strings.Contains(errOut, "target kitchen: login: token command "+get+" failed (exit status 2): stderr: vault: permission denied") {
		t.Errorf("failing command: exit %d\n%s", code, errOut)
	}
	code, _, errOut = run(t, env, "targets", "check", "pantry", "--config", cfg)
	if code != 3 || !strings.Contains(errOut, "refused the client credentials: 401 Unauthorized: invalid_client: unknown client") || strings.Contains(errOut, "nope") {
		t.Errorf("refused client: exit %d\n%s", code, errOut)
	}
}
