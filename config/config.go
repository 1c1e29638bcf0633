// Package config is the runner's one configuration struct (SPEC §5.1): defaults, then a YAML file,
// then the environment, then command-line flags, validated once with every problem listed in one
// message that names the variable to fix.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/target"
)

// Providers the runner can talk to.
const (
	ProviderAnthropic = "anthropic"
	ProviderOpenAI    = "openai"
	ProviderSim       = "sim"
)

// Default models per provider, used when MODEL is not set.
const (
	DefaultAnthropicModel = "claude-sonnet-4-5"
	DefaultOpenAIModel    = "gpt-4o-mini"
	DefaultSimModel       = "persona-sim-v1"
)

// Config is everything the runner reads at start. Secrets are of type Secret so that printing
// the struct (fmt, JSON, YAML) never shows them.
type Config struct {
	// Env is "production" when the file, APP_ENV or NODE_ENV says so (SPEC §5.1: either variable
	// switches on the production checks, and neither switches off the file's), else APP_ENV, else
	// NODE_ENV, else the file's.
	Env string `yaml:"env" json:"env"`

	Port     int    `yaml:"port" json:"port"`         // PORT; the runner's HTTP port (default 3070)
	Addr     string `yaml:"addr" json:"addr"`         // --addr; overrides Port when set
	AuthURL  string `yaml:"authUrl" json:"authUrl"`   // MANA_AUTH_URL
	MCPURL   string `yaml:"mcpUrl" json:"mcpUrl"`     // MANA_MCP_URL (the runner appends /mcp)
	RunnerID string `yaml:"runnerId" json:"runnerId"` // RUNNER_ID; lease owner name (default host-pid)

	ServiceKey Secret `yaml:"serviceKey" json:"serviceKey"` // MANA_SERVICE_KEY
	SeedSecret Secret `yaml:"seedSecret" json:"seedSecret"` // PERSONA_SEED_SECRET
	// DashboardPassword signs in to the dashboard when it is not on a loopback address
	// (besides the auth API's admin accounts); empty: admin accounts only.
	DashboardPassword Secret `yaml:"dashboardPassword" json:"dashboardPassword"` // DASHBOARD_PASSWORD

	Provider         string `yaml:"provider" json:"provider"`                 // MODEL_PROVIDER: anthropic | openai | sim
	Model            string `yaml:"model" json:"model"`                       // MODEL
	AnthropicAPIKey  Secret `yaml:"anthropicApiKey" json:"anthropicApiKey"`   // ANTHROPIC_API_KEY
	AnthropicBaseURL string `yaml:"anthropicBaseUrl" json:"anthropicBaseUrl"` // ANTHROPIC_BASE_URL
	OpenAIAPIKey     Secret `yaml:"openaiApiKey" json:"openaiApiKey"`         // OPENAI_API_KEY
	OpenAIBaseURL    string `yaml:"openaiBaseUrl" json:"openaiBaseUrl"`       // OPENAI_BASE_URL
	MaxTokens        int    `yaml:"maxTokens" json:"maxTokens"`               // MODEL_MAX_TOKENS per model call
	SimSeed          int64  `yaml:"simSeed" json:"simSeed"`                   // SIM_SEED; the offline simulator's seed

	TickInterval time.Duration `yaml:"tickInterval" json:"tickInterval"` // TICK_INTERVAL_MS
	Concurrency  int           `yaml:"concurrency" json:"concurrency"`   // PERSONA_CONCURRENCY
	Paused       bool          `yaml:"paused" json:"paused"`             // RUNNER_PAUSED
	RunDeadline  time.Duration `yaml:"runDeadline" json:"runDeadline"`   // RUN_DEADLINE (a Go duration, e.g. 10m)
	MaxTurns     int           `yaml:"maxTurns" json:"maxTurns"`         // RUN_MAX_TURNS, 1–15 (SPEC §5.3: at most 15)
	TokenBudget  int64         `yaml:"tokenBudget" json:"tokenBudget"`   // RUN_TOKEN_BUDGET; input+output tokens per run, 0 = none
	MemoryRuns   int           `yaml:"memoryRuns" json:"memoryRuns"`     // MEMORY_RUNS; past runs in the digest, 0 = no digest
	Grace        time.Duration `yaml:"grace" json:"grace"`               // SHUTDOWN_GRACE; how long running personas may finish on stop

	// DB is an optional store DSN (DATABASE_URL or --db). With it, `serve runner` writes to the
	// store directly instead of through the auth API's internal endpoints.
	DB DSN `yaml:"db" json:"db"`

	// Outbox is the directory where the runner keeps finished runs the store would not take
	// within PersistTimeout (an outage), replayed until it does (RUNNER_OUTBOX). The commands
	// default it to outbox/ in the data directory (./data/outbox); empty in a Config built
	// in code means no outbox: such runs are lost.
	Outbox string `yaml:"outbox" json:"outbox"`

	// Prices maps a model name (or a prefix of one) to its price, for cost estimates.
	Prices map[string]Price `yaml:"prices" json:"prices"`

	// Budget caps what the runners spend on the model.
	Budget Budget `yaml:"budget" json:"budget"`

	// RecordArguments keeps each call's arguments and a preview of its result on its action row
	// (secret-looking keys redacted, 16 KB each), the repro of a finding. Default true.
	RecordArguments bool `yaml:"recordArguments" json:"recordArguments"`

	// Targets are the apps under test (SPEC §10); none means the demo app at MCPURL, auth mana.
	Targets []target.Config `yaml:"targets" json:"targets"`
}

