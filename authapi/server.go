// Package authapi serves the auth API of SPEC §4 — login, refresh, JWKS, the caller's spaces,
// the admin persona routes and the service-key-gated internal routes the runner uses — and is a
// typed client for all of it (Client).
package authapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/persona-runner/persona-runner/httpjson"
	"github.com/persona-runner/persona-runner/httpserver"
	"github.com/persona-runner/persona-runner/jwtauth"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/report"
)

// Store is the part of the store the auth API serves (SPEC §4): accounts and sessions, signing
// keys, login lockouts, the admin API's personas and spaces, and the runner's internal API. Each
// method is persona.Store's of the same name, with its errors; store/sqlite and store/postgres
// implement it.
type Store interface {
	// Accounts and sessions.
	User(ctx context.Context, id string) (persona.User, error)
	UserByEmail(ctx context.Context, email string) (persona.User, error)
	SpacesOfUser(ctx context.Context, userID string) ([]persona.Space, error)
	CreateSession(ctx context.Context, s persona.Session) error
	SessionByTokenHash(ctx context.Context, tokenHash string) (persona.Session, error)
	RecordLoginFailure(ctx context.Context, email string, p persona.LockoutPolicy) (lockedUntil time.Time, err error)
	LoginLockedUntil(ctx context.Context, email string) (time.Time, error)
	ResetLoginFailures(ctx context.Context, email string) error
	KeyStore

	// The admin API.
	UpsertPersona(ctx context.Context, in persona.PersonaInput) (userID string, out persona.Outcome, err error)
	UpsertSpace(ctx context.Context, in persona.SpaceInput) (spaceID string, out persona.Outcome, err error)
	Persona(ctx context.Context, userID string) (persona.Persona, error)
	ListPersonas(ctx context.Context, actionsSince time.Time) ([]persona.PersonaSummary, error)
	DeletePersona(ctx context.Context, userID string) error
	RecentActions(ctx context.Context, personaID string, limit int) ([]persona.Action, error)
	FeedbackByModule(ctx context.Context, personaID string) ([]persona.ModuleRating, error)
	// The report (GET /api/v1/admin/report).
	report.Source

	// The runner's internal API.
	DuePersonas(ctx context.Context, limit int) ([]persona.DuePersona, time.Time, error)
	ClaimPersonas(ctx context.Context, runnerID string, limit int, lease time.Duration) ([]persona.DuePersona, error)
	InsertActions(ctx context.Context, personaID string, rows []persona.Action) (written, duplicates int, err error)
	InsertFeedback(ctx context.Context, personaID string, rows []persona.Feedback) (written, duplicates int, err error)
	RecordTick(ctx context.Context, t persona.Tick) error
	AbandonRuns(ctx context.Context, runnerID string) (int, error)
	History(ctx context.Context, personaID string, runs int) ([]persona.RunHistory, error)
}

// KeyStore keeps the signing keys (persona.Store's methods of the same names).
type KeyStore interface {
	EnsureSigningKey(ctx context.Context, candidate persona.SigningKey) (persona.SigningKey, error)
	SigningKeys(ctx context.Context) ([]persona.SigningKey, error)
}

// Config configures a Server.
type Config struct {
	// Store keeps users, sessions, keys and personas. Required.
	Store Store
	// Issuer is the public base URL of the auth service (e.g. http://localhost:3001); it is the
	// iss claim of every token. Required.
	Issuer string
	// ServiceKey gates the internal routes. Empty means every internal request is refused: the
	// key is required, never optional.
	ServiceKey string
	// Logger receives the access log and errors; nil discards them.
	Logger *slog.Logger
	// Now is the clock for token times and lockout answers; nil means time.Now.
	Now func() time.Time
	// Lockout is the login lockout rule; zero means persona.DefaultLockout.
	Lockout persona.LockoutPolicy
	// SessionTTL is the lifetime of a session (refresh) token; zero means DefaultSessionTTL.
	SessionTTL time.Duration
	// ReportTools lists the app's tools (MCP names) for the coverage part of the admin report;
	// action rows named as the Claude Agent SDK names tools (mcp__<server>__todo_create) are
	// filed under the tool of this list they stand for (todo.create).
	ReportTools []string
	// PasswordCost is the bcrypt cost of the store's password hashes, so a login for an unknown
	// email costs as much as one for a known one; zero means persona.DefaultPasswordCost.
	PasswordCost int
	// Compat "" serves our whole API; CompatMana serves only the original Mana service's
	// endpoints in its shapes (see CompatMana).
	Compat string
}

