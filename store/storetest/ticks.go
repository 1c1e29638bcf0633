package storetest

// Tick records: ok and failed runs, back-off, retries, running records, foreign leases, and runs
// abandoned by a restart or a claim.

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/persona-runner/persona-runner/persona"
)

func testTickOK(e *env) {
	id := e.persona("ok@mana.test", persona.Hourly, "UTC")
	e.claim("runner-a", 1, time.Hour)
	// A failure first, so the success has back-off to clear.
	e.tick(persona.Tick{TickID: "t-fail", PersonaID: id, RunnerID: "runner-a", Status: persona.TickFailed, Error: "model down"})
	e.clock.Advance(time.Minute)
	e.claim("runner-a", 1, time.Hour)
	started := e.clock.Now()
	e.clock.Advance(3 * time.Minute)
	finished := e.clock.Now().Add(-time.Second)
	tk := persona.Tick{
		TickID: "t-ok", PersonaID: id, RunnerID: "runner-a", Status: persona.TickOK, StartedAt: started, FinishedAt: &finished,
		ToolCalls: 5, Errors: 1, Turns: 7, InputTokens: 1200, OutputTokens: 300, CachedTokens: 800, CostUSD: 0.0123,
		Model: "sim-1", Summary: "A fine day.", Transcript: []byte(`[{"role":"user","content":"hi"}]`),
	}
	e.tick(tk)
	p := e.get(id)
	if !equalTime(p.LastActiveAt, &finished) || p.NextDueAt != nil || p.FailureCount != 0 || p.LastError != "" ||
		p.LeaseOwner != "" || p.LeaseExpiresAt != nil {
		e.t.Errorf("after ok: last %v next %v failures %d error %q lease %q %v; want last=%v, no back-off, no lease",
			p.LastActiveAt, p.NextDueAt, p.FailureCount, p.LastError, p.LeaseOwner, p.LeaseExpiresAt, finished)
	}
	got, err := e.s.Tick(e.ctx, "t-ok")
	if err != nil {
		e.t.Fatal(err)
	}
	if !jsonEqual(tk.Transcript, got.Transcript) {
		e.t.Errorf("stored transcript = %s; want %s", got.Transcript, tk.Transcript)
	}
	got.Transcript = tk.Transcript
	if diff := cmp.Diff(tk, got); diff != "" {
		e.t.Errorf("stored tick (-want +got):\n%s", diff)
	}
	if _, err := e.s.Tick(e.ctx, "nope"); !errors.Is(err, persona.ErrNotFound) {
		e.t.Errorf("Tick(unknown) error = %v; want ErrNotFound", err)
	}
	// Without FinishedAt the store's time counts.
	e.clock.Set(finished.Add(2 * time.Hour))
	e.tick(persona.Tick{TickID: "t-ok-2", PersonaID: id, RunnerID: "runner-a", Status: persona.TickOK})
	now := e.clock.Now()
	if p := e.get(id); !equalTime(p.LastActiveAt, &now) {
		e.t.Errorf("last_active_at = %v; want now %v", p.LastActiveAt, now)
	}
	if tk, _ := e.s.Tick(e.ctx, "t-ok-2"); !tk.StartedAt.Equal(now) || !equalTime(tk.FinishedAt, &now) {
		e.t.Errorf("tick without times: started %v finished %v; want both %v", tk.StartedAt, tk.FinishedAt, now)
	}
}

func testTickBackoff(e *env) {
	id := e.persona("flaky@mana.test", persona.Daily, "UTC")
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute} {
		got := e.claim("runner-a", 1, time.Hour)
		if len(got) != 1 {
			e.t.Fatalf("failure %d: claim = %v; want the persona", i+1, ids(got))
		}
		status := persona.TickFailed
		if i%2 == 1 {
			status = persona.TickTimeout
		}
		e.tick(persona.Tick{TickID: fmt.Sprintf("t%d", i), PersonaID: id, RunnerID: "runner-a", Status: status, Error: fmt.Sprintf("error %d", i)})
		now := e.clock.Now()
		next := now.Add(want)
		p := e.get(id)
		if p.FailureCount != i+1 || !equalTime(p.NextDueAt, &next) || p.LeaseOwner != "" || p.LastActiveAt != nil {
			e.t.Fatalf("after failure %d: failures %d next %v lease %q last %v; want %d, %v, released, never active",
				i+1, p.FailureCount, p.NextDueAt, p.LeaseOwner, p.LastActiveAt, i+1, next)
		}
		if i%2 == 0 && p.LastError != fmt.Sprintf("error %d", i) {
			e.t.Errorf("last error = %q", p.LastError)
		}
		e.clock.Set(next.Add(-time.Microsecond))
		if e.isDue(id) {
			e.t.Errorf("after failure %d: due before its back-off of %v ended", i+1, want)
		}
		e.clock.Set(next)
		if !e.isDue(id) {
			e.t.Errorf("after failure %d: not due when its back-off of %v ended", i+1, want)
		}
	}
	e.claim("runner-a", 1, time.Hour)
	e.tick(persona.Tick{TickID: "t-ok", PersonaID: id, RunnerID: "runner-a", Status: persona.TickOK})
	if p := e.get(id); p.FailureCount != 0 || p.NextDueAt != nil || p.LastError != "" {
		e.t.Errorf("after success: failures %d next %v error %q; want all cleared", p.FailureCount, p.NextDueAt, p.LastError)
	}
}

