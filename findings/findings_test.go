package findings_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"

	"github.com/persona-runner/persona-runner/findings"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/postgres/pgtest"
	"github.com/persona-runner/persona-runner/store/sqlite"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// now is the end of the window the tests look at: a Wednesday.
var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// stores runs fn on a fresh SQLite store and, with PERSONA_TEST_POSTGRES_URL, a PostgreSQL one.
func stores(t *testing.T, fn func(t *testing.T, s persona.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "f.db"), sqlite.WithPasswordCost(bcrypt.MinCost))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		fn(t, db)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, pgtest.NewDB(t))
	})
}

// fixture writes, through the public store API, two weeks of runs of six personas:
//   - notes.create fails with a server error whenever the title is not ASCII;
//   - calendar.listEvents took ~100 ms on app version 1.0.0 and ~900 ms on 2.0.0 (this week);
//   - journal's ratings fell from 4–5 to 1–3 this week; todo's wobble between 4 and 5;
//   - todo.create rejects a missing title, which only clumsy ben ever sends;
//   - one rating reply was unusable (a degraded run) and one run failed.
func fixture(t *testing.T, s persona.Store) {
	t.Helper()
	ctx := context.Background()
	names := []string{"anna", "ben", "cleo", "dev", "emma", "finn"}
	ids := map[string]string{}
	for _, n := range names {
		id, _, err := s.UpsertPersona(ctx, persona.PersonaInput{Email: "persona." + n + "@mana.test", Name: n, Password: "pw-" + n,
			Archetype: "tester", SystemPrompt: "You are a careful tester who tries every feature once.",
			ModuleMix: persona.ModuleMix{"todo": 1}})
		if err != nil {
			t.Fatal(err)
		}
		ids[n] = id
	}
	journalBefore := []int{5, 5, 4, 5, 4, 5}
	journalNow := []int{2, 1, 3, 2, 2, 3}
	todoBefore := []int{4, 5, 4, 4, 5, 4}
	todoNow := []int{5, 4, 4, 5, 4, 4}
	for week := 0; week < 2; week++ {
		version := "1.0.0"
		if week == 1 {
			version = "2.0.0"
		}
		for i, n := range names {
			start := now.AddDate(0, 0, -13+7*week+i).Add(time.Duration(i) * time.Minute)
			tick := fmt.Sprintf("w%d-%s", week, n)
			fin := start.Add(2 * time.Minute)
			run := persona.RunRecord{Tick: persona.Tick{TickID: tick, PersonaID: ids[n], RunnerID: "r", Status: persona.TickOK,
				StartedAt: start, FinishedAt: &fin, Target: "demo", ServerName: "mana", ServerVersion: version}}
			at := func(k int) time.Time { return start.Add(time.Duration(k) * time.Second) }
			act := func(tool, args string, ok bool, msg string, latency int64) {
				a := persona.Action{TickID: tick, ToolName: tool, Seq: len(run.Actions) + 1, Result: persona.ResultOK,
					LatencyMs: persona.Latency(latency), CreatedAt: at(len(run.Actions)), Arguments: json.RawMessage(args)}
				if !ok {
					a.Result, a.ErrorMessage = persona.ResultError, msg
				}
				run.Actions = append(run.Actions, a)
			}
			title := `{"title":"Groceries"}`
			if i%2 == 1 {
				title = `{"title":"Zoë — 東京 ✓"}`
			}
			act("notes.create", title, i%2 == 0, "internal error: notes.create failed; try again later", 40)
			slow := int64(90 + 5*i)
			if week == 1 {
				slow = int64(880 + 5*i)
			}
			act("calendar.listEvents", `{"from":"2026-11-20"}`, true, "", slow)
			act("calendar.listEvents", `{"from":"2026-11-21"}`, true, "", slow+3)
			if n == "ben" {
				act("todo.create", `{"due":"tomorrow"}`, false, "invalid input: title: is required", 12)
			} else {
				act("todo.create", `{"title":"call mum","password":"hunter2"}`, true, "", 12)
			}
			for _, m := range []struct {
				mod    string
				before []int
				now    []int
			}{{"journal", journalBefore, journalNow}, {"todo", todoBefore, todoNow}} {
				r := m.before[i]
				if week == 1 {
					r = m.now[i]
				}
				run.Feedback = append(run.Feedback, persona.Feedback{TickID: tick, Module: m.mod, Rating: r,
					Notes: fmt.Sprintf("%s felt like a %d today", m.mod, r), CreatedAt: fin})
			}
			if week == 1 && n == "emma" {
				run.Tick.Status, run.Tick.Error = persona.TickDegraded, "rating: unusable rating reply"
				run.Feedback = append(run.Feedback, persona.Feedback{TickID: tick, Module: findings.ParseModule, Rating: 3,
					Notes: "unusable rating reply: no JSON object in the reply — reply began: lovely day", CreatedAt: fin})
			}
			if _, err := s.RecordRun(ctx, run); err != nil {
				t.Fatal(err)
			}
		}
	}
	fin := now.Add(-time.Hour)
	if err := s.RecordTick(ctx, persona.Tick{TickID: "failed-1", PersonaID: ids["finn"], RunnerID: "r", Status: persona.TickFailed,
		StartedAt: now.Add(-2 * time.Hour), FinishedAt: &fin, Error: "mcp: connect to MCP: no answer within 30s", Target: "demo"}); err != nil {
		t.Fatal(err)
	}
}

