// Package runner is persona-runner's heart (SPEC §5): a tick loop that claims due personas and
// runs each, in a worker pool, through the app's MCP tools with a model playing the persona; every
// tool call becomes an action row, a rating turn in the same conversation becomes feedback rows,
// and a tick record closes each run and releases its lease.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/retry"
)

// Deps are the runner's collaborators. Provider, Persistence and Targets are required.
type Deps struct {
	Provider    model.Provider
	Persistence Persistence
	// Targets opens each persona's session on the app it tests (TargetSet of the configured
	// targets; target/strategy builds them).
	Targets Targets
	// Logger gets one line per run and per tick; nil discards.
	Logger *slog.Logger
	// Now is the clock of records and prompts; nil means time.Now.
	Now func() time.Time
	// PersistBudget is how long a finished run's rows are retried before the run goes to the
	// outbox (cfg.Outbox); zero means PersistTimeout, which the lease covers.
	PersistBudget time.Duration
	// OnEvent, when set, is called for every Event. It runs on the workers' goroutines, so it
	// must be safe for concurrent use and quick.
	OnEvent func(Event)
}

// EventKind names what happened.
type EventKind string

// Event kinds.
const (
	TickStarted  EventKind = "tick.started"
	TickFinished EventKind = "tick.finished"
	RunStarted   EventKind = "run.started"
	RunFinished  EventKind = "run.finished"
)

// Event reports progress, for live displays such as `up`.
type Event struct {
	Kind      EventKind
	Time      time.Time
	TickID    string // runs only
	PersonaID string // runs only
	Email     string // runs only
	// RunFinished only: the run's record (without transcript) and its ratings.
	Status    persona.TickStatus
	ToolCalls int
	Errors    int
	Turns     int
	CostUSD   float64
	// Tokens of the run's model requests: input (cached input included) and output.
	InputTokens, OutputTokens int64
	Error                     string
	Duration                  time.Duration
	Ratings                   []Rating
	// TickFinished only.
	Result *Result
}

// Result is what one tick did (SPEC §5.2).
type Result struct {
	Due             int          `json:"due"`
	RanSuccessfully int          `json:"ranSuccessfully"`
	Failed          []RunFailure `json:"failed"`
	// Degraded runs made their calls but gave no usable ratings (ours, additive): neither
	// successful nor failed.
	Degraded   []RunFailure `json:"degraded,omitempty"`
	DurationMs int64        `json:"durationMs"`
	// Error says why the tick itself failed (ours, additive), e.g. claiming due personas did
	// not work: due is then 0 for want of a list, not because nobody was due.
	Error    string               `json:"error,omitempty"`
	Outcomes []persona.TickStatus `json:"-"`
}

// RunFailure is one persona run that did not end ok.
type RunFailure struct {
	Persona string `json:"persona"` // email
	Error   string `json:"error"`
}

// Errors of Tick.
var (
	// ErrTickInProgress means a tick is running in this process; the call was skipped.
	ErrTickInProgress = errors.New("a tick is already running")
	// ErrStopped means the runner was stopped.
	ErrStopped = errors.New("runner stopped")
)

// Runner runs personas. Create it with New; it is safe for concurrent use.
type Runner struct {
	cfg      Config
	provider model.Provider
	store    Persistence
	targets  Targets
	log      *slog.Logger
	now      func() time.Time
	onEvent  func(Event)
	metrics  *metrics
	budget   budget

	paused   atomic.Bool
	tickSem  chan struct{} // holds a token while a tick runs; a full channel makes overlaps skip
	lastTick atomic.Pointer[Result]

	stopOnce sync.Once
	stopReq  chan struct{} // closed by Stop: stop claiming, start the grace period
	hardOnce sync.Once
	hardStop chan struct{} // closed when Stop's context ends before the grace period
	loopMu   sync.Mutex
	loopDone chan struct{} // closed when Run returns; nil before Start

	// Knobs that tests shorten; New sets the production values.
	connectTimeout time.Duration // MCP connect, wrapped in our own timer
	callTimeout    time.Duration // one tool call
	persistTimeout time.Duration // writing a run's rows after it ended
	retry          retry.Policy  // claims, releases, replays: a few tries
	persistRetry   retry.Policy  // a finished run's rows: until persistTimeout is spent

	outbox   *outbox    // nil without cfg.Outbox
	replayMu sync.Mutex // one outbox replay at a time

	abandoned atomic.Bool // the runs a previous process left running were marked abandoned
}

