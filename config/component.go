package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/persona-runner/persona-runner/persona"
)

// Bounds of PasswordCost: bcrypt's.
const (
	MinPasswordCost = 4
	MaxPasswordCost = 31
)

// DefaultDB is the store of the embedded default when nothing names one: one SQLite file under
// ./data.
const DefaultDB = "./data/persona-runner.db"

// DefaultAuthPort is the auth API's port (SPEC §1).
const DefaultAuthPort = 3001

// Component is one command's share of the configuration: the environment variables it honours.
// Every command reads one file format (Config's keys, so that one file configures every
// component) and goes by one precedence rule (defaults < file < environment < flags); this is
// the one place that says which variables each command reads (README, "Configuration").
type Component struct {
	name string
	// only, when set, lists the variables honoured; else every variable of envKeys but ignores.
	only    []string
	ignores []string
	// fileKeys, when set, are the only keys of the file the component takes; else all.
	fileKeys []string
}

// The components.
var (
	// ServeRunner (serve runner, config, targets check) honours every variable.
	ServeRunner = Component{name: "serve runner"}
	// Up honours what the runner does but the addresses: it listens on its --*-addr flags and
	// wires the auth API, the demo app and the runner together itself.
	Up = Component{name: "up", ignores: []string{"PORT", "MANA_AUTH_URL", "MANA_MCP_URL"}}
	// ServeAuth reads its address, public URL, service key and store.
	// (The file's port and addr are the runner's.)
	ServeAuth = Component{name: "serve auth", only: []string{"APP_ENV", "NODE_ENV", "PORT", "AUTH_PUBLIC_URL",
		"MANA_AUTH_URL", "MANA_SERVICE_KEY", "DATABASE_URL", "PERSONA_PASSWORD_COST"},
		fileKeys: []string{"env", "authUrl", "serviceKey", "db", "passwordCost"}}
	// ServeMCP reads the auth API's address (its JWKS) and its store.
	ServeMCP = Component{name: "serve mcp", only: []string{"APP_ENV", "NODE_ENV", "MANA_AUTH_URL", "DATABASE_URL",
		"PERSONA_PASSWORD_COST"}, fileKeys: []string{"env", "authUrl", "db", "passwordCost"}}
	// StoreCommands (seed, migrate, report, personas, runs, findings, check, cleanup, admin,
	// serve dashboard) read the store's location and password cost.
	StoreCommands = Component{name: "store", only: []string{"APP_ENV", "NODE_ENV", "DATABASE_URL", "PERSONA_PASSWORD_COST"},
		fileKeys: []string{"env", "db", "passwordCost"}}
)

// Honours reports whether the component reads the variable name.
func (comp Component) Honours(name string) bool {
	if comp.only != nil {
		return slices.Contains(comp.only, name)
	}
	return !slices.Contains(comp.ignores, name)
}