// Budget is the daily cost budget shared by every runner replica on one store.
type Budget struct {
	// DailyUSD: when the cost of the runs started since 00:00 UTC (the store's sum, all
	// replicas) reaches it, runners stop claiming until the next day. 0: no budget.
	// BUDGET_DAILY_USD.
	DailyUSD float64 `yaml:"dailyUsd" json:"dailyUsd"`
}

// TargetConfigs returns the configured targets, or without any the demo app as target "demo"
// (the MCP gateway at MCPEndpoint, auth mana at AuthURL), so that everything works as before.
func (c Config) TargetConfigs() []target.Config {
	if len(c.Targets) > 0 {
		out := append([]target.Config(nil), c.Targets...)
		for i, t := range out {
			// A target named demo without an address is the built-in demo app.
			if t.Name == target.Demo && t.URL == "" && len(t.Command) == 0 {
				out[i].URL = c.MCPEndpoint()
				if t.Auth.Strategy == "" {
					out[i].Auth.Strategy = target.AuthMana
				}
			}
		}
		return out
	}
	return []target.Config{{Name: target.Demo, Default: true, URL: c.MCPEndpoint(), Auth: target.AuthConfig{Strategy: target.AuthMana}}}
}

// Price is what a model costs in US dollars per million tokens.
type Price struct {
	Input       float64 `yaml:"input" json:"input"`
	Output      float64 `yaml:"output" json:"output"`
	CachedInput float64 `yaml:"cachedInput" json:"cachedInput"`
}

// DefaultPrices are list prices in USD per million tokens at the time of writing; a YAML file can
// change or extend them. Keys are prefixes: "claude-sonnet-4" prices every Sonnet 4.x model.
func DefaultPrices() map[string]Price {
	return map[string]Price{
		"claude-opus-4":     {Input: 15, Output: 75, CachedInput: 1.5},
		"claude-opus-4-5":   {Input: 5, Output: 25, CachedInput: 0.5},
		"claude-sonnet-4":   {Input: 3, Output: 15, CachedInput: 0.3},
		"claude-3-7-sonnet": {Input: 3, Output: 15, CachedInput: 0.3},
		"claude-3-5-haiku":  {Input: 0.8, Output: 4, CachedInput: 0.08},
		"claude-haiku-4":    {Input: 1, Output: 5, CachedInput: 0.1},
		"gpt-4o-mini":       {Input: 0.15, Output: 0.6, CachedInput: 0.075},
		"gpt-4o":            {Input: 2.5, Output: 10, CachedInput: 1.25},
		"gpt-4.1-nano":      {Input: 0.1, Output: 0.4, CachedInput: 0.025},
		"gpt-4.1-mini":      {Input: 0.4, Output: 1.6, CachedInput: 0.1},
		"gpt-4.1":           {Input: 2, Output: 8, CachedInput: 0.5},
		"gpt-5-mini":        {Input: 0.25, Output: 2, CachedInput: 0.025},
		"gpt-5":             {Input: 1.25, Output: 10, CachedInput: 0.125},
		"persona-sim":       {},
	}
}

