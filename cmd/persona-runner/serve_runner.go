package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/persona-runner/persona-runner/authapi"
	authpersist "github.com/persona-runner/persona-runner/authapi/persist"
	"github.com/persona-runner/persona-runner/config"
	"github.com/persona-runner/persona-runner/httpserver"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/retry"
	"github.com/persona-runner/persona-runner/runner"
	"github.com/persona-runner/persona-runner/runner/providers"
	"github.com/persona-runner/persona-runner/store"
)

// ServeRunnerCmd serves the runner (SPEC §5): the tick loop plus /health, /metrics, /diag/* and
// /control/*. Secrets (service key, provider keys, seed secret) come from the environment or the
// config file only: flags show up in process listings.
type ServeRunnerCmd struct {
	RunnerFlags `embed:""`
	TargetFlags `embed:""`
	HTTPFlags   `embed:""`
	Addr        string `name:"addr" placeholder:"ADDR" help:"Listen address (default :$PORT, else :3070)."`
	DB          string `name:"db" placeholder:"DSN" xor:"store" help:"Write to this store directly instead of through the auth API's internal endpoints (default DATABASE_URL when set)."`
	Data        string `name:"data" placeholder:"DIR" xor:"store" help:"Data directory; means --db DIR/persona-runner.db."`
	LocalDB     string `name:"local-db" placeholder:"DSN" default:"data/runner-local.db" help:"Through the auth API only: the runner's local store (SQLite file or postgres:// URL), opened only when the auth service lacks the ticks or history endpoint (the original Mana service) to keep tick records, run schedules and the memory digest."`
}

// RunnerFlags are the runner settings a flag may override (the last word after the config file
// and the environment). They are shared with the config command so that it shows what serve
// runner would use.
type RunnerFlags struct {
	Config      string         `name:"config" placeholder:"FILE" type:"existingfile" help:"YAML configuration file (environment variables and flags override it)."`
	AuthURL     string         `name:"auth-url" placeholder:"URL" help:"Auth API base URL (MANA_AUTH_URL)."`
	MCPURL      string         `name:"mcp-url" placeholder:"URL" help:"MCP server base URL; /mcp is appended (MANA_MCP_URL)."`
	Provider    string         `name:"provider" enum:",anthropic,openai,sim" default:"" help:"Model provider: anthropic, openai or sim (MODEL_PROVIDER)."`
	Model       string         `name:"model" placeholder:"NAME" help:"Model name (MODEL)."`
	Concurrency *int           `name:"concurrency" placeholder:"N" help:"Personas run at once, 1 to 1024 (PERSONA_CONCURRENCY)."`
	Interval    *time.Duration `name:"interval" placeholder:"D" help:"Time between ticks, e.g. 60s, at most 24h (TICK_INTERVAL_MS)."`
}

// overrides turns the flags that were given into config overrides naming the flag.
func (f RunnerFlags) overrides() config.Overrides {
	var o config.Overrides
	set := func(flag, key, v string, dst func(*config.Config) *string) {
		if v != "" {
			o = append(o, config.Override{Flag: flag, Key: key, Apply: func(c *config.Config) error { *dst(c) = v; return nil }})
		}
	}
	set("--auth-url", "authUrl", f.AuthURL, func(c *config.Config) *string { return &c.AuthURL })
	set("--mcp-url", "mcpUrl", f.MCPURL, func(c *config.Config) *string { return &c.MCPURL })
	set("--provider", "provider", f.Provider, func(c *config.Config) *string { return &c.Provider })
	set("--model", "model", f.Model, func(c *config.Config) *string { return &c.Model })
	if f.Concurrency != nil {
		n := *f.Concurrency
		o = append(o, config.Override{Flag: "--concurrency", Key: "concurrency", Apply: func(c *config.Config) error {
			if n < 1 || n > config.MaxConcurrency {
				return fmt.Errorf("must be a positive number of personas, at most %d (got %d)", config.MaxConcurrency, n)
			}
			c.Concurrency = n
			return nil
		}})
	}
	if f.Interval != nil {
		d := *f.Interval
		o = append(o, config.Override{Flag: "--interval", Key: "tickInterval", Apply: func(c *config.Config) error {
			if d <= 0 || d > config.MaxTickInterval {
				return fmt.Errorf("must be a positive duration of at most %s (got %s)", config.MaxTickInterval, d)
			}
			c.TickInterval = d
			return nil
		}})
	}
	return o
}

// Load reads the configuration: defaults < file < environment < these flags.
func (f RunnerFlags) Load(env *Env, extra ...config.Override) (config.Config, error) {
	return config.Load(f.Config, env.Getenv, append(f.overrides(), extra...))
}