// Vars lists the variables the component honours, in envKeys order.
func (comp Component) Vars() []string {
	var out []string
	for _, v := range EnvVars() {
		if comp.Honours(v) && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// takeFileKeys copies into cfg the fields file set that the component takes, with how they
// were set.
func (comp Component) takeFileKeys(cfg, file *Config) {
	from := cfg.from
	if comp.fileKeys == nil {
		*cfg = *file
		cfg.from = from
		for k, v := range file.from {
			from[k] = v
		}
		return
	}
	dst, src := reflect.ValueOf(cfg).Elem(), reflect.ValueOf(file).Elem()
	for i := range dst.NumField() {
		key, _, _ := strings.Cut(dst.Type().Field(i).Tag.Get("yaml"), ",")
		if slices.Contains(comp.fileKeys, key) {
			dst.Field(i).Set(src.Field(i))
			if v, ok := file.from[key]; ok {
				from[key] = v
			}
		}
	}
}

// Getenv is getenv without the variables of envKeys the component does not honour. Variables
// outside envKeys (those a target's ${ENV} names) pass through.
func (comp Component) Getenv(getenv func(string) string) func(string) string {
	return func(name string) string {
		if comp.isKnown(name) && !comp.Honours(name) {
			return ""
		}
		return getenv(name)
	}
}

func (comp Component) isKnown(name string) bool {
	for _, e := range envKeys {
		if e.name == name {
			return true
		}
	}
	return false
}

// Load builds the runner's configuration for the component (serve runner, up) and validates
// all of it: every problem, from parsing or validation, is reported in one *Error.
func (comp Component) Load(path string, getenv func(string) string, overrides Overrides) (Config, error) {
	cfg, probs := comp.load(path, getenv, overrides)
	cfg.fill()
	probs = append(probs, cfg.problems()...)
	return cfg, probs.Err()
}

// Store is where a command's store is and how it hashes passwords.
type Store struct {
	// DB is the store: --db (or --data DIR), DATABASE_URL, the file's db, else DefaultDB.
	DB DSN
	// PasswordCost is the bcrypt cost of new password hashes (PERSONA_PASSWORD_COST).
	PasswordCost int
}

// Auth is serve auth's configuration.
type Auth struct {
	Production bool
	// Addr is the listen address: --addr, else ":" and PORT, else :3001.
	Addr string
	// PublicURL is the iss of every token: --auth-url, AUTH_PUBLIC_URL, MANA_AUTH_URL, the file's
	// authUrl; empty: http://localhost:<the port listened on>.
	PublicURL  string
	ServiceKey Secret
	Store      Store
}

// MCP is serve mcp's configuration.
type MCP struct {
	// AuthURL is the auth API whose JWKS signs the tokens: --auth-url, MANA_AUTH_URL, the file's
	// authUrl, else http://localhost:3001.
	AuthURL string
	Store   Store
}

// LoadStore loads what the store commands read: the store and the password cost.
func LoadStore(path string, getenv func(string) string, overrides Overrides) (Store, error) {
	cfg, probs := StoreCommands.load(path, getenv, overrides)
	probs = append(probs, cfg.storeProblems()...)
	return cfg.store(), probs.Err()
}

// LoadAuth loads serve auth's configuration.
func LoadAuth(path string, getenv func(string) string, overrides Overrides) (Auth, error) {
	cfg, probs := ServeAuth.load(path, getenv, overrides)
	a := Auth{Production: cfg.Production(), ServiceKey: cfg.ServiceKey, Store: cfg.store(), Addr: cfg.Addr}
	if a.Addr == "" {
		port := DefaultAuthPort
		if cfg.Set("port") {
			port = cfg.Port
		}
		a.Addr = ":" + strconv.Itoa(port)
	}
	switch {
	case cfg.Set("publicUrl"):
		a.PublicURL = strings.TrimRight(strings.TrimSpace(cfg.PublicURL), "/")
		checkURL(&probs, cfg.name("publicUrl"), a.PublicURL)
	case cfg.Set("authUrl"):
		a.PublicURL = strings.TrimRight(strings.TrimSpace(cfg.AuthURL), "/")
		checkURL(&probs, cfg.name("authUrl"), a.PublicURL)
	}
	probs = append(probs, cfg.storeProblems()...)
	probs = append(probs, cfg.serviceKeyProblems()...)
	return a, probs.Err()
}

// LoadMCP loads serve mcp's configuration.
func LoadMCP(path string, getenv func(string) string, overrides Overrides) (MCP, error) {
	cfg, probs := ServeMCP.load(path, getenv, overrides)
	m := MCP{AuthURL: strings.TrimRight(strings.TrimSpace(cfg.AuthURL), "/"), Store: cfg.store()}
	checkURL(&probs, cfg.name("authUrl"), m.AuthURL)
	probs = append(probs, cfg.storeProblems()...)
	return m, probs.Err()
}

// store is the configuration's store, DefaultDB when nothing names one.
func (c Config) store() Store {
	s := Store{DB: c.DB, PasswordCost: c.PasswordCost}
	if strings.TrimSpace(s.DB.Value()) == "" {
		s.DB = DefaultDB
	}
	return s
}

// storeProblems checks the store's DSN (its form; whether it opens is the store's to say) and
// the password cost.
func (c Config) storeProblems() Problems {
	var p Problems
	if c.DB != "" {
		if err := CheckDSN(c.DB.Value()); err != nil {
			p.Add("%s: %v", c.name("db"), err)
		}
	}
	if c.PasswordCost < MinPasswordCost || c.PasswordCost > MaxPasswordCost {
		p.Add("%s must be a bcrypt cost from %d to %d (got %d)", c.name("passwordCost"), MinPasswordCost, MaxPasswordCost, c.PasswordCost)
	} else if c.Production() && c.PasswordCost < persona.DefaultPasswordCost {
		p.Add("%s must be at least %d in production (got %d)", c.name("passwordCost"), persona.DefaultPasswordCost, c.PasswordCost)
	}
	return p
}

// serviceKeyProblems refuses, in production, a missing service key or one too short to resist
// guessing: it guards the auth API's internal routes and the runner's control endpoints alike.
func (c Config) serviceKeyProblems() Problems {
	var p Problems
	if !c.Production() {
		return p
	}
	if c.ServiceKey == "" {
		p.Add("%s is required in production", c.name("serviceKey"))
	} else if n := len(c.ServiceKey); n < MinServiceKeyBytes {
		p.Add("%s must be at least %d bytes in production (it has %d)", c.name("serviceKey"), MinServiceKeyBytes, n)
	}
	return p
}

// dsnScheme matches a URL scheme at the start of a DSN, such as mysql:// or file://.
var dsnScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// CheckDSN refuses a DSN for its form alone: empty, or a URL that is not postgres:// (the store
// is a SQLite file path or a postgres:// URL).
func CheckDSN(dsn string) error {
	if strings.TrimSpace(dsn) == "" {
		return errors.New("empty database DSN (a SQLite file path or a postgres:// URL)")
	}
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") && dsnScheme.MatchString(dsn) {
		scheme, _, _ := strings.Cut(dsn, "://")
		return fmt.Errorf("unknown DSN scheme %q: the store is a SQLite file path or a postgres:// URL", scheme+"://")
	}
	return nil
}

// ServeDashboard reads the store, the dashboard password and the memory digest's length.
var ServeDashboard = Component{name: "serve dashboard", only: []string{"APP_ENV", "NODE_ENV", "DASHBOARD_PASSWORD",
	"MEMORY_RUNS", "DATABASE_URL", "PERSONA_PASSWORD_COST"},
	fileKeys: []string{"env", "dashboardPassword", "memoryRuns", "db", "passwordCost"}}

// Dashboard is serve dashboard's configuration.
type Dashboard struct {
	// Password signs in off loopback besides the admin accounts (DASHBOARD_PASSWORD).
	Password   Secret
	MemoryRuns int
	Store      Store
}

// LoadDashboard loads serve dashboard's configuration.
func LoadDashboard(path string, getenv func(string) string, overrides Overrides) (Dashboard, error) {
	cfg, probs := ServeDashboard.load(path, getenv, overrides)
	d := Dashboard{Password: cfg.DashboardPassword, MemoryRuns: cfg.MemoryRuns, Store: cfg.store()}
	if n := len([]rune(d.Password.Value())); cfg.Production() && n > 0 && n < MinDashboardPassword {
		probs.Add("%s must be at least %d characters in production (it has %d)", cfg.name("dashboardPassword"), MinDashboardPassword, n)
	}
	if cfg.MemoryRuns < 0 || cfg.MemoryRuns > MaxMemoryRuns {
		probs.Add("%s must be from 0 to %d (got %d)", cfg.name("memoryRuns"), MaxMemoryRuns, cfg.MemoryRuns)
	}
	probs = append(probs, cfg.storeProblems()...)
	return d, probs.Err()
}