// DefaultSessionTTL is the lifetime of a session token. Access tokens live 15 minutes and are
// refreshed with it, so a long run never has to log in again.
const DefaultSessionTTL = 7 * 24 * time.Hour

// Server is the auth API as an http.Handler. It is safe for concurrent use.
type Server struct {
	store      Store
	issuer     *jwtauth.Issuer
	verifier   *jwtauth.Verifier
	keys       []persona.SigningKey
	serviceKey []byte
	log        *slog.Logger
	now        func() time.Time
	lockout    persona.LockoutPolicy
	sessionTTL time.Duration
	handler    http.Handler
	dummyHash  string
	loginLocks emailLocks

	reportTools []string
	compat      string
	cookieKey   []byte // signs the compat mode's session cookie
	tools       persona.ToolNameMap
}

// New prepares a Server: it makes sure the store holds a signing key (creating one on first
// start; replicas starting at once all end up with the same key) and builds the routes.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("new auth server: Store is required")
	}
	if !isCompatMode(cfg.Compat) {
		return nil, fmt.Errorf("new auth server: unknown compat mode %q (want %q or none)", cfg.Compat, CompatMana)
	}
	if cfg.Issuer == "" {
		return nil, errors.New("new auth server: Issuer (the public base URL) is required")
	}
	s := &Server{
		store:       cfg.Store,
		reportTools: cfg.ReportTools,
		tools:       persona.NewToolNameMap(cfg.ReportTools),
		serviceKey:  []byte(cfg.ServiceKey),
		log:         cfg.Logger,
		now:         cfg.Now,
		lockout:     cfg.Lockout,
		sessionTTL:  cfg.SessionTTL,
		compat:      cfg.Compat,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = slog.New(requestIDHandler{s.log.Handler()})
	if s.now == nil {
		s.now = time.Now
	}
	if s.lockout == (persona.LockoutPolicy{}) {
		s.lockout = persona.DefaultLockout
	}
	if s.sessionTTL <= 0 {
		s.sessionTTL = DefaultSessionTTL
	}
	key, err := EnsureKey(ctx, cfg.Store)
	if err != nil {
		return nil, fmt.Errorf("new auth server: %w", err)
	}
	keys, err := cfg.Store.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("new auth server: list signing keys: %w", err)
	}
	s.keys = keys
	s.cookieKey = cookieKey(key)
	s.issuer, err = jwtauth.NewIssuer(key, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("new auth server: %w", err)
	}
	s.issuer.Now = s.now
	s.verifier = jwtauth.NewStaticVerifier(keys, cfg.Issuer, jwtauth.Audience)
	s.verifier.Now = s.now
	// Logins for unknown emails still pay for one bcrypt comparison, so response times do not
	// tell which emails have accounts.
	s.dummyHash, err = persona.HashPassword("persona-runner-dummy-password", cfg.PasswordCost)
	if err != nil {
		return nil, fmt.Errorf("new auth server: %w", err)
	}
	s.handler = s.handlerChain()
	return s, nil
}