// Default returns the configuration before any file, environment or flag.
func Default() Config {
	return Config{
		Port:         3070,
		AuthURL:      "http://localhost:3001",
		MCPURL:       "http://localhost:3069",
		SeedSecret:   persona.DevSeedSecret,
		TickInterval: 60 * time.Second,
		Concurrency:  2,
		RunDeadline:  10 * time.Minute,
		MaxTurns:     15,
		MemoryRuns:   3,
		Grace:        30 * time.Second,
		MaxTokens:    2048,
		Prices:       DefaultPrices(),

		RecordArguments: true,
	}
}

// Production reports whether the production checks apply (APP_ENV or NODE_ENV = production).
func (c Config) Production() bool { return isProduction(c.Env) }

// ProductionEnv reports whether APP_ENV or NODE_ENV says production (SPEC §5.1), as Load reads
// them: for commands that check production without loading a Config.
func ProductionEnv(getenv func(string) string) bool {
	return isProduction(getenv("APP_ENV")) || isProduction(getenv("NODE_ENV"))
}

// isProduction reports whether an env value names production: any case, blanks around it.
func isProduction(env string) bool { return strings.EqualFold(strings.TrimSpace(env), "production") }

// DiagEnabled reports whether /diag/* is served: never in production.
func (c Config) DiagEnabled() bool { return !c.Production() }

// ListenAddr is where the runner's HTTP server listens: Addr, else ":" + Port.
func (c Config) ListenAddr() string {
	if c.Addr != "" {
		return c.Addr
	}
	return ":" + strconv.Itoa(c.Port)
}

// MCPEndpoint is the MCP URL with /mcp appended (unless it already ends in /mcp).
func (c Config) MCPEndpoint() string {
	u := strings.TrimRight(c.MCPURL, "/")
	if strings.HasSuffix(u, "/mcp") {
		return u
	}
	return u + "/mcp"
}

// PersistTimeout is how long the runner may take to write a run's rows and tick record after the
// run ended (its deadline included), retries and back-off included.
const PersistTimeout = 2 * time.Minute

// Lease is how long a claimed persona stays leased: the run deadline, then the time its rows may
// take to be written (PersistTimeout), plus a margin for claiming and clock skew, so a lease
// never runs out under a run or its persisting (another runner would claim it meanwhile).
func (c Config) Lease() time.Duration {
	margin := c.RunDeadline / 5
	if margin < time.Minute {
		margin = time.Minute
	}
	return c.RunDeadline + PersistTimeout + margin
}

// Upper limits of the configuration: past them a value is a typo or would exhaust the machine
// (SPEC §5.3 allows at most 15 model turns).
const (
	MaxConcurrency  = 1024
	MaxTurnsLimit   = 15
	MaxTickInterval = 24 * time.Hour
	MaxRunDeadline  = 2 * time.Hour
	MaxGrace        = time.Hour
	MaxMaxTokens    = 128_000
	MaxMemoryRuns   = 30
)

// MinServiceKeyBytes is the shortest MANA_SERVICE_KEY production accepts: it guards the runner's
// control endpoints and the auth API's internal routes, and serve auth asks the same.
const MinServiceKeyBytes = 32

// MinDashboardPassword is the shortest DASHBOARD_PASSWORD production accepts.
const MinDashboardPassword = 16

