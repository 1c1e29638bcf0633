package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/persona-runner/persona-runner/app"
	"github.com/persona-runner/persona-runner/config"
	"github.com/persona-runner/persona-runner/httpserver"
	"github.com/persona-runner/persona-runner/runner"
	"github.com/persona-runner/persona-runner/web"
)

// DefaultDashboardAddr is where serve dashboard listens by default: loopback, where it is open.
const DefaultDashboardAddr = "127.0.0.1:3071"

// ServeDashboardCmd serves the dashboard over a store, beside runners that write to it. It only
// reads: no controls (they belong to a runner's process), nothing written.
type ServeDashboardCmd struct {
	StoreFlags `embed:""`
	Addr       string `name:"addr" default:"127.0.0.1:3071" placeholder:"ADDR" help:"Listen address. On loopback the dashboard is open; elsewhere people sign in with an admin account or DASHBOARD_PASSWORD."`
	Config     string `name:"config" placeholder:"FILE" type:"existingfile" help:"YAML configuration file shared with the runner; serve dashboard reads db, dashboardPassword, memoryRuns and env from it."`
	HTTPFlags  `embed:""`
	TLSProxy   bool `name:"behind-tls" help:"Mark the session cookie Secure: a TLS-terminating proxy serves the dashboard over https."`
}

// Run serves until the context ends.
func (c *ServeDashboardCmd) Run(env *Env) error {
	cfg, err := config.LoadDashboard(c.Config, env.Getenv, c.StoreFlags.overrides())
	if err != nil {
		return err
	}
	password, memory := cfg.Password.Value(), cfg.MemoryRuns
	log := env.Logger(slog.LevelWarn)
	limits, err := c.Limits()
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return cannotRun{fmt.Errorf("serve dashboard: listen on %s: %w", c.Addr, err)}
	}
	defer ln.Close()
	db, err := openConfigStore(env.Ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer db.Close()
	var tools []string
	for _, t := range app.Tools() {
		tools = append(tools, t.Name)
	}
	wc := web.Config{Store: db, Open: isLoopback(ln.Addr()), Accounts: storeAccounts{db: db}, Password: password,
		SecureCookies: c.TLSProxy, Tools: tools, MemoryRuns: memory, Version: version, Logger: log}
	if memory > 0 {
		wc.Digest = runner.Digest
	}
	dash, err := web.New(wc)
	if err != nil {
		return err
	}
	srv := httpserver.New(dash.Handler(), limits, log)
	srv.RegisterOnShutdown(dash.Close)
	access := "open (loopback)"
	if !wc.Open {
		access = "sign in with an admin account"
		if password != "" {
			access += " or the dashboard password"
		}
	}
	fmt.Fprintf(env.Stdout, "dashboard http://%s/ (%s store, read-only; %s)\n", ln.Addr(), db.Dialect(), access)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(httpserver.Limit(ln, limits)) }()
	dash.Warm() // the overview's findings, computed before the first visitor asks
	select {
	case err := <-errc:
		return fmt.Errorf("serve dashboard: %w", err)
	case <-env.Ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("serve dashboard: shut down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve dashboard: %w", err)
	}
	return nil
}
