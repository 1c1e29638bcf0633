package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/persona-runner/persona-runner/config"
	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/model/fake"
	"github.com/persona-runner/persona-runner/model/sim"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/runner"
	"github.com/persona-runner/persona-runner/store/sqlite"
	"github.com/persona-runner/persona-runner/target"
	"github.com/persona-runner/persona-runner/target/stdio/stdiotest"
	"github.com/persona-runner/persona-runner/target/strategy"
)

// These tests run personas against the official reference MCP servers from npm
// (@modelcontextprotocol/server-everything and server-memory, pinned in .ci/node), over stdio
// and streamable HTTP, with the offline simulator and with the fake model server behind the
// real Anthropic adapter. They skip when PERSONA_TEST_NODE_MODULES is unset (.ci/run sets it).

const (
	everything = "@modelcontextprotocol/server-everything"
	memory     = "@modelcontextprotocol/server-memory"
)

// refDB is a SQLite store with personas of the given module mixes, by email.
type refDB struct {
	db  *sqlite.DB
	ids map[string]string
}

func newRefDB(t *testing.T, mixes map[string]persona.ModuleMix) *refDB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "persona-runner.db"), sqlite.WithPasswordCost(bcrypt.MinCost))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	r := &refDB{db: db, ids: map[string]string{}}
	for email, mix := range mixes {
		name := strings.Split(email, "@")[0]
		id, _, err := db.UpsertPersona(ctx, persona.PersonaInput{
			Email: email, Name: name, Password: "not-used-by-this-target-0123", Archetype: "tester",
			SystemPrompt: "You are " + name + ", who tries out every corner of an app for a living.",
			ModuleMix:    mix, Timezone: "Europe/Berlin",
		})
		if err != nil {
			t.Fatal(err)
		}
		r.ids[email] = id
	}
	return r
}