// PriceOf returns the price of model: an exact key, else the longest key that is a prefix of
// the model name. ok is false when the table has no entry (the cost is then 0).
func (c Config) PriceOf(model string) (p Price, ok bool) {
	if p, ok := c.Prices[model]; ok {
		return p, true
	}
	best := -1
	for k, v := range c.Prices {
		if strings.HasPrefix(model, k) && len(k) > best {
			best, p, ok = len(k), v, true
		}
	}
	return p, ok
}

// Cost estimates the US dollars of a run's tokens. cached counts input tokens served from a
// prompt cache and is part of input.
func (c Config) Cost(model string, input, output, cached int64) float64 {
	p, ok := c.PriceOf(model)
	if !ok {
		return 0
	}
	uncached := input - cached
	if uncached < 0 {
		uncached = 0
	}
	usd := (float64(uncached)*p.Input + float64(cached)*p.CachedInput + float64(output)*p.Output) / 1e6
	return math.Round(usd*1e6) / 1e6
}

// Secret is a string that prints masked. Use Value for the real thing.
type Secret string

// Value returns the secret itself.
func (s Secret) Value() string { return string(s) }

// String masks the secret: empty stays empty ("not set"), short secrets become ****, longer ones
// keep their last four characters so an operator can tell two keys apart.
func (s Secret) String() string {
	switch {
	case s == "":
		return ""
	case len(s) < 12:
		return "****"
	default:
		return "****" + string(s[len(s)-4:])
	}
}

// MarshalJSON writes the DSN without its password.
func (d DSN) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(d.String())), nil }

// MarshalJSON writes the masked form.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// MarshalYAML writes the masked form.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// Problems collects configuration problems; Err joins them into one error.
type Problems []string

// Add records one problem; format follows fmt.Sprintf.
func (p *Problems) Add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// Err returns nil without problems, else one error listing all of them.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return &Error{Problems: append([]string(nil), p...)}
}

// Error is an invalid configuration: every problem found, each naming its variable.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "invalid configuration: " + e.Problems[0]
	}
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// Overrides are applied after the environment; the CLI sets them from its flags. Each override
// carries the flag's name so that a problem with it names the flag.
type Overrides []Override

// Override sets one field from a flag.
type Override struct {
	Flag  string // "--concurrency"
	Apply func(*Config) error
}

// Load builds the configuration: Default, then the YAML file at path (when not empty), then the
// environment through getenv, then the overrides, and validates it. Every problem, from parsing
// or validation, is reported in one *Error.
func Load(path string, getenv func(string) string, overrides Overrides) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	cfg := Default()
	var probs Problems
	if path != "" {
		if err := loadFile(&cfg, path); err != nil {
			probs.Add("%v", err)
		}
	}
	applyEnv(&cfg, getenv, &probs)
	for _, o := range overrides {
		if err := o.Apply(&cfg); err != nil {
			probs.Add("%s: %v", o.Flag, err)
		}
	}
	cfg.fill()
	probs = append(probs, cfg.problems()...)
	return cfg, probs.Err()
}

// ReadFile reads a configuration file alone: its fields, no defaults, no environment, no
// validation. The other components (serve auth, serve mcp) take what concerns them from the
// runner's file this way.
func ReadFile(path string) (Config, error) {
	c := Config{Prices: map[string]Price{}}
	err := loadFile(&c, path)
	if len(c.Prices) == 0 {
		c.Prices = nil
	}
	return c, err
}

func loadFile(cfg *Config, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	prices := cfg.Prices
	cfg.Prices = nil
	dec := yaml.NewDecoder(bytes.NewReader(b), yaml.DisallowUnknownField())
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		cfg.Prices = prices
		return fmt.Errorf("config file %s: %s", path, yaml.FormatError(err, false, true))
	}
	// A file's price entries add to and replace the defaults rather than dropping them.
	for k, v := range cfg.Prices {
		prices[k] = v
	}
	cfg.Prices = prices
	return nil
}

