package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/persona-runner/persona-runner/app"
	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/catalog"
	"github.com/persona-runner/persona-runner/config"
	"github.com/persona-runner/persona-runner/findings"
	"github.com/persona-runner/persona-runner/httpserver"
	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/model/openai"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/progress"
	"github.com/persona-runner/persona-runner/runner"
	"github.com/persona-runner/persona-runner/runner/providers"
	"github.com/persona-runner/persona-runner/store"
	"github.com/persona-runner/persona-runner/target/mana"
	"github.com/persona-runner/persona-runner/web"
)

// Default listen addresses of `up` (SPEC §1 ports, loopback only: the embedded mode is for one
// machine, and the demo app must not be reachable from the network by accident).
const (
	DefaultUpAuthAddr   = "127.0.0.1:3001"
	DefaultUpMCPAddr    = "127.0.0.1:3069"
	DefaultUpRunnerAddr = "127.0.0.1:3070"
)

// UpCmd runs the whole loop in one process (the embedded mode, SPEC §1 and §8): the store, the
// auth API, the demo app and the runner, seeded with the default catalog on the first start.
type UpCmd struct {
	StoreFlags  `embed:""`
	Once        bool `help:"Run one tick, print the summary and exit; the exit status is 1 if any persona run failed."`
	Check       bool `help:"With --once: gate the tick's runs like 'persona-runner check' (thresholds below; exit 0 passed, 1 a threshold failed, 3 could not run)."`
	GateFlags   `embed:"" group:"check"`
	AuthAddr    string         `name:"auth-addr" default:"127.0.0.1:3001" placeholder:"ADDR" help:"Listen address of the auth API (port 0: any free port)."`
	MCPAddr     string         `name:"mcp-addr" default:"127.0.0.1:3069" placeholder:"ADDR" help:"Listen address of the demo app's MCP gateway."`
	RunnerAddr  string         `name:"runner-addr" default:"127.0.0.1:3070" placeholder:"ADDR" help:"Listen address of the runner's HTTP API (/health, /metrics)."`
	Provider    string         `enum:",anthropic,openai,sim" default:"" placeholder:"NAME" help:"Model provider: anthropic, openai or sim (default: anthropic with ANTHROPIC_API_KEY, openai with OPENAI_BASE_URL or OPENAI_API_KEY, else the offline simulator)."`
	Model       string         `placeholder:"M" help:"Model name (default: MODEL, else the provider's default)."`
	Concurrency *int           `placeholder:"N" help:"Personas run at once, 1 to 1024 (default: PERSONA_CONCURRENCY, else 2)."`
	Interval    *time.Duration `placeholder:"D" help:"Time between ticks, e.g. 1m or 30s (default: TICK_INTERVAL_MS, else 1m)."`
	Seed        *int64         `placeholder:"N" help:"Seed of the offline simulator: runs with the same seed, date and history play the same (default: SIM_SEED, else random, printed at start)."`
	Config      string         `placeholder:"FILE" type:"existingfile" help:"Runner configuration file (YAML); the environment and flags override it."`
	Catalog     string         `placeholder:"FILE" type:"existingfile" help:"Persona catalog to seed (created or updated at every start) instead of the default catalog on the first start."`
	MCPURL      string         `name:"mcp-url" placeholder:"URL" help:"Test your own app: its MCP endpoint (streamable HTTP) instead of the demo app."`
	TargetFlags `embed:""`
	HTTPFlags   `embed:""`
	Verbose     bool `short:"v" help:"Log every request, tool call and run to stderr (default: warnings and errors only)."`
	// StartTime runs every component on a clock that starts at this instant and advances in
	// real time. Tests use it to run on a weekday (weekday personas are due only then) and to
	// make two runs see the same dates; demos use it to show a given day.
	StartTime string `name:"start-time" hidden:"" placeholder:"RFC3339" help:"Run on a clock that starts at this time."`

	// extraTools are added to the demo app's own (app.Config.ExtraTools) and served through its
	// gateway like them. Tests use it to give the app a module of their own; the command line
	// cannot set it.
	extraTools []app.Tool
}