func testTickBackoffCap(e *env) {
	id := e.persona("broken@mana.test", persona.Hourly, "UTC")
	var p persona.Persona
	for i := range 9 {
		e.tick(persona.Tick{TickID: fmt.Sprintf("t%d", i), PersonaID: id, RunnerID: "r", Status: persona.TickFailed, Error: "always"})
		p = e.get(id)
		e.clock.Set(*p.NextDueAt)
	}
	// 1, 2, 4, … 32 minutes, then capped at the hourly period.
	ticks, err := e.s.Ticks(e.ctx, persona.TickQuery{PersonaID: id})
	if err != nil || len(ticks) != 9 {
		e.t.Fatal(ticks, err)
	}
	if p.FailureCount != 9 || p.NextDueAt.Sub(ticks[0].StartedAt) != time.Hour {
		e.t.Errorf("after 9 failures: count %d, back-off %v; want 9, the 1h cap", p.FailureCount, p.NextDueAt.Sub(ticks[0].StartedAt))
	}
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for i, w := range want {
		older, newer := ticks[len(ticks)-1-i], ticks[len(ticks)-2-i]
		if gap := newer.StartedAt.Sub(older.StartedAt); gap != w {
			e.t.Errorf("back-off after failure %d = %v; want %v", i+1, gap, w)
		}
	}
}

func testTickRetry(e *env) {
	id := e.persona("retry@mana.test", persona.Daily, "UTC")
	e.claim("runner-a", 1, time.Hour)
	tk := persona.Tick{TickID: "t1", PersonaID: id, RunnerID: "runner-a", Status: persona.TickFailed, Error: "x"}
	e.tick(tk)
	e.tick(tk) // the runner retried a request whose response was lost
	if p := e.get(id); p.FailureCount != 1 {
		e.t.Errorf("failure count after a retried report = %d; want 1", p.FailureCount)
	}
	// running → terminal is the normal path and applies the schedule once.
	e.clock.Advance(time.Hour)
	e.tick(persona.Tick{TickID: "t2", PersonaID: id, RunnerID: "runner-a", Status: persona.TickRunning})
	e.tick(persona.Tick{TickID: "t2", PersonaID: id, RunnerID: "runner-a", Status: persona.TickFailed})
	if p := e.get(id); p.FailureCount != 2 {
		e.t.Errorf("failure count = %d; want 2", p.FailureCount)
	}
}

func testTickCancelled(e *env) {
	id := e.persona("cancel@mana.test", persona.Hourly, "UTC")
	at := e.clock.Now().Add(-2 * time.Hour)
	e.ran(id, at)
	e.claim("runner-a", 1, time.Hour)
	e.tick(persona.Tick{TickID: "t-c", PersonaID: id, RunnerID: "runner-a", Status: persona.TickCancelled})
	p := e.get(id)
	if p.LeaseOwner != "" || p.LeaseExpiresAt != nil || p.FailureCount != 0 || p.NextDueAt != nil || !equalTime(p.LastActiveAt, &at) {
		e.t.Errorf("after cancel: lease %q %v, failures %d, next %v, last %v; want only the lease released",
			p.LeaseOwner, p.LeaseExpiresAt, p.FailureCount, p.NextDueAt, p.LastActiveAt)
	}
	if !e.isDue(id) {
		e.t.Error("a cancelled persona is not due again at once")
	}
}

func testTickRunning(e *env) {
	id := e.persona("running@mana.test", persona.Hourly, "UTC")
	e.claim("runner-a", 1, time.Hour)
	e.tick(persona.Tick{TickID: "t-r", PersonaID: id, RunnerID: "runner-a", Status: persona.TickRunning})
	if p := e.get(id); p.LeaseOwner != "runner-a" {
		e.t.Errorf("lease owner after a running record = %q; want runner-a", p.LeaseOwner)
	}
	tk, err := e.s.Tick(e.ctx, "t-r")
	if err != nil || tk.Status != persona.TickRunning || tk.FinishedAt != nil || !tk.StartedAt.Equal(e.clock.Now()) {
		e.t.Errorf("running tick = %+v, %v", tk, err)
	}
}