// New checks the configuration and builds a runner. It starts nothing.
func New(cfg Config, deps Deps) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Provider == nil {
		return nil, errors.New("runner: Deps.Provider is required")
	}
	if deps.Persistence == nil {
		return nil, errors.New("runner: Deps.Persistence is required")
	}
	if deps.Targets == nil {
		return nil, errors.New("runner: Deps.Targets is required")
	}
	if _, ok := deps.Persistence.(Spender); cfg.DailyBudgetUSD > 0 && !ok {
		return nil, errors.New("budget.dailyUsd: the daily budget sums the store's run costs; give the runner the store (DATABASE_URL or --db), the auth API does not report them")
	}
	r := &Runner{
		cfg:            cfg,
		provider:       deps.Provider,
		store:          deps.Persistence,
		targets:        deps.Targets,
		log:            deps.Logger,
		now:            deps.Now,
		onEvent:        deps.OnEvent,
		metrics:        newMetrics(),
		stopReq:        make(chan struct{}),
		hardStop:       make(chan struct{}),
		tickSem:        make(chan struct{}, 1),
		connectTimeout: 30 * time.Second,
		callTimeout:    60 * time.Second,
		persistTimeout: PersistTimeout, // the lease covers it (Config.Lease)
		retry:          defaultRetry,
		persistRetry:   persistRetry,
	}
	if deps.PersistBudget > 0 {
		r.persistTimeout = deps.PersistBudget
	}
	if cfg.Outbox != "" {
		ob, err := openOutbox(cfg.Outbox)
		if err != nil {
			return nil, fmt.Errorf("runner: %w", err)
		}
		r.outbox = ob
		r.setOutboxGauges()
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	r.paused.Store(cfg.Paused)
	if cfg.Paused {
		r.metrics.paused.Set(1)
	}
	return r, nil
}

// Config returns the configuration the runner was built with.
func (r *Runner) Config() Config { return r.cfg }

// Pause makes ticks do nothing from now on; runs in progress finish.
func (r *Runner) Pause() {
	r.paused.Store(true)
	r.metrics.paused.Set(1)
	r.log.Info("runner paused")
}

// Resume undoes Pause.
func (r *Runner) Resume() {
	r.paused.Store(false)
	r.metrics.paused.Set(0)
	r.log.Info("runner resumed")
}

// Paused reports whether the runner is paused.
func (r *Runner) Paused() bool { return r.paused.Load() }

// LastTick returns the result of the last finished tick, or nil.
func (r *Runner) LastTick() *Result { return r.lastTick.Load() }

// Run ticks at once and then every cfg.TickInterval until ctx is done or Stop is called. A tick
// still running then stops claiming, lets its runs finish within cfg.Grace and records the rest
// as cancelled; Run returns when it has. A tick that comes due while the previous one still runs
// is skipped, counted in tick_skipped_total and logged (SPEC §5.2), rather than silently dropped
// by the timer.
func (r *Runner) Run(ctx context.Context) error {
	r.loopMu.Lock()
	if r.loopDone != nil {
		r.loopMu.Unlock()
		return errors.New("runner: Run called twice")
	}
	done := make(chan struct{})
	r.loopDone = done
	r.loopMu.Unlock()
	defer close(done)

	ticker := time.NewTicker(r.cfg.TickInterval)
	defer ticker.Stop()
	// Ticks run in the background so that the timer is read on time: one that fires while a
	// tick still runs meets the busy Tick, which skips and counts it.
	var ticks sync.WaitGroup
	defer ticks.Wait()
	for {
		ticks.Go(func() {
			if _, err := r.Tick(ctx); err != nil && !errors.Is(err, ErrTickInProgress) && !errors.Is(err, ErrStopped) {
				r.log.Error("tick failed", "err", err)
			}
		})
		select {
		case <-ctx.Done():
			return nil
		case <-r.stopReq:
			return nil
		case <-ticker.C:
		}
	}
}

