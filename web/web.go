// Package web is the dashboard: server-rendered pages (html/template, standard routing) over the
// store's read queries, with SVG charts drawn on the server, a live strip fed by server-sent
// events while a tick runs, and admin controls (pause, resume, run a tick now). Everything it
// serves — templates, CSS, the small live-update script — is embedded in the binary; pages work
// without JavaScript except the live strip.
//
// Access: a server marked Open (up on a loopback address) needs no sign-in; otherwise people sign
// in with an admin account (Accounts) or the dashboard password. Sessions are signed cookies
// (HttpOnly, SameSite=Lax, Secure behind TLS); every POST needs the session's CSRF token and
// passes net/http's cross-origin protection. GET requests never change data.
package web

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/persona-runner/persona-runner/findings"
	"github.com/persona-runner/persona-runner/persona"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Store is what the dashboard reads. store/sqlite and store/postgres implement it; the dashboard
// never writes to it.
type Store interface {
	RunsByDay(ctx context.Context, f persona.StatsFilter) ([]persona.RunDay, error)
	RatingsByDay(ctx context.Context, f persona.StatsFilter) ([]persona.RatingDay, error)
	ToolStats(ctx context.Context, f persona.StatsFilter) ([]persona.ToolStat, error)
	ToolErrors(ctx context.Context, f persona.StatsFilter, perTool int) ([]persona.ToolError, error)
	RecentNotes(ctx context.Context, f persona.StatsFilter, limit int) ([]persona.Note, error)
	RecentRuns(ctx context.Context, f persona.StatsFilter, limit int) ([]persona.RunRow, error)
	// Run returns one run with its transcript; persona.ErrNotFound when there is none.
	Run(ctx context.Context, tickID string) (persona.RunRow, error)
	Targets(ctx context.Context) ([]string, error)
	PersonaCards(ctx context.Context, q persona.CardQuery) ([]persona.PersonaCard, int, error)
	NextDue(ctx context.Context, limit int) ([]persona.Persona, error)
	// Persona and PersonaByEmail return persona.ErrNotFound for an unknown persona.
	Persona(ctx context.Context, userID string) (persona.Persona, error)
	PersonaByEmail(ctx context.Context, email string) (persona.Persona, error)
	Actions(ctx context.Context, q persona.ActionQuery) ([]persona.Action, error)
	Feedback(ctx context.Context, q persona.FeedbackQuery) ([]persona.Feedback, error)
	History(ctx context.Context, personaID string, runs int) ([]persona.RunHistory, error)
	// ListPersonas and Ticks, with Actions and Feedback, are what the overview's findings read
	// (package findings); a store that aggregates (persona.ActionAggregates) answers them fast.
	ListPersonas(ctx context.Context, actionsSince time.Time) ([]persona.PersonaSummary, error)
	Ticks(ctx context.Context, q persona.TickQuery) ([]persona.Tick, error)
}

// Controller is the runner the admin controls act on. A dashboard without one (serve dashboard)
// shows no controls.
type Controller interface {
	Pause()
	Resume()
	Paused() bool
	// StartTick starts a tick in the background and returns at once.
	StartTick()
}

// Accounts checks an admin account of the auth API. Authenticate returns the account's display
// name, or ErrBadCredentials (also for a valid account that is not an admin).
type Accounts interface {
	Authenticate(ctx context.Context, email, password string) (name string, err error)
}

// ErrBadCredentials is the answer of Accounts for a wrong email, password or role.
var ErrBadCredentials = errors.New("wrong email or password, or not an admin account")