// env lists every variable the runner reads, for docs and `config` output.
var envVars = []string{
	"APP_ENV", "NODE_ENV", "PORT", "MANA_AUTH_URL", "MANA_MCP_URL", "RUNNER_ID", "MANA_SERVICE_KEY",
	"PERSONA_SEED_SECRET", "MODEL_PROVIDER", "MODEL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
	"OPENAI_API_KEY", "OPENAI_BASE_URL", "MODEL_MAX_TOKENS", "TICK_INTERVAL_MS", "PERSONA_CONCURRENCY",
	"RUNNER_PAUSED", "RUN_DEADLINE", "RUN_MAX_TURNS", "RUN_TOKEN_BUDGET", "MEMORY_RUNS",
	"SHUTDOWN_GRACE", "DATABASE_URL", "SIM_SEED", "DASHBOARD_PASSWORD", "BUDGET_DAILY_USD",
}

// EnvVars returns the names of the environment variables the configuration reads.
func EnvVars() []string { return append([]string(nil), envVars...) }

func applyEnv(c *Config, getenv func(string) string, probs *Problems) {
	str := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	sec := func(name string, dst *Secret) {
		if v := getenv(name); v != "" {
			*dst = Secret(v)
		}
	}
	integer := func(name string, dst *int) {
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n <= 0 {
				probs.Add("%s must be a positive integer (got %q)", name, v)
				return
			}
			*dst = n
		}
	}
	// Production mode is APP_ENV=production or NODE_ENV=production (SPEC §5.1): a development
	// value of one never switches off production named by the other, nor by the file (env:
	// production), which serve auth reads the same way.
	appEnv, nodeEnv := strings.TrimSpace(getenv("APP_ENV")), strings.TrimSpace(getenv("NODE_ENV"))
	switch {
	case c.Production() || ProductionEnv(getenv):
		c.Env = "production"
	case appEnv != "":
		c.Env = appEnv
	case nodeEnv != "":
		c.Env = nodeEnv
	}
	integer("PORT", &c.Port)
	str("MANA_AUTH_URL", &c.AuthURL)
	str("MANA_MCP_URL", &c.MCPURL)
	str("RUNNER_ID", &c.RunnerID)
	str("RUNNER_OUTBOX", &c.Outbox)
	sec("MANA_SERVICE_KEY", &c.ServiceKey)
	sec("PERSONA_SEED_SECRET", &c.SeedSecret)
	sec("DASHBOARD_PASSWORD", &c.DashboardPassword)
	str("MODEL_PROVIDER", &c.Provider)
	str("MODEL", &c.Model)
	sec("ANTHROPIC_API_KEY", &c.AnthropicAPIKey)
	str("ANTHROPIC_BASE_URL", &c.AnthropicBaseURL)
	sec("OPENAI_API_KEY", &c.OpenAIAPIKey)
	str("OPENAI_BASE_URL", &c.OpenAIBaseURL)
	integer("MODEL_MAX_TOKENS", &c.MaxTokens)
	var ms int
	integer("TICK_INTERVAL_MS", &ms)
	if ms > 0 {
		c.TickInterval = time.Duration(ms) * time.Millisecond
	}
	integer("PERSONA_CONCURRENCY", &c.Concurrency)
	if v := getenv("RUNNER_PAUSED"); v != "" {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			probs.Add("RUNNER_PAUSED must be true or false (got %q)", v)
		} else {
			c.Paused = b
		}
	}
	dur := func(name string, dst *time.Duration) {
		if v := getenv(name); v != "" {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil || d <= 0 {
				probs.Add("%s must be a positive duration such as 10m or 90s (got %q)", name, v)
				return
			}
			*dst = d
		}
	}
	dur("RUN_DEADLINE", &c.RunDeadline)
	integer("RUN_MAX_TURNS", &c.MaxTurns)
	if v := getenv("RUN_TOKEN_BUDGET"); v != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			probs.Add("RUN_TOKEN_BUDGET must be a whole number of tokens, 0 for none (got %q)", v)
		} else {
			c.TokenBudget = n
		}
	}
	if v := getenv("BUDGET_DAILY_USD"); v != "" {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			probs.Add("BUDGET_DAILY_USD must be a number of US dollars, 0 for none (got %q)", v)
		} else {
			c.Budget.DailyUSD = f
		}
	}
	if v := getenv("MEMORY_RUNS"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			probs.Add("MEMORY_RUNS must be a whole number, 0 for no memory digest (got %q)", v)
		} else {
			c.MemoryRuns = n
		}
	}
	dur("SHUTDOWN_GRACE", &c.Grace)
	if v := getenv("SIM_SEED"); v != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			probs.Add("SIM_SEED must be a whole number (got %q)", v)
		} else {
			c.SimSeed = n
		}
	}
	if v := getenv("DATABASE_URL"); v != "" {
		c.DB = DSN(v)
	}
}