// Start runs Run in the background. Stop ends it.
func (r *Runner) Start(ctx context.Context) {
	started := make(chan struct{})
	go func() {
		r.loopMu.Lock()
		running := r.loopDone != nil
		r.loopMu.Unlock()
		close(started)
		if !running {
			_ = r.Run(ctx)
		}
	}()
	<-started
}

// Stop stops claiming, gives running personas cfg.Grace to finish, records the rest as cancelled
// and waits for the loop to end, or for ctx, whichever comes first. A stopped runner stays
// stopped: later ticks return ErrStopped.
func (r *Runner) Stop(ctx context.Context) error {
	r.stopOnce.Do(func() { close(r.stopReq) })
	// A Tick running outside Run (the /diag/tick endpoint, `up --once`) is waited for too.
	waitTick := make(chan struct{})
	go func() {
		r.tickSem <- struct{}{}
		<-r.tickSem
		close(waitTick)
	}()
	r.loopMu.Lock()
	loopDone := r.loopDone
	r.loopMu.Unlock()
	for _, ch := range []chan struct{}{loopDone, waitTick} {
		if ch == nil {
			continue
		}
		select {
		case <-ch:
		case <-ctx.Done():
			// Out of time: cancel the runs still going now rather than after the grace period,
			// so that they get their cancelled records written while the process still lives.
			r.hardOnce.Do(func() { close(r.hardStop) })
			select {
			case <-ch:
			case <-time.After(5 * time.Second):
			}
			return fmt.Errorf("stop runner: %w", ctx.Err())
		}
	}
	return nil
}

func (r *Runner) stopping() bool {
	select {
	case <-r.stopReq:
		return true
	default:
		return false
	}
}

func (r *Runner) emit(e Event) {
	if r.onEvent != nil {
		if e.Time.IsZero() {
			e.Time = r.now()
		}
		r.onEvent(e)
	}
}

// Tick claims due personas and runs them in a worker pool of cfg.Concurrency until none is due,
// then returns what happened. It returns ErrTickInProgress at once when another tick is running,
// a zero Result when paused, and ErrStopped after Stop. Cancelling ctx acts like Stop for this
// tick: no more claims, cfg.Grace for the running personas, the rest cancelled.
func (r *Runner) Tick(ctx context.Context) (Result, error) {
	if r.stopping() {
		return Result{Failed: []RunFailure{}}, ErrStopped
	}
	select {
	case r.tickSem <- struct{}{}:
		defer func() { <-r.tickSem }()
	default:
		r.metrics.skipped.Inc()
		r.log.Warn("tick skipped: the previous tick is still running")
		return Result{Failed: []RunFailure{}}, ErrTickInProgress
	}
	if r.paused.Load() {
		return Result{Failed: []RunFailure{}}, nil
	}
	start := time.Now()
	// Runs kept in the outbox go first: each one that lands releases its persona's lease with
	// its tick record, before anyone is claimed.
	if n, err := r.ReplayOutbox(ctx); err != nil {
		r.log.Warn("outbox replay stopped", "written", n, "err", err)
	}
	// Then the runs a previous process of this runner id left running (it crashed): they are
	// abandoned and their personas due again. Once per process, after the outbox, whose runs
	// finished and must not be called abandoned.
	if !r.abandoned.Load() {
		r.abandonLeftovers(ctx)
	}
	r.emit(Event{Kind: TickStarted})
	res, err := r.tick(ctx)
	res.DurationMs = time.Since(start).Milliseconds()
	if err != nil {
		res.Error = err.Error()
	}
	r.lastTick.Store(&res)
	r.emit(Event{Kind: TickFinished, Result: &res, Duration: time.Since(start)})
	r.log.Info("tick finished", "due", res.Due, "ok", res.RanSuccessfully, "failed", len(res.Failed), "durationMs", res.DurationMs)
	return res, err
}

