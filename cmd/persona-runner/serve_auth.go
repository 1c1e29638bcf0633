package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/config"
	"github.com/persona-runner/persona-runner/httpserver"
)

// defaultAuthPort is the auth API's port (SPEC §1).
const defaultAuthPort = 3001

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
	file, err := readSharedConfig(c.Config)
	if err != nil {
		return err
	}
	_, key := firstSet("MANA_SERVICE_KEY", env.Getenv("MANA_SERVICE_KEY"), "serviceKey", file.ServiceKey.Value())
	// Production when the environment or the file says so: either one switches the checks on.
	if err := checkAuthServiceKey(key, config.ProductionEnv(env.Getenv) || file.Production()); err != nil {
		return err
	}
	from, public := firstSet(
		"--auth-url", c.AuthURL, "AUTH_PUBLIC_URL", env.Getenv("AUTH_PUBLIC_URL"),
		"MANA_AUTH_URL", env.Getenv("MANA_AUTH_URL"), "authUrl in "+c.Config, file.AuthURL)
	public = strings.TrimRight(public, "/")
	if public != "" {
		if err := checkHTTPURL(from, public); err != nil {
			return err
		}
	}
	addr := c.Addr
	if addr == "" {
		addr = ":" + strconv.Itoa(defaultAuthPort)
		if p := strings.TrimSpace(env.Getenv("PORT")); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return usageError{fmt.Errorf("PORT must be a port number from 1 to 65535 (got %q)", p)}
			}
			addr = ":" + p
		}
	}
	log := env.Logger(slog.LevelInfo)
	if key == "" {
		log.Warn("MANA_SERVICE_KEY is not set: every internal route answers 401")
	}

	limits, err := c.Limits()
	if err != nil {
		return err
	}
	cost, err := passwordCost(env.Getenv)
	if err != nil {
		return err
	}
	db, err := withFileDB(c.StoreFlags, file, env.Getenv).Open(env.Ctx, env)
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

// checkAuthServiceKey refuses, in production, a missing service key or one too short to resist
// guessing.
func checkAuthServiceKey(key string, production bool) error {
	if !production {
		return nil
	}
	if key == "" {
		return usageError{errors.New("production mode (APP_ENV/NODE_ENV=production) needs MANA_SERVICE_KEY")}
	}
	if len(key) < config.MinServiceKeyBytes {
		return usageError{fmt.Errorf("production mode needs MANA_SERVICE_KEY of at least %d bytes (it has %d)", config.MinServiceKeyBytes, len(key))}
	}
	return nil
}
