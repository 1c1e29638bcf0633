package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/runner"
)

// gate blocks model calls of chosen personas until released, and tells when they arrived.
type gate struct {
	mu      sync.Mutex
	arrived chan string // email of each blocked call
	release map[string]chan struct{}
}

func newGate(emails ...string) *gate {
	g := &gate{arrived: make(chan string, 16), release: map[string]chan struct{}{}}
	for _, e := range emails {
		g.release[e] = make(chan struct{})
	}
	return g
}

func (g *gate) answer(next func(context.Context, model.Request, int) (model.Response, error)) func(context.Context, model.Request, int) (model.Response, error) {
	return func(ctx context.Context, req model.Request, n int) (model.Response, error) {
		g.mu.Lock()
		ch := g.release[req.Persona.Email]
		g.mu.Unlock()
		if ch != nil && n == 1 {
			g.arrived <- req.Persona.Email
			select {
			case <-ch:
			case <-ctx.Done():
				return model.Response{}, ctx.Err()
			}
		}
		return next(ctx, req, n)
	}
}

func TestOverlappingTickIsSkipped(t *testing.T) {
	t.Parallel()
	p := testPersona("persona.slow@mana.test")
	g := newGate(p.Email)
	b := setup(t, testConfig(), g.answer(day(threeCalls(), goodRating)), p)
	done := make(chan runner.Result)
	go func() {
		res, _ := b.r.Tick(context.Background())
		done <- res
	}()
	<-g.arrived
	if _, err := b.r.Tick(context.Background()); !errors.Is(err, runner.ErrTickInProgress) {
		t.Fatalf("second tick: %v, want ErrTickInProgress", err)
	}
	// /diag/tick is subject to the same rule.
	srv := httptest.NewServer(b.r.Handler())
	defer srv.Close()
	resp := post(t, srv.URL+"/diag/tick", "test-service-key")
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("/diag/tick during a tick: %d", resp.StatusCode)
	}
	close(g.release[p.Email])
	if res := <-done; res.RanSuccessfully != 1 {
		t.Errorf("first tick: %+v", res)
	}
	if m := get(t, srv.URL+"/metrics"); !hasLine(m, "tick_skipped_total 2") {
		t.Errorf("metrics do not count the two skips:\n%s", grep(m, "tick_skipped"))
	}
}

