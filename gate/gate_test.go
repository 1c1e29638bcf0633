package gate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"

	"github.com/persona-runner/persona-runner/findings"
	"github.com/persona-runner/persona-runner/gate"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/sqlite"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// fixture: three personas, a run each on the last three days. Ben's notes.search fails with a
// server error (new this week), Cleo's last rating reply was unusable, Anna's last run failed,
// journal is rated 2.
func fixture(t *testing.T) persona.Store {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"), sqlite.WithPasswordCost(bcrypt.MinCost))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for pi, n := range []string{"anna", "ben", "cleo"} {
		id, _, err := db.UpsertPersona(ctx, persona.PersonaInput{Email: "persona." + n + "@mana.test", Name: n, Password: "pw-" + n + "-long-enough",
			Archetype: "tester", SystemPrompt: "You are a careful tester who tries every feature once.", ModuleMix: persona.ModuleMix{"todo": 1}})
		if err != nil {
			t.Fatal(err)
		}
		for day := 1; day <= 3; day++ {
			start := now.Add(-time.Duration(day)*24*time.Hour + time.Duration(pi)*time.Minute)
			fin := start.Add(75 * time.Second)
			tick := fmt.Sprintf("t%d-%s", day, n)
			run := persona.RunRecord{Tick: persona.Tick{TickID: tick, PersonaID: id, RunnerID: "r1", Status: persona.TickOK,
				StartedAt: start, FinishedAt: &fin, ToolCalls: 3, Model: "sim", Summary: n + " planned the day & <more>.",
				Target: "demo", ServerVersion: "2.0.0"}}
			act := func(tool, args string, ok bool, msg string) {
				a := persona.Action{TickID: tick, ToolName: tool, Seq: len(run.Actions), Result: persona.ResultOK, LatencyMs: persona.Latency(40),
					CreatedAt: start.Add(time.Duration(len(run.Actions)) * time.Second), Arguments: json.RawMessage(args)}
				if !ok {
					a.Result, a.ErrorMessage = persona.ResultError, msg
					run.Tick.Errors++
				}
				run.Actions = append(run.Actions, a)
			}
			act("todo.create", `{"title":"call mum"}`, true, "")
			act("notes.create", `{"title":"Zoë — 東京"}`, true, "")
			act("notes.search", `{"query":"milk"}`, n != "ben", "internal error: search index unavailable")
			run.Feedback = []persona.Feedback{
				{TickID: tick, Module: "todo", Rating: 5, Notes: "todo was quick", CreatedAt: fin},
				{TickID: tick, Module: "journal", Rating: 2, Notes: "journal lost my entry", CreatedAt: fin},
			}
			if n == "cleo" && day == 1 {
				run.Tick.Status, run.Tick.Error = persona.TickDegraded, "rating: unusable rating reply"
				run.Feedback = append(run.Feedback, persona.Feedback{TickID: tick, Module: findings.ParseModule, Rating: 3,
					Notes: "unusable rating reply", CreatedAt: fin})
			}
			if n == "anna" && day == 1 {
				run.Tick.Status, run.Tick.Error = persona.TickFailed, "mcp: connect to MCP: no answer within 30s"
			}
			if _, err := db.RecordRun(ctx, run); err != nil {
				t.Fatal(err)
			}
		}
	}
	return db
}