// Run starts everything, runs the first tick at once and then one per interval until the
// context ends (Ctrl-C), or runs one tick with --once.
func (c *UpCmd) Run(env *Env) error {
	filtered := *env
	filtered.Getenv = config.Up.Getenv(env.Getenv) // the one place up filters its environment
	env = &filtered
	ctx := env.Ctx
	now, err := c.clock()
	if err != nil {
		return err
	}
	limits, err := c.Limits()
	if err != nil {
		return err
	}
	if c.Check {
		if !c.Once {
			return usageError{errors.New("--check gates one tick: use it with --once (or run 'persona-runner check' against the store)")}
		}
		if _, err := c.thresholds(); err != nil {
			return err
		}
	}
	cfg, err := c.config(env)
	if err != nil {
		return err
	}
	if c.Once && cfg.Paused {
		// A paused runner starts no tick, so --once would seed and exit having run nobody.
		return usageError{errors.New("--once runs one tick, but the runner is configured paused (RUNNER_PAUSED or paused: true in --config): unset it to run")}
	}
	cfg.SimSeed = seedOf(cfg)
	// The provider is checked before anything listens or is written: a missing key is a
	// mistake to fix first.
	provider, providerLine, err := c.provider(cfg)
	if err != nil {
		return err
	}
	dsn := cfg.DB.Value()
	if dsn == "" {
		dsn = DefaultDB
	}
	if cfg.Outbox == "" {
		cfg.Outbox = defaultOutbox(dsn)
	}
	logLevel := slog.LevelWarn
	if c.Verbose {
		logLevel = slog.LevelInfo
	}
	log := env.Logger(logLevel)

	// The listeners come first: a port in use fails before anything is migrated or seeded, and
	// the URLs the components give each other are those of the real addresses (port 0 works).
	lns, err := listenAll([]listenSpec{{"--auth-addr", c.AuthAddr}, {"--mcp-addr", c.MCPAddr}, {"--runner-addr", c.RunnerAddr}})
	if err != nil {
		return err
	}
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	authURL, mcpURL, runnerURL := baseURL(lns[0].Addr()), baseURL(lns[1].Addr()), baseURL(lns[2].Addr())

	cost := cfg.PasswordCost
	db, err := openConfigStore(ctx, config.Store{DB: config.DSN(dsn), PasswordCost: cost}, store.WithNow(now))
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(env.Stdout, "persona-runner up: store %s (%s)\n", config.DSN(dsn), db.Dialect())
	cat, err := c.seedCatalog(ctx, db, cfg, env.Stdout)
	if err != nil {
		var ce *catalog.Error
		if errors.As(err, &ce) {
			fmt.Fprintln(env.Stderr, "persona-runner:", err)
			return exitCode(2)
		}
		return err
	}
	fmt.Fprintln(env.Stdout, providerLine)
	if err := restingNote(ctx, db, now(), env.Stdout); err != nil {
		return err
	}

	authSrv, err := authapi.New(ctx, authapi.Config{Store: db, Issuer: authURL, ServiceKey: cfg.ServiceKey.Value(),
		Logger: log.With("component", "auth"), Now: now, PasswordCost: cost})
	if err != nil {
		return err
	}
	// The app checks tokens with the auth server's own verifier: same process, same keys, so no
	// JWKS round trip; signature, expiry, audience and issuer are checked all the same.
	demo, err := app.New(app.Config{Store: db, Verifier: authSrv.Verifier(),
		Logger: log.With("component", "app"), Now: now, ExtraTools: c.extraTools})
	if err != nil {
		return err
	}
	defer demo.Close()

	cfg.AuthURL, cfg.MCPURL, cfg.Addr = authURL, mcpURL, lns[2].Addr().String()
	live := isTerminal(env.Stdout)
	display := progress.New(env.Stdout, live)
	defer display.Close()
	// The runner mints its personas' tokens in process: no password check per run.
	minter := mana.MinterFunc(func(ctx context.Context, id string) (string, error) {
		res, err := authSrv.MintPersonaToken(ctx, id)
		return res.AccessToken, err
	})
	targets, err := buildTargets(cfg, env.Getenv, log.With("component", "targets"), minter)
	if err != nil {
		return err
	}
	// The dashboard needs the runner (its controls) and the runner's events need the dashboard:
	// dash is set before the first tick, which starts only once the servers run.
	var dash *web.Server
	deps := runner.Deps{
		Provider:    provider,
		Persistence: runner.NewStorePersistence(db),
		Targets:     runner.TargetSet(targets), // each persona's target comes with it from the store
		Logger:      log.With("component", "runner"),
		Now:         now,
		OnEvent: func(e runner.Event) {
			display.Handle(e)
			due := 0
			if e.Kind == runner.TickStarted {
				// The due count gives the live line its total; it is read before the tick claims
				// anyone, in the same process, so it is exact.
				if list, _, err := db.DuePersonas(ctx, 0); err == nil {
					due = len(list)
					display.Expect(due)
				}
			}
			if de, ok := dashboardEvent(e, due); ok && dash != nil {
				dash.Publish(de)
			}
		},
	}
	run, err := runner.New(cfg.Runner(), deps)
	if err != nil {
		return err
	}

	dash, err = c.dashboard(ctx, db, run, demo, cfg, lns[2].Addr(), now, log)
	if err != nil {
		return err
	}
	servers := []*http.Server{
		httpserver.New(authSrv, limits, log),
		httpserver.New(demo.Handler(), limits, log),
		httpserver.New(runnerAndDashboard(run, dash), limits, log),
	}
	servers[2].RegisterOnShutdown(dash.Close)
	serveErr := make(chan error, len(servers))
	for i, srv := range servers {
		go func() {
			if err := srv.Serve(httpserver.Limit(lns[i], limits)); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("serve %s: %w", lns[i].Addr(), err)
			}
		}()
	}
	defer shutdownAll(servers, log)
	fmt.Fprintf(env.Stdout, "auth API %s · demo app %s/mcp · runner %s/health · dashboard %s/\n", authURL, mcpURL, runnerURL, runnerURL)
	// Every target is checked before the first tick: a failure no retry fixes (a refused
	// token, an unknown host, a missing command, a catalog module the app does not have)
	// stops here with its cause, not as a tick full of identical failures.
	storedID := func(ctx context.Context, email string) (string, error) {
		u, err := db.UserByEmail(ctx, email)
		return u.ID, err
	}
	if err := startupCheck(ctx, targets, cat, storedID, nil, env.Stdout); err != nil {
		var ce *catalog.Error
		if errors.As(err, &ce) {
			fmt.Fprintln(env.Stderr, "persona-runner:", err)
			return exitCode(2)
		}
		fmt.Fprintln(env.Stderr, "persona-runner: cannot start:", err)
		return exitCode(3)
	}

	if c.Once {
		return c.once(ctx, env, run, display, serveErr, db, now)
	}
	return c.loop(ctx, env, run, cfg, serveErr)
}

