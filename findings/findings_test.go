package findings_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"

	"github.com/persona-runner/persona-runner/findings"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/report"
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

// rowsOnly hides a store's aggregates: Build then reads every row and counts in Go, as it does
// over a store without them.
type rowsOnly struct{ findings.Source }

// The stores' aggregates give the findings and the report the rows would give: on the fixture
// plus a run of a second target, for windows whose bounds fall between runs and inside them (a
// run straddling the cut, rows after the end).
func TestAggregatesMatchRows(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, s persona.Store) {
		fixture(t, s)
		ctx := context.Background()
		people, err := s.ListPersonas(ctx, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		// A second target whose tool is slow and fails, in the window; an outage row.
		start := now.Add(-30 * time.Hour)
		fin := start.Add(time.Minute)
		run := persona.RunRecord{Tick: persona.Tick{TickID: "other-1", PersonaID: people[0].UserID, RunnerID: "r", Status: persona.TickOK,
			StartedAt: start, FinishedAt: &fin, Target: "other", ServerVersion: "9.0.0"}}
		for k := range 8 {
			a := persona.Action{TickID: "other-1", ToolName: "calendar.listEvents", Seq: k + 1, Result: persona.ResultOK,
				LatencyMs: persona.Latency(int64(2500 + 10*k)), CreatedAt: start.Add(time.Duration(k) * time.Second), Arguments: json.RawMessage(`{"k":1}`)}
			if k%3 == 0 {
				a.Result, a.ErrorMessage = persona.ResultError, fmt.Sprintf("todo %d not found", k)
			}
			if k == 7 {
				a.ErrorMessage, a.ErrorClass = "transport: connection reset", persona.ClassTransport
				a.Result = persona.ResultError
			}
			run.Actions = append(run.Actions, a)
		}
		// Ratings at one instant: two notes of one module (the later in Feedback's order is the
		// newest), an empty note, and an unusable reply.
		for i, fb := range []persona.Feedback{{Module: "notes", Rating: 2, Notes: "second"}, {Module: "notes", Rating: 5, Notes: "first"},
			{Module: "todo", Rating: 4}, {Module: findings.ParseModule, Rating: 1, Notes: "unparseable"}} {
			fb.TickID, fb.CreatedAt, fb.ID = "other-1", fin, fmt.Sprintf("other-1-fb-%d", 9-i)
			run.Feedback = append(run.Feedback, fb)
		}
		if _, err := s.RecordRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		week := 7 * 24 * time.Hour
		first := now.AddDate(0, 0, -13) // w0-anna started here, its calls one second apart
		for _, end := range []time.Time{
			now,
			first.Add(week + 1500*time.Millisecond), // the cut inside w0-anna
			now.AddDate(0, 0, -6).Add(2500 * time.Millisecond), // w1-anna's last calls after the end
			first.Add(2*week + 1500*time.Millisecond),          // the baseline's start inside w0-anna
			now.Add(-29*time.Hour - 55*time.Minute),            // the other target's run straddles nothing
		} {
			for _, o := range []findings.Options{{Now: end, Since: week}, {Now: end, Since: 3 * 24 * time.Hour, Baseline: 10 * 24 * time.Hour},
				{Now: end, Since: week, SlowP95: 500 * time.Millisecond, MinSample: 2}} {
				fast, err := findings.Build(ctx, s, o)
				if err != nil {
					t.Fatal(err)
				}
				slow, err := findings.Build(ctx, rowsOnly{s}, o)
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(slow, fast); d != "" {
					t.Errorf("findings at %s, %+v: aggregates differ from rows (-rows +aggregates):\n%s", end, o, d)
				}
			}
			for _, f := range []persona.StatsFilter{{Since: end.Add(-week), Until: end}, {Since: end.Add(-week), Until: end, Module: "calendar"}} {
				checkToolStats(t, s, f)
			}
			for _, o := range []report.Options{{Now: end, Since: week}, {Now: end, Since: week, Module: "calendar"},
				{Now: end, Since: 3 * 24 * time.Hour, Offered: []string{"notes.create", "todo.list"}}} {
				fast, err := report.Build(ctx, s, o)
				if err != nil {
					t.Fatal(err)
				}
				slow, err := report.Build(ctx, rowsOnly{s}, o)
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(slow, fast); d != "" {
					t.Errorf("report at %s, %+v: aggregates differ from rows (-rows +aggregates):\n%s", end, o, d)
				}
			}
		}
	})
}

// checkToolStats compares the dashboard's tool statistics (from the rollup and the latency
// index) with the same figures counted from the rows.
func checkToolStats(t *testing.T, s persona.Store, f persona.StatsFilter) {
	t.Helper()
	ctx := context.Background()
	got, err := s.(persona.StatsStore).ToolStats(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := s.Actions(ctx, persona.ActionQuery{Since: f.Since, Until: f.Until, Module: f.Module})
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]*persona.ToolStat{}
	lat := map[string][]int64{}
	var names []string
	for _, a := range rows {
		st := by[a.ToolName]
		if st == nil {
			st = &persona.ToolStat{Tool: a.ToolName}
			by[a.ToolName] = st
			names = append(names, a.ToolName)
		}
		st.Calls++
		if a.Result == persona.ResultError {
			st.Errors++
		}
		if a.LatencyMs != nil {
			st.Timed++
			lat[a.ToolName] = append(lat[a.ToolName], *a.LatencyMs)
		}
		st.Module = max(st.Module, a.Module)
		if a.CreatedAt.After(st.LastUsed) {
			st.LastUsed = a.CreatedAt
		}
	}
	sort.Strings(names)
	want := []persona.ToolStat{}
	for _, n := range names {
		st := by[n]
		if xs := lat[n]; len(xs) > 0 {
			slices.Sort(xs)
			st.P50Ms, st.P95Ms = xs[(len(xs)*50+99)/100-1], xs[(len(xs)*95+99)/100-1]
		}
		want = append(want, *st)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("tool stats %+v differ from the rows (-rows +store):\n%s", f, d)
	}
}