func (r *Runner) tick(ctx context.Context) (Result, error) {
	res := Result{Failed: []RunFailure{}}
	tickDone := make(chan struct{})
	defer close(tickDone)

	// Runs live on a context of their own: the caller's cancellation (or Stop) only stops the
	// claiming at once, and cancels the runs still going after the grace period.
	runCtx, cancelRuns := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelRuns(nil)
	stopClaims := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-r.stopReq:
		case <-tickDone:
			return
		}
		close(stopClaims)
		grace := time.NewTimer(r.cfg.Grace)
		defer grace.Stop()
		select {
		case <-grace.C:
			cancelRuns(ErrStopped)
		case <-r.hardStop:
			cancelRuns(ErrStopped)
		case <-tickDone:
		}
	}()

	conc := r.cfg.Concurrency
	slots := make(chan struct{}, conc)
	for range conc {
		slots <- struct{}{}
	}
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		claimEr error
		// Personas claimed in this tick, and how often. A claim can hand one back after its run
		// (a store whose due rule lets it be due again at once, a lease that ran out while its
		// rows were being written); a persona still runs at most once per tick. Claiming it
		// again leased it anew, so it is not handed back again, and the next claim goes on to
		// the others; a store that does hand it back again ends the claiming.
		seen = map[string]int{}
	)
	claimCtx, cancelClaim := context.WithCancel(ctx)
	defer cancelClaim()
	go func() {
		select {
		case <-stopClaims:
			cancelClaim()
		case <-tickDone:
		}
	}()
	// Claims run ahead of the free workers by up to `ahead` personas, kept in queue: one claim
	// then serves several workers (a claim is a write transaction that walks the due index, and
	// claiming one persona per freed worker cost more than the run's own rows). A queued persona
	// is leased already, so it starts only while its lease still covers a whole run (the
	// deadline and the time its rows may take to be written, see startable); one that waited
	// longer, and those still queued when the tick stops, are released with a cancelled record.
	ahead := conc / 8
	type queued struct {
		p       persona.DuePersona
		claimed time.Time
	}
	var (
		queue     []queued
		exhausted bool // the store has nothing more due for this tick
	)
	start := func(p persona.DuePersona) {
		mu.Lock()
		res.Due++
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := r.runPersona(runCtx, p)
			mu.Lock()
			res.Outcomes = append(res.Outcomes, out.status)
			switch out.status {
			case persona.TickOK:
				res.RanSuccessfully++
			case persona.TickDegraded:
				res.Degraded = append(res.Degraded, RunFailure{Persona: p.Email, Error: out.err})
			default:
				res.Failed = append(res.Failed, RunFailure{Persona: p.Email, Error: out.err})
			}
			mu.Unlock()
			slots <- struct{}{}
		}()
	}
claiming:
	for {
		// Wait for a free worker, then take every other free one.
		select {
		case <-slots:
		case <-stopClaims:
			break claiming
		}
		n := 1
	drain:
		for n < conc {
			select {
			case <-slots:
				n++
			default:
				break drain
			}
		}
		if r.paused.Load() || r.stopping() || claimCtx.Err() != nil {
			break
		}
		if len(queue) < n && !exhausted {
			want := n - len(queue) + ahead
			ps, err := r.claim(claimCtx, want)
			if err != nil {
				if claimCtx.Err() == nil {
					claimEr = err
				}
				break
			}
			claimed := time.Now()
			looping := false
			for _, p := range ps {
				seen[p.UserID]++
				if seen[p.UserID] > 1 {
					r.log.Warn("persona claimed again in the same tick; not run twice", "persona", p.Email)
					looping = looping || seen[p.UserID] > 2
					continue
				}
				queue = append(queue, queued{p, claimed})
			}
			// Nothing more is due, or the store keeps handing back personas that ran.
			exhausted = len(ps) < want || looping
		}
		for n > 0 && len(queue) > 0 {
			q := queue[0]
			queue = queue[1:]
			if r.outbox != nil && r.outbox.holds(q.p.UserID) {
				// It ran, and its rows wait in the outbox (its lease ran out before they
				// landed): it is not run again. Writing them now releases its lease.
				r.replayFor(ctx, q.p)
				continue
			}
			if !r.startable(q.claimed) {
				r.release(ctx, q.p, "not started: its lease would not have covered the run")
				continue
			}
			start(q.p)
			n--
		}
		for range n {
			slots <- struct{}{}
		}
		if exhausted && len(queue) == 0 {
			break
		}
	}
	for _, q := range queue {
		r.release(ctx, q.p, "not started: the runner stopped claiming")
	}
	wg.Wait()
	return res, claimEr
}