// dashboard builds the dashboard up serves at the runner's address: open on a loopback address,
// else behind a sign-in with an admin account or the dashboard password.
func (c *UpCmd) dashboard(ctx context.Context, db store.DB, run *runner.Runner, demo *app.App, cfg config.Config,
	addr net.Addr, now func() time.Time, log *slog.Logger) (*web.Server, error) {
	var tools []string
	for _, t := range demo.Tools() {
		tools = append(tools, t.Name)
	}
	wc := web.Config{
		Store: db, Controller: runnerControl{ctx: ctx, run: run}, Open: isLoopback(addr),
		Accounts: storeAccounts{db: db}, Password: cfg.DashboardPassword.Value(),
		Tools: tools, MemoryRuns: cfg.MemoryRuns, Version: version,
		Logger: log.With("component", "dashboard"), Now: now,
	}
	if cfg.MemoryRuns > 0 {
		wc.Digest = runner.Digest
	}
	return web.New(wc)
}

// runnerAndDashboard serves the runner's API (/health, /metrics, /control/*, /diag/*) and the
// dashboard at every other path of the runner's address.
func runnerAndDashboard(run *runner.Runner, dash *web.Server) http.Handler {
	mux := http.NewServeMux()
	api := run.Handler()
	for _, p := range []string{"/health", "/metrics", "/control/", "/diag/"} {
		mux.Handle(p, api)
	}
	mux.Handle("/", dash.Handler())
	return mux
}

