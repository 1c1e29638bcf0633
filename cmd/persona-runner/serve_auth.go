package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/config"
	"github.com/persona-runner/persona-runner/httpserver"
)

// defaultAuthPort is the auth API's port (SPEC §1).
const defaultAuthPort = config.DefaultAuthPort

// authShutdownGrace is how long in-flight requests get to finish after SIGTERM.
const authShutdownGrace = 10 * time.Second

// ServeAuthCmd serves the auth API. The service key comes from the environment
// (MANA_SERVICE_KEY) or the --config file, never from a flag: flags show up in process listings.
type ServeAuthCmd struct {
	StoreFlags `embed:""`
	Addr       string `name:"addr" placeholder:"ADDR" help:"Listen address (default :$PORT, else :3001)."`
	AuthURL    string `name:"auth-url" aliases:"public-url" placeholder:"URL" help:"The auth API's public base URL, the iss of every token (default AUTH_PUBLIC_URL, else MANA_AUTH_URL, else the file's authUrl, else http://localhost:<port>)."`
	Config     string `name:"config" placeholder:"FILE" type:"existingfile" help:"YAML configuration file shared with the runner; serve auth reads serviceKey, db, authUrl and env from it (environment variables and flags override it)."`
	HTTPFlags  `embed:""`
	Compat     string `name:"compat" enum:",mana" default:"" placeholder:"MODE" help:"mana: serve only the original Mana auth service's endpoints and response shapes (no claim, ticks, history; organization/list and refresh by the signed cookie of /api/auth/sign-in/email), to test runners against it."`
}

// Run serves until the context ends, then shuts down gracefully.
func (c *ServeAuthCmd) Run(env *Env) error {
	cfg, err := c.load(env)
	if err != nil {
		return err
	}
	key, public, addr := cfg.ServiceKey.Value(), cfg.PublicURL, cfg.Addr
	log := env.Logger(slog.LevelInfo)
	if key == "" {
		log.Warn("MANA_SERVICE_KEY is not set: every internal route answers 401")
	}

	limits, err := c.Limits()
	if err != nil {
		return err
	}
	cost := cfg.Store.PasswordCost
	db, err := openConfigStore(env.Ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer db.Close()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return cannotRun{fmt.Errorf("serve auth: listen on %s: %w", addr, err)}
	}
	defer ln.Close()
	if public == "" {
		public = "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	}

	api, err := authapi.New(env.Ctx, authapi.Config{Store: db, Issuer: public, ServiceKey: key, Logger: log, ReportTools: offeredTools(), PasswordCost: cost, Compat: c.Compat})
	if err != nil {
		return err
	}
	srv := httpserver.New(api, limits, log)
	mode := ""
	if c.Compat != "" {
		mode = ", compat " + c.Compat + ": the original's endpoints only"
	}
	fmt.Fprintf(env.Stdout, "auth API listening on %s (public URL %s, %s store%s)\n", ln.Addr(), public, db.Dialect(), mode)
	return serveAuthHTTP(env.Ctx, srv, httpserver.Limit(ln, limits), log)
}

// serveAuthHTTP serves on ln until ctx ends, then stops accepting and waits up to authShutdownGrace
// for in-flight requests.
func serveAuthHTTP(ctx context.Context, srv *http.Server, ln net.Listener, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), authShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// load reads serve auth's configuration: defaults < --config < environment < flags.
func (c *ServeAuthCmd) load(env *Env) (config.Auth, error) {
	o := c.StoreFlags.overrides()
	if c.Addr != "" {
		o = append(o, config.Override{Flag: "--addr", Key: "addr", Apply: func(cfg *config.Config) error { cfg.Addr = c.Addr; return nil }})
	}
	if c.AuthURL != "" {
		o = append(o, config.Override{Flag: "--auth-url", Key: "publicUrl", Apply: func(cfg *config.Config) error { cfg.PublicURL = c.AuthURL; return nil }})
	}
	return config.LoadAuth(c.Config, env.Getenv, o)
}