// TestPersonaRunsOncePerTick: when a claim hands back a persona that already ran in this tick
// (here: its store leaves it due at once), the tick does not run it again.
func TestPersonaRunsOncePerTick(t *testing.T) {
	t.Parallel()
	for _, conc := range []int{1, 3} {
		a, c := testPersona("persona.once@mana.test"), testPersona("persona.twice@mana.test")
		cfg := testConfig()
		cfg.Concurrency = conc
		b := setup(t, cfg, day(threeCalls(), goodRating), a, c)
		b.store.dueAgain = true
		b.store.maxClaims = 10 // without the rule the tick would otherwise rerun them forever
		res, err := b.r.Tick(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if res.Due != 2 || res.RanSuccessfully != 2 || len(b.store.ticks) != 2 || len(b.eventsOf(runner.RunStarted)) != 2 {
			t.Errorf("concurrency %d: result %+v, %d tick records, %d runs started; want each persona once",
				conc, res, len(b.store.ticks), len(b.eventsOf(runner.RunStarted)))
		}
	}
}

// TestStoreHandingBackRunPersonasEndsTheClaiming: a store that hands back a persona that already
// ran even after it was claimed again (it ignores its own leases) ends the tick's claiming rather
// than making it claim over and over.
func TestStoreHandingBackRunPersonasEndsTheClaiming(t *testing.T) {
	t.Parallel()
	p := testPersona("persona.loop@mana.test")
	cfg := testConfig()
	cfg.Concurrency = 1 // every claim fills its one slot, so a short claim does not end the tick
	b := setup(t, cfg, day(threeCalls(), goodRating), p)
	b.store.dueAgain, b.store.ignoreLease = true, true
	b.store.maxClaims = 10 // the backstop should the rule fail
	res, err := b.r.Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Due != 1 || len(b.store.ticks) != 1 || b.store.claims != 3 {
		t.Errorf("result %+v, %d tick records, %d claims; want one run and 3 claims (ran, handed back, again: stop)",
			res, len(b.store.ticks), b.store.claims)
	}
}

func TestPauseStopsNewRuns(t *testing.T) {
	t.Parallel()
	a, c := testPersona("persona.a@mana.test"), testPersona("persona.c@mana.test")
	cfg := testConfig()
	cfg.Concurrency = 1
	g := newGate(a.Email)
	b := setup(t, cfg, g.answer(day(threeCalls(), goodRating)), a, c)
	b.r.Pause()
	if res, err := b.r.Tick(context.Background()); err != nil || res.Due != 0 || b.store.claims != 0 {
		t.Fatalf("paused tick: %+v %v, %d claims", res, err, b.store.claims)
	}
	b.r.Resume()
	done := make(chan runner.Result)
	go func() {
		res, _ := b.r.Tick(context.Background())
		done <- res
	}()
	<-g.arrived
	// Pausing mid-tick lets the running persona finish and claims nobody else.
	srv := httptest.NewServer(b.r.Handler())
	defer srv.Close()
	if resp := post(t, srv.URL+"/control/pause", "wrong-key"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("pause with a wrong key: %d", resp.StatusCode)
	}
	if resp := post(t, srv.URL+"/control/pause", "test-service-key"); resp.StatusCode != http.StatusOK {
		t.Errorf("pause: %d", resp.StatusCode)
	}
	close(g.release[a.Email])
	res := <-done
	if res.Due != 1 || res.RanSuccessfully != 1 {
		t.Errorf("tick paused midway: %+v", res)
	}
	if _, ok := b.store.tickOf(c.UserID); ok {
		t.Error("a persona ran after pause")
	}
	var h map[string]any
	if err := json.Unmarshal([]byte(get(t, srv.URL+"/health")), &h); err != nil || h["paused"] != true {
		t.Errorf("health while paused: %v %v", h, err)
	}
	if resp := post(t, srv.URL+"/control/resume", "test-service-key"); resp.StatusCode != http.StatusOK || b.r.Paused() {
		t.Errorf("resume: %d paused=%v", resp.StatusCode, b.r.Paused())
	}
}

func TestGracefulStop(t *testing.T) {
	t.Parallel()
	fast, stuck, waiting := testPersona("persona.fast@mana.test"), testPersona("persona.stuck@mana.test"), testPersona("persona.wait@mana.test")
	cfg := testConfig()
	cfg.Concurrency = 2
	cfg.Grace = 100 * time.Millisecond
	g := newGate(fast.Email, stuck.Email)
	b := setup(t, cfg, g.answer(day(threeCalls(), goodRating)), fast, stuck, waiting)
	done := make(chan runner.Result)
	go func() {
		res, _ := b.r.Tick(context.Background())
		done <- res
	}()
	<-g.arrived
	<-g.arrived
	stopped := make(chan error)
	go func() { stopped <- b.r.Stop(context.Background()) }()
	// One run finishes within the grace period; the other never would.
	close(g.release[fast.Email])
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.Due != 2 || res.RanSuccessfully != 1 || len(res.Failed) != 1 || res.Failed[0].Persona != stuck.Email {
		t.Errorf("result: %+v", res)
	}
	if tk, _ := b.store.tickOf(fast.UserID); tk.Status != persona.TickOK {
		t.Errorf("fast persona: %s", tk.Status)
	}
	if tk, _ := b.store.tickOf(stuck.UserID); tk.Status != persona.TickCancelled || !strings.Contains(tk.Error, "cancelled") {
		t.Errorf("stuck persona: %s %q", tk.Status, tk.Error)
	}
	if _, ok := b.store.tickOf(waiting.UserID); ok {
		t.Error("a persona was claimed after stop")
	}
	if _, err := b.r.Tick(context.Background()); !errors.Is(err, runner.ErrStopped) {
		t.Errorf("tick after stop: %v", err)
	}
}

func TestLoopTicksAtStartThenEveryInterval(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.TickInterval = time.Minute
		b := setup(t, cfg, day(threeCalls(), goodRating))
		ctx, cancel := context.WithCancel(context.Background())
		b.r.Start(ctx)
		synctest.Wait()
		if n := len(b.eventsOf(runner.TickFinished)); n != 1 {
			t.Fatalf("%d ticks at start, want 1", n)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(b.eventsOf(runner.TickFinished)); n != 2 {
			t.Fatalf("%d ticks after one interval, want 2", n)
		}
		cancel()
		if err := b.r.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if b.r.LastTick() == nil {
			t.Error("no last tick")
		}
	})
}