func evaluate(t *testing.T, th gate.Thresholds) *gate.Outcome {
	t.Helper()
	o, err := gate.Evaluate(context.Background(), fixture(t), gate.Options{Findings: findings.Options{Now: now, Since: 7 * 24 * time.Hour}, Thresholds: th})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	o := evaluate(t, gate.DefaultThresholds())
	if o.Passed || len(o.Runs) != 9 || o.ToolCalls != 27 || o.ToolErrors != 3 || o.UnusableRatings != 1 {
		t.Fatalf("outcome: passed %v, %d runs, %d calls, %d errors, %d unusable", o.Passed, len(o.Runs), o.ToolCalls, o.ToolErrors, o.UnusableRatings)
	}
	failed := map[string]bool{}
	for _, c := range o.Failed() {
		failed[c.Name] = true
	}
	want := map[string]bool{"min-rating": true, "max-error-rate": true, "max-unusable-ratings": true, "new-findings": true, "failed-runs": true}
	if diff := cmp.Diff(want, failed); diff != "" {
		t.Errorf("failed checks (-want +got):\n%s", diff)
	}
	// Loose thresholds and no conditions: the same week passes.
	o = evaluate(t, gate.Thresholds{MinRating: 2, MaxErrorRate: 0.2, MaxUnusable: 1, FailOn: []string{}})
	if !o.Passed {
		t.Errorf("loose thresholds failed: %+v", o.Failed())
	}
}

// A run its runner left behind (abandoned, e.g. after kill -9) counts as a failed run.
func TestAbandonedRunFails(t *testing.T) {
	t.Parallel()
	s := fixture(t)
	ctx := context.Background()
	p, err := s.PersonaByEmail(ctx, "persona.ben@mana.test")
	if err != nil {
		t.Fatal(err)
	}
	start := now.Add(-time.Hour)
	if err := s.RecordTick(ctx, persona.Tick{TickID: "gone", PersonaID: p.UserID, RunnerID: "r9", Status: persona.TickAbandoned,
		StartedAt: start, FinishedAt: &start, Error: "abandoned: runner r9 ended without finishing the run"}); err != nil {
		t.Fatal(err)
	}
	o, err := gate.Evaluate(ctx, s, gate.Options{Findings: findings.Options{Now: now, Since: 7 * 24 * time.Hour},
		Thresholds: gate.Thresholds{FailOn: []string{gate.FailFailedRuns}, MaxErrorRate: -1, MaxUnusable: -1}})
	if err != nil {
		t.Fatal(err)
	}
	if o.Passed || len(o.Failed()) != 1 || o.Failed()[0].Value != "2" {
		t.Errorf("failed checks = %+v; want failed-runs with 2 (the failed and the abandoned run)", o.Failed())
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]float64{"5%": 0.05, "0.5%": 0.005, "0.1": 0.1, "100%": 1} {
		if got, err := gate.ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "5 %", "abc", "120%", "-1%"} {
		if _, err := gate.ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) accepted", in)
		}
	}
	if got, err := gate.ParseFailOn("regressions, failed-runs"); err != nil || !cmp.Equal(got, []string{"regressions", "failed-runs"}) {
		t.Errorf("ParseFailOn = %v, %v", got, err)
	}
	if _, err := gate.ParseFailOn("new-findings,flaky"); err == nil || !strings.Contains(err.Error(), `"flaky"`) {
		t.Errorf("ParseFailOn(flaky) err = %v", err)
	}
}

func TestGolden(t *testing.T) {
	t.Parallel()
	o := evaluate(t, gate.DefaultThresholds())
	for _, format := range gate.Formats {
		var buf bytes.Buffer
		if err := gate.Write(&buf, o, format); err != nil {
			t.Fatal(err)
		}
		ext := map[string]string{"junit": "xml", "html": "html", "json": "json", "markdown": "md", "table": "txt"}[format]
		path := filepath.Join("testdata", "check."+ext+".golden")
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create)", err)
		}
		if diff := cmp.Diff(string(want), buf.String()); diff != "" {
			t.Errorf("%s differs from %s (-want +got):\n%s", format, path, diff)
		}
	}
	if err := gate.Write(&bytes.Buffer{}, o, "yaml"); err == nil || !strings.Contains(err.Error(), "format") {
		t.Errorf("unknown format: %v", err)
	}
}