// once runs one tick and tells what to look at next. The exit status is 1 when a run failed.
func (c *UpCmd) once(ctx context.Context, env *Env, run *runner.Runner, display *progress.Display, serveErr <-chan error,
	db store.DB, now func() time.Time) error {
	started := now()
	type ticked struct {
		res runner.Result
		err error
	}
	done := make(chan ticked, 1)
	go func() {
		res, err := run.Tick(ctx)
		done <- ticked{res, err}
	}()
	var t ticked
	select {
	case t = <-done:
	case err := <-serveErr:
		// A server died under the tick: stop it (grace, then cancel) and report the server.
		stopCtx, cancel := context.WithTimeout(context.Background(), run.Config().Grace+5*time.Second)
		defer cancel()
		_ = run.Stop(stopCtx)
		return err
	}
	display.Close()
	if t.err != nil {
		if c.Check {
			// The gate has no runs to read: the tick itself failed (a claim refused, the store
			// unreachable), so check's "could not run" (exit 3), not a failed threshold.
			return cannotRun{fmt.Errorf("tick: %w", t.err)}
		}
		return fmt.Errorf("tick: %w", t.err)
	}
	if c.Check {
		// The gate reads this tick's runs; "new" means not seen in the week before it.
		end := now().Add(time.Second)
		th, _ := c.thresholds() // checked before the tick
		fmt.Fprintln(env.Stdout)
		return c.gate(env, db, findings.Options{Now: end, Since: end.Sub(started) + time.Second, Baseline: 7 * 24 * time.Hour}, th)
	}
	fmt.Fprintf(env.Stdout, "next: %s   (module ratings, failing tools, tool coverage)\n", c.reportHint())
	if len(t.res.Failed) > 0 {
		fmt.Fprintf(env.Stderr, "persona-runner: %d of %d persona runs failed (see STATUS above)\n", len(t.res.Failed), t.res.Due)
		return exitCode(1)
	}
	return nil
}

// loop ticks until the context ends, then stops the runner gracefully: no more claims, running
// personas get the grace period, the rest are recorded as cancelled. The servers stop after.
func (c *UpCmd) loop(ctx context.Context, env *Env, run *runner.Runner, cfg config.Config, serveErr <-chan error) error {
	fmt.Fprintf(env.Stdout, "ticking every %s; Ctrl-C stops\n", cfg.TickInterval)
	run.Start(ctx)
	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	fmt.Fprintf(env.Stdout, "stopping: running personas get up to %s to finish\n", cfg.Grace)
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.Grace+5*time.Second)
	defer cancel()
	if serr := run.Stop(stopCtx); serr != nil && err == nil {
		err = serr
	}
	return err
}

