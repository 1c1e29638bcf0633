package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/persona-runner/persona-runner/app"
	"github.com/persona-runner/persona-runner/catalog"
	"github.com/persona-runner/persona-runner/config"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/report"
	"github.com/persona-runner/persona-runner/runner"
	"github.com/persona-runner/persona-runner/store"
)

// upStart is a Wednesday morning in every time zone of the default catalog (São Paulo 06:00,
// Sydney 19:00), so the weekday personas are due too; the tests pin the clock to it so that
// they do not depend on the day they run on, and two runs see the same dates.
const upStart = "2025-06-04T09:00:00Z"

// upArgs are the arguments of an offline `up --once` on dir with every server on a free port.
func upArgs(dir string, extra ...string) []string {
	return append([]string{"up", "--once", "--data", dir, "--auth-addr", "127.0.0.1:0", "--mcp-addr", "127.0.0.1:0",
		"--runner-addr", "127.0.0.1:0", "--provider", "sim", "--seed", "1", "--start-time", upStart}, extra...)
}

// runs are the tick records of every persona in the store at dsn, by persona email.
func runsByEmail(t *testing.T, db store.DB) map[string][]persona.Tick {
	t.Helper()
	ctx := context.Background()
	people, err := db.ListPersonas(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]persona.Tick{}
	for _, p := range people {
		ticks, err := db.Ticks(ctx, persona.TickQuery{PersonaID: p.UserID})
		if err != nil {
			t.Fatal(err)
		}
		out[p.Email] = ticks
	}
	return out
}