// fill derives what was left empty: the provider from the keys present and the model from the
// provider.
func (c *Config) fill() {
	c.Provider = strings.ToLower(strings.TrimSpace(c.Provider))
	if c.Provider == "" {
		switch {
		case c.AnthropicAPIKey != "" || c.Production():
			c.Provider = ProviderAnthropic
		case c.OpenAIAPIKey != "" || c.OpenAIBaseURL != "":
			c.Provider = ProviderOpenAI
		default:
			// Without any key in development, the offline simulator keeps the loop runnable.
			c.Provider = ProviderSim
		}
	}
	if c.Model == "" {
		switch c.Provider {
		case ProviderAnthropic:
			c.Model = DefaultAnthropicModel
		case ProviderOpenAI:
			c.Model = DefaultOpenAIModel
		case ProviderSim:
			c.Model = DefaultSimModel
		}
	}
	if c.RunnerID == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "runner"
		}
		c.RunnerID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
}

// Validate checks a configuration built without Load (for example by the embedded `up`).
func (c Config) Validate() error { return Problems(c.problems()).Err() }

func (c Config) problems() Problems {
	var p Problems
	if c.Port <= 0 || c.Port > 65535 {
		p.Add("PORT must be a port number from 1 to 65535 (got %d)", c.Port)
	}
	checkURL(&p, "MANA_AUTH_URL", c.AuthURL)
	checkURL(&p, "MANA_MCP_URL", c.MCPURL)
	if c.AnthropicBaseURL != "" {
		checkURL(&p, "ANTHROPIC_BASE_URL", c.AnthropicBaseURL)
	}
	if c.OpenAIBaseURL != "" {
		checkURL(&p, "OPENAI_BASE_URL", c.OpenAIBaseURL)
	}
	if c.TickInterval <= 0 {
		p.Add("TICK_INTERVAL_MS must be a positive integer (got %d ms)", c.TickInterval.Milliseconds())
	} else if c.TickInterval > MaxTickInterval {
		p.Add("TICK_INTERVAL_MS must be at most %d (24h) (got %d)", MaxTickInterval.Milliseconds(), c.TickInterval.Milliseconds())
	}
	if c.Concurrency <= 0 {
		p.Add("PERSONA_CONCURRENCY must be a positive integer (got %d)", c.Concurrency)
	} else if c.Concurrency > MaxConcurrency {
		p.Add("PERSONA_CONCURRENCY must be at most %d (got %d)", MaxConcurrency, c.Concurrency)
	}
	if c.RunDeadline <= 0 {
		p.Add("RUN_DEADLINE must be a positive duration (got %s)", c.RunDeadline)
	} else if c.RunDeadline > MaxRunDeadline {
		p.Add("RUN_DEADLINE must be at most %s (got %s)", MaxRunDeadline, c.RunDeadline)
	}
	if c.MaxTurns <= 0 {
		p.Add("RUN_MAX_TURNS must be a positive integer (got %d)", c.MaxTurns)
	} else if c.MaxTurns > MaxTurnsLimit {
		p.Add("RUN_MAX_TURNS must be at most %d (got %d)", MaxTurnsLimit, c.MaxTurns)
	}
	if c.TokenBudget < 0 {
		p.Add("RUN_TOKEN_BUDGET must not be negative (got %d)", c.TokenBudget)
	}
	if c.Budget.DailyUSD < 0 || math.IsNaN(c.Budget.DailyUSD) || math.IsInf(c.Budget.DailyUSD, 0) {
		p.Add("budget.dailyUsd must be a number of US dollars, 0 for none (got %v)", c.Budget.DailyUSD)
	}
	if c.MemoryRuns < 0 {
		p.Add("MEMORY_RUNS must not be negative (got %d)", c.MemoryRuns)
	} else if c.MemoryRuns > MaxMemoryRuns {
		p.Add("MEMORY_RUNS must be at most %d (got %d)", MaxMemoryRuns, c.MemoryRuns)
	}
	if c.Grace < 0 {
		p.Add("SHUTDOWN_GRACE must not be negative (got %s)", c.Grace)
	} else if c.Grace > MaxGrace {
		p.Add("SHUTDOWN_GRACE must be at most %s (got %s)", MaxGrace, c.Grace)
	}
	if c.MaxTokens <= 0 {
		p.Add("MODEL_MAX_TOKENS must be a positive integer (got %d)", c.MaxTokens)
	} else if c.MaxTokens > MaxMaxTokens {
		p.Add("MODEL_MAX_TOKENS must be at most %d (got %d)", MaxMaxTokens, c.MaxTokens)
	}
	if c.SeedSecret == "" {
		p.Add("PERSONA_SEED_SECRET must not be empty")
	}
	switch c.Provider {
	case ProviderAnthropic, ProviderOpenAI, ProviderSim:
	default:
		p.Add("MODEL_PROVIDER must be one of anthropic, openai, sim (got %q)", c.Provider)
	}
	if c.RunnerID == "" {
		p.Add("RUNNER_ID must not be empty")
	}
	names := make([]string, 0, len(c.Prices))
	for k := range c.Prices {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := c.Prices[k]
		if v.Input < 0 || v.Output < 0 || v.CachedInput < 0 {
			p.Add("prices.%s must not be negative", k)
		}
	}
	p = append(p, targetProblems(c.Targets)...)
	if c.Production() {
		if c.ServiceKey == "" {
			p.Add("MANA_SERVICE_KEY is required in production")
		} else if n := len(c.ServiceKey); n < MinServiceKeyBytes {
			p.Add("MANA_SERVICE_KEY must be at least %d bytes in production (it has %d)", MinServiceKeyBytes, n)
		}
		if c.Provider == ProviderAnthropic && c.AnthropicAPIKey == "" {
			p.Add("ANTHROPIC_API_KEY is required in production with MODEL_PROVIDER=anthropic")
		}
		if c.Provider == ProviderOpenAI && c.OpenAIAPIKey == "" {
			p.Add("OPENAI_API_KEY is required in production with MODEL_PROVIDER=openai")
		}
		if n := len([]rune(c.DashboardPassword.Value())); n > 0 && n < MinDashboardPassword {
			p.Add("DASHBOARD_PASSWORD must be at least %d characters in production (it has %d)", MinDashboardPassword, n)
		}
		if c.SeedSecret == persona.DevSeedSecret {
			p.Add("PERSONA_SEED_SECRET must not be the development default in production")
		}
		if c.Provider == ProviderSim {
			p.Add("MODEL_PROVIDER=sim (the offline simulator) is not allowed in production: use anthropic or openai")
		}
	}
	return p
}