// reportHint is the report command for the store this run used. A URL's password is redacted
// like everywhere else: the hint is printed, so it must not carry a secret.
func (c *UpCmd) reportHint() string {
	switch {
	case strings.TrimSpace(c.DB) != "":
		return "persona-runner report --db " + shellQuote(config.RedactDSN(c.DB))
	case strings.TrimSpace(c.Data) != "":
		return "persona-runner report --data " + shellQuote(c.Data)
	}
	return "persona-runner report"
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@=+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// config loads the runner configuration as serve runner does (defaults < file < environment <
// flags); the URLs and the listen address are up's own, set once the listeners exist.
func (c *UpCmd) config(env *Env) (config.Config, error) {
	flags := RunnerFlags{Config: c.Config, Provider: c.Provider, Model: c.Model, Concurrency: c.Concurrency, Interval: c.Interval}
	var extra config.Overrides
	if c.Seed != nil {
		seed := *c.Seed
		extra = append(extra, config.Override{Flag: "--seed", Key: "simSeed", Apply: func(cfg *config.Config) error { cfg.SimSeed = seed; return nil }})
	}
	o, ok, err := c.override(c.MCPURL)
	if err != nil {
		return config.Config{}, err
	}
	if ok {
		extra = append(extra, o)
	}
	extra = append(extra, c.StoreFlags.overrides()...)
	return config.Up.Load(flags.Config, env.Getenv, append(flags.overrides(), extra...))
}

// seed seeds --catalog at every start (seeding is an upsert), or the default catalog on the
// first start, and returns the catalog whose personas the start-up check connects as.
func (c *UpCmd) seedCatalog(ctx context.Context, db store.DB, cfg config.Config, w io.Writer) (*catalog.Catalog, error) {
	if c.Catalog == "" {
		if err := seedOnFirstStart(ctx, db, cfg, w); err != nil {
			return nil, err
		}
		if len(cfg.Targets) > 0 {
			return nil, nil
		}
		return catalog.Default(), nil
	}
	// Modules of the demo app are known here; another app's are checked against the app itself
	// by the start-up check.
	var known []string
	if len(cfg.Targets) == 0 {
		known = catalog.DemoModules
	}
	cat, err := catalog.Load(c.Catalog, known)
	if err != nil {
		return nil, err
	}
	plan, err := cat.Plan(cfg.SeedSecret.Value())
	if err != nil {
		return nil, err
	}
	if err := planLogins(&plan, cfg.TargetConfigs()); err != nil {
		return nil, fmt.Errorf("seed %s: %w", cat.Source, err)
	}
	res, err := db.ApplySeed(ctx, plan, false)
	if err != nil {
		return nil, fmt.Errorf("seed %s: %w", cat.Source, err)
	}
	if err := recordSeedCatalog(ctx, db, cat); err != nil {
		return nil, err
	}
	_, err = fmt.Fprintf(w, "seeded %s: %d personas, %d shared spaces (%s)\n", cat.Source, len(plan.Personas), len(plan.Spaces), outcomeCounts(res))
	return cat, err
}

// clock is the process's clock: the real one, or one started at --start-time.
func (c *UpCmd) clock() (func() time.Time, error) {
	if c.StartTime == "" {
		return time.Now, nil
	}
	t0, err := time.Parse(time.RFC3339, c.StartTime)
	if err != nil {
		return nil, usageError{fmt.Errorf("--start-time must be an RFC 3339 time such as 2025-06-04T09:00:00Z (got %q)", c.StartTime)}
	}
	base := time.Now()
	return func() time.Time { return t0.Add(time.Since(base)) }, nil
}

// seedOf is the simulator's seed the configuration sets (--seed, else SIM_SEED, else the file's
// simSeed), else a random one (printed, so that a day can be replayed).
func seedOf(cfg config.Config) int64 {
	if cfg.Set("simSeed") {
		return cfg.SimSeed
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.LittleEndian.Uint64(b[:]) % 1_000_000)
}

// provider builds the model provider the configuration names (as serve runner does) and the
// one line that says which it is. The simulator is labelled as what it is, and when it was chosen
// only for want of a key the line says so.
func (c *UpCmd) provider(cfg config.Config) (model.Provider, string, error) {
	if cfg.Provider == config.ProviderAnthropic && cfg.AnthropicAPIKey == "" {
		return nil, "", usageError{errors.New("the anthropic provider needs ANTHROPIC_API_KEY (or use --provider sim, the offline simulator)")}
	}
	if cfg.Provider == config.ProviderOpenAI && cfg.OpenAIAPIKey == "" && cfg.OpenAIBaseURL == "" {
		return nil, "", usageError{errors.New("the openai provider needs OPENAI_API_KEY for the public OpenAI endpoint, or OPENAI_BASE_URL for a local server (or use --provider sim, the offline simulator)")}
	}
	p, err := providers.New(cfg, nil)
	if err != nil {
		return nil, "", err
	}
	switch cfg.Provider {
	case config.ProviderSim:
		if !cfg.Set("provider") {
			return p, fmt.Sprintf("no model key found: using the offline simulator (not an LLM; seed %d); set ANTHROPIC_API_KEY or OPENAI_BASE_URL for real personas", cfg.SimSeed), nil
		}
		return p, fmt.Sprintf("provider: the offline simulator %s (not an LLM; seed %d)", p.Model(), cfg.SimSeed), nil
	case config.ProviderOpenAI:
		where := cfg.OpenAIBaseURL
		if where == "" {
			where = openai.DefaultBaseURL
		}
		return p, fmt.Sprintf("provider: openai-compatible %s at %s", p.Model(), where), nil
	}
	return p, fmt.Sprintf("provider: %s %s", cfg.Provider, p.Model()), nil
}

// seedOnFirstStart seeds the default catalog into a store that has no personas yet, and says so
// in one line. A store with personas is left as it is: it may hold the user's own catalog.
func seedOnFirstStart(ctx context.Context, db store.DB, cfg config.Config, w io.Writer) error {
	existing, err := db.ListPersonas(ctx, time.Time{})
	if err != nil {
		return fmt.Errorf("list personas: %w", err)
	}
	if len(existing) > 0 {
		return nil
	}
	cat := catalog.Default()
	plan, err := cat.Plan(cfg.SeedSecret.Value())
	if err != nil {
		return err
	}
	if err := planLogins(&plan, cfg.TargetConfigs()); err != nil {
		return err
	}
	if _, err := db.ApplySeed(ctx, plan, false); err != nil {
		return fmt.Errorf("seed the %s: %w", cat.Source, err)
	}
	if err := recordSeedCatalog(ctx, db, cat); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "first start: seeded the %s (%d personas, %d shared spaces; `persona-runner seed --catalog FILE` loads your own)\n",
		cat.Source, len(plan.Personas), len(plan.Spaces))
	return err
}

