package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/target/targettest"
)

// splitCatalog has personas of two apps that are not the demo: the kitchen (a bearer token per
// persona, the default target) and the bakery (no auth), and one of a garden the runner below
// does not know.
const splitCatalog = `personas:
  - name: Anna
    email: anna@kitchen.example
    archetype: home-cook
    target: kitchen
    secrets: {token: {env: ANNA_TOKEN}}
    moduleMix: {recipes: 0.6, pantry: 0.4}
    systemPrompt: You are Anna, who cooks every evening and plans meals ahead.
  - name: Cem
    email: cem@kitchen.example
    archetype: student
    secrets: {token: {env: CEM_TOKEN}}
    moduleMix: {recipes: 1}
    systemPrompt: You are Cem, a student who cooks cheap food in a hurry.
  - name: Ben
    email: ben@bakery.example
    archetype: baker
    target: bakery
    moduleMix: {recipes: 1}
    systemPrompt: You are Ben, who bakes bread at dawn and notes every recipe.
  - name: Dora
    email: dora@garden.example
    archetype: gardener
    target: garden
    moduleMix: {recipes: 1}
    systemPrompt: You are Dora, who grows vegetables and cooks what is ripe.
`

// TestServeRunnerRunsEachPersonaOnItsTarget: the split deployment. seed stores each persona's
// target and secret references and gives none of them a password (no target logs in through
// the auth API); serve auth serves the store; serve runner, configured with the kitchen (headers)
// and the bakery (none), claims every persona through the auth API and sends each to its own
// target: the kitchen gets only the kitchen personas' own tokens, the bakery only Ben, with no
// credential at all. Dora's garden is not configured in this runner: her run fails at stage
// target, naming the garden and the configured targets, and nothing of hers reaches an app.
func TestServeRunnerRunsEachPersonaOnItsTarget(t *testing.T) {
	t.Parallel()
	kitchen := targettest.New("tok-anna", "tok-cem")
	t.Cleanup(kitchen.Close)
	bakery := targettest.New("") // no token: a server without auth
	t.Cleanup(bakery.Close)
	dir := t.TempDir()
	db := filepath.Join(dir, "store.db")
	targets := `targets:
  - name: kitchen
    default: true
    url: ` + kitchen.MCPURL + `
    auth:
      strategy: headers
      headers: {Authorization: "Bearer ${persona.secrets.token}"}
  - name: bakery
    url: ` + bakery.MCPURL + `
`
	runnerCfg := writeFile(t, dir, "runner.yaml", targets)
	// The configuration seed reads knows the garden too (its runner is elsewhere).
	seedCfg := writeFile(t, dir, "seed.yaml", targets+"  - name: garden\n    url: http://127.0.0.1:9/mcp\n")
	cat := writeFile(t, dir, "personas.yaml", splitCatalog)

	// Without the configuration seed cannot tell which personas log in: it refuses, naming them.
	annaOnly := writeFile(t, dir, "anna.yaml", splitCatalog[:strings.Index(splitCatalog, "  - name: Cem")])
	code, out, errOut := run(t, nil, "seed", "--db", db, "--catalog", annaOnly)
	if code == 0 || !strings.Contains(errOut, `persona anna@kitchen.example tests target "kitchen"`) ||
		!strings.Contains(errOut, "which is not configured (targets: demo)") {
		t.Fatalf("seed without --config: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = run(t, nil, "seed", "--db", db, "--catalog", cat, "--config", seedCfg)
	if code != 0 || !strings.Contains(out, "created 4, updated 0, unchanged 0") {
		t.Fatalf("seed: exit %d\n%s\n%s", code, out, errOut)
	}
	st := openStore(t, db)
	ctx := context.Background()
	for _, email := range []string{"anna@kitchen.example", "cem@kitchen.example", "ben@bakery.example", "dora@garden.example"} {
		u, err := st.UserByEmail(ctx, email)
		if err != nil || u.PasswordHash != "" {
			t.Errorf("%s: password hash %q, %v; a persona of a target without mana auth has none", email, u.PasswordHash, err)
		}
	}

	// serve auth over the store: a persona without a login cannot log in, whatever it tries.
	line, _, authLogs := startServeAuthLine(t, map[string]string{"MANA_SERVICE_KEY": testServiceKey}, "--db", db, "--addr", "127.0.0.1:0")
	m := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("serve auth: first line %q\n%s", line, authLogs.String())
	}
	authURL := "http://" + m[1]
	pw, _ := persona.DerivePassword(persona.DevSeedSecret, "anna@kitchen.example")
	if _, err := authapi.NewClient(authURL, nil).Login(ctx, "anna@kitchen.example", pw); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("login of a persona without a login: %v; want 401", err)
	}

	// serve runner through the auth API, with the kitchen and the bakery.
	env := map[string]string{"MANA_SERVICE_KEY": testServiceKey, "MODEL_PROVIDER": "sim", "SIM_SEED": "3",
		"ANNA_TOKEN": "tok-anna", "CEM_TOKEN": "tok-cem"}
	runnerURL, stop, logs := startServeRunner(t, env, "--config", runnerCfg, "--auth-url", authURL,
		"--addr", "127.0.0.1:0", "--interval", "1h", "--local-db", filepath.Join(dir, "local.db"))
	// The first tick starts with the loop; its end is /health's lastTick.
	var last map[string]any
	deadline := time.Now().Add(2 * time.Minute)
	for last == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no tick finished; stderr:\n%s", logs.String())
		}
		last = healthLastTick(t, runnerURL)
		if last == nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if code := stop(); code != 0 {
		t.Errorf("serve runner exit %d; stderr:\n%s", code, logs.String())
	}

	runs := runsByEmail(t, st)
	for email, want := range map[string]string{"anna@kitchen.example": "kitchen", "cem@kitchen.example": "kitchen", "ben@bakery.example": "bakery"} {
		ticks := runs[email]
		if len(ticks) != 1 || ticks[0].Target != want || ticks[0].ServerName != targettest.Name || ticks[0].Status == persona.TickFailed {
			t.Errorf("%s: ticks %+v; want one run on %s", email, ticks, want)
		}
	}
	dora := runs["dora@garden.example"]
	if len(dora) != 1 || dora[0].Status != persona.TickFailed || dora[0].Stage != "target" || dora[0].Target != "garden" ||
		!strings.Contains(dora[0].Error, `"garden"`) || !strings.Contains(dora[0].Error, "targets: bakery, kitchen") {
		t.Errorf("dora's run on an unknown target: %+v; want failed at stage target naming garden and the configured targets", dora)
	}

	tokens := map[string]int{}
	for _, c := range kitchen.Calls() {
		tokens[c.Token]++
	}
	if tokens["tok-anna"] == 0 || tokens["tok-cem"] == 0 || len(tokens) != 2 {
		t.Errorf("tokens of the kitchen's calls: %v; want Anna's and Cem's only", tokens)
	}
	if len(bakery.Calls()) == 0 {
		t.Error("the bakery got no call: Ben went elsewhere")
	}
	for _, c := range bakery.Calls() {
		if c.Token != "" {
			t.Errorf("a credential reached the bakery: %q", c.Token)
		}
	}
	for _, app := range []*targettest.Server{kitchen, bakery} {
		if h, seen := app.Seen("eyJ"); seen {
			t.Errorf("a JWT reached a target in header %s", h)
		}
		if h, seen := app.Seen("dora"); seen {
			t.Errorf("dora reached a target in header %s", h)
		}
	}
}

// startServeRunner runs serve runner until stop and returns its URL (from the listening line).
func startServeRunner(t *testing.T, env map[string]string, args ...string) (string, func() int, *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	logs := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		code := Run(ctx, append([]string{"serve", "runner"}, args...), pw, logs, testEnv(env))
		pw.Close()
		done <- code
	}()
	stopped, code := false, 0
	stop := func() int {
		if !stopped {
			cancel()
			code, stopped = <-done, true
		}
		return code
	}
	t.Cleanup(func() { stop() })
	rd := bufio.NewReader(pr)
	re := regexp.MustCompile(`listening on (http://\S+)`)
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("serve runner did not start: %v; stderr:\n%s", err, logs.String())
		}
		if m := re.FindStringSubmatch(line); m != nil {
			go io.Copy(io.Discard, rd)
			return m[1], stop, logs
		}
	}
}

// healthLastTick is /health's lastTick (nil before the first tick ended).
func healthLastTick(t *testing.T, url string) map[string]any {
	t.Helper()
	resp, err := http.Get(url + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		LastTick map[string]any `json:"lastTick"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h.LastTick
}
