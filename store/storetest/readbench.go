package storetest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/findings"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/report"
	"github.com/persona-runner/persona-runner/web"
)

// ReadBenchPersonas and ReadBenchActions size the read-model benchmark (issue 10): 10k personas
// with two runs each, one in the last week and one in the week before, 50 calls a run.
const (
	ReadBenchPersonas = 10_000
	readBenchRuns     = 2
	readBenchCalls    = 50
	ReadBenchActions  = ReadBenchPersonas * readBenchRuns * readBenchCalls // 1M
)

// ReadBenchFixtureEnv names a store to keep the read-model benchmark's rows in and reuse: a file
// path on SQLite, a database URL on PostgreSQL (a database of your own: the benchmark writes into
// it and never drops it). The first run writes the rows as usual and then a marker
// (readbench_fixture, naming readBenchShape); a later run that finds the marker skips the
// setup. The rows are the same either way, written through the public store API, the rollups
// kept by the store as in production (a migration added since runs on the fixture as it would
// on a deployed store). Without the variable every run writes a fresh store.
const ReadBenchFixtureEnv = "PERSONA_BENCH_READ_FIXTURE"

// readBenchShape says what a fixture holds; change it when the setup writes different rows, so
// an old fixture is refused instead of measured.
const readBenchShape = "v1: 10000 personas, 2 runs of 50 calls each, 2 ratings a run"

// OpenFixtureFunc opens the dialect's store named by ReadBenchFixtureEnv (creating it when it
// does not exist yet) and closes it when tb ends; it does not delete it.
type OpenFixtureFunc func(tb testing.TB, clock *Clock, name string) persona.Store

// ReadBenchmarks measures findings.Build and report.Build over a week (and its baseline) of
// ReadBenchActions action rows from ReadBenchPersonas personas. The setup writes a million rows,
// so it runs only with PERSONA_BENCH_READ=1 (and PERSONA_BENCH_READ_FIXTURE to keep them):
//
//	PERSONA_BENCH_READ=1 go test -run '^$' -bench ReadModels -benchtime 5x -timeout 30m ./store/sqlite/
func ReadBenchmarks(b *testing.B, newStore func(tb testing.TB, clock *Clock) persona.Store, openFixture OpenFixtureFunc, bulk BulkInsertFunc) {
	if os.Getenv("PERSONA_BENCH_READ") == "" {
		b.Skip("set PERSONA_BENCH_READ=1 to write 1M action rows and measure findings and report over them")
	}
	ctx := context.Background()
	clock := NewClock(Start)
	var s persona.Store
	fixture := os.Getenv(ReadBenchFixtureEnv)
	if fixture != "" {
		s = openFixture(b, clock, fixture)
	} else {
		s = newStore(b, clock)
	}
	d, ok := s.(interface {
		Dialect() string
		SQL() *sql.DB
	})
	if !ok {
		b.Fatalf("%T has no SQL() and Dialect()", s)
	}
	now := clock.Now()
	people := BulkPersonas(ReadBenchPersonas, now)
	tools := []string{"todo.create", "todo.list", "notes.create", "notes.search", "calendar.listEvents", "journal.add"}
	if fixture == "" || !readBenchFixtureReady(b, d.Dialect(), d.SQL()) {
		writeReadBench(b, s, d.Dialect(), now, people, tools, bulk)
		if fixture != "" {
			markReadBenchFixture(b, d.SQL())
		}
	} else {
		b.Logf("setup: reusing the fixture in %s (%s)", fixture, readBenchShape)
	}
	if d.Dialect() == "postgres" {
		// A store that has lived with its rows has planner statistics and a visibility map
		// (autovacuum, which inserts trigger too); a million rows written a second ago have neither.
		if _, err := d.SQL().ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
			b.Fatal(err)
		}
	}
	week := 7 * 24 * time.Hour
	b.Run("Findings1M", func(b *testing.B) {
		timed(b, func() {
			res, err := findings.Build(ctx, s, findings.Options{Now: now, Since: week})
			if err != nil || len(res.Findings) == 0 {
				b.Fatalf("findings.Build: %d findings, %v", len(res.Findings), err)
			}
		})
	})
	b.Run("Report1M", func(b *testing.B) {
		timed(b, func() {
			r, err := report.Build(ctx, s, report.Options{Now: now, Since: week})
			if err != nil || r.Runs.ToolCalls != ReadBenchActions/readBenchRuns {
				b.Fatalf("report.Build: %d calls, %v", r.Runs.ToolCalls, err)
			}
		})
	})

	// The dashboard's pages (issue 11) through its handler, over the same rows: server time only.
	// Each page gets a dashboard of its own, so no page is measured beside the overview's
	// background findings; the overview is a cold load every time (a fresh dashboard, closed
	// outside the timing, which stops its background computation).
	ws, ok := s.(web.Store)
	if !ok {
		b.Fatalf("%T does not serve the dashboard (web.Store)", s)
	}
	newDash := func(b *testing.B) *web.Server {
		dash, err := web.New(web.Config{Store: ws, Open: true, Tools: append(tools, "mood.log"), Now: func() time.Time { return now }})
		if err != nil {
			b.Fatal(err)
		}
		return dash
	}
	get := func(b *testing.B, h http.Handler, path string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: %d\n%.500s", path, rec.Code, rec.Body.String())
		}
	}
	b.Run("PageOverview", func(b *testing.B) {
		timedEach(b, func() time.Duration {
			b.StopTimer()
			dash := newDash(b)
			h := dash.Handler()
			b.StartTimer()
			start := time.Now()
			get(b, h, "/")
			d := time.Since(start)
			b.StopTimer()
			dash.Close()
			b.StartTimer()
			return d
		})
	})
	for _, page := range []struct{ name, path string }{
		{"Modules", "/modules"}, {"Module", "/modules?module=todo"}, {"Tools", "/tools"},
		{"Personas", "/personas"}, {"Persona", "/personas/" + people[len(people)/2].UserID}, {"Run", "/runs/rb-0005000-0"},
	} {
		b.Run("Page"+page.name, func(b *testing.B) {
			dash := newDash(b)
			defer dash.Close()
			h := dash.Handler()
			timed(b, func() { get(b, h, page.path) })
		})
	}
}