// Run serves until SIGTERM or SIGINT, then stops claiming, lets running personas finish within
// the grace period (SHUTDOWN_GRACE), records the rest as cancelled and exits.
func (c *ServeRunnerCmd) Run(env *Env) error {
	var extra config.Overrides
	if c.Addr != "" {
		extra = append(extra, config.Override{Flag: "--addr", Key: "addr", Apply: func(cfg *config.Config) error { cfg.Addr = c.Addr; return nil }})
	}
	if c.DB != "" {
		extra = append(extra, config.Override{Flag: "--db", Key: "db", Apply: func(cfg *config.Config) error { cfg.DB = config.DSN(c.DB); return nil }})
	}
	if c.Data != "" {
		dsn := filepath.Join(c.Data, dbFile)
		extra = append(extra, config.Override{Flag: "--data", Key: "db", Apply: func(cfg *config.Config) error { cfg.DB = config.DSN(dsn); return nil }})
	}
	// --mcp-url alone is MANA_MCP_URL, the demo app's gateway (as ever); with --mcp-header or
	// --mcp-command the flags describe the app under test instead.
	flags := c.RunnerFlags
	if len(c.MCPHeader) > 0 || c.MCPCommand != "" {
		url := c.MCPURL
		if c.MCPCommand != "" {
			url = ""
		}
		o, _, err := c.override(url)
		if err != nil {
			return err
		}
		extra = append(extra, o)
		flags.MCPURL = ""
	}
	cfg, err := flags.Load(env, extra...)
	if err != nil {
		return err
	}
	limits, err := c.Limits()
	if err != nil {
		return err
	}
	log := env.Logger(slog.LevelInfo)
	provider, err := providers.New(cfg, nil)
	if err != nil {
		return err
	}

	var (
		persist runner.Persistence
		due     func(context.Context) ([]persona.DuePersona, error) // for the start-up check
	)
	if cfg.DB != "" {
		db, err := openConfigStore(env.Ctx, config.Store{DB: cfg.DB, PasswordCost: cfg.PasswordCost})
		if err != nil {
			return err
		}
		defer db.Close()
		persist = runner.NewStorePersistence(db)
		due = func(ctx context.Context) ([]persona.DuePersona, error) {
			list, _, err := db.DuePersonas(ctx, 0)
			return list, err
		}
	} else {
		if cfg.ServiceKey == "" {
			return usageError{errors.New("MANA_SERVICE_KEY is required to claim personas and write rows through the auth API (or give --db to use the store directly)")}
		}
		client := authapi.NewClient(cfg.AuthURL, nil)
		client.ServiceKey = cfg.ServiceKey.Value()
		localDSN := c.LocalDB
		fb := authpersist.NewFallback(client, func(ctx context.Context) (authpersist.LocalStore, error) {
			if !strings.Contains(localDSN, "://") {
				if err := os.MkdirAll(filepath.Dir(localDSN), 0o700); err != nil {
					return nil, err
				}
			}
			// Local mirrors never log in: their random password needs no slow hash.
			return store.Open(ctx, localDSN, store.WithPasswordCost(bcrypt.MinCost))
		}, log)
		defer fb.Close()
		persist = fb
		due = func(ctx context.Context) ([]persona.DuePersona, error) {
			list, _, err := client.Due(ctx, 0)
			return list, err
		}
		// The auth API must answer before the runner starts (issue 13.14): a runner that
		// started without it would only fail every tick. It gets a little time, as a
		// deployment may start both at once.
		if err := waitForAuthAPI(env.Ctx, due, authAPIWait, env.Stdout); err != nil {
			fmt.Fprintf(env.Stderr, "persona-runner: cannot start: the auth API at %s does not answer: %v\n", config.RedactDSN(cfg.AuthURL), err)
			return exitCode(3)
		}
	}
	if cfg.Outbox == "" {
		cfg.Outbox = defaultOutbox(cfg.DB.Value())
	}
	targets, err := buildTargets(cfg, env.Getenv, log, nil)
	if err != nil {
		return err
	}
	if err := startupCheck(env.Ctx, targets, nil, nil, due, env.Stdout); err != nil {
		fmt.Fprintln(env.Stderr, "persona-runner: cannot start:", err)
		return exitCode(3)
	}
	r, err := runner.New(cfg.Runner(), runner.Deps{Provider: provider, Persistence: persist, Targets: runner.TargetSet(targets), Logger: log})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.ListenAddr())
	if err != nil {
		return cannotRun{fmt.Errorf("serve runner: listen on %s: %w", cfg.ListenAddr(), err)}
	}
	srv := httpserver.New(r.Handler(), limits, log)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(httpserver.Limit(ln, limits)) }()
	fmt.Fprintf(env.Stdout, "persona-runner runner listening on http://%s (provider %s, model %s)\n", ln.Addr(), cfg.Provider, cfg.Model)
	log.Info("runner listening", "addr", ln.Addr().String(), "provider", cfg.Provider, "model", cfg.Model,
		"concurrency", cfg.Concurrency, "interval", cfg.TickInterval, "paused", cfg.Paused, "runnerId", cfg.RunnerID)
	if cfg.ServiceKey == "" {
		log.Warn("MANA_SERVICE_KEY is not set: /control and /diag answer 401")
	}

	// The loop gets a context of its own so that SIGTERM goes through Stop and its grace period.
	loopCtx, cancelLoop := context.WithCancel(context.WithoutCancel(env.Ctx))
	defer cancelLoop()
	r.Start(loopCtx)
	select {
	case <-env.Ctx.Done():
	case err := <-serveErr:
		cancelLoop()
		return fmt.Errorf("serve runner: %w", err)
	}
	log.Info("stopping: no new claims; running personas get the grace period", "grace", cfg.Grace)
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.Grace+30*time.Second)
	defer cancel()
	stopErr := r.Stop(stopCtx)
	shutCtx, cancelShut := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelShut()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	return stopErr
}

// authAPIWait is how long serve runner waits at start for the auth API to answer.
const authAPIWait = 10 * time.Second

// waitForAuthAPI asks the auth API for the due list until it answers, for at most wait (the
// one retry policy, retry.Policy, backing off from 500ms to 4s), and returns the last error when
// it never did.
func waitForAuthAPI(ctx context.Context, due func(context.Context) ([]persona.DuePersona, error), wait time.Duration, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	policy := retry.Policy{Base: 500 * time.Millisecond, Max: 4 * time.Second,
		OnRetry: func(attempt int, err error, _ time.Duration) {
			if attempt == 1 {
				fmt.Fprintf(w, "waiting up to %s for the auth API: %v\n", wait, err)
			}
		}}
	anyError := func(error) bool { return true }
	return policy.Do(ctx, anyError, func(ctx context.Context) error {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := due(cctx)
		return err
	})
}