// EnsureKey returns the store's current signing key, creating and storing one when there is none.
func EnsureKey(ctx context.Context, st KeyStore) (persona.SigningKey, error) {
	candidate, err := jwtauth.NewKey()
	if err != nil {
		return persona.SigningKey{}, err
	}
	key, err := st.EnsureSigningKey(ctx, candidate)
	if err != nil {
		return persona.SigningKey{}, fmt.Errorf("ensure signing key: %w", err)
	}
	return key, nil
}

// Issuer returns the token issuer (for in-process use, e.g. the embedded mode).
func (s *Server) Issuer() *jwtauth.Issuer { return s.issuer }

// Verifier returns a verifier of this server's tokens that needs no HTTP round trip.
func (s *Server) Verifier() *jwtauth.Verifier { return s.verifier }

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Route patterns (Go 1.22 ServeMux syntax).
const (
	PathLogin        = "/api/v1/auth/login"
	PathRefresh      = "/api/v1/auth/refresh"
	PathJWKS         = "/api/auth/jwks"
	PathOrgList      = "/api/auth/organization/list"
	PathAdminPersona = "/api/v1/admin/personas"
	PathAdminSpaces  = "/api/v1/admin/spaces"
	PathInternal     = "/api/v1/internal/personas"
)

func (s *Server) handlerChain() http.Handler {
	mux := http.NewServeMux()
	if s.compat == CompatMana {
		s.compatRoutes(mux)
	} else {
		s.routes(mux)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok", "service": "persona-runner-auth"})
	})

	var h http.Handler = jsonFallback(mux)
	h = limitBody(h, MaxBodyBytes)
	h = s.recoverPanics(h)
	h = s.accessLog(h)
	h = requestID(h)
	return h
}

// routes registers our whole API.
func (s *Server) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+PathLogin, s.handleLogin)
	mux.HandleFunc("POST "+PathRefresh, s.handleRefresh)
	mux.HandleFunc("GET "+PathJWKS, s.handleJWKS)
	mux.Handle("GET "+PathOrgList, s.requireUser(s.handleOrgList))

	mux.Handle("POST "+PathAdminPersona, s.requireAdmin(s.handleAdminUpsert))
	mux.Handle("GET "+PathAdminPersona, s.requireAdmin(s.handleAdminList))
	mux.Handle("GET "+PathAdminPersona+"/{id}", s.requireAdmin(personaID(s.handleAdminGet)))
	mux.Handle("DELETE "+PathAdminPersona+"/{id}", s.requireAdmin(personaID(s.handleAdminDelete)))
	mux.Handle("POST "+PathAdminSpaces, s.requireAdmin(s.handleAdminUpsertSpace))
	mux.Handle("GET "+PathAdminReport, s.requireAdmin(s.handleAdminReport))

	mux.Handle("GET "+PathInternal+"/due", s.requireServiceKey(s.handleDue))
	mux.Handle("POST "+PathInternal+"/claim", s.requireServiceKey(s.handleClaim))
	mux.Handle("POST "+PathInternal+"/abandon", s.requireServiceKey(s.handleAbandon))
	mux.Handle("POST "+PathInternal+"/{id}/actions", s.requireServiceKey(personaID(s.handleActions)))
	mux.Handle("POST "+PathInternal+"/{id}/feedback", s.requireServiceKey(personaID(s.handleFeedback)))
	mux.Handle("POST "+PathInternal+"/{id}/ticks", s.requireServiceKey(personaID(s.handleTick)))
	mux.Handle("GET "+PathInternal+"/{id}/history", s.requireServiceKey(personaID(s.handleHistory)))
	mux.Handle("POST "+PathInternal+"/{id}/token", s.requireServiceKey(personaID(s.handleMintToken)))
}

// NewHTTPServer wraps h in an http.Server with the default timeouts every server of ours has
// (httpserver.Defaults): a slow or stalled client cannot hold a connection forever.
func NewHTTPServer(addr string, h http.Handler, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := httpserver.New(h, httpserver.Defaults(), log)
	srv.Addr = addr
	return srv
}

// bearer extracts the token of an "Authorization: Bearer …" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}