// The JUnit file has what CI systems read: testsuites > testsuite (name, tests, failures,
// errors, time, timestamp) > testcase (name, classname, time) > failure (message, type, text).
func TestJUnitStructure(t *testing.T) {
	t.Parallel()
	o := evaluate(t, gate.DefaultThresholds())
	var buf bytes.Buffer
	if err := gate.Write(&buf, o, "junit"); err != nil {
		t.Fatal(err)
	}
	type failure struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
	type tc struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Time      *string  `xml:"time,attr"`
		Failure   *failure `xml:"failure"`
	}
	type suite struct {
		Name      string  `xml:"name,attr"`
		Tests     int     `xml:"tests,attr"`
		Failures  int     `xml:"failures,attr"`
		Errors    *int    `xml:"errors,attr"`
		Time      *string `xml:"time,attr"`
		Timestamp string  `xml:"timestamp,attr"`
		Cases     []tc    `xml:"testcase"`
	}
	var doc struct {
		XMLName  xml.Name `xml:"testsuites"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Suites   []suite  `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("junit does not parse: %v", err)
	}
	if len(doc.Suites) != 2 || doc.Suites[0].Name != "persona runs" || doc.Suites[0].Tests != 9 || len(doc.Suites[0].Cases) != 9 {
		t.Fatalf("suites: %+v", doc.Suites)
	}
	failures, tests := 0, 0
	for _, s := range doc.Suites {
		if s.Errors == nil || s.Time == nil || s.Timestamp == "" || s.Failures > s.Tests {
			t.Errorf("suite %q lacks errors/time/timestamp: %+v", s.Name, s)
		}
		n := 0
		for _, c := range s.Cases {
			if c.Name == "" || c.Classname == "" || c.Time == nil {
				t.Errorf("testcase lacks name/classname/time: %+v", c)
			}
			if c.Failure != nil {
				n++
				if c.Failure.Message == "" || c.Failure.Type == "" || c.Failure.Text == "" {
					t.Errorf("failure of %q lacks message/type/text: %+v", c.Name, c.Failure)
				}
			}
		}
		if n != s.Failures {
			t.Errorf("suite %q: failures=%d, failed cases %d", s.Name, s.Failures, n)
		}
		failures += n
		tests += len(s.Cases)
	}
	if doc.Tests != tests || doc.Failures != failures {
		t.Errorf("testsuites: tests %d failures %d; cases %d failed %d", doc.Tests, doc.Failures, tests, failures)
	}
	// Ben's runs fail with the finding's text.
	for _, c := range doc.Suites[0].Cases {
		if strings.Contains(c.Name, "persona.ben@") && (c.Failure == nil || !strings.Contains(c.Failure.Text, "notes.search failed: internal error: search index unavailable") ||
			!strings.Contains(c.Failure.Text, "F-")) {
			t.Errorf("ben's run %q: failure %+v", c.Name, c.Failure)
		}
	}
}

// The HTML file is self-contained (no external asset, no script) and opens in headless
// Chromium with no console error, showing the verdict and both charts.
func TestHTMLInChromium(t *testing.T) {
	t.Parallel()
	o := evaluate(t, gate.DefaultThresholds())
	var buf bytes.Buffer
	if err := gate.Write(&buf, o, "html"); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, bad := range []string{"<script", "src=", "href=", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("the page refers to something outside itself: %q", bad)
		}
	}
	path := ""
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; .ci/run installs Debian's chromium package")
		}
		t.Skip("chromium is not installed (apt-get install chromium, as .ci/run does)")
	}
	file := filepath.Join(t.TempDir(), "check.html")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	profile := t.TempDir()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(profile))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1200, 900)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	var (
		mu   sync.Mutex
		errs []string
	)
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				errs = append(errs, m.String())
				mu.Unlock()
			}
		}
	}()
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+file), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.title`))
	if err != nil {
		t.Fatal(err)
	}
	svgs, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg").length`))
	if err != nil {
		t.Fatal(err)
	}
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg rect").length`))
	if err != nil {
		t.Fatal(err)
	}
	if title != "persona-runner check: FAILED" || svgs != 2 || bars < 4 {
		t.Errorf("page: title %q, %d svg, %d bars", title, svgs, bars)
	}
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