// refRun runs one tick of the runner against target tc and returns its result.
func refRun(t *testing.T, d *refDB, tc target.Config, p model.Provider, env map[string]string) runner.Result {
	t.Helper()
	cfg := config.Default()
	cfg.RunnerID = "ref"
	cfg.Concurrency = 2
	cfg.Targets = []target.Config{tc}
	cfg.Provider, cfg.Model = config.ProviderSim, sim.DefaultModel
	if p.Name() != "sim" {
		cfg.Provider, cfg.Model = config.ProviderAnthropic, p.Model()
	}
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	set, err := strategy.Set(cfg.TargetConfigs(), strategy.Options{Getenv: getenv, ClientVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := runner.New(cfg.Runner(), runner.Deps{Provider: p, Persistence: runner.NewStorePersistence(d.db), Targets: runner.TargetSet(set)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := r.Tick(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (d *refDB) actions(t *testing.T, email string) []persona.Action {
	t.Helper()
	acts, err := d.db.Actions(context.Background(), persona.ActionQuery{PersonaID: d.ids[email]})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(acts, func(a, b persona.Action) int { return a.Seq - b.Seq })
	return acts
}

func (d *refDB) tick(t *testing.T, email string) persona.Tick {
	t.Helper()
	ticks, err := d.db.Ticks(context.Background(), persona.TickQuery{PersonaID: d.ids[email]})
	if err != nil || len(ticks) != 1 {
		t.Fatalf("ticks of %s: %+v %v", email, ticks, err)
	}
	return ticks[0]
}

// transcriptOf decodes the parts of a tick's transcript the tests look at.
func transcriptOf(t *testing.T, tk persona.Tick) (stderr string, tools []string) {
	t.Helper()
	var tr struct {
		Tools        []string `json:"tools"`
		ServerStderr string   `json:"serverStderr"`
	}
	if err := json.Unmarshal(tk.Transcript, &tr); err != nil {
		t.Fatalf("transcript: %v", err)
	}
	return tr.ServerStderr, tr.Tools
}

// mark is a unique string a test puts in a server's environment to find its processes later.
func mark(t *testing.T) string {
	if !stdiotest.Supported() {
		t.Skip("no /proc here: cannot prove that no server process is left")
	}
	return "persona-test-" + uuid.NewString()
}

func noOrphans(t *testing.T, m string) {
	t.Helper()
	if err := stdiotest.WaitUnmarked(m, 5*time.Second); err != nil {
		t.Error(err)
	}
}

// TestSimulatorOnServerEverythingOverStdio: two personas played by the simulator spend a day in
// server-everything, each with a server process of its own: rows are written under the modules
// of the default rule (get-sum → get), only offered tools are called (the policy hides the slow
// and networked ones), the tick records name the server, its stderr is in the transcript, and
// no server process is left once the tick is over.
func TestSimulatorOnServerEverythingOverStdio(t *testing.T) {
	t.Parallel()
	argv := stdiotest.ReferenceServer(t, everything, "stdio")
	m := mark(t)
	emails := []string{"ada@everything.test", "bo@everything.test"}
	d := newRefDB(t, map[string]persona.ModuleMix{emails[0]: {"get": 0.6, "echo": 0.4}, emails[1]: {"get": 0.5, "echo": 0.5}})
	tc := target.Config{Name: "everything", Default: true, Transport: target.TransportStdio, Command: argv,
		Env:   map[string]string{"PERSONA_TEST_MARK": m},
		Tools: target.PolicyConfig{Deny: []string{"trigger-*", "gzip-*", "simulate-*", "toggle-*"}}}
	res := refRun(t, d, tc, sim.New(7), nil)
	if res.Due != 2 || res.RanSuccessfully != 2 {
		t.Fatalf("tick result %+v", res)
	}
	noOrphans(t, m)
	for _, email := range emails {
		acts := d.actions(t, email)
		if len(acts) < 3 {
			t.Fatalf("%s: %d rows, want the simulator's 3 or more", email, len(acts))
		}
		tk := d.tick(t, email)
		stderr, offered := transcriptOf(t, tk)
		for _, a := range acts {
			wantModule, _, _ := strings.Cut(a.ToolName, "-")
			if a.Module != wantModule {
				t.Errorf("%s: row %s has module %q, want %q", email, a.ToolName, a.Module, wantModule)
			}
			if !slices.Contains(offered, a.ToolName) {
				t.Errorf("%s: %s was called but not offered (offered: %v)", email, a.ToolName, offered)
			}
			if a.Result != persona.ResultOK {
				t.Errorf("%s: %s failed: %s", email, a.ToolName, a.ErrorMessage)
			}
		}
		if slices.ContainsFunc(offered, func(n string) bool { return strings.HasPrefix(n, "trigger-") || strings.HasPrefix(n, "toggle-") }) {
			t.Errorf("denied tools offered: %v", offered)
		}
		if tk.Status != persona.TickOK || tk.Target != "everything" || tk.ServerName != "mcp-servers/everything" || tk.ServerVersion == "" {
			t.Errorf("%s: tick %s target %q server %q %q (%s)", email, tk.Status, tk.Target, tk.ServerName, tk.ServerVersion, tk.Error)
		}
		if !strings.Contains(stderr, "Starting default (STDIO) server") {
			t.Errorf("%s: the server's stderr is not in the transcript: %q", email, stderr)
		}
		fb, err := d.db.Feedback(context.Background(), persona.FeedbackQuery{PersonaID: d.ids[email]})
		if err != nil || len(fb) == 0 {
			t.Errorf("%s: no ratings: %v %v", email, fb, err)
		}
	}
}

// TestSimulatorOnServerMemoryOverStdio: server-memory with a per-persona memory file named by
// the persona's id in env: rows under the default rule's modules (create_entities → create),
// the destructive delete_* tools never offered nor called, each persona's own file written,
// every module used rated.
func TestSimulatorOnServerMemoryOverStdio(t *testing.T) {
	t.Parallel()
	argv := stdiotest.ReferenceServer(t, memory)
	m := mark(t)
	dir := t.TempDir()
	emails := []string{"cy@memory.test", "di@memory.test"}
	d := newRefDB(t, map[string]persona.ModuleMix{emails[0]: {"create": 0.5, "read": 0.2, "search": 0.3}, emails[1]: {"create": 0.7, "add": 0.3}})
	tc := target.Config{Name: "memory", Transport: target.TransportStdio, Command: argv,
		Env: map[string]string{"MEMORY_FILE_PATH": "${MEM_DIR}/${persona.id}.jsonl", "PERSONA_TEST_MARK": m}}
	res := refRun(t, d, tc, sim.New(3), map[string]string{"MEM_DIR": dir})
	if res.Due != 2 || res.RanSuccessfully != 2 {
		t.Fatalf("tick result %+v", res)
	}
	noOrphans(t, m)
	for _, email := range emails {
		acts := d.actions(t, email)
		if len(acts) == 0 {
			t.Fatalf("%s: no rows", email)
		}
		_, offered := transcriptOf(t, d.tick(t, email))
		used := map[string]bool{}
		for _, a := range acts {
			if strings.HasPrefix(a.ToolName, "delete_") {
				t.Errorf("%s: destructive %s was called", email, a.ToolName)
			}
			if want, _, _ := strings.Cut(a.ToolName, "_"); a.Module != want {
				t.Errorf("%s: %s has module %q, want %q", email, a.ToolName, a.Module, want)
			}
			used[a.Module] = true
		}
		if slices.ContainsFunc(offered, func(n string) bool { return strings.HasPrefix(n, "delete_") }) {
			t.Errorf("destructive tools offered: %v", offered)
		}
		if used["create"] {
			if _, err := os.Stat(filepath.Join(dir, d.ids[email]+".jsonl")); err != nil {
				t.Errorf("%s created entities but its own memory file is missing: %v", email, err)
			}
		}
		fb, err := d.db.Feedback(context.Background(), persona.FeedbackQuery{PersonaID: d.ids[email]})
		if err != nil || len(fb) != len(used) {
			t.Errorf("%s: ratings %+v for modules %v (%v)", email, fb, used, err)
		}
	}
}

// scriptedDay is the fake model's script of a day with server-everything's plain tools: text,
// a sum, an image, an embedded resource, resource links and the server's environment.
func scriptedDay(srv *fake.Server) {
	srv.Script(
		fake.ToolCalls(
			fake.Call("echo", `{"message":"hello from a persona"}`),
			fake.Call("get-sum", `{"a":2,"b":40}`),
			fake.Call("get-tiny-image", `{}`),
			fake.Call("get-resource-reference", `{"resourceType":"Text","resourceId":2}`),
			fake.Call("get-resource-links", `{"count":2}`),
			fake.Call("get-env", `{}`),
		),
		fake.Text("A tidy little app; the picture was tiny."),
		fake.Text(`{"ratings":[{"module":"echo","rating":5,"notes":"instant"},{"module":"get","rating":4,"notes":"fine"}]}`),
	)
}

// checkScriptedDay checks the rows and what the model was shown of the scripted day's results.
func checkScriptedDay(t *testing.T, d *refDB, email string, srv *fake.Server) {
	t.Helper()
	var got []string
	for _, a := range d.actions(t, email) {
		got = append(got, fmt.Sprintf("%d %s %s %s", a.Seq, a.ToolName, a.Module, a.Result))
	}
	want := []string{"1 echo echo ok", "2 get-sum get ok", "3 get-tiny-image get ok", "4 get-resource-reference get ok",
		"5 get-resource-links get ok", "6 get-env get ok"}
	if !slices.Equal(got, want) {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var results []model.ToolResult
	for _, r := range srv.Requests() {
		if rs := r.ToolResults(); len(rs) > len(results) {
			results = rs
		}
	}
	if len(results) != 6 {
		t.Fatalf("tool results shown to the model: %+v", results)
	}
	for i, want := range []string{"hello from a persona", "42", "[image: image/png, ", "[resource <demo://resource/dynamic/text/2>", "[resource link: ", ""} {
		if !strings.Contains(results[i].Content, want) {
			t.Errorf("result %d shown as %q, want it to hold %q", i+1, results[i].Content, want)
		}
	}
	if strings.Contains(results[2].Content, "iVBOR") {
		t.Error("the image's base64 bytes were sent to the model")
	}
	fb, err := d.db.Feedback(context.Background(), persona.FeedbackQuery{PersonaID: d.ids[email]})
	if err != nil || len(fb) != 2 {
		t.Errorf("ratings %+v %v", fb, err)
	}
	if tk := d.tick(t, email); tk.Status != persona.TickOK || tk.ToolCalls != 6 || tk.InputTokens == 0 {
		t.Errorf("tick %+v", tk)
	}
}

// TestFakeModelOnServerEverythingOverStdio: a scripted day through the real Anthropic adapter:
// every result type is handled (image described, not sent as bytes; resources by URI), and the
// server sees only the environment the target lists, never the runner's own secrets.
func TestFakeModelOnServerEverythingOverStdio(t *testing.T) {
	t.Parallel()
	argv := stdiotest.ReferenceServer(t, everything, "stdio")
	m := mark(t)
	email := "eve@everything.test"
	d := newRefDB(t, map[string]persona.ModuleMix{email: {"get": 0.5, "echo": 0.5}})
	srv := fake.New(t)
	scriptedDay(srv)
	tc := target.Config{Name: "everything", Transport: target.TransportStdio, Command: argv,
		Env: map[string]string{"PERSONA_TEST_MARK": m, "APP_GREETING": "${GREETING}"}}
	res := refRun(t, d, tc, anthropicAt(t, srv), map[string]string{"GREETING": "hello-app"})
	if res.RanSuccessfully != 1 {
		t.Fatalf("tick result %+v", res)
	}
	noOrphans(t, m)
	checkScriptedDay(t, d, email, srv)
	var env string
	for _, r := range srv.Requests() {
		if rs := r.ToolResults(); len(rs) == 6 {
			env = rs[5].Content
		}
	}
	if !strings.Contains(env, "hello-app") || !strings.Contains(env, m) {
		t.Errorf("the target's env did not reach the server: %.300s", env)
	}
	if strings.Contains(env, "PERSONA_TEST_NODE_MODULES") || strings.Contains(env, "GOPATH") {
		t.Errorf("the runner's own environment leaked to the server: %.300s", env)
	}
}

// TestFakeModelOnServerEverythingOverStreamableHTTP: the same day against server-everything in
// its streamableHttp mode, started here on a loopback port.
func TestFakeModelOnServerEverythingOverStreamableHTTP(t *testing.T) {
	t.Parallel()
	url := startEverythingHTTP(t)
	email := "fay@everything.test"
	d := newRefDB(t, map[string]persona.ModuleMix{email: {"get": 0.5, "echo": 0.5}})
	srv := fake.New(t)
	scriptedDay(srv)
	res := refRun(t, d, target.Config{Name: "everything-http", URL: url}, anthropicAt(t, srv), nil)
	if res.RanSuccessfully != 1 {
		t.Fatalf("tick result %+v", res)
	}
	checkScriptedDay(t, d, email, srv)
	if tk := d.tick(t, email); tk.ServerName != "mcp-servers/everything" {
		t.Errorf("server %q", tk.ServerName)
	}
}

func anthropicAt(t *testing.T, srv *fake.Server) model.Provider {
	t.Helper()
	s := &stack{fake: srv}
	return s.anthropic(t)
}

// startEverythingHTTP starts server-everything's streamable HTTP mode on a free loopback port
// (testdata/loopback.cjs makes it listen on 127.0.0.1 only) and returns its /mcp URL.
func startEverythingHTTP(t testing.TB) string {
	t.Helper()
	argv := stdiotest.ReferenceServer(t, everything, "streamableHttp")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	preload, err := filepath.Abs(filepath.Join("testdata", "loopback.cjs"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], append([]string{"--require", preload}, argv[1:]...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), fmt.Sprintf("PORT=%d", port)}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var seen []string
		for sc.Scan() {
			seen = append(seen, sc.Text())
			if strings.Contains(sc.Text(), "listening on port") {
				ready <- ""
			}
		}
		ready <- strings.Join(seen, "\n")
	}()
	select {
	case out := <-ready:
		if out != "" {
			t.Fatalf("server-everything streamableHttp exited:\n%s", out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server-everything streamableHttp did not start within 30s")
	}
	return fmt.Sprintf("http://127.0.0.1:%d/mcp", port)
}

// askingDay scripts a day in which server-everything asks the persona for input: a sampling
// request (answered by the persona's model) and a form (filled in by it).
func askingDay(srv *fake.Server) {
	srv.Script(
		fake.ToolCalls(fake.Call("trigger-sampling-request", `{"prompt":"Name one fruit","maxTokens":50}`)),
		fake.Text("Mango."), // the app's sampling request
		fake.ToolCalls(fake.Call("trigger-elicitation-request", `{}`)),
		fake.ToolCalls(fake.Call(model.AnswerTool, `{"name":"Ada Lovelace","check":true,"integer":7}`)), // the form
		fake.Text("The app asked me things; I answered."),
		fake.Text(`{"ratings":[{"module":"trigger","rating":4,"notes":"it asks a lot"}]}`),
	)
}

func checkAskingDay(t *testing.T, d *refDB, email string, srv *fake.Server) {
	t.Helper()
	var got []string
	for _, a := range d.actions(t, email) {
		got = append(got, fmt.Sprintf("%d %s %s %s %s", a.Seq, a.ToolName, a.Module, a.Result, a.ErrorMessage))
		if a.ToolName == "elicitation" && !strings.Contains(a.ResultPreview, "Ada Lovelace") {
			t.Errorf("elicitation row preview %q", a.ResultPreview)
		}
	}
	want := []string{"1 trigger-sampling-request trigger ok ", "2 sampling sampling ok ", "3 trigger-elicitation-request trigger ok ", "4 elicitation elicitation ok "}
	if !slices.Equal(got, want) {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	reqs := srv.Requests()
	if len(reqs) != 6 {
		t.Fatalf("%d model requests, want 6", len(reqs))
	}
	if s := reqs[1]; s.System != "You are a helpful test server." || len(s.Tools) != 0 || !strings.Contains(s.LastText(), "Name one fruit") || s.MaxTokens != 50 {
		t.Errorf("sampling request: system %q, %d tools, text %q, max %d", s.System, len(s.Tools), s.LastText(), s.MaxTokens)
	}
	if e := reqs[3]; len(e.Tools) != 2 || e.Tools[0].Name != model.AnswerTool || !strings.Contains(string(e.Tools[0].InputSchema), "firstLine") ||
		!strings.Contains(e.System, "You are") || !strings.Contains(e.LastText(), "Please provide inputs") {
		t.Errorf("elicitation request: tools %+v system %q text %q", e.Tools, e.System, e.LastText())
	}
	results := reqs[4].ToolResults()
	if len(results) != 2 || !strings.Contains(results[0].Content, "Mango.") || !strings.Contains(results[1].Content, "User provided the requested information") ||
		!strings.Contains(results[1].Content, "Ada Lovelace") {
		t.Errorf("what the app made of the answers: %+v", results)
	}
	tk := d.tick(t, email)
	if tk.Status != persona.TickOK || tk.Turns != 4 || tk.ToolCalls != 4 {
		t.Errorf("tick: status %s, %d turns (want 4: the app's requests are not turns), %d calls", tk.Status, tk.Turns, tk.ToolCalls)
	}
	// The fake bills len(body)/4+1 input tokens per request: the run's count must include the
	// app's two requests, not only the persona's four turns.
	var in int64
	for _, r := range reqs {
		in += int64(len(r.Body)/4 + 1)
	}
	if tk.InputTokens != in {
		t.Errorf("the run counted %d input tokens, the model billed %d for its 6 requests", tk.InputTokens, in)
	}
}

// TestSamplingAndElicitationOverStdio: server-everything's trigger tools ask the persona for a
// sampled reply and for a form; both are answered by the persona's model, counted in the run
// and recorded as rows of their own, between the calls that asked.
func TestSamplingAndElicitationOverStdio(t *testing.T) {
	t.Parallel()
	argv := stdiotest.ReferenceServer(t, everything, "stdio")
	m := mark(t)
	email := "gus@everything.test"
	d := newRefDB(t, map[string]persona.ModuleMix{email: {"trigger": 1}})
	srv := fake.New(t)
	askingDay(srv)
	tc := target.Config{Name: "everything", Transport: target.TransportStdio, Command: argv, Env: map[string]string{"PERSONA_TEST_MARK": m}}
	if res := refRun(t, d, tc, anthropicAt(t, srv), nil); res.RanSuccessfully != 1 {
		t.Fatalf("tick result %+v", res)
	}
	noOrphans(t, m)
	checkAskingDay(t, d, email, srv)
}

// TestSamplingAndElicitationOverStreamableHTTP: the same over streamable HTTP, where the app's
// requests arrive on the tool call's own response stream.
func TestSamplingAndElicitationOverStreamableHTTP(t *testing.T) {
	t.Parallel()
	url := startEverythingHTTP(t)
	email := "hal@everything.test"
	d := newRefDB(t, map[string]persona.ModuleMix{email: {"trigger": 1}})
	srv := fake.New(t)
	askingDay(srv)
	if res := refRun(t, d, target.Config{Name: "everything-http", URL: url}, anthropicAt(t, srv), nil); res.RanSuccessfully != 1 {
		t.Fatalf("tick result %+v", res)
	}
	checkAskingDay(t, d, email, srv)
}

// TestSimulatorAnswersTheAppsRequests: the simulator plays a persona who uses only the trigger
// tools that ask; every request the app made is a row, and each was answered (the simulator
// declines server-everything's form, which asks about a PIN).
func TestSimulatorAnswersTheAppsRequests(t *testing.T) {
	t.Parallel()
	argv := stdiotest.ReferenceServer(t, everything, "stdio")
	m := mark(t)
	email := "ivy@everything.test"
	d := newRefDB(t, map[string]persona.ModuleMix{email: {"trigger": 1}})
	tc := target.Config{Name: "everything", Transport: target.TransportStdio, Command: argv, Env: map[string]string{"PERSONA_TEST_MARK": m},
		Tools: target.PolicyConfig{Allow: []string{"trigger-sampling-request", "trigger-elicitation-request"}}}
	if res := refRun(t, d, tc, sim.New(11), nil); res.RanSuccessfully != 1 {
		t.Fatalf("tick result %+v", res)
	}
	noOrphans(t, m)
	triggers, asked := 0, map[string]int{}
	for _, a := range d.actions(t, email) {
		switch a.ToolName {
		case "trigger-sampling-request", "trigger-elicitation-request":
			// A call that failed may have asked nothing: the simulator's boundary probe
			// maxTokens 5.5 goes out in the app's sampling request, which the client refuses
			// as invalid params (maxTokens is an integer) before anyone answers.
			if a.Result == persona.ResultOK {
				triggers++
			}
		case "sampling", "elicitation":
			asked[a.ToolName]++
			if a.Result != persona.ResultOK {
				t.Errorf("%s row: %s", a.ToolName, a.ErrorMessage)
			}
			if a.ToolName == "elicitation" && !strings.HasPrefix(a.ResultPreview, "declined") {
				t.Errorf("elicitation preview %q, want the simulator to decline a form that asks about a PIN", a.ResultPreview)
			}
		default:
			t.Errorf("%s was called, but only the trigger tools are allowed", a.ToolName)
		}
	}
	if triggers == 0 || asked["sampling"]+asked["elicitation"] != triggers {
		t.Errorf("%d trigger calls that worked, app requests recorded %v", triggers, asked)
	}
}