func checkURL(p *Problems, name, v string) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.Add("%s must be an http(s) URL (got %q)", name, v)
	}
}

// YAML renders the configuration as YAML with secrets masked (for `persona-runner config`).
// Durations are written as Go durations ("1m0s") so that the output reads back as a config file.
func (c Config) YAML() ([]byte, error) {
	type view struct {
		Env              string           `yaml:"env"`
		Port             int              `yaml:"port"`
		Addr             string           `yaml:"addr"`
		AuthURL          string           `yaml:"authUrl"`
		MCPURL           string           `yaml:"mcpUrl"`
		RunnerID         string           `yaml:"runnerId"`
		ServiceKey       string           `yaml:"serviceKey"`
		SeedSecret       string           `yaml:"seedSecret"`
		DashboardPW      string           `yaml:"dashboardPassword,omitempty"`
		Provider         string           `yaml:"provider"`
		Model            string           `yaml:"model"`
		AnthropicAPIKey  string           `yaml:"anthropicApiKey"`
		AnthropicBaseURL string           `yaml:"anthropicBaseUrl"`
		OpenAIAPIKey     string           `yaml:"openaiApiKey"`
		OpenAIBaseURL    string           `yaml:"openaiBaseUrl"`
		MaxTokens        int              `yaml:"maxTokens"`
		SimSeed          int64            `yaml:"simSeed"`
		TickInterval     string           `yaml:"tickInterval"`
		Concurrency      int              `yaml:"concurrency"`
		Paused           bool             `yaml:"paused"`
		RunDeadline      string           `yaml:"runDeadline"`
		MaxTurns         int              `yaml:"maxTurns"`
		TokenBudget      int64            `yaml:"tokenBudget"`
		MemoryRuns       int              `yaml:"memoryRuns"`
		Grace            string           `yaml:"grace"`
		DB               string           `yaml:"db"`
		Outbox           string           `yaml:"outbox,omitempty"`
		Prices           map[string]Price `yaml:"prices"`
		Targets          []target.Config  `yaml:"targets,omitempty"`
		RecordArguments  bool             `yaml:"recordArguments"`
		Budget           Budget           `yaml:"budget"`
	}
	b, err := yaml.Marshal(view{
		Env: c.Env, Port: c.Port, Addr: c.Addr, AuthURL: c.AuthURL, MCPURL: c.MCPURL, RunnerID: c.RunnerID,
		ServiceKey: c.ServiceKey.String(), SeedSecret: c.SeedSecret.String(), DashboardPW: c.DashboardPassword.String(),
		Provider: c.Provider, Model: c.Model,
		AnthropicAPIKey: c.AnthropicAPIKey.String(), AnthropicBaseURL: c.AnthropicBaseURL,
		OpenAIAPIKey: c.OpenAIAPIKey.String(), OpenAIBaseURL: c.OpenAIBaseURL, MaxTokens: c.MaxTokens, SimSeed: c.SimSeed,
		TickInterval: c.TickInterval.String(), Concurrency: c.Concurrency, Paused: c.Paused,
		RunDeadline: c.RunDeadline.String(), MaxTurns: c.MaxTurns, TokenBudget: c.TokenBudget,
		MemoryRuns: c.MemoryRuns, Grace: c.Grace.String(), DB: c.DB.String(), Outbox: c.Outbox, Prices: c.Prices, Targets: c.Targets,
		RecordArguments: c.RecordArguments, Budget: c.Budget,
	})
	if err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	return b, nil
}

// targetProblems checks the targets: each on its own (naming its key, targets[i].…), names
// unique, at most one default and one among several.
func targetProblems(ts []target.Config) Problems {
	var p Problems
	seen := map[string]int{}
	var defaults []string
	for i, t := range ts {
		field := fmt.Sprintf("targets[%d]", i)
		if t.Name != "" {
			field = fmt.Sprintf("targets[%d] (%s)", i, t.Name)
		}
		p = append(p, t.Problems(field)...)
		if j, dup := seen[t.Name]; dup && t.Name != "" {
			p.Add("targets[%d].name %q is already used by targets[%d]", i, t.Name, j)
		}
		seen[t.Name] = i
		if t.Default {
			defaults = append(defaults, t.Name)
		}
	}
	switch {
	case len(defaults) > 1:
		p.Add("targets: only one may be default: true (%s are)", strings.Join(defaults, ", "))
	case len(defaults) == 0 && len(ts) > 1:
		p.Add("targets: mark one of the %d targets default: true (personas without target: use it)", len(ts))
	}
	return p
}
