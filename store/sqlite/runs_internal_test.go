package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

func openTest(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func seedPersona(t *testing.T, db *DB, email string) string {
	t.Helper()
	id, _, err := db.UpsertPersona(context.Background(), persona.PersonaInput{
		Email: email, Password: "pw", Archetype: "tester", SystemPrompt: "You are a tester who tries everything once.", ModuleMix: persona.ModuleMix{"todo": 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func testRun(id, tick string) persona.RunRecord {
	return persona.RunRecord{
		Tick:     persona.Tick{TickID: tick, PersonaID: id, RunnerID: "r1", Status: persona.TickOK},
		Actions:  []persona.Action{{TickID: tick, ToolName: "todo.create", Result: persona.ResultOK}, {TickID: tick, ToolName: "todo.list", Result: persona.ResultOK, Seq: 1}},
		Feedback: []persona.Feedback{{TickID: tick, Module: "todo", Rating: 4}},
	}
}

// One batch of the run writer: a refused run (unknown persona, another persona's tick id) writes
// nothing and gets its own error; the other runs of the batch are written.
func TestRunBatchKeepsRunsApart(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	anna, ben := seedPersona(t, db, "persona.anna@mana.test"), seedPersona(t, db, "persona.ben@mana.test")
	if err := db.RecordTick(ctx, persona.Tick{TickID: "tick-anna-0", PersonaID: anna, RunnerID: "r1", Status: persona.TickRunning}); err != nil {
		t.Fatal(err)
	}
	stolen := testRun(ben, "tick-anna-0") // another persona's tick id
	stolen.Actions[0].TickID, stolen.Actions[1].TickID, stolen.Feedback[0].TickID = "tick-ben-x", "tick-ben-x", "tick-ben-x"
	runs := []persona.RunRecord{
		testRun(anna, "tick-anna-1"),
		testRun("no-such-persona", "tick-nobody"),
		stolen,
		testRun(ben, "tick-ben-1"),
	}
	var batch []*runRequest
	for _, r := range runs {
		batch = append(batch, &runRequest{ctx: ctx, run: r, done: make(chan struct{})})
	}
	db.writeRuns(batch)

	if err := batch[0].err; err != nil || batch[0].out != (persona.RunWritten{Actions: 2, Feedback: 1}) {
		t.Errorf("anna's run: %+v, %v", batch[0].out, err)
	}
	if err := batch[1].err; !errors.Is(err, persona.ErrNotFound) || batch[1].out != (persona.RunWritten{}) {
		t.Errorf("unknown persona's run: %+v, %v; want ErrNotFound", batch[1].out, err)
	}
	if err := batch[2].err; !errors.Is(err, persona.ErrInvalid) {
		t.Errorf("run with another persona's tick id: %v; want ErrInvalid", err)
	}
	if err := batch[3].err; err != nil || batch[3].out != (persona.RunWritten{Actions: 2, Feedback: 1}) {
		t.Errorf("ben's run: %+v, %v", batch[3].out, err)
	}
	for _, c := range []struct {
		tick    string
		actions int
	}{{"tick-anna-1", 2}, {"tick-ben-1", 2}, {"tick-ben-x", 0}, {"tick-nobody", 0}} {
		acts, err := db.Actions(ctx, persona.ActionQuery{TickID: c.tick})
		fb, _ := db.Feedback(ctx, persona.FeedbackQuery{TickID: c.tick})
		if err != nil || len(acts) != c.actions || len(fb) != c.actions/2 {
			t.Errorf("tick %s: %d actions, %d feedback rows, %v; want %d, %d", c.tick, len(acts), len(fb), err, c.actions, c.actions/2)
		}
	}
	if tk, err := db.Tick(ctx, "tick-anna-0"); err != nil || tk.PersonaID != anna || tk.Status != persona.TickRunning {
		t.Errorf("anna's running tick after the refused reuse: %+v, %v", tk, err)
	}
	if _, err := db.Tick(ctx, "tick-nobody"); !errors.Is(err, persona.ErrNotFound) {
		t.Errorf("the unknown persona's tick was written: %v", err)
	}
}

// A write that fails after a run's checks (here a trigger stands for a failing disk) rolls the
// batch back; its runs are then written one by one, so only the failing run is lost and it is
// lost whole.
func TestRunBatchFailureFallsBackToSingleRuns(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	anna, ben := seedPersona(t, db, "persona.anna@mana.test"), seedPersona(t, db, "persona.ben@mana.test")
	if _, err := db.SQL().ExecContext(ctx, `CREATE TRIGGER boom BEFORE INSERT ON persona_feedback WHEN NEW.notes = 'boom'
		BEGIN SELECT RAISE(ABORT, 'boom'); END`); err != nil {
		t.Fatal(err)
	}
	bad := testRun(ben, "tick-ben-bad")
	bad.Feedback[0].Notes = "boom"
	runs := []persona.RunRecord{testRun(anna, "tick-anna-1"), bad, testRun(ben, "tick-ben-1")}
	var batch []*runRequest
	for _, r := range runs {
		batch = append(batch, &runRequest{ctx: ctx, run: r, done: make(chan struct{})})
	}
	db.writeRuns(batch)
	for i, want := range []bool{true, false, true} {
		r := batch[i]
		if ok := r.err == nil; ok != want {
			t.Errorf("run %d (%s): %+v, %v; want written %v", i, r.run.Tick.TickID, r.out, r.err, want)
		}
		acts, _ := db.Actions(ctx, persona.ActionQuery{TickID: r.run.Tick.TickID})
		_, err := db.Tick(ctx, r.run.Tick.TickID)
		if got := err == nil && len(acts) == 2; got != want {
			t.Errorf("run %d (%s) stored: tick %v, %d actions; want stored %v", i, r.run.Tick.TickID, err, len(acts), want)
		}
	}
	if p, err := db.Persona(ctx, ben); err != nil || p.LastActiveAt == nil {
		t.Errorf("ben after his good run: %+v, %v", p, err)
	}
}

// Many runs recorded at once all land, whole, whatever batches the run writer makes of them.
func TestRecordRunConcurrent(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	const personas, runsEach = 8, 25
	var wg sync.WaitGroup
	for p := range personas {
		id := seedPersona(t, db, fmt.Sprintf("persona.p%d@mana.test", p))
		for i := range runsEach {
			wg.Go(func() {
				run := testRun(id, fmt.Sprintf("tick-%d-%d", p, i))
				if i%5 == 4 {
					run.Tick.PersonaID = "no-such-persona"
				}
				_, err := db.RecordRun(ctx, run)
				if (i%5 == 4) != errors.Is(err, persona.ErrNotFound) {
					t.Errorf("run %d of persona %d: %v", i, p, err)
				}
			})
		}
	}
	wg.Wait()
	acts, err := db.Actions(ctx, persona.ActionQuery{})
	if want := personas * runsEach * 4 / 5 * 2; err != nil || len(acts) != want {
		t.Errorf("%d actions, %v; want %d", len(acts), err, want)
	}
	ticks, err := db.Ticks(ctx, persona.TickQuery{})
	if want := personas * runsEach * 4 / 5; err != nil || len(ticks) != want {
		t.Errorf("%d ticks, %v; want %d", len(ticks), err, want)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RecordRun(ctx, testRun("x", "tick-late")); !errors.Is(err, errClosed) {
		t.Errorf("RecordRun after Close: %v; want errClosed", err)
	}
}

// RecordTick goes through the run writer too: tick records written at once share its batches
// with runs, each is committed when RecordTick returns (read back on another connection), a
// refused one (unknown persona) gets its own error, a terminal one releases its lease and sets
// the schedule, and a retried terminal record counts its failure once.
func TestTickRecordsShareTheRunBatch(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	const personas = 12
	ids := make([]string, personas)
	for i := range ids {
		ids[i] = seedPersona(t, db, fmt.Sprintf("persona.t%d@mana.test", i))
	}
	if got, err := db.ClaimPersonas(ctx, "r1", personas, time.Hour); err != nil || len(got) != personas {
		t.Fatalf("claim = %d, %v", len(got), err)
	}
	// In one batch (as the run writer would make of calls waiting together): a running record
	// of each persona, one of an unknown persona, and a finished run.
	var batch []*runRequest
	for i, id := range ids {
		batch = append(batch, &runRequest{ctx: ctx, done: make(chan struct{}),
			run: persona.RunRecord{Tick: persona.Tick{TickID: fmt.Sprintf("tick-%d", i), PersonaID: id, RunnerID: "r1", Status: persona.TickRunning}}})
	}
	batch = append(batch, &runRequest{ctx: ctx, done: make(chan struct{}),
		run: persona.RunRecord{Tick: persona.Tick{TickID: "tick-nobody", PersonaID: "no-such-persona", RunnerID: "r1", Status: persona.TickRunning}}})
	batch = append(batch, &runRequest{ctx: ctx, done: make(chan struct{}), run: testRun(ids[0], "tick-0b")})
	for _, r := range batch {
		r.run.Tick = persona.NormalizeTick(r.run.Tick)
	}
	db.writeRuns(batch)
	for i, r := range batch {
		if refused := r.run.Tick.PersonaID == "no-such-persona"; refused != errors.Is(r.err, persona.ErrNotFound) || (!refused && r.err != nil) {
			t.Errorf("request %d (%s): %v", i, r.run.Tick.TickID, r.err)
		}
	}
	// Then all at once through RecordTick: half finish (ok), half fail; each is read back on
	// the read pool (another connection) as soon as its call returns.
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			tk := persona.Tick{TickID: fmt.Sprintf("tick-%d", i), PersonaID: id, RunnerID: "r1", Status: persona.TickOK}
			if i%2 == 1 {
				tk.Status, tk.Error = persona.TickFailed, "boom"
			}
			for range 2 { // a retried report
				if err := db.RecordTick(ctx, tk); err != nil {
					t.Errorf("RecordTick %s: %v", tk.TickID, err)
					return
				}
			}
			got, err := db.Tick(ctx, tk.TickID)
			if err != nil || got.Status != tk.Status {
				t.Errorf("tick %s read back: %+v, %v; want status %s", tk.TickID, got, err, tk.Status)
			}
		})
	}
	wg.Wait()
	if err := db.RecordTick(ctx, persona.Tick{TickID: "tick-x", PersonaID: "no-such-persona", RunnerID: "r1", Status: persona.TickOK}); !errors.Is(err, persona.ErrNotFound) {
		t.Errorf("RecordTick of an unknown persona: %v; want ErrNotFound", err)
	}
	for i, id := range ids {
		p, err := db.Persona(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if p.LeaseOwner != "" || p.LeaseExpiresAt != nil {
			t.Errorf("persona %d keeps its lease after its final record: %q %v", i, p.LeaseOwner, p.LeaseExpiresAt)
		}
		if ok := i%2 == 0; ok != (p.LastActiveAt != nil) || (!ok && p.FailureCount != 1) {
			t.Errorf("persona %d: last active %v, %d failures; want ran=%v and one failure when it failed", i, p.LastActiveAt, p.FailureCount, ok)
		}
	}
}

// The writer connection never checkpoints inside a commit; the checkpointer copies the WAL into
// the database file in the background.
func TestCheckpointsInBackground(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	var auto int
	if err := db.w.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != 0 {
		t.Errorf("writer wal_autocheckpoint = %d, %v; want 0", auto, err)
	}
	id := seedPersona(t, db, "persona.anna@mana.test")
	// A reader holds a snapshot from before the writes, so a checkpoint cannot copy them all;
	// once it ends, the checkpointer must finish the job without another write coming.
	rtx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rtx.QueryRowContext(ctx, `SELECT count(*) FROM persona_actions`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	// Far fewer pages than the 1,000 at which SQLite would checkpoint by itself.
	for i := range 20 {
		if _, err := db.RecordRun(ctx, testRun(id, fmt.Sprintf("tick-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	var held *checkpointResult
	waitFor(t, "a checkpoint held back by the reader", func() bool {
		held = db.ckLast.Load()
		return held != nil && held.frames > 0 && held.moved < held.frames
	})
	if err := rtx.Rollback(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a later checkpoint that copies every frame", func() bool {
		r := db.ckLast.Load()
		return r != held && r.err == nil && r.busy == 0 && r.moved == r.frames
	})
}

// waitFor polls cond until it holds; the bound only keeps a broken build from hanging (the
// checkpointer acts within a few hundred milliseconds).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 2 minutes for %s", what)
		}
	}
}

// A WAL grown past the limit is truncated once the writes let it (the file shrinks too), so
// writes that never pause cannot grow it without bound.
func TestCheckpointerTruncatesALongWAL(t *testing.T) {
	t.Parallel()
	const limit = 100 // frames
	path := filepath.Join(t.TempDir(), "store.db")
	db, err := Open(context.Background(), path, withWALLimit(limit))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	id := seedPersona(t, db, "persona.anna@mana.test")
	walSize := func() int64 {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	// Writes back to back until the WAL is well past the limit.
	var peak int64
	for i := 0; peak < 4*limit*4096; i++ {
		if i > 20000 {
			t.Fatalf("the WAL never grew past %d bytes (%d)", 4*limit*4096, peak)
		}
		if _, err := db.RecordRun(ctx, testRun(id, fmt.Sprintf("tick-%d", i))); err != nil {
			t.Fatal(err)
		}
		peak = max(peak, walSize())
	}
	waitFor(t, "the WAL file truncated", func() bool {
		r := db.ckLast.Load()
		return r != nil && r.truncated && r.err == nil && r.busy == 0 && walSize() < limit*4096
	})
	// The store is whole: every run is there.
	n := 0
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM persona_ticks`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("%d runs after the truncation, %v", n, err)
	}
}

// The rollups of the action rows (migrations 7 and 12) are summed over a group commit's runs and
// upserted just before it commits: after a batch of many runs (more rollup rows than one upsert
// statement takes, a refused run among them) and a later batch that adds rows to one of its runs
// and repeats some (skipped), both rollups hold exactly what the rows say.
func TestRunBatchRollupsMatchTheRows(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	ids := []string{seedPersona(t, db, "persona.r0@mana.test"), seedPersona(t, db, "persona.r1@mana.test"), seedPersona(t, db, "persona.r2@mana.test")}
	tools := []string{"todo.create", "notes.add", "journal.write"}
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	run := func(i int, from int) persona.RunRecord {
		tick := fmt.Sprintf("tick-%03d", i)
		r := persona.RunRecord{Tick: persona.Tick{TickID: tick, PersonaID: ids[i%len(ids)], RunnerID: "r1", Status: persona.TickOK}}
		for k := from; k < from+3; k++ {
			a := persona.Action{TickID: tick, ToolName: tools[(i+k)%len(tools)], Seq: k, Result: persona.ResultOK,
				CreatedAt: at.Add(time.Duration(i*7+k*25) * time.Minute)}
			if k%3 != 2 {
				a.LatencyMs = persona.Latency(int64((i + k) % 30)) // below 32 ms: the bucket is the latency
			}
			switch (i + k) % 5 {
			case 1:
				a.Result, a.ErrorMessage = persona.ResultError, "not found"
			case 3:
				a.Result, a.ErrorMessage, a.ErrorClass = persona.ResultError, "transport: refused", persona.ErrorClass("transport")
			}
			r.Actions = append(r.Actions, a)
		}
		return r
	}
	var batch []*runRequest
	for i := range 70 {
		batch = append(batch, &runRequest{ctx: ctx, done: make(chan struct{}), run: run(i, 0)})
	}
	refused := run(70, 0)
	refused.Tick.PersonaID = "no-such-persona"
	batch = append(batch, &runRequest{ctx: ctx, done: make(chan struct{}), run: refused})
	for _, r := range batch {
		r.run.Tick = persona.NormalizeTick(r.run.Tick)
	}
	db.writeRuns(batch)
	for i, r := range batch {
		if (i == 70) != errors.Is(r.err, persona.ErrNotFound) || (i != 70 && r.err != nil) {
			t.Fatalf("run %d: %v", i, r.err)
		}
	}
	// Run 0 again with three rows more: its first rows are skipped, the new ones added.
	again := run(0, 0)
	again.Actions = append(again.Actions, run(0, 3).Actions...)
	if out, err := db.RecordRun(ctx, again); err != nil || out.Actions != 3 || out.ActionDuplicates != 3 {
		t.Fatalf("RecordRun again: %+v, %v", out, err)
	}
	same := func(what, stored, fromRows string) {
		t.Helper()
		read := func(q string) []string {
			rows, err := db.r.QueryContext(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			cols, _ := rows.Columns()
			var out []string
			for rows.Next() {
				v := make([]any, len(cols))
				p := make([]any, len(cols))
				for i := range v {
					p[i] = &v[i]
				}
				if err := rows.Scan(p...); err != nil {
					t.Fatal(err)
				}
				out = append(out, fmt.Sprint(v...))
			}
			return out
		}
		got, want := read(stored), read(fromRows)
		if len(want) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %d rows stored, %d from the action rows\nstored: %v\nrows:   %v", what, len(got), len(want), got, want)
		}
	}
	same("persona_action_rollup",
		`SELECT tick_id, persona_id, tool_name, module, result, infra, calls, timed, first_at, last_at FROM persona_action_rollup ORDER BY 1, 2, 3, 4, 5, 6`,
		`SELECT tick_id, persona_id, tool_name, module, result,
			result = 'error' AND (error_class = 'transport' OR substr(error_message, 1, 11) = 'transport: '),
			COUNT(*), COUNT(latency_ms), MIN(created_at), MAX(created_at)
		FROM persona_actions GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6`)
	same("persona_action_hours",
		`SELECT hour, tool_name, module, bucket, calls, errors, last_at FROM persona_action_hours ORDER BY 1, 2, 3, 4`,
		`SELECT created_at / 3600000000 * 3600000000, tool_name, module, COALESCE(latency_ms, -1), COUNT(*), SUM(result = 'error'), MAX(created_at)
		FROM persona_actions GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`)
}