func TestFindingsOnAFixtureStore(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, s persona.Store) {
		fixture(t, s)
		res, err := findings.Build(context.Background(), s, findings.Options{Now: now, Since: 7 * 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		byKind := map[findings.Kind][]findings.Finding{}
		for _, f := range res.Findings {
			byKind[f.Kind] = append(byKind[f.Kind], f)
		}
		// The non-ASCII failure of notes.create: a server error, three personas, open.
		var notes, todo findings.Finding
		for _, f := range byKind[findings.KindToolError] {
			switch f.Tool {
			case "notes.create":
				notes = f
			case "todo.create":
				todo = f
			}
		}
		if notes.ErrorClass != "server-error" || notes.Occurrences != 3 || len(notes.Personas) != 3 || notes.Severity != findings.SeverityHigh ||
			notes.Status != findings.StatusOpen || len(notes.Samples) != 3 || !strings.Contains(string(notes.Samples[0].Arguments), "東京") ||
			cmp.Diff([]string{"2.0.0"}, notes.Versions) != "" || notes.New {
			t.Errorf("notes.create finding: %+v", notes)
		}
		// The clumsy persona's invalid input: a persona mistake, low severity.
		if todo.ErrorClass != "invalid-input" || todo.Cause != "persona-mistake" || todo.Severity != findings.SeverityLow ||
			cmp.Diff([]string{"persona.ben@mana.test"}, todo.Personas) != "" || todo.Occurrences != 1 {
			t.Errorf("todo.create finding: %+v", todo)
		}
		// calendar.listEvents got slower in 2.0.0: a regression against the baseline.
		slow := byKind[findings.KindSlowTool]
		if len(slow) != 1 || slow[0].Tool != "calendar.listEvents" || !slow[0].Regression || slow[0].Metrics.BaselineP95Ms > 200 ||
			slow[0].Metrics.P95Ms < 880 || cmp.Diff([]string{"2.0.0"}, slow[0].Versions) != "" {
			t.Errorf("slow tools: %+v", slow)
		}
		// journal fell significantly; todo wobbled within noise and has no finding.
		fell := byKind[findings.KindFallingRating]
		if len(fell) != 1 || fell[0].Module != "journal" || fell[0].Metrics.PValue == nil || *fell[0].Metrics.PValue >= 0.05 ||
			len(fell[0].Notes) == 0 || !strings.Contains(fell[0].Notes[0], "journal felt like") {
			t.Errorf("falling ratings: %+v", fell)
		}
		for _, f := range res.Findings {
			if f.Module == "todo" && (f.Kind == findings.KindFallingRating || f.Kind == findings.KindLowRating) {
				t.Errorf("todo's wobble became a finding: %+v", f)
			}
		}
		if u := byKind[findings.KindUnusableRatings]; len(u) != 1 || u[0].Occurrences != 1 || u[0].Personas[0] != "persona.emma@mana.test" {
			t.Errorf("unusable ratings: %+v", u)
		}
		if fr := byKind[findings.KindFailedRuns]; len(fr) != 1 || fr[0].Occurrences != 1 || !fr[0].New || fr[0].Severity != findings.SeverityHigh {
			t.Errorf("failed runs: %+v", fr)
		}
		// Ids are stable: a second build gives the same ones.
		again, err := findings.Build(context.Background(), s, findings.Options{Now: now.Add(time.Minute), Since: 7 * 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if len(again.Findings) != len(res.Findings) {
			t.Fatalf("second build: %d findings, first %d", len(again.Findings), len(res.Findings))
		}
		for i := range res.Findings {
			if again.Findings[i].ID != res.Findings[i].ID {
				t.Errorf("finding %d id %s then %s", i, res.Findings[i].ID, again.Findings[i].ID)
			}
		}
		// Redaction held on the way in: the samples never show the password.
		b, _ := json.Marshal(res)
		if strings.Contains(string(b), "hunter2") {
			t.Error("a secret argument reached the findings")
		}
		if t.Name() == "TestFindingsOnAFixtureStore/sqlite" {
			for _, format := range findings.Formats {
				var buf bytes.Buffer
				if err := findings.Write(&buf, res, format); err != nil {
					t.Fatal(err)
				}
				golden(t, "findings."+format+".golden", buf.Bytes())
			}
			f, err := res.Find(notes.ID[:6])
			if err != nil || f.ID != notes.ID {
				t.Fatalf("Find(%s) = %v, %v", notes.ID[:6], f.ID, err)
			}
			var buf bytes.Buffer
			if err := findings.WriteOne(&buf, f, "table"); err != nil {
				t.Fatal(err)
			}
			golden(t, "finding.show.golden", buf.Bytes())
		}
	})
}

// TestResolvedAfterANewerVersion: a tool error not seen in the last runs that used the tool on
// a newer app version is resolved.
func TestResolvedAfterANewerVersion(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, s persona.Store) {
		ctx := context.Background()
		id, _, err := s.UpsertPersona(ctx, persona.PersonaInput{Email: "persona.res@mana.test", Name: "r", Password: "pw-r",
			Archetype: "tester", SystemPrompt: "You are a careful tester who tries every feature once.", ModuleMix: persona.ModuleMix{"todo": 1}})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 6; i++ {
			start := now.Add(-time.Duration(60-i) * time.Hour)
			fin := start.Add(time.Minute)
			v, ok := "1.0.0", false
			if i >= 2 {
				v, ok = "1.1.0", true
			}
			a := persona.Action{TickID: fmt.Sprintf("t%d", i), ToolName: "todo.list", Seq: 1, Result: persona.ResultOK, LatencyMs: persona.Latency(5), CreatedAt: start}
			if !ok {
				a.Result, a.ErrorMessage = persona.ResultError, "internal error: todo.list failed; try again later"
			}
			if _, err := s.RecordRun(ctx, persona.RunRecord{Tick: persona.Tick{TickID: a.TickID, PersonaID: id, Status: persona.TickOK,
				StartedAt: start, FinishedAt: &fin, ServerVersion: v}, Actions: []persona.Action{a}}); err != nil {
				t.Fatal(err)
			}
		}
		res, err := findings.Build(ctx, s, findings.Options{Now: now, Since: 7 * 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Findings) != 1 || res.Findings[0].Status != findings.StatusResolved || len(res.Open()) != 0 {
			t.Errorf("findings: %+v", res.Findings)
		}
	})
}

func TestMannWhitneyLess(t *testing.T) {
	t.Parallel()
	// Clearly lower, identical, and higher samples.
	if p := findings.MannWhitneyLess([]float64{1, 2, 2, 3, 2, 1}, []float64{5, 4, 5, 5, 4, 5}); p > 0.01 {
		t.Errorf("clearly lower: p = %v", p)
	}
	if p := findings.MannWhitneyLess([]float64{4, 4, 4}, []float64{4, 4, 4}); p != 1 {
		t.Errorf("all ties: p = %v, want 1", p)
	}
	if p := findings.MannWhitneyLess([]float64{5, 5, 5, 4, 5}, []float64{1, 2, 1, 2, 3}); p < 0.9 {
		t.Errorf("higher: p = %v", p)
	}
}

func TestSignature(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"todo 7f3e9a12 not found in this space":                                    "todo <id> not found in this space",
		"invalid input: title: must be at most 200 characters (got 207)":           "invalid input: title: must be at most <n> characters (got <n>)",
		`unknown tool "todo_delete": use one of the tools listed`:                  `unknown tool "…": use one of the tools listed`,
		"event 2026-11-20T10:00:00Z overlaps a1b2c3d4-0000-4000-8000-00000000abcd": "event <time> overlaps <id>",
		"rate limit: try again in 42s":                                             "rate limit: try again in <n>",
	} {
		if got := findings.Signature(in); got != want {
			t.Errorf("Signature(%q) = %q, want %q", in, got, want)
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}
