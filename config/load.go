package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
)

// Overrides are applied after the environment; the CLI sets them from its flags. Each override
// carries the flag's name so that a problem with it names the flag.
type Overrides []Override

// Override sets one field from a flag.
type Override struct {
	Flag  string // "--concurrency"
	Key   string // the YAML key of the field it sets ("concurrency"), so that problems name the flag
	Apply func(*Config) error
}

// Load builds the configuration: Default, then the YAML file at path (when not empty), then the
// environment through getenv, then the overrides, and validates it. Every problem, from parsing
// or validation, is reported in one *Error.
//
// Load is the runner's (serve runner, config, targets check): ServeRunner.Load.
func Load(path string, getenv func(string) string, overrides Overrides) (Config, error) {
	return ServeRunner.Load(path, getenv, overrides)
}

// load is the one precedence rule every command goes by: Default, then the YAML file at path
// (when not empty), then the variables of the environment the component honours, then the
// overrides (flags). It records how the user set each field (Set, name) and returns the
// problems of parsing; each component validates the fields it uses.
func (comp Component) load(path string, getenv func(string) string, overrides Overrides) (Config, Problems) {
	if getenv == nil {
		getenv = os.Getenv
	}
	cfg := Default()
	cfg.from = map[string]string{}
	var probs Problems
	if path != "" {
		// The whole file is read (a typo or a bad value anywhere is reported), but the
		// component takes only its keys: one file configures every component.
		file := Default()
		file.from = map[string]string{}
		if err := loadFile(&file, path); err != nil {
			probs.Add("%v", err)
		}
		comp.takeFileKeys(&cfg, &file)
	}
	applyEnv(&cfg, comp.Getenv(getenv), &probs)
	for _, o := range overrides {
		if err := o.Apply(&cfg); err != nil {
			probs.Add("%s: %v", o.Flag, err)
		} else if o.Key != "" {
			cfg.from[o.Key] = o.Flag
		}
	}
	return cfg, probs
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
	// The keys the file sets, so that a problem with one names it where the user wrote it.
	var keys map[string]any
	if cfg.from != nil && yaml.Unmarshal(b, &keys) == nil {
		for k, v := range keys {
			cfg.from[k] = k + " in " + path
			if sub, ok := v.(map[string]any); ok && k == "budget" {
				for sk := range sub {
					cfg.from[k+"."+sk] = k + "." + sk + " in " + path
				}
			}
		}
	}
	return nil
}

// envKeys is every variable the runner reads, with the YAML key of the field it sets: the one
// list `config`, the docs and the messages go by.
var envKeys = []struct{ name, key string }{
	{"APP_ENV", "env"}, {"NODE_ENV", "env"}, {"PORT", "port"}, {"MANA_AUTH_URL", "authUrl"},
	{"MANA_MCP_URL", "mcpUrl"}, {"RUNNER_ID", "runnerId"}, {"RUNNER_OUTBOX", "outbox"},
	{"MANA_SERVICE_KEY", "serviceKey"}, {"PERSONA_SEED_SECRET", "seedSecret"},
	{"DASHBOARD_PASSWORD", "dashboardPassword"}, {"MODEL_PROVIDER", "provider"}, {"MODEL", "model"},
	{"ANTHROPIC_API_KEY", "anthropicApiKey"}, {"ANTHROPIC_BASE_URL", "anthropicBaseUrl"},
	{"OPENAI_API_KEY", "openaiApiKey"}, {"OPENAI_BASE_URL", "openaiBaseUrl"},
	{"MODEL_MAX_TOKENS", "maxTokens"}, {"TICK_INTERVAL_MS", "tickInterval"},
	{"PERSONA_CONCURRENCY", "concurrency"}, {"RUNNER_PAUSED", "paused"}, {"RUN_DEADLINE", "runDeadline"},
	{"RUN_MAX_TURNS", "maxTurns"}, {"RUN_TOKEN_BUDGET", "tokenBudget"}, {"MEMORY_RUNS", "memoryRuns"},
	{"SHUTDOWN_GRACE", "grace"}, {"DATABASE_URL", "db"}, {"SIM_SEED", "simSeed"},
	{"BUDGET_DAILY_USD", "budget.dailyUsd"}, {"PERSONA_PASSWORD_COST", "passwordCost"},
	{"AUTH_PUBLIC_URL", "publicUrl"},
}