// TestLoopCountsTicksSkippedByASlowTick: intervals that pass while a tick still runs are skipped
// ticks — counted in tick_skipped_total and logged — not dropped silently by the timer.
func TestLoopCountsTicksSkippedByASlowTick(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := testPersona("persona.slowpoke@mana.test")
		cfg := testConfig()
		cfg.TickInterval = time.Minute
		g := newGate(p.Email)
		b := setup(t, cfg, g.answer(day(threeCalls(), goodRating)), p)
		r := b.r
		ctx, cancel := context.WithCancel(context.Background())
		r.Start(ctx)
		<-g.arrived // the first tick is running and stays in its run
		time.Sleep(3*time.Minute + time.Second)
		synctest.Wait()
		metrics := func() string {
			rec := httptest.NewRecorder()
			r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			return rec.Body.String()
		}
		if m := metrics(); !hasLine(m, "tick_skipped_total 3") {
			t.Errorf("after three intervals in one tick: %q, want tick_skipped_total 3", grep(m, "tick_skipped"))
		}
		if n := strings.Count(b.logged(), "tick skipped"); n != 3 {
			t.Errorf("%d skipped ticks logged, want 3:\n%s", n, b.logged())
		}
		close(g.release[p.Email])
		synctest.Wait()
		cancel()
		if err := r.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if last := r.LastTick(); last == nil || last.RanSuccessfully != 1 {
			t.Errorf("last tick: %+v", last)
		}
	})
}