// TestUpOnce runs the whole loop offline twice on one data directory and once on another: the
// first start seeds and runs every persona, the second finds nobody due, and the same seed on the
// same (pinned) day plays the same conversations.
func TestUpOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dirA, dirB := t.TempDir(), t.TempDir()

	code, out, errOut := run(t, nil, upArgs(dirA)...)
	if code != 0 {
		t.Fatalf("up --once: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"first start: seeded the default catalog (10 personas, 2 shared spaces",
		"provider: the offline simulator " + config.DefaultSimModel + " (not an LLM; seed 1)",
		"PERSONA", "RATINGS", "10 runs: 10 ok, 0 failed",
		"next: persona-runner report --data " + dirA,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	// The start-up check mints the first persona's token as the runs do (by its stored id).
	if strings.Contains(out+errOut, "mint token failed") {
		t.Errorf("up --once could not mint a token:\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}

	db := openStore(t, dbPath(dirA))
	emails := catalog.Default().Emails()
	first := runsByEmail(t, db)
	if len(first) != len(emails) {
		t.Fatalf("store has %d personas, want the %d of the default catalog", len(first), len(emails))
	}
	for _, email := range emails {
		ticks := first[email]
		if len(ticks) != 1 {
			t.Errorf("%s: %d tick records, want 1", email, len(ticks))
			continue
		}
		tk := ticks[0]
		if tk.Status != persona.TickOK || tk.ToolCalls == 0 || len(tk.Transcript) == 0 {
			t.Errorf("%s: tick %+v, want status ok with tool calls and a transcript", email, tk)
		}
		actions, err := db.Actions(ctx, persona.ActionQuery{TickID: tk.TickID})
		if err != nil {
			t.Fatal(err)
		}
		if len(actions) != tk.ToolCalls {
			t.Errorf("%s: %d action rows, the tick record counts %d calls", email, len(actions), tk.ToolCalls)
		}
		fb, err := db.Feedback(ctx, persona.FeedbackQuery{TickID: tk.TickID})
		if err != nil {
			t.Fatal(err)
		}
		if len(fb) == 0 {
			t.Errorf("%s: no feedback rows", email)
		}
		if !strings.Contains(out, email) {
			t.Errorf("summary lacks a row for %s", email)
		}
	}

	// The second start on the same store: the personas exist, so nothing is seeded, and every
	// one of them ran moments ago on this (pinned) clock. Daily and weekday personas are due
	// again after 24 hours and hourly ones after one, so nobody is due and nothing is written.
	code, out2, errOut2 := run(t, nil, upArgs(dirA)...)
	if code != 0 {
		t.Fatalf("second up --once: exit %d\nstdout:\n%s\nstderr:\n%s", code, out2, errOut2)
	}
	if strings.Contains(out2, "first start") {
		t.Errorf("second start seeded again:\n%s", out2)
	}
	if !strings.Contains(out2, "nobody was due") {
		t.Errorf("second start does not say that nobody was due:\n%s", out2)
	}
	if diff := cmp.Diff(tickIDs(first), tickIDs(runsByEmail(t, db))); diff != "" {
		t.Errorf("second start changed the tick records (-before +after):\n%s", diff)
	}

	// Another store, the same seed and day: the same conversations, persona by persona.
	if code, out, errOut := run(t, nil, upArgs(dirB)...); code != 0 {
		t.Fatalf("up --once on a second store: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	second := runsByEmail(t, openStore(t, dbPath(dirB)))
	for _, email := range emails {
		if len(second[email]) != 1 {
			t.Fatalf("%s: %d tick records in the second store, want 1", email, len(second[email]))
		}
		a, b := normalizeTranscript(t, first[email][0].Transcript), normalizeTranscript(t, second[email][0].Transcript)
		if diff := cmp.Diff(a, b); diff != "" {
			t.Errorf("%s: transcripts differ with the same seed (-first +second):\n%s", email, diff)
		}
	}
}

func tickIDs(runs map[string][]persona.Tick) map[string][]string {
	out := map[string][]string{}
	for email, ticks := range runs {
		for _, tk := range ticks {
			out[email] = append(out[email], tk.TickID+" "+string(tk.Status))
		}
	}
	return out
}

var (
	uuidPattern = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	// Timestamps with a time of day; plain dates stay, they are part of what must match.
	timePattern = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`)
)

// normalizeTranscript replaces what two stores cannot share: the ids the app and the store give
// records (random UUIDs, so a todo created in each store has a different id) and instants (the
// pinned clock advances with real time, so a record created a few milliseconds later in one run
// has another createdAt). Everything else — the prompts, which tools were called with which
// arguments, what they answered, the summary and the ratings — must be equal.
func normalizeTranscript(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("transcript is not JSON: %v", err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	s := uuidPattern.ReplaceAllString(string(b), "<uuid>")
	return timePattern.ReplaceAllString(s, "<time>")
}

// TestUpPortInUse: a taken port stops `up` before it touches the store, naming the flag.
func TestUpPortInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	code, _, errOut := run(t, nil, "up", "--once", "--data", dir, "--auth-addr", "127.0.0.1:0",
		"--mcp-addr", ln.Addr().String(), "--runner-addr", "127.0.0.1:0", "--provider", "sim")
	if code != 3 {
		t.Fatalf("exit %d, want 3; stderr %q", code, errOut)
	}
	for _, want := range []string{"--mcp-addr " + ln.Addr().String(), "already in use"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("a failed start wrote %v (%v)", entries, err)
	}
}

// TestUpSaysWhoRests: on a Sunday the three weekday personas of the default catalog are not due
// (SPEC §6); up says so instead of silently running seven of ten, and does not run them.
func TestUpSaysWhoRests(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, out, errOut := run(t, nil, "up", "--once", "--data", dir, "--auth-addr", "127.0.0.1:0", "--mcp-addr", "127.0.0.1:0",
		"--runner-addr", "127.0.0.1:0", "--provider", "sim", "--seed", "1", "--start-time", "2025-06-08T12:00:00Z")
	if code != 0 {
		t.Fatalf("up --once on a Sunday: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	want := "resting today: 3 weekday personas (persona.diego@mana.test, persona.maya@mana.test, persona.priya@mana.test): it is the weekend"
	if !strings.Contains(out, want) || !strings.Contains(out, "7 runs: 7 ok, 0 failed") {
		t.Errorf("stdout lacks %q or the 7 runs:\n%s", want, out)
	}
	runs := runsByEmail(t, openStore(t, dbPath(dir)))
	for _, email := range []string{"persona.diego@mana.test", "persona.maya@mana.test", "persona.priya@mana.test"} {
		if len(runs[email]) != 0 {
			t.Errorf("%s ran on a Sunday: %+v", email, runs[email])
		}
	}
	code, out, _ = run(t, nil, upArgs(t.TempDir())...) // a Wednesday: nobody rests
	if code != 0 || strings.Contains(out, "resting today") {
		t.Errorf("on a Wednesday: exit %d, stdout:\n%s", code, out)
	}
}

// TestUpOncePaused: --once with a paused runner would run nobody; it is refused before anything
// is written.
func TestUpOncePaused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, _, errOut := run(t, map[string]string{"RUNNER_PAUSED": "true"}, upArgs(dir)...)
	if code != 2 || !strings.Contains(errOut, "--once runs one tick, but the runner is configured paused") {
		t.Fatalf("exit %d, stderr %q; want 1 and the paused message", code, errOut)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("a refused start wrote %v (%v)", entries, err)
	}
}

// TestUpBadFlags: each bad flag is refused by name.
func TestUpBadFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--provider", "gpt"}, 2, `--provider must be one of "","anthropic","openai","sim" but got "gpt"`},
		{[]string{"--concurrency=-1"}, 2, "--concurrency: must be a positive number"},
		{[]string{"--start-time", "tomorrow"}, 2, "--start-time must be an RFC 3339 time"},
		{[]string{"--provider", "anthropic"}, 2, "the anthropic provider needs ANTHROPIC_API_KEY"},
		{[]string{"--provider", "openai"}, 2, "the openai provider needs OPENAI_API_KEY for the public OpenAI endpoint, or OPENAI_BASE_URL"},
	} {
		dir := t.TempDir()
		args := append([]string{"up", "--once", "--data", dir, "--auth-addr", "127.0.0.1:0", "--mcp-addr", "127.0.0.1:0",
			"--runner-addr", "127.0.0.1:0"}, tc.args...)
		code, _, errOut := run(t, nil, args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("up %v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

// TestUpNoKeySaysSimulator: without any model key, up says in one line that it uses the
// simulator, and that the simulator is not an LLM.
func TestUpNoKeySaysSimulator(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	args := []string{"up", "--once", "--data", dir, "--auth-addr", "127.0.0.1:0", "--mcp-addr", "127.0.0.1:0",
		"--runner-addr", "127.0.0.1:0", "--seed", "3", "--start-time", upStart}
	// One persona keeps this quick; an existing persona also means nothing is seeded.
	seedOne(t, dir, "persona.solo@mana.test", persona.ModuleMix{"notes": 1})
	code, out, errOut := run(t, nil, args...)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "simulator") {
			lines = append(lines, l)
		}
	}
	want := []string{"no model key found: using the offline simulator (not an LLM; seed 3); set ANTHROPIC_API_KEY or OPENAI_BASE_URL for real personas"}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("lines about the simulator (-want +got):\n%s\nstdout:\n%s", diff, out)
	}
	if strings.Contains(out, "first start") {
		t.Errorf("seeded a store that had a persona:\n%s", out)
	}
}

// seedOne creates one persona with the development seed secret in the store under dir.
func seedOne(t *testing.T, dir, email string, mix persona.ModuleMix) {
	t.Helper()
	db := openStore(t, dbPath(dir))
	pw, err := persona.DerivePassword(persona.DevSeedSecret, email)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.UpsertPersona(context.Background(), persona.PersonaInput{
		Email: email, Name: "Tester", Password: pw, Archetype: "careful-tester",
		SystemPrompt: "You try every feature once.", ModuleMix: mix, TickCadence: persona.Daily, Timezone: "UTC",
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// brokenTool is the one tool of the test-only module "broken". It is a tool of the demo app like
// the others, served through the same gateway, and it always fails, as a tool with a bug would.
const brokenTool = "broken.save"

type brokenDraft struct {
	Title string `json:"title" jsonschema:"The draft's title." schema:"maxLength=80"`
}

func brokenModule() []app.Tool {
	return []app.Tool{app.Define(brokenTool, "Save a draft.", app.ScopeUserSpace, app.PolicyWrite,
		func(context.Context, brokenDraft) (any, error) { return nil, errors.New("the drafts table is missing") })}
}

// TestUpFailingToolTopsReport: a module whose tool always fails ends up first among report's
// failing tools, with the lowest rating.
func TestUpFailingToolTopsReport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	// The tester spends nearly all its day in the broken module; a second persona uses only
	// working modules, so there are other ratings (and the odd rejected input) to compare with.
	// The personas are written to the store directly: a catalog file may only name the demo
	// app's own modules, and "broken" is not one of them.
	seedOne(t, dir, "persona.tester@mana.test", persona.ModuleMix{"broken": 0.9, "notes": 0.1})
	seedOne(t, dir, "persona.control@mana.test", persona.ModuleMix{"notes": 0.5, "todo": 0.5})
	seed := int64(1)
	var out, errOut bytes.Buffer
	cmd := &UpCmd{StoreFlags: StoreFlags{Data: dir}, Once: true, AuthAddr: "127.0.0.1:0", MCPAddr: "127.0.0.1:0",
		RunnerAddr: "127.0.0.1:0", Provider: "sim", Seed: &seed, StartTime: upStart, extraTools: brokenModule(), HTTPFlags: defaultHTTPFlags()}
	if err := cmd.Run(&Env{Ctx: ctx, Stdout: &out, Stderr: &errOut, Getenv: testEnv(nil)}); err != nil {
		t.Fatalf("up --once: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}

	db := openStore(t, dbPath(dir))
	start, _ := time.Parse(time.RFC3339, upStart)
	offered := append(offeredTools(), brokenTool)
	r, err := report.Build(ctx, db, report.Options{Now: start.Add(time.Hour), Since: 7 * 24 * time.Hour, Offered: offered})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.FailingTools) == 0 || r.FailingTools[0].Tool != brokenTool {
		t.Fatalf("failing tools %+v, want %s first\nstdout:\n%s", r.FailingTools, brokenTool, out.String())
	}
	if f := r.FailingTools[0]; f.Errors != f.Calls || f.Errors == 0 {
		t.Errorf("%s: %d errors of %d calls, want every call failed", brokenTool, f.Errors, f.Calls)
	}
	ratings := map[string]float64{}
	for _, m := range r.Modules {
		ratings[m.Module] = m.AvgRating
	}
	broken, ok := ratings["broken"]
	if !ok || broken > 2 {
		t.Fatalf("module ratings %v: want broken rated, at most 2", ratings)
	}
	for m, avg := range ratings {
		if m != "broken" && avg <= broken {
			t.Errorf("module %s rated %.1f, not above broken's %.1f", m, avg, broken)
		}
	}
	if c := r.Coverage; c.Offered != len(offered) || slices.Contains(c.NeverUsed, brokenTool) {
		t.Errorf("coverage %+v, want all %d tools offered and %s used", c, len(offered), brokenTool)
	}
	if !strings.Contains(out.String(), "broken 1") {
		t.Errorf("summary does not show broken's rating:\n%s", out.String())
	}
}

// signalWriter collects output and closes seen once it contains want.
type signalWriter struct {
	mu   sync.Mutex
	b    bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.b.Write(p)
	if strings.Contains(w.b.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestUpRunsUntilCancelled: without --once, up ticks at once, keeps serving, and on Ctrl-C (the
// context ending) stops the runner and the servers and returns 0.
func TestUpRunsUntilCancelled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seedOne(t, dir, "persona.solo@mana.test", persona.ModuleMix{"todo": 1})
	out := &signalWriter{want: "1 run: ", seen: make(chan struct{})}
	var errOut bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	go func() {
		code <- Run(ctx, []string{"up", "--data", dir, "--auth-addr", "127.0.0.1:0", "--mcp-addr", "127.0.0.1:0",
			"--runner-addr", "127.0.0.1:0", "--provider", "sim", "--seed", "2", "--interval", "1h", "--start-time", upStart},
			out, &errOut, testEnv(nil))
	}()
	select {
	case <-out.seen:
	case c := <-code:
		t.Fatalf("up returned %d before its first tick finished\nstdout:\n%s\nstderr:\n%s", c, out.String(), errOut.String())
	}
	// The runner's HTTP API is up while up runs.
	m := regexp.MustCompile(`runner (http://\S+)/health`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no runner URL in the output:\n%s", out.String())
	}
	resp, err := http.Get(m[1] + "/health")
	if err != nil {
		t.Fatal(err)
	}
	var health struct {
		Status   string         `json:"status"`
		LastTick *runner.Result `json:"lastTick"`
	}
	err = json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if err != nil || health.Status != "ok" || health.LastTick == nil || health.LastTick.RanSuccessfully != 1 {
		t.Errorf("GET /health: %+v (%v), want ok with a last tick of one successful run", health, err)
	}
	// The dashboard is at the runner's address, open on loopback, with the run just made.
	if code, body := httpGet(t, m[1]+"/personas/persona.solo@mana.test"); code != http.StatusOK ||
		!strings.Contains(body, "persona.solo@mana.test") || !strings.Contains(body, "✓ ok") || !strings.Contains(body, "Run a tick now") {
		t.Errorf("dashboard persona page: %d\n%s", code, body)
	}

	cancel()
	if c := <-code; c != 0 {
		t.Fatalf("exit %d after Ctrl-C, want 0\nstdout:\n%s\nstderr:\n%s", c, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "stopping: ") {
		t.Errorf("no word of stopping:\n%s", out.String())
	}
	if _, err := http.Get(m[1] + "/health"); err == nil {
		t.Errorf("the runner's HTTP API still answers after up returned")
	}
	ticks := runsByEmail(t, openStore(t, dbPath(dir)))["persona.solo@mana.test"]
	if len(ticks) != 1 || ticks[0].Status != persona.TickOK {
		t.Errorf("ticks %+v, want one ok", ticks)
	}
}

// TestUpReportHintRedacted checks that the "next:" hint never prints a database password: it is
// redacted as everywhere else (config.RedactDSN).
func TestUpReportHintRedacted(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		flags StoreFlags
		want  string
	}{
		{StoreFlags{DB: "postgres://app:s3cret@db:5432/persona"}, "persona-runner report --db postgres://app:xxxxx@db:5432/persona"},
		{StoreFlags{Data: "./my data"}, "persona-runner report --data './my data'"},
		{StoreFlags{}, "persona-runner report"},
	} {
		if got := (&UpCmd{StoreFlags: tt.flags}).reportHint(); got != tt.want {
			t.Errorf("reportHint(%+v) = %q, want %q", tt.flags, got, tt.want)
		}
	}
}