// restingNote says which weekday personas are not due because it is the weekend in their time
// zone (SPEC §6), so that a tick with fewer runs than personas is not a mystery.
func restingNote(ctx context.Context, db store.DB, now time.Time, w io.Writer) error {
	people, err := db.ListPersonas(ctx, time.Time{})
	if err != nil {
		return fmt.Errorf("list personas: %w", err)
	}
	var resting []string
	var day time.Weekday
	for _, p := range people {
		if p.TickCadence == persona.Weekdays && !persona.IsWeekday(now, p.Timezone) {
			resting = append(resting, p.Email)
			day = now.In(persona.Location(p.Timezone)).Weekday()
		}
	}
	switch len(resting) {
	case 0:
		return nil
	case 1:
		_, err = fmt.Fprintf(w, "resting today: %s (cadence weekdays, and it is %s in its time zone); it runs on its next weekday\n", resting[0], day)
	default:
		_, err = fmt.Fprintf(w, "resting today: %d weekday personas (%s): it is the weekend in their time zones; they run on their next weekday\n",
			len(resting), strings.Join(resting, ", "))
	}
	return err
}

type listenSpec struct{ flag, addr string }

// listenAll opens every listener or none. A port in use is an error naming the flag.
func listenAll(specs []listenSpec) ([]net.Listener, error) {
	var lns []net.Listener
	for _, s := range specs {
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			if errors.Is(err, syscall.EADDRINUSE) {
				return nil, cannotRun{fmt.Errorf("%s %s: the address is already in use (is another persona-runner running?); stop it or choose another address, e.g. %s 127.0.0.1:0 for any free port", s.flag, s.addr, s.flag)}
			}
			return nil, cannotRun{fmt.Errorf("%s %s: %w", s.flag, s.addr, err)}
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// baseURL is the http URL of a listener; an unspecified address (":3001") is reached on loopback.
func baseURL(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String()
	}
	host := tcp.IP.String()
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}

// upShutdownGrace is how long requests in flight get when the servers stop; the runner has
// stopped by then, so only stray clients are cut off.
const upShutdownGrace = 5 * time.Second

// shutdownAll stops the servers together, each with upShutdownGrace for requests in flight.
func shutdownAll(servers []*http.Server, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), upShutdownGrace)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Go(func() {
			if err := srv.Shutdown(ctx); err != nil {
				log.Warn("shut down server", "addr", srv.Addr, "err", err)
			}
		})
	}
	wg.Wait()
}

// isTerminal reports whether w is a terminal, where the live progress line makes sense.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// outcomeCounts says how many seed changes had each outcome ("2 created, 8 unchanged").
func outcomeCounts(changes []persona.SeedChange) string {
	n := map[persona.Outcome]int{}
	for _, ch := range changes {
		n[ch.Outcome]++
	}
	var parts []string
	for _, o := range []persona.Outcome{persona.Created, persona.Updated, persona.Unchanged} {
		if n[o] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[o], o))
		}
	}
	if len(parts) == 0 {
		return "nothing to do"
	}
	return strings.Join(parts, ", ")
}