// Config configures the dashboard.
type Config struct {
	Store Store
	// Controller, when set, enables pause, resume and run-a-tick-now for signed-in admins.
	Controller Controller
	// Open serves everyone without sign-in (up on a loopback address).
	Open bool
	// Accounts, when set, lets admin accounts sign in.
	Accounts Accounts
	// Password, when set, is the dashboard password (any name signs in with it).
	Password string
	// SecureCookies marks the session cookie Secure even when the request did not come over TLS
	// here (a TLS-terminating proxy in front).
	SecureCookies bool
	// Key signs sessions; empty means a random key (sessions end with the process).
	Key []byte
	// Tools are the tools the app offers (MCP names), for coverage; empty lists only used ones.
	Tools []string
	// Digest renders a persona's memory digest from its last runs (runner.Digest) and MemoryRuns
	// is how many runs it reads; nil hides the digest.
	Digest     func(runs []persona.RunHistory, timezone string) string
	MemoryRuns int
	// Version is the binary's version, shown in the footer.
	Version string
	Logger  *slog.Logger
	Now     func() time.Time
	// FindingsTTL is how long the overview reuses its top findings (findings.Build over the
	// window, seconds over a million action rows) before it recomputes them in the background:
	// 0 means DefaultFindingsTTL, a negative value computes them on every load. A finished run
	// (Publish) makes them stale at once. The overview says when they were computed.
	FindingsTTL time.Duration
	// FindingsWait is how long a load of the overview waits for findings it has to compute
	// before it answers without them (saying so; its script fetches them when they are ready):
	// 0 means DefaultFindingsWait, a negative value waits until they are computed.
	FindingsWait time.Duration
}

// Server is the dashboard. Create it with New; Handler serves it and Publish feeds the live strip.
type Server struct {
	cfg   Config
	tmpl  map[string]*template.Template
	live  *hub
	log   *slog.Logger
	now   func() time.Time
	key   []byte
	fails *failures
	found *findingsCache // the overview's top findings

	closeOnce sync.Once
	closed    chan struct{} // closed by Close: live streams end
}

// New checks the configuration and parses the templates.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("web: Store is required")
	}
	if !cfg.Open && cfg.Accounts == nil && cfg.Password == "" {
		return nil, errors.New("web: a dashboard that is not open needs admin accounts or a password to sign in with")
	}
	s := &Server{cfg: cfg, log: cfg.Logger, now: cfg.Now, key: cfg.Key, fails: &failures{m: map[string][]time.Time{}},
		closed: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if len(s.key) == 0 {
		s.key = make([]byte, 32)
		if _, err := rand.Read(s.key); err != nil {
			return nil, fmt.Errorf("web: session key: %w", err)
		}
	}
	if s.cfg.MemoryRuns <= 0 {
		s.cfg.MemoryRuns = 3
	}
	tmpl, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	s.tmpl = tmpl
	s.live = newHub(s.now)
	ttl := cfg.FindingsTTL
	if ttl == 0 {
		ttl = DefaultFindingsTTL
	}
	s.found = newFindingsCache(ttl, s.now, s.log, func(ctx context.Context, k findingsKey, now time.Time) ([]findings.Finding, error) {
		res, err := findings.Build(ctx, s.cfg.Store, findings.Options{Now: now, Since: k.since, Persona: k.persona,
			// One read at a time: the computation runs beside the pages, which keep the other cores.
			Readers: 1})
		if err != nil {
			return nil, err
		}
		return res.Open(), nil
	})
	switch {
	case cfg.FindingsWait == 0:
		s.found.wait = DefaultFindingsWait
	case cfg.FindingsWait > 0:
		s.found.wait = cfg.FindingsWait
	}
	return s, nil
}

// Warm starts computing the overview's default findings (every persona over the default
// window) in the background, so that the first visitor finds them ready: a server calls it
// once it listens.
func (s *Server) Warm() {
	now := s.now().UTC()
	s.found.warm(findingsKey{since: windowOf(defaultWindow)}, now)
}

// parseTemplates parses every page with the layout.
func parseTemplates() (map[string]*template.Template, error) {
	pages, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".html")
		if name == "layout" || name == "runs" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/runs.html", p)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", p, err)
		}
		out[name] = t
	}
	return out, nil
}