func TestHTTPHealthMetricsAndDiag(t *testing.T) {
	t.Parallel()
	p := testPersona("persona.lena@mana.test")
	b := setup(t, testConfig(), day(threeCalls(), goodRating), p)
	srv := httptest.NewServer(b.r.Handler())
	defer srv.Close()
	var h map[string]any
	if err := json.Unmarshal([]byte(get(t, srv.URL+"/health")), &h); err != nil {
		t.Fatal(err)
	}
	if h["status"] != "ok" || h["service"] != "persona-runner" || h["paused"] != false || h["tickIntervalMs"] != float64(60000) || h["concurrency"] != float64(4) || h["lastTick"] != nil {
		t.Errorf("health: %v", h)
	}
	if resp := post(t, srv.URL+"/diag/tick", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/diag/tick without key: %d", resp.StatusCode)
	}
	resp := post(t, srv.URL+"/diag/tick", "test-service-key")
	var tick struct {
		OK     bool          `json:"ok"`
		Result runner.Result `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tick); err != nil || !tick.OK || tick.Result.RanSuccessfully != 1 {
		t.Errorf("/diag/tick: %d %+v %v", resp.StatusCode, tick, err)
	}
	if err := json.Unmarshal([]byte(get(t, srv.URL+"/health")), &h); err != nil {
		t.Fatal(err)
	}
	last, _ := h["lastTick"].(map[string]any)
	if last["due"] != float64(1) || last["ranSuccessfully"] != float64(1) {
		t.Errorf("lastTick: %v", h["lastTick"])
	}
	m := get(t, srv.URL+"/metrics")
	for _, want := range []string{
		`persona_ticks_total{result="ok"} 1`, `persona_tool_calls_total{module="todo",result="ok"} 2`,
		`persona_tool_calls_total{module="notes",result="ok"} 1`, `persona_run_duration_seconds_count 1`,
		`llm_tokens_total{kind="input"} 400`, `llm_tokens_total{kind="cached"} 120`, `tick_skipped_total 0`,
	} {
		if !hasLine(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/diag/login?email="+p.Email, nil)
	req.Header.Set("X-Service-Key", "test-service-key")
	lr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var login map[string]any
	_ = json.NewDecoder(lr.Body).Decode(&login)
	lr.Body.Close()
	if login["ok"] != true || login["userId"] != "u-"+p.Email || login["spaceId"] != "space-jwt-"+p.Email {
		t.Errorf("/diag/login: %v", login)
	}
}

func TestDiagOffInProduction(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Diag = false // production: config.Config.Runner sets it so
	const key = "production-service-key-of-32-bytes"
	cfg.ServiceKey = key
	b := setup(t, cfg, day(nil, ""))
	srv := httptest.NewServer(b.r.Handler())
	defer srv.Close()
	if resp := post(t, srv.URL+"/diag/tick", key); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/diag/tick in production: %d", resp.StatusCode)
	}
	if resp := post(t, srv.URL+"/control/pause", key); resp.StatusCode != http.StatusOK {
		t.Errorf("control in production: %d", resp.StatusCode)
	}
}

func post(t *testing.T, url, key string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	if key != "" {
		req.Header.Set("X-Service-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// hasLine reports whether text has line as one whole line, so a metric asserted at 1 is not
// matched by the same series at 10 or by a longer name that ends the same way.
func hasLine(text, line string) bool {
	return slices.Contains(strings.Split(text, "\n"), line)
}

// TestClaimAheadReleasesUnstartedOnStop: a tick claims a few personas ahead of its free workers
// (concurrency/8), so one claim serves them all; when the tick stops, a persona claimed but not
// started gets a cancelled record that says so and its lease back, and nobody else is claimed.
func TestClaimAheadReleasesUnstartedOnStop(t *testing.T) {
	t.Parallel()
	var ps []persona.DuePersona
	var emails []string
	for i := range 10 {
		p := testPersona(fmt.Sprintf("persona.q%d@mana.test", i))
		ps, emails = append(ps, p), append(emails, p.Email)
	}
	cfg := testConfig()
	cfg.Concurrency = 8 // one ahead
	cfg.Grace = 50 * time.Millisecond
	g := newGate(emails...)
	b := setup(t, cfg, g.answer(day(threeCalls(), goodRating)), ps...)
	done := make(chan runner.Result)
	go func() {
		res, _ := b.r.Tick(context.Background())
		done <- res
	}()
	for range 8 {
		<-g.arrived
	}
	if err := b.r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.Due != 8 || len(res.Failed) != 8 || b.store.claims != 1 {
		t.Errorf("result %+v after %d claims; want 8 runs cancelled, one claim", res, b.store.claims)
	}
	queued, ok := b.store.tickOf(ps[8].UserID)
	if !ok || queued.Status != persona.TickCancelled || !strings.Contains(queued.Error, "not started") {
		t.Errorf("persona claimed ahead: %+v (recorded %v); want a cancelled record saying it never started", queued, ok)
	}
	if _, ok := b.store.tickOf(ps[9].UserID); ok {
		t.Error("a persona beyond the claim was recorded")
	}
	b.store.mu.Lock()
	defer b.store.mu.Unlock()
	if len(b.store.leased) != 0 {
		t.Errorf("leases left after the stop: %v", b.store.leased)
	}
	if n := len(b.eventsOf(runner.RunStarted)); n != 8 {
		t.Errorf("%d runs started; want 8", n)
	}
}

// TestHealthShowsFailedTick: a tick whose claim failed says so in /health's lastTick, not only in
// the log (due 0 alone reads as "nobody was due").
func TestHealthShowsFailedTick(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig(), day(threeCalls(), goodRating), testPersona("persona.lena@mana.test"))
	b.store.failClaims = 100
	srv := httptest.NewServer(b.r.Handler())
	defer srv.Close()
	if _, err := b.r.Tick(context.Background()); err == nil {
		t.Fatal("a tick whose claims all failed reported no error")
	}
	var h struct {
		LastTick map[string]any `json:"lastTick"`
	}
	if err := json.Unmarshal([]byte(get(t, srv.URL+"/health")), &h); err != nil {
		t.Fatal(err)
	}
	msg, _ := h.LastTick["error"].(string)
	if !strings.Contains(msg, "connection refused") || h.LastTick["due"] != float64(0) {
		t.Errorf("lastTick = %v, want due 0 and the claim's error", h.LastTick)
	}
	// The next tick that works clears it.
	b.store.mu.Lock()
	b.store.failClaims = 0
	b.store.mu.Unlock()
	if _, err := b.r.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.LastTick = nil
	if err := json.Unmarshal([]byte(get(t, srv.URL+"/health")), &h); err != nil {
		t.Fatal(err)
	}
	if _, has := h.LastTick["error"]; has || h.LastTick["ranSuccessfully"] != float64(1) {
		t.Errorf("lastTick after a good tick = %v", h.LastTick)
	}
}
