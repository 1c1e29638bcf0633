// Package config is the one configuration loader of every command (SPEC §5.1, §8): defaults,
// then a YAML file, then the environment, then command-line flags, validated once with every
// problem listed in one message that names the setting as the user wrote it. Config is the
// file's and the environment's shape (the runner's settings and the shared ones); each
// Component takes its own variables and keys from it (Auth, MCP, Dashboard, Store).
package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/runner"
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
	// PasswordCost is the bcrypt cost of the password hashes the store writes and the auth API
	// compares against (PERSONA_PASSWORD_COST, 4–31; production refuses less than the default).
	PasswordCost int `yaml:"passwordCost" json:"passwordCost"`
	// PublicURL is serve auth's public base URL, the iss of its tokens (AUTH_PUBLIC_URL or serve
	// auth's --auth-url); without it serve auth takes authUrl. Not a file key: the file's authUrl
	// is the one address of the auth API every component reads.
	PublicURL string `yaml:"-" json:"-"`

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

	// from records, by YAML key, how the user set a field (Load): "concurrency in runner.yaml",
	// "PERSONA_CONCURRENCY", "--concurrency". Problems name a field so; Set reads it.
	from map[string]string
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
		PasswordCost: persona.DefaultPasswordCost,

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
// run ended (runner.PersistTimeout).
const PersistTimeout = runner.PersistTimeout

// Lease is how long a claimed persona stays leased (runner.Config.Lease).
func (c Config) Lease() time.Duration { return c.Runner().Lease() }

// Runner is the runner's own configuration taken from this one: what runner.New runs by.
func (c Config) Runner() runner.Config {
	return runner.Config{
		RunnerID: c.RunnerID, ServiceKey: c.ServiceKey.Value(), Diag: c.DiagEnabled(),
		TickInterval: c.TickInterval, Concurrency: c.Concurrency, Paused: c.Paused,
		RunDeadline: c.RunDeadline, MaxTurns: c.MaxTurns, TokenBudget: c.TokenBudget,
		MaxTokens: c.MaxTokens, MemoryRuns: c.MemoryRuns, Grace: c.Grace,
		Outbox: c.Outbox, RecordArguments: c.RecordArguments, DailyBudgetUSD: c.Budget.DailyUSD,
		Cost: c.Cost,
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
