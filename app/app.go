// Package app is the demo app the personas use: a small personal organiser (todos, notes, journal,
// habits, mood, calendar, contacts, spaces) served as MCP tools over Streamable HTTP at /mcp
// (SPEC §7). Its data lives in the store's database, in tables of its own scoped to a space, which
// the store creates and migrates (the app's migration line); it reaches the store's tables only
// through the store's methods (Store).
//
// The registry (allTools) is the single place the built-in tools are defined; Config.ExtraTools
// adds tools made with Define, served the same way. Each tool's JSON Schema is derived from its
// Go input type and enforced by the gateway before the handler runs. Every
// request is authenticated with the auth API's JWT and must name a space the user belongs to;
// each call is rate-limited, logged as one line and counted in /metrics.
package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/persona-runner/persona-runner/jwtauth"
	"github.com/persona-runner/persona-runner/persona"
)

// ServerName is the MCP server name the gateway announces (Mana's).
const ServerName = "mana"

// Defaults of Config.
const (
	// DefaultSessionIdleTimeout is as long as a run's default deadline (RUN_DEADLINE, 10 min): a
	// run waits for its model between calls, never that long.
	DefaultSessionIdleTimeout = 10 * time.Minute
	DefaultRateLimit          = 30
	DefaultRateWindow         = 60 * time.Second
	DefaultMembershipCacheTTL = 5 * time.Second
	// tokenCacheTTL bounds how long a verified token is remembered (it is never remembered past
	// its expiry), so a key withdrawn from the JWKS stops working soon after.
	tokenCacheTTL = time.Minute
	// authCacheSize bounds the number of tokens and memberships remembered.
	authCacheSize = 10000
)

// TokenVerifier checks an access token (signature, expiry, audience and issuer). *jwtauth.Verifier
// implements it. Errors wrapping jwtauth.ErrInvalidToken mean the caller's token is bad (401);
// others mean the keys could not be obtained (503).
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (*jwtauth.Claims, error)
}

// Config is what New needs.
type Config struct {
	// Store is the store: spaces and their members, and the app's own tables, which the store
	// created and migrated when it opened.
	Store Store
	// Verifier checks the bearer tokens.
	Verifier TokenVerifier
	// Logger receives one line per tool call and the gateway's errors (slog.Default() when nil).
	Logger *slog.Logger
	// SessionIdleTimeout closes an MCP session that has seen no request for that long
	// (DefaultSessionIdleTimeout when zero).
	SessionIdleTimeout time.Duration
	// MaxSessionsPerUser is the most MCP sessions one user may have open: one more closes the
	// user's least recently used idle session, or is refused with 429 when none is idle
	// (DefaultMaxSessionsPerUser when zero; negative means no cap). MaxSessions is the most open
	// overall: past it new sessions are refused with 503 (DefaultMaxSessions when zero; negative
	// means no cap).
	MaxSessionsPerUser int
	MaxSessions        int
	// RateLimit is the most calls of one tool one user may make per RateWindow, counted across
	// every replica of the app on one PostgreSQL database (in the process on SQLite)
	// (DefaultRateLimit and DefaultRateWindow when zero; a negative RateLimit means no limit).
	RateLimit  int
	RateWindow time.Duration
	// TrustIssuerSpaces lets a verified token act in a space this app does not know (one the
	// token's issuer, e.g. a real Mana deployment, keeps): the app records the space on first use
	// (slug issuer-…, no members) and admits every verified user of the issuer to it. Spaces the
	// app knows of its own keep the membership check. Off by default.
	TrustIssuerSpaces bool
	// MembershipCacheTTL is how long a checked membership is trusted before it is checked
	// again: the longest a member removed from a space can keep working in it
	// (DefaultMembershipCacheTTL when zero; negative means check on every request).
	MembershipCacheTTL time.Duration
	// Now is the clock of the data, the rate limit and the caches (time.Now when nil).
	Now func() time.Time
	// ExtraTools are tools made with Define, registered after the built-in ones and served
	// exactly like them. Each name must be module.verb and not taken by another tool. Tests
	// use them to add a module of their own (one that always fails, say).
	ExtraTools []Tool
}

// App is the demo app: the tool registry bound to the store, and the MCP gateway in front of it.
type App struct {
	cfg      Config
	db       *sqlDB
	store    Store
	reg      *registry
	log      *slog.Logger
	limiter  callLimiter
	metrics  *metrics
	server   *mcp.Server
	mcpHTTP  *mcp.StreamableHTTPHandler
	verifier TokenVerifier
	auth     *authCache
	sessions *sessionLimits
}