// timed runs fn b.N times and reports the fastest and the slowest run besides the mean: under
// a shared machine's load the spread says more than the mean. It also reports this process's
// CPU time per run (cpu-ms: user and system, every thread), which load changes far less than
// wall time; on PostgreSQL the server's own CPU is not in it.
func timed(b *testing.B, fn func()) {
	timedEach(b, func() time.Duration {
		start := time.Now()
		fn()
		return time.Since(start)
	})
}

// timedEach is timed for a run that measures itself (its setup and teardown outside the
// timing; its cpu-ms still counts them).
func timedEach(b *testing.B, fn func() time.Duration) {
	lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
	cpu0 := processCPU()
	for b.Loop() {
		d := fn()
		lo, hi = min(lo, d), max(hi, d)
	}
	b.ReportMetric(float64(lo.Microseconds())/1000, "min-ms")
	b.ReportMetric(float64(hi.Microseconds())/1000, "max-ms")
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms")
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// readBenchFixtureReady reports whether db holds a finished fixture of this shape. A fixture of
// another shape, or one whose setup did not finish, fails the benchmark: name a new one.
func readBenchFixtureReady(b *testing.B, dialect string, db *sql.DB) bool {
	b.Helper()
	var shape string
	err := db.QueryRowContext(context.Background(), `SELECT shape FROM readbench_fixture`).Scan(&shape)
	switch {
	case err == nil && shape == readBenchShape:
		return true
	case err == nil:
		b.Fatalf("%s holds a fixture of another shape (%q, want %q): name a new one", ReadBenchFixtureEnv, shape, readBenchShape)
	}
	table := "persona_actions"
	if dialect == "postgres" {
		table = "auth.persona_actions"
	}
	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		b.Fatalf("count the fixture's action rows: %v", err)
	}
	if n != 0 {
		b.Fatalf("%s names a store with %d action rows and no finished fixture (a setup stopped half-way?): name a new one", ReadBenchFixtureEnv, n)
	}
	return false
}