// Handler serves the dashboard.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	page := func(h func(http.ResponseWriter, *http.Request) error) http.Handler {
		return s.requireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, ok := canonical(r.URL); !ok {
				// The filter form sends every field, empty or default; the link is kept short.
				http.Redirect(w, r, u, http.StatusSeeOther)
				return
			}
			if err := h(w, r); err != nil {
				s.fail(w, r, err)
			}
		}))
	}
	mux.Handle("GET /{$}", page(s.overview))
	mux.Handle("GET /modules", page(s.modules))
	mux.Handle("GET /tools", page(s.tools))
	mux.Handle("GET /personas", page(s.personas))
	mux.Handle("GET /personas/{id}", page(s.personaPage))
	mux.Handle("GET /runs/{id}", page(s.runPage))
	mux.Handle("GET /live", s.requireSession(http.HandlerFunc(s.liveStream)))
	mux.Handle("POST /admin/{action}", s.requireSession(http.HandlerFunc(s.control)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, &httpError{status: http.StatusNotFound, msg: "There is no page at " + r.URL.Path + "."})
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, &httpError{status: http.StatusForbidden, msg: "Cross-origin request refused."})
	}))
	return securityHeaders(cop.Handler(mux))
}

// Close ends the open live streams (they would keep an HTTP server's Shutdown waiting); give it
// to http.Server.RegisterOnShutdown. Pages are still served after it.
// It also stops and waits for a background computation of the overview's findings.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.found.close()
	})
}

// canonical drops empty query parameters and the default window, and reports whether the URL
// was canonical already.
func canonical(u *url.URL) (string, bool) {
	q := u.Query()
	changed := false
	for k, vs := range q {
		if len(vs) == 1 && (strings.TrimSpace(vs[0]) == "" || k == "since" && vs[0] == defaultWindow) {
			q.Del(k)
			changed = true
		}
	}
	if !changed {
		return "", true
	}
	out := u.Path
	if len(q) > 0 {
		out += "?" + q.Encode()
	}
	return out, false
}

// Publish feeds the live strip, and a finished run makes the overview's findings stale. It is
// safe for concurrent use and never blocks.
func (s *Server) Publish(e Event) {
	if e.Kind == RunFinished || e.Kind == TickFinished {
		s.found.invalidate()
	}
	s.live.publish(e)
}

// securityHeaders sets what every answer carries: no framing, no sniffing, and a content policy
// that allows only the dashboard's own files (no inline script or style).
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// httpError is an error with the status and message a person should see.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// fail renders an error page: the status of an httpError, 404 for ErrNotFound, 400 for
// ErrInvalid, else 500 (logged, the details not shown).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusInternalServerError, "Something went wrong while reading the store. The details are in the server's log."
	var he *httpError
	switch {
	case errors.As(err, &he):
		status, msg = he.status, he.msg
	case errors.Is(err, persona.ErrNotFound):
		status, msg = http.StatusNotFound, "Not found: "+err.Error()+"."
	case errors.Is(err, persona.ErrInvalid):
		status, msg = http.StatusBadRequest, err.Error()
	case errors.Is(err, context.Canceled):
		return
	default:
		s.log.Error("dashboard page", "path", r.URL.Path, "err", err)
	}
	s.render(w, r, "error", status, &errorPage{Status: status, Message: msg})
}

type errorPage struct {
	Status  int
	Message string
}

// failures counts failed sign-ins per email: five within 15 minutes lock it for 15 minutes.
type failures struct {
	mu sync.Mutex
	m  map[string][]time.Time
}

const (
	maxFailures = 5
	failWindow  = 15 * time.Minute
)

func (f *failures) locked(email string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.recent(email, now)) >= maxFailures
}

func (f *failures) add(email string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[email] = append(f.recent(email, now), now)
}

func (f *failures) reset(email string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, email)
}

func (f *failures) recent(email string, now time.Time) []time.Time {
	kept := f.m[email][:0]
	for _, t := range f.m[email] {
		if now.Sub(t) < failWindow {
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 {
		delete(f.m, email)
		return nil
	}
	f.m[email] = kept
	return kept
}
