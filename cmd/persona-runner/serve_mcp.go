package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/persona-runner/persona-runner/app"
	"github.com/persona-runner/persona-runner/config"
	"github.com/persona-runner/persona-runner/httpserver"
	"github.com/persona-runner/persona-runner/jwtauth"
)

// mcpShutdownGrace is how long in-flight requests get to finish after SIGTERM.
const mcpShutdownGrace = 10 * time.Second

// ServeMCPCmd serves the demo app (the MCP gateway, SPEC §7) on its own. Tokens are checked
// against the auth API's JWKS at <auth-url>/api/auth/jwks.
type ServeMCPCmd struct {
	StoreFlags         `embed:""`
	Addr               string        `name:"addr" default:":3069" placeholder:"ADDR" help:"Listen address."`
	AuthURL            string        `name:"auth-url" placeholder:"URL" help:"Base URL of the auth API, whose JWKS signs the access tokens (default MANA_AUTH_URL, else the file's authUrl, else http://localhost:3001)."`
	Config             string        `name:"config" placeholder:"FILE" type:"existingfile" help:"YAML configuration file shared with the runner; serve mcp reads authUrl and db from it (environment variables and flags override it)."`
	Issuer             string        `name:"issuer" placeholder:"URL" help:"The iss the tokens must carry (default: the auth URL)."`
	SessionIdle        time.Duration `name:"session-idle" default:"10m" help:"Close an MCP session after this long without a request."`
	MaxSessionsPerUser int           `name:"max-sessions-per-user" default:"16" placeholder:"N" help:"Most MCP sessions one user may have open: one more closes the user's least recently used idle session, or is refused with 429 when all are in use."`
	MaxSessions        int           `name:"max-sessions" default:"4096" placeholder:"N" help:"Most MCP sessions open in all: past it new sessions are refused with 503."`
	HTTPFlags          `embed:""`
	RateLimit          int  `name:"rate-limit" default:"30" help:"Most calls of one tool per user per minute."`
	TrustIssuer        bool `name:"trust-issuer-spaces" help:"Admit a verified token to a space this app does not know, on its issuer's word (a real Mana deployment's personas and spaces); the app's own spaces keep the membership check. Off by default."`
}

// Run serves until the context ends, then closes the MCP sessions and shuts down gracefully.
func (c *ServeMCPCmd) Run(env *Env) error {
	if c.RateLimit < 1 {
		return usageError{fmt.Errorf("--rate-limit must be at least 1 (got %d)", c.RateLimit)}
	}
	if c.SessionIdle <= 0 {
		return usageError{fmt.Errorf("--session-idle must be positive (got %s)", c.SessionIdle)}
	}
	if c.MaxSessionsPerUser < 1 {
		return usageError{fmt.Errorf("--max-sessions-per-user must be at least 1 (got %d)", c.MaxSessionsPerUser)}
	}
	if c.MaxSessions < c.MaxSessionsPerUser {
		return usageError{fmt.Errorf("--max-sessions must be at least --max-sessions-per-user (%d; got %d)", c.MaxSessionsPerUser, c.MaxSessions)}
	}
	limits, err := c.Limits()
	if err != nil {
		return err
	}
	o := c.StoreFlags.overrides()
	if c.AuthURL != "" {
		o = append(o, config.Override{Flag: "--auth-url", Key: "authUrl", Apply: func(cfg *config.Config) error { cfg.AuthURL = c.AuthURL; return nil }})
	}
	cfg, err := config.LoadMCP(c.Config, env.Getenv, o)
	if err != nil {
		return err
	}
	authURL := cfg.AuthURL
	issuer := strings.TrimRight(strings.TrimSpace(c.Issuer), "/")
	if issuer == "" {
		issuer = authURL
	}
	log := env.Logger(slog.LevelInfo)

	db, err := openConfigStore(env.Ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer db.Close()
	jwks := authURL + "/api/auth/jwks"
	demo, err := app.New(app.Config{
		Store:              db,
		Verifier:           jwtauth.NewVerifier(jwks, issuer, jwtauth.Audience, nil),
		Logger:             log,
		SessionIdleTimeout: c.SessionIdle,
		MaxSessionsPerUser: c.MaxSessionsPerUser,
		MaxSessions:        c.MaxSessions,
		RateLimit:          c.RateLimit,
		TrustIssuerSpaces:  c.TrustIssuer,
	})
	if err != nil {
		return err
	}
	defer demo.Close()

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return cannotRun{fmt.Errorf("serve mcp: listen on %s: %w", c.Addr, err)}
	}
	defer ln.Close()
	srv := httpserver.New(demo.Handler(), limits, log)
	fmt.Fprintf(env.Stdout, "MCP gateway listening on %s (endpoint /mcp, %s store, tokens from %s)\n", ln.Addr(), db.Dialect(), jwks)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(httpserver.Limit(ln, limits)) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve mcp: %w", err)
	case <-env.Ctx.Done():
	}
	log.Info("shutting down")
	// Closing the sessions first ends their event streams, which Shutdown would otherwise wait
	// for until the grace period runs out.
	_ = demo.Close()
	sctx, cancel := context.WithTimeout(context.Background(), mcpShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("serve mcp: shut down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve mcp: %w", err)
	}
	return nil
}