func testTickForeignLease(e *env) {
	id := e.persona("slow@mana.test", persona.Hourly, "UTC")
	e.claim("runner-a", 1, time.Minute)
	e.clock.Advance(2 * time.Minute)
	if got := e.claim("runner-b", 1, time.Hour); len(got) != 1 {
		e.t.Fatalf("runner-b claim = %v", ids(got))
	}
	// runner-a finishes late: its run counts, but runner-b's live lease stays.
	e.tick(persona.Tick{TickID: "late", PersonaID: id, RunnerID: "runner-a", Status: persona.TickOK})
	p := e.get(id)
	if p.LeaseOwner != "runner-b" {
		e.t.Errorf("lease owner = %q; want runner-b's lease kept", p.LeaseOwner)
	}
	if p.LastActiveAt == nil {
		e.t.Error("the late run did not set last_active_at")
	}
}

func testTickInvalid(e *env) {
	id := e.persona("t@mana.test", persona.Hourly, "UTC")
	err := e.s.RecordTick(e.ctx, persona.Tick{TickID: "t", PersonaID: id, Status: "exploded"})
	wantErrMentions(e.t, "RecordTick(bad status)", err, persona.ErrInvalid, "status")
	err = e.s.RecordTick(e.ctx, persona.Tick{PersonaID: id, Status: persona.TickOK})
	wantErrMentions(e.t, "RecordTick(no tick id)", err, persona.ErrInvalid, "tickId")
	err = e.s.RecordTick(e.ctx, persona.Tick{TickID: "t", PersonaID: "no-such-persona", Status: persona.TickOK})
	wantErr(e.t, "RecordTick(unknown persona)", err, persona.ErrNotFound)
	if p := e.get(id); p.LastActiveAt != nil {
		e.t.Error("a refused tick changed the persona")
	}
}

// testAbandonAtRestart: a runner that restarts under the same id marks the runs its previous
// process left running abandoned, naming that runner, and the personas are due again at once.
func testAbandonAtRestart(e *env) {
	id := e.persona("crashed@mana.test", persona.Hourly, "UTC")
	e.claim("runner-a", 1, time.Hour)
	other := e.persona("other@mana.test", persona.Hourly, "UTC")
	e.tick(persona.Tick{TickID: "t-crash", PersonaID: id, RunnerID: "runner-a", Status: persona.TickRunning, StartedAt: e.clock.Now()})
	e.claim("runner-b", 1, time.Hour)
	e.tick(persona.Tick{TickID: "t-live", PersonaID: other, RunnerID: "runner-b", Status: persona.TickRunning, StartedAt: e.clock.Now()})
	e.clock.Advance(time.Minute)
	n, err := e.s.AbandonRuns(e.ctx, "runner-a")
	if err != nil || n != 1 {
		e.t.Fatalf("AbandonRuns = %d, %v; want 1", n, err)
	}
	tk, err := e.s.Tick(e.ctx, "t-crash")
	if err != nil || tk.Status != persona.TickAbandoned || tk.FinishedAt == nil || !strings.Contains(tk.Error, "runner-a") {
		e.t.Errorf("crashed run = %+v, %v; want abandoned naming runner-a", tk, err)
	}
	if live, _ := e.s.Tick(e.ctx, "t-live"); live.Status != persona.TickRunning {
		e.t.Errorf("another runner's run became %s", live.Status)
	}
	if p := e.get(id); p.LeaseOwner != "" || !e.isDue(id) || p.FailureCount != 0 {
		e.t.Errorf("after abandon: lease %q, due %v, failures %d; want free, due, no failure", p.LeaseOwner, e.isDue(id), p.FailureCount)
	}
	if p := e.get(other); p.LeaseOwner != "runner-b" {
		e.t.Errorf("runner-b's lease = %q", p.LeaseOwner)
	}
	if _, err := e.s.AbandonRuns(e.ctx, ""); !errors.Is(err, persona.ErrInvalid) {
		e.t.Errorf("AbandonRuns without a runner id: %v; want ErrInvalid", err)
	}
}

// testAbandonOnClaim: claiming a persona whose lease ran out marks its running record abandoned,
// naming the runner that lost it and the one that claimed.
func testAbandonOnClaim(e *env) {
	id := e.persona("lost@mana.test", persona.Hourly, "UTC")
	e.claim("runner-a", 1, time.Minute)
	e.tick(persona.Tick{TickID: "t-lost", PersonaID: id, RunnerID: "runner-a", Status: persona.TickRunning, StartedAt: e.clock.Now()})
	e.clock.Advance(2 * time.Minute)
	if got := e.claim("runner-b", 1, time.Hour); len(got) != 1 {
		e.t.Fatalf("runner-b claim = %v", ids(got))
	}
	tk, err := e.s.Tick(e.ctx, "t-lost")
	if err != nil || tk.Status != persona.TickAbandoned || !strings.Contains(tk.Error, "runner-a") || !strings.Contains(tk.Error, "runner-b") {
		e.t.Errorf("lost run = %+v, %v; want abandoned naming runner-a and runner-b", tk, err)
	}
}
