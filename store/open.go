// Package store opens the persona store a DSN names: a postgres:// or postgresql:// URL opens the
// PostgreSQL store (store/postgres), anything else is the path of a SQLite file (store/sqlite).
//
// The two stores lay out their files alike, by topic, so the same method is in the same file name
// in store/sqlite and store/postgres (issue 12.1):
//   - sqlite.go, postgres.go: the store itself — Open and its options, migrations (the store's
//     line and the app's), AppTables, SchemaVersions, SQL, Dialect, Close;
//   - accounts.go: UpsertPersona, UpsertUser, UpsertSpace, ApplySeed (the rules in store/accounts);
//   - users.go: User, UserByEmail, SpacesOfUser, IsMember, AllSpaces, Space, AddSpace;
//   - personas.go: Persona, PersonaByEmail, ListPersonas, DeletePersona;
//   - schedule.go: the due rule and leases — DuePersonas, ClaimPersonas, AbandonRuns, RecordTick, Tick;
//   - runs.go: RecordRun; rows.go: InsertActions, InsertFeedback, Actions, Feedback, Ticks,
//     CostSince, RecentActions, FeedbackByModule, History;
//   - auth.go: sessions, signing keys, login lockouts; settings.go: Setting, SetSetting;
//   - aggregates.go, stats.go: the read models (persona.StatsStore).
package store

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/postgres"
	"github.com/persona-runner/persona-runner/store/sqlite"
)

// DB is a migrated persona store: the store's own tables and the demo app's, each kind with a
// migration line of its own that Open applies (the store's first: the app's tables reference the
// store's spaces).
type DB interface {
	persona.Store
	persona.StatsStore
	Settings
	// AllSpaces, Space and AddSpace are what the demo app asks about spaces beyond membership
	// (app.Store): every space by slug (at most limit; ≤ 0 all), one space by id (ErrNotFound),
	// and adding a space with no members unless its id or slug is taken (false then).
	AllSpaces(ctx context.Context, limit int) ([]persona.Space, error)
	Space(ctx context.Context, id string) (persona.Space, error)
	AddSpace(ctx context.Context, s persona.Space) (bool, error)
	// AppTables is the demo app's handle on its own tables and their SQL dialect ("sqlite" or
	// "postgres"). The app writes no SQL against the store's tables.
	AppTables() (*sql.DB, string)
	// SchemaVersions returns the newest applied migration of the store's line and of the app's.
	SchemaVersions(ctx context.Context) (store, app int64, err error)
	// SQL is the underlying database/sql handle (tests and tools that look at the tables).
	SQL() *sql.DB
	// Dialect is "sqlite" or "postgres".
	Dialect() string
}

// Settings are facts a store keeps about itself, such as the catalog it was last seeded from.
type Settings interface {
	// Setting returns the value kept under key, and whether one is kept.
	Setting(ctx context.Context, key string) (string, bool, error)
	// SetSetting keeps value under key, replacing what was there.
	SetSetting(ctx context.Context, key, value string) error
}

// Compile-time checks that both adapters are DBs.
var (
	_ DB = (*sqlite.DB)(nil)
	_ DB = (*postgres.DB)(nil)
)

type config struct {
	now          func() time.Time
	maxConns     int
	passwordCost int
	existing     bool
}

// Option configures Open.
type Option func(*config)

// WithNow sets the store's clock (default time.Now).
func WithNow(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithMaxConns caps the read connections of a SQLite store; PostgreSQL takes its pool size from
// the DSN (pool_max_conns).
func WithMaxConns(n int) Option { return func(c *config) { c.maxConns = n } }

// WithPasswordCost sets the bcrypt cost of the password hashes the store writes (default
// persona.DefaultPasswordCost).
func WithPasswordCost(cost int) Option { return func(c *config) { c.passwordCost = cost } }

// WithExisting opens an existing SQLite file read-only, never creating or migrating it (see
// sqlite.WithExisting); read-only commands use it. A PostgreSQL database is never created by Open.
func WithExisting() Option { return func(c *config) { c.existing = true } }

// dsnScheme matches a URL scheme at the start of a DSN, such as mysql:// or file://.
var dsnScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// IsPostgres reports whether dsn names a PostgreSQL database rather than a SQLite file.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens the store dsn names and migrates both its lines, the store's and the demo app's
// (unless WithExisting opens a SQLite file read-only). Errors say which store could not be opened or
// migrated.
func Open(ctx context.Context, dsn string, opts ...Option) (DB, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if strings.TrimSpace(dsn) == "" {
		return nil, fmt.Errorf("open store: empty database DSN (a SQLite file path or a postgres:// URL)")
	}
	if !IsPostgres(dsn) && dsnScheme.MatchString(dsn) {
		scheme, _, _ := strings.Cut(dsn, "://")
		return nil, fmt.Errorf("open store: unknown DSN scheme %q: the store is a SQLite file path or a postgres:// URL", scheme+"://")
	}
	if IsPostgres(dsn) {
		var po []postgres.Option
		if cfg.now != nil {
			po = append(po, postgres.WithNow(cfg.now))
		}
		if cfg.passwordCost != 0 {
			po = append(po, postgres.WithPasswordCost(cfg.passwordCost))
		}
		db, err := postgres.Open(ctx, dsn, po...)
		if err != nil {
			return nil, err // already says which server and database, without the password
		}
		return db, nil
	}
	var so []sqlite.Option
	if cfg.now != nil {
		so = append(so, sqlite.WithNow(cfg.now))
	}
	if cfg.passwordCost != 0 {
		so = append(so, sqlite.WithPasswordCost(cfg.passwordCost))
	}
	if cfg.maxConns > 0 {
		so = append(so, sqlite.WithMaxConns(cfg.maxConns))
	}
	if cfg.existing {
		so = append(so, sqlite.WithExisting())
	}
	db, err := sqlite.Open(ctx, dsn, so...)
	if err != nil {
		return nil, err // already names the file
	}
	return db, nil
}