// EnvVars returns the names of the environment variables the configuration reads.
func EnvVars() []string {
	out := make([]string, len(envKeys))
	for i, e := range envKeys {
		out[i] = e.name
	}
	return out
}

// envVar is the variable that sets the field of YAML key key.
func envVar(key string) string {
	for _, e := range envKeys {
		if e.key == key {
			return e.name
		}
	}
	return key
}

// Set reports whether the file, the environment or a flag set the field of YAML key key
// ("simSeed"), as opposed to its default.
func (c Config) Set(key string) bool {
	_, ok := c.from[key]
	return ok
}

// name is how a problem names the field of YAML key key: as the user set it (the YAML key in
// the file, the variable, the flag), else by its variable.
func (c Config) name(key string) string {
	if n, ok := c.from[key]; ok {
		return n
	}
	return envVar(key)
}

func applyEnv(c *Config, getenv func(string) string, probs *Problems) {
	// get returns a variable's value and, when it is set, records that it set its field.
	get := func(name string) string {
		v := getenv(name)
		if v != "" && c.from != nil {
			for _, e := range envKeys {
				if e.name == name {
					c.from[e.key] = name
				}
			}
		}
		return v
	}
	str := func(name string, dst *string) {
		if v := get(name); v != "" {
			*dst = v
		}
	}
	sec := func(name string, dst *Secret) {
		if v := get(name); v != "" {
			*dst = Secret(v)
		}
	}
	integer := func(name string, dst *int) {
		if v := get(name); v != "" {
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
	if v := get("PORT"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 65535 {
			probs.Add("PORT must be a port number from 1 to 65535 (got %q)", v)
		} else {
			c.Port = n
		}
	}
	str("AUTH_PUBLIC_URL", &c.PublicURL)
	if v := get("PERSONA_PASSWORD_COST"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < MinPasswordCost || n > MaxPasswordCost {
			probs.Add("PERSONA_PASSWORD_COST must be a bcrypt cost from %d to %d (got %q)", MinPasswordCost, MaxPasswordCost, v)
		} else {
			c.PasswordCost = n
		}
	}
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
	if v := get("RUNNER_PAUSED"); v != "" {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			probs.Add("RUNNER_PAUSED must be true or false (got %q)", v)
		} else {
			c.Paused = b
		}
	}
	dur := func(name string, dst *time.Duration) {
		if v := get(name); v != "" {
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
	if v := get("RUN_TOKEN_BUDGET"); v != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			probs.Add("RUN_TOKEN_BUDGET must be a whole number of tokens, 0 for none (got %q)", v)
		} else {
			c.TokenBudget = n
		}
	}
	if v := get("BUDGET_DAILY_USD"); v != "" {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			probs.Add("BUDGET_DAILY_USD must be a number of US dollars, 0 for none (got %q)", v)
		} else {
			c.Budget.DailyUSD = f
		}
	}
	if v := get("MEMORY_RUNS"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			probs.Add("MEMORY_RUNS must be a whole number, 0 for no memory digest (got %q)", v)
		} else {
			c.MemoryRuns = n
		}
	}
	dur("SHUTDOWN_GRACE", &c.Grace)
	if v := get("SIM_SEED"); v != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			probs.Add("SIM_SEED must be a whole number (got %q)", v)
		} else {
			c.SimSeed = n
		}
	}
	if v := get("DATABASE_URL"); v != "" {
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