// New builds the app over cfg.
func New(cfg Config) (*App, error) {
	var problems []string
	var (
		tables *sql.DB
		d      dialect
	)
	if cfg.Store == nil {
		problems = append(problems, "Store is required")
	} else {
		var name string
		tables, name = cfg.Store.AppTables()
		var err error
		if d, err = dialectFor(name); err != nil {
			problems = append(problems, "Store's app tables: "+err.Error())
		}
	}
	if cfg.Verifier == nil {
		problems = append(problems, "Verifier is required")
	}
	if cfg.SessionIdleTimeout < 0 {
		problems = append(problems, "SessionIdleTimeout must not be negative")
	}
	if cfg.RateWindow < 0 {
		problems = append(problems, "RateWindow must not be negative")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("new app: %s", strings.Join(problems, "; "))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SessionIdleTimeout == 0 {
		cfg.SessionIdleTimeout = DefaultSessionIdleTimeout
	}
	if cfg.MaxSessionsPerUser == 0 {
		cfg.MaxSessionsPerUser = DefaultMaxSessionsPerUser
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = DefaultRateLimit
	}
	if cfg.RateWindow == 0 {
		cfg.RateWindow = DefaultRateWindow
	}
	if cfg.MembershipCacheTTL == 0 {
		cfg.MembershipCacheTTL = DefaultMembershipCacheTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &App{
		cfg:      cfg,
		db:       newSQLDB(tables, d),
		store:    cfg.Store,
		log:      cfg.Logger,
		verifier: cfg.Verifier,
		auth:     newAuthCache(cfg.Now, tokenCacheTTL, cfg.MembershipCacheTTL, authCacheSize),
		sessions: newSessionLimits(cfg.MaxSessionsPerUser, cfg.MaxSessions, cfg.Now),
	}
	// On PostgreSQL the rate window is kept in the database, shared by every replica of the app;
	// on SQLite (one process beside its file) in the process.
	if d.name == DialectPostgres {
		a.limiter = &pgLimiter{db: tables, limit: cfg.RateLimit, window: cfg.RateWindow, now: cfg.Now}
	} else {
		a.limiter = memoryLimiter{newRateLimiter(cfg.RateLimit, cfg.RateWindow, cfg.Now)}
	}
	tools, err := withExtras(allTools(&deps{db: a.db, store: cfg.Store, now: cfg.Now}), cfg.ExtraTools)
	if err != nil {
		return nil, fmt.Errorf("new app: %w", err)
	}
	a.reg = newRegistry(tools...)
	a.server = mcp.NewServer(&mcp.Implementation{Name: ServerName, Title: "Mana demo app", Version: "1.0.0"},
		&mcp.ServerOptions{
			Instructions: instructions,
			Logger:       discardLogger,
		})
	a.server.AddReceivingMiddleware(a.sessions.initializeMiddleware)
	for _, t := range a.reg.tools {
		// The policy in one place: destructive and admin tools are never added to the MCP
		// server, so no client can list or call them.
		if !t.Exposed() {
			continue
		}
		a.server.AddTool(mcpTool(t), a.toolHandler(t))
	}
	a.metrics = newMetrics(a.server)
	a.mcpHTTP = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return a.server },
		&mcp.StreamableHTTPOptions{
			SessionTimeout: cfg.SessionIdleTimeout,
			Logger:         a.log,
			// A tool call answers with one JSON body instead of an event stream: no tool here
			// sends progress or server-to-client requests mid-call, and a plain body costs
			// fewer writes and flushes per call (1,100 → 1,900 calls/s over one session in
			// BenchmarkToolCallsOneSession on an idle machine).
			JSONResponse:        true,
			MaxRequestBodyBytes: requestBodyLimit,
		})
	return a, nil
}

// instructions is what the server tells a client's model at initialisation.
const instructions = `Mana is a personal organiser: todos, notes, a journal, habits, mood, a calendar and contacts.
Everything you read or write belongs to the current space (see spaces.list); other spaces are not visible.
Ids are UUIDs returned by the tools; dates are YYYY-MM-DD and times RFC 3339.
"Today" in this app is the current date in UTC, whatever your time zone: entries filed under today and the
views of today or of the last days use the UTC date. To file something under your own local day, give its date.`

var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// Tools describes the tools a client can list and call (user-space read and write tools), in
// registry order: the built-in ones, then Config.ExtraTools.
func (a *App) Tools() []ToolInfo { return a.reg.infos(ToolInfo.Exposed) }

// AllTools describes every tool of the registry, including the destructive and admin tools the
// gateway never exposes.
func (a *App) AllTools() []ToolInfo { return a.reg.infos(nil) }

// Tools describes the exposed built-in tools without an App (for the simulator and reports, which
// need the catalog but no database).
func Tools() []ToolInfo { return newRegistry(allTools(&deps{})...).infos(ToolInfo.Exposed) }

