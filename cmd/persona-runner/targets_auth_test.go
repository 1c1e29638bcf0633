package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/persona-runner/persona-runner/report"
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

// TestReportPerTarget: after one up run with the demo app and a kitchen target, `report
// --target kitchen` counts only the kitchen's runs and measures coverage against the tools the
// kitchen offered at its latest run (4 of its 6: two are destructive), modules as mapped.
func TestReportPerTarget(t *testing.T) {
	t.Parallel()
	app := targettest.New("tok-anna", "tok-ben")
	t.Cleanup(app.Close)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.yaml", `targets:
  - name: demo
    default: true
  - name: kitchen
    url: `+app.MCPURL+`
    auth:
      strategy: headers
      headers: {Authorization: "Bearer ${persona.secrets.token}"}
    modules: {"echo": utilities}
`)
	cat := writeFile(t, dir, "personas.yaml", strings.Replace(kitchenCatalog, "moduleMix: {recipes: 1}", "moduleMix: {recipes: 0.5, utilities: 0.5}", 1))
	env := map[string]string{"ANNA_TOKEN": "tok-anna", "BEN_TOKEN": "tok-ben"}
	if code, out, errOut := run(t, env, upArgs(dir, "--config", cfg, "--catalog", cat)...); code != 0 {
		t.Fatalf("up: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut := run(t, nil, "report", "--data", dir, "--since", "1000d", "--target", "kitchen", "--format", "json")
	var r report.Report
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil {
		t.Fatalf("report --target: exit %d\n%s\n%s", code, out, errOut)
	}
	if r.Target != "kitchen" || r.Runs.Total != 2 || r.Coverage.Offered != 4 {
		t.Errorf("target %q, runs %d, coverage %+v", r.Target, r.Runs.Total, r.Coverage)
	}
	for _, tool := range r.Coverage.NeverUsed {
		if !strings.Contains("recipes.find recipes.add pantry_add echo", tool) {
			t.Errorf("never used lists %s, which the kitchen does not offer", tool)
		}
	}
	for _, m := range r.Modules {
		if m.Module != "recipes" && m.Module != "pantry" && m.Module != "utilities" {
			t.Errorf("module %q is not one of the kitchen's (as mapped)", m.Module)
		}
	}
	code, out, _ = run(t, nil, "report", "--data", dir, "--since", "1000d", "--target", "kitchen", "--module", "utilities", "--format", "json")
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.Coverage.Offered != 1 {
		t.Errorf("--module utilities (mapped from echo): exit %d, coverage %+v", code, r.Coverage)
	}
	code, _, errOut = run(t, nil, "report", "--data", dir, "--since", "1000d", "--target", "bakery")
	if code == 0 || !strings.Contains(errOut, `--target: no runs of target "bakery" in the window`) {
		t.Errorf("unknown target: exit %d\n%s", code, errOut)
	}
}