// markReadBenchFixture records that the setup finished.
func markReadBenchFixture(b *testing.B, db *sql.DB) {
	b.Helper()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE readbench_fixture (shape TEXT NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO readbench_fixture (shape) VALUES ('`+readBenchShape+`')`); err != nil {
		b.Fatal(err)
	}
}

// writeReadBench writes the benchmark's rows through the public store API: the personas in bulk,
// then per persona its two runs (RecordTick), their 100 action rows in one InsertActions call (so
// the store keeps its rollups as in production) and their ratings. PostgreSQL takes the personas
// from four goroutines (its statement-level work is per call either way); SQLite writes one at a
// time, as its single writer would anyway.
func writeReadBench(b *testing.B, s persona.Store, dialect string, now time.Time, people []BulkPersona, tools []string, bulk BulkInsertFunc) {
	b.Helper()
	ctx := context.Background()
	bulk(b, s, people)
	begin := time.Now()
	errs := []string{"internal error: search index unavailable", "title: is required", "todo 7f3e9a not found"}
	one := func(i int, p BulkPersona) error {
		batch := make([]persona.Action, 0, readBenchRuns*readBenchCalls)
		var fb []persona.Feedback
		for r := 0; r < readBenchRuns; r++ {
			start := now.Add(-time.Duration(1+7*r+i%6)*24*time.Hour - time.Duration(i)*time.Second)
			tick := fmt.Sprintf("rb-%07d-%d", i, r)
			version := "2.0.0"
			if r == 1 {
				version = "1.0.0"
			}
			fin := start.Add(time.Minute)
			if err := s.RecordTick(ctx, persona.Tick{TickID: tick, PersonaID: p.UserID, RunnerID: "bench", Status: persona.TickOK,
				StartedAt: start, FinishedAt: &fin, ToolCalls: readBenchCalls, InputTokens: 5000, OutputTokens: 800, CostUSD: 0.02,
				Model: "sim", Target: "demo", ServerName: "mana", ServerVersion: version}); err != nil {
				return err
			}
			for k := 0; k < readBenchCalls; k++ {
				a := persona.Action{TickID: tick, ToolName: tools[(i+k)%len(tools)], Seq: k, Result: persona.ResultOK,
					LatencyMs: persona.Latency(int64(20 + (i+k)%200)), CreatedAt: start.Add(time.Duration(k) * time.Second),
					Arguments: json.RawMessage(fmt.Sprintf(`{"title":"item %d","n":%d}`, k, i))}
				if (i+k)%33 == 0 {
					a.Result, a.ErrorMessage = persona.ResultError, errs[(i+k)%len(errs)]
				}
				batch = append(batch, a)
			}
			for m, mod := range []string{"todo", "notes"} {
				fb = append(fb, persona.Feedback{TickID: tick, Module: mod, Rating: 2 + (i+m+r)%4, Notes: "fine", CreatedAt: fin})
			}
		}
		if _, _, err := s.InsertActions(ctx, p.UserID, batch); err != nil {
			return err
		}
		_, _, err := s.InsertFeedback(ctx, p.UserID, fb)
		return err
	}
	workers := 1
	if dialect == "postgres" {
		workers = 4
	}
	var wg sync.WaitGroup
	failed := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(people) && failed[w] == nil; i += workers {
				if err := one(i, people[i]); err != nil {
					failed[w] = fmt.Errorf("persona %d: %w", i, err)
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(failed...); err != nil {
		b.Fatal(err)
	}
	b.Logf("setup: %d personas, %d action rows in %s", len(people), ReadBenchActions, time.Since(begin).Round(time.Second))
}
