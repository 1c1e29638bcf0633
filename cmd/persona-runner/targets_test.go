package main

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/target/targettest"
)

const kitchenCatalog = `personas:
  - name: Anna
    email: anna@kitchen.example
    archetype: home-cook
    target: kitchen
    secrets: {token: {env: ANNA_TOKEN}}
    moduleMix: {recipes: 0.6, pantry: 0.4}
    systemPrompt: You are Anna, who cooks every evening and plans meals ahead.
  - name: Ben
    email: ben@kitchen.example
    archetype: student
    target: kitchen
    secrets: {token: {env: BEN_TOKEN}}
    moduleMix: {recipes: 1}
    systemPrompt: You are Ben, a student who cooks cheap food in a hurry.
  - name: Maya
    email: persona.maya@mana.test
    archetype: planner
    moduleMix: {todo: 1}
    systemPrompt: You are Maya, who plans her week in the demo app's todo list.
`

// TestUpTestsTwoTargets: one up run with the demo app and a headers target: each kitchen
// persona's own token arrives with its calls, the Mana JWT and X-Mana-Space never do, and the
// kitchen's destructive tools are never called.
func TestUpTestsTwoTargets(t *testing.T) {
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
`)
	cat := writeFile(t, dir, "personas.yaml", kitchenCatalog)
	env := map[string]string{"ANNA_TOKEN": "tok-anna", "BEN_TOKEN": "tok-ben"}
	code, out, errOut := run(t, env, upArgs(dir, "--config", cfg, "--catalog", cat)...)
	if code != 0 {
		t.Fatalf("up: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"target kitchen: " + targettest.Name + " " + targettest.Version, "3 runs: 3 ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	// The kitchen's personas have no password (their target's auth is headers): they cannot log
	// in to the auth API. Maya, of the demo app (mana), has her derived one.
	db := openStore(t, dbPath(dir))
	for _, email := range []string{"anna@kitchen.example", "ben@kitchen.example", "persona.maya@mana.test"} {
		u, err := db.UserByEmail(context.Background(), email)
		pw, _ := persona.DerivePassword(persona.DevSeedSecret, email)
		if err != nil || (u.PasswordHash == "") != strings.HasSuffix(email, "@kitchen.example") ||
			persona.CheckPassword(u.PasswordHash, pw) != !strings.HasSuffix(email, "@kitchen.example") {
			t.Errorf("%s: password hash %q, %v", email, u.PasswordHash, err)
		}
	}
	// Each run's tick record names its target and the server's identity.
	runs := runsByEmail(t, db)
	for email, want := range map[string][2]string{"anna@kitchen.example": {"kitchen", targettest.Name}, "persona.maya@mana.test": {"demo", ""}} {
		ticks := runs[email]
		if len(ticks) != 1 || ticks[0].Target != want[0] || (want[1] != "" && ticks[0].ServerName != want[1]) || ticks[0].ServerName == "" {
			t.Errorf("%s: ticks %+v", email, ticks)
		}
	}
	tokens := map[string]int{}
	for _, c := range app.Calls() {
		tokens[c.Token]++
		if c.Tool == "pantry_clear" || c.Tool == "admin.wipe" {
			t.Errorf("destructive tool %s was called", c.Tool)
		}
	}
	if tokens["tok-anna"] == 0 || tokens["tok-ben"] == 0 || len(tokens) != 2 {
		t.Errorf("tokens of the kitchen's calls: %v", tokens)
	}
	if h, seen := app.Seen("eyJ"); seen {
		t.Errorf("a JWT reached the kitchen in header %s", h)
	}
	for _, h := range app.Headers() {
		if h.Get("X-Mana-Space") != "" {
			t.Fatal("X-Mana-Space reached the kitchen")
		}
	}
}

// TestUpWrongTokenNamesThe401: a refused token stops up before the first tick, naming the 401
// and the server's own message, with exit status 3.
func TestUpWrongTokenNamesThe401(t *testing.T) {
	t.Parallel()
	app := targettest.New("right")
	t.Cleanup(app.Close)
	dir := t.TempDir()
	cat := writeFile(t, dir, "personas.yaml", strings.ReplaceAll(kitchenCatalog, "    target: kitchen\n", ""))
	code, out, errOut := run(t, map[string]string{"TOKEN": "wrong"}, upArgs(dir, "--mcp-url", app.MCPURL,
		"--mcp-header", "Authorization: Bearer ${TOKEN}", "--catalog", cat)...)
	if code != 3 || !strings.Contains(errOut, "401 Unauthorized: "+targettest.Unauthorized) {
		t.Fatalf("up: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if len(app.Calls()) != 0 {
		t.Error("tools were called with a refused token")
	}
}

func TestTargetsCheck(t *testing.T) {
	t.Parallel()
	app := targettest.New("tok")
	t.Cleanup(app.Close)
	env := map[string]string{"KT": "tok"}
	code, out, errOut := run(t, env, "targets", "check", "--mcp-url", app.MCPURL, "--mcp-header", "Authorization: Bearer ${KT}")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"server " + targettest.Name + " " + targettest.Version + " · protocol 20",
		"pantry_clear  pantry   hidden: destructive",
		"recipes.find  recipes  offered",
		`title "Find recipes", readOnly`,
		"6 tools, 4 offered to personas, modules: echo, pantry, recipes",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// A catalog naming a module the target does not have: exit 2, the module and the target's.
	dir := t.TempDir()
	cat := writeFile(t, dir, "p.yaml", strings.ReplaceAll(strings.ReplaceAll(kitchenCatalog, "    target: kitchen\n", ""), "pantry: 0.4", "baking: 0.4"))
	code, _, errOut = run(t, env, "targets", "check", "--mcp-url", app.MCPURL, "--mcp-header", "Authorization: Bearer ${KT}", "--catalog", cat)
	if code != 2 || !strings.Contains(errOut, `p.yaml:6: personas[0] (anna@kitchen.example) moduleMix.baking: unknown module "baking" of target app (its modules: echo, pantry, recipes)`) {
		t.Errorf("unknown module: exit %d\n%s", code, errOut)
	}

	// Wrong token: exit 3 and the server's message.
	code, _, errOut = run(t, map[string]string{"KT": "nope"}, "targets", "check", "--mcp-url", app.MCPURL, "--mcp-header", "Authorization: Bearer ${KT}")
	if code != 3 || !strings.Contains(errOut, "401 Unauthorized: "+targettest.Unauthorized) {
		t.Errorf("wrong token: exit %d\n%s", code, errOut)
	}

	// Nothing listening: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	code, _, errOut = run(t, nil, "targets", "check", "--mcp-url", "http://"+addr+"/mcp")
	if code != 3 || !strings.Contains(errOut, "connection refused") {
		t.Errorf("refused: exit %d\n%s", code, errOut)
	}
}
