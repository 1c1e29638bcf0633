package runner_test

import (
	"context"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/runner"
)

// TestOutboxKeepsRunsThroughAnOutage: a store that refuses connections for longer than the
// persist budget does not lose a finished run: it waits in the outbox (shown by /health and
// /metrics) with its persona's lease held, and a runner started later on the same outbox writes
// it exactly once, without running the persona again.
func TestOutboxKeepsRunsThroughAnOutage(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Outbox = t.TempDir()
	p := testPersona("persona.otto@mana.test")
	b := setup(t, cfg, day(threeCalls(), goodRating), p)
	runner.SetPersistBudget(b.r, 50*time.Millisecond)
	b.store.failActions = 1 << 30
	b.store.failTicks = 1 << 30
	b.store.failErr = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}

	res, err := b.r.Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.RanSuccessfully != 1 || len(res.Failed) != 0 {
		t.Errorf("a run kept in the outbox is a finished run: %+v", res)
	}
	b.store.mu.Lock()
	leased, ticks := b.store.leased[p.UserID], len(b.store.ticks)
	b.store.mu.Unlock()
	if leased == "" || ticks != 0 {
		t.Errorf("during the outage: lease %q (want held), %d tick records (want 0)", leased, ticks)
	}
	if n, _ := b.r.OutboxDepth(); n != 1 {
		t.Errorf("outbox depth %d, want 1", n)
	}
	srv := httptest.NewServer(b.r.Handler())
	defer srv.Close()
	if h := get(t, srv.URL+"/health"); !strings.Contains(h, `"outbox":{"failedRuns":0,"runs":1}`) {
		t.Errorf("/health does not show the outbox: %s", h)
	}
	if m := get(t, srv.URL+"/metrics"); !hasLine(m, "persona_outbox_runs 1") {
		t.Errorf("metrics lack persona_outbox_runs 1:\n%s", grep(m, "outbox"))
	}
	files, _ := filepath.Glob(filepath.Join(cfg.Outbox, "*.json"))
	if len(files) != 1 {
		t.Fatalf("outbox files %v, want one", files)
	}

	// The store comes back; a new runner process finds the run on disk.
	b.store.mu.Lock()
	b.store.failActions, b.store.failTicks = 0, 0
	b.store.mu.Unlock()
	b2 := setup(t, cfg, day(threeCalls(), goodRating))
	r2, err := runner.New(cfg, runner.Deps{Provider: b2.model, Persistence: b.store, Targets: b2.tools})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := r2.OutboxDepth(); n != 1 {
		t.Fatalf("restarted runner sees outbox depth %d, want 1", n)
	}
	for range 2 { // the second tick must find nothing left to write or run
		if _, err := r2.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	b.store.mu.Lock()
	defer b.store.mu.Unlock()
	if len(b.store.actions) != 3 || len(b.store.ticks) != 1 || b.store.ticks[0].Status != persona.TickOK {
		t.Errorf("after replay: %d actions (want 3), ticks %+v (want one ok)", len(b.store.actions), b.store.ticks)
	}
	if b.store.leased[p.UserID] != "" {
		t.Errorf("lease still held after the run landed")
	}
	if len(b2.model.requests()) != 0 {
		t.Errorf("the persona ran again: %d model calls in the restarted runner", len(b2.model.requests()))
	}
	if n, _ := r2.OutboxDepth(); n != 0 {
		t.Errorf("outbox depth after replay %d, want 0", n)
	}
	if left, _ := os.ReadDir(cfg.Outbox); len(left) != 0 {
		t.Errorf("outbox directory after replay: %v", left)
	}
}