// startable reports whether a persona claimed at claimed may start its run now: the lease
// (cfg.Lease, counted from the claim) must still cover the whole run deadline and the time its
// rows may take to be written, so that a finished run's rows are written before its lease ends.
func (r *Runner) startable(claimed time.Time) bool {
	return time.Since(claimed)+r.cfg.RunDeadline+r.persistTimeout <= r.cfg.Lease()
}

// release gives back the lease of a claimed persona whose run never started, with a cancelled
// tick record (which leaves its schedule as it was, so it is due again at once).
func (r *Runner) release(ctx context.Context, p persona.DuePersona, why string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.persistTimeout)
	defer cancel()
	now := r.now()
	t := persona.Tick{TickID: newTickID(), PersonaID: p.UserID, RunnerID: r.cfg.RunnerID, Status: persona.TickCancelled,
		StartedAt: now, FinishedAt: &now, Error: why}
	if err := r.retry.Do(ctx, transient, func(ctx context.Context) error { return r.store.RecordTick(ctx, t) }); err != nil {
		r.metrics.errors.WithLabelValues(stagePersist).Inc()
		r.log.Error("release unstarted persona", "persona", p.Email, "err", err)
		return
	}
	r.metrics.ticks.WithLabelValues(string(persona.TickCancelled)).Inc()
}

func (r *Runner) claim(ctx context.Context, n int) ([]persona.DuePersona, error) {
	if ok, err := r.budgetAllows(ctx); err != nil || !ok {
		return nil, err
	}
	var ps []persona.DuePersona
	err := r.retry.Do(ctx, transient, func(ctx context.Context) error {
		var err error
		ps, err = r.store.Claim(ctx, r.cfg.RunnerID, n, r.cfg.Lease())
		return err
	})
	if err != nil {
		r.metrics.errors.WithLabelValues(stageClaim).Inc()
		return nil, fmt.Errorf("claim personas: %w", err)
	}
	return ps, nil
}

// abandonLeftovers marks the runs a previous process of this runner id left running abandoned.
func (r *Runner) abandonLeftovers(ctx context.Context) {
	a, ok := r.store.(Abandoner)
	if !ok {
		r.abandoned.Store(true)
		return
	}
	var n int
	err := r.retry.Do(ctx, transient, func(ctx context.Context) error {
		var err error
		n, err = a.AbandonRuns(ctx, r.cfg.RunnerID)
		return err
	})
	if errors.Is(err, persona.ErrNotFound) {
		// An auth API without the endpoint (the original's): such runs are found when their
		// lease runs out.
		r.abandoned.Store(true)
		return
	}
	if err != nil {
		r.log.Warn("could not mark the runs a previous process left running as abandoned; trying again next tick", "err", err)
		return
	}
	r.abandoned.Store(true)
	if n > 0 {
		r.metrics.ticks.WithLabelValues(string(persona.TickAbandoned)).Add(float64(n))
		r.log.Warn("runs left running by a previous process of this runner marked abandoned; their personas run again", "runs", n, "runnerId", r.cfg.RunnerID)
	}
}