// Modules lists the app's modules in registry order.
func Modules() []string { return newRegistry(allTools(&deps{})...).modules() }

// Close ends every open MCP session.
func (a *App) Close() error {
	for ss := range a.server.Sessions() {
		_ = ss.Close()
	}
	a.db.close()
	return nil
}

// mcpTool is the MCP description of t: name, description, schema and the policy as annotations.
func mcpTool(t *tool) *mcp.Tool {
	readOnly := t.Policy == PolicyRead
	destructive := t.Policy == PolicyDestructive
	closedWorld := false
	return &mcp.Tool{
		Name:        t.Name,
		Description: t.Description,
		InputSchema: t.InputSchema,
		Annotations: &mcp.ToolAnnotations{
			ReadOnlyHint:    readOnly,
			DestructiveHint: &destructive,
			OpenWorldHint:   &closedWorld,
		},
	}
}

// Call results, as logged and counted in mcp_tool_calls_total{result}.
const (
	resultOK          = "ok"
	resultInvalid     = "invalid"      // the input broke a rule
	resultNotFound    = "not_found"    // a record id not in the space
	resultRateLimited = "rate_limited" // over the per-user, per-tool limit
	resultError       = "error"        // the app failed
)

func (a *App) toolHandler(t *tool) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return a.call(ctx, t, req), nil
	}
}

// call runs one tool call through the policy (exposure, rate limit, validation), the handler, the
// log and the metrics. Every failure is a tool error (isError) the model can read and act on.
func (a *App) call(ctx context.Context, t *tool, req *mcp.CallToolRequest) *mcp.CallToolResult {
	started := time.Now()
	id, _ := identityOf(req)
	args := []byte(req.Params.Arguments)
	if len(args) == 0 || string(args) == "null" {
		args = []byte("{}")
	}
	res, result, detail := a.run(ctx, t, id, args)
	latency := time.Since(started)
	a.metrics.observe(t.Name, result, latency)
	attrs := []slog.Attr{
		slog.String("user", id.userID), slog.String("space", id.spaceID), slog.String("tool", t.Name),
		slog.String("inputHash", persona.InputHash(args)), slog.Int64("latencyMs", latency.Milliseconds()),
		slog.String("result", result),
	}
	if detail != "" {
		attrs = append(attrs, slog.String("error", detail))
	}
	level := slog.LevelInfo
	if result == resultError {
		level = slog.LevelError
	}
	a.log.LogAttrs(ctx, level, "tool call", attrs...)
	return res
}

func (a *App) run(ctx context.Context, t *tool, id identity, args []byte) (res *mcp.CallToolResult, result, detail string) {
	if !t.Exposed() {
		// Unreachable through the MCP server (such tools are never added); kept so that the rule
		// holds even if a tool is ever wired in another way.
		return toolError("tool %s is not available", t.Name), resultInvalid, "not exposed"
	}
	if id.userID == "" || id.spaceID == "" {
		return toolError("internal error: the request carries no identity"), resultError, "no identity"
	}
	ok, retry, err := a.limiter.allow(ctx, id.userID, t.Name)
	if err != nil {
		return toolError("internal error: %s failed; try again later", t.Name), resultError, err.Error()
	}
	if !ok {
		msg := fmt.Sprintf("rate limit: at most %d calls of %s per %s per user; try again in %ds",
			a.cfg.RateLimit, t.Name, a.cfg.RateWindow, int(retry.Seconds()+0.999))
		return toolError("%s", msg), resultRateLimited, msg
	}
	valid, err := validateArgs(t.fields, args)
	if err != nil {
		return toolError("invalid input: %v", err), resultInvalid, err.Error()
	}
	caller := Caller{UserID: id.userID, SpaceID: id.spaceID,
		Logger: a.log.With("user", id.userID, "space", id.spaceID, "tool", t.Name)}
	out, err := t.run(WithCaller(ctx, caller), valid)
	switch {
	case err == nil:
	case errors.Is(err, persona.ErrInvalid):
		return toolError("invalid input: %v", err), resultInvalid, err.Error()
	case errors.Is(err, persona.ErrNotFound):
		return toolError("%v", err), resultNotFound, err.Error()
	default:
		// The details (SQL, driver messages) go to the log, not to the model.
		return toolError("internal error: %s failed; try again later", t.Name), resultError, err.Error()
	}
	text, err := json.Marshal(out)
	if err != nil {
		return toolError("internal error: %s failed; try again later", t.Name), resultError, "encode result: " + err.Error()
	}
	return &mcp.CallToolResult{
		Content:           []mcp.Content{&mcp.TextContent{Text: string(text)}},
		StructuredContent: json.RawMessage(text),
	}, resultOK, ""
}

func toolError(format string, args ...any) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf(format, args...)}}}
}
