package config

import (
	"fmt"
	"math"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/runner"
)

// Upper limits of the configuration: past them a value is a typo or would exhaust the machine
// (SPEC §5.3 allows at most 15 model turns).
const (
	MaxConcurrency  = 1024
	MaxTurnsLimit   = runner.MaxTurns
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

// Validate checks a configuration built without Load (for example by the embedded `up`).
func (c Config) Validate() error { return Problems(c.problems()).Err() }

func (c Config) problems() Problems {
	var p Problems
	if c.Port <= 0 || c.Port > 65535 {
		p.Add("%s must be a port number from 1 to 65535 (got %d)", c.name("port"), c.Port)
	}
	checkURL(&p, c.name("authUrl"), c.AuthURL)
	checkURL(&p, c.name("mcpUrl"), c.MCPURL)
	if c.AnthropicBaseURL != "" {
		checkURL(&p, c.name("anthropicBaseUrl"), c.AnthropicBaseURL)
	}
	if c.OpenAIBaseURL != "" {
		checkURL(&p, c.name("openaiBaseUrl"), c.OpenAIBaseURL)
	}
	if c.TickInterval <= 0 {
		p.Add("%s must be a positive integer (got %d ms)", c.name("tickInterval"), c.TickInterval.Milliseconds())
	} else if c.TickInterval > MaxTickInterval {
		p.Add("%s must be at most %d (24h) (got %d)", c.name("tickInterval"), MaxTickInterval.Milliseconds(), c.TickInterval.Milliseconds())
	}
	if c.Concurrency <= 0 {
		p.Add("%s must be a positive integer (got %d)", c.name("concurrency"), c.Concurrency)
	} else if c.Concurrency > MaxConcurrency {
		p.Add("%s must be at most %d (got %d)", c.name("concurrency"), MaxConcurrency, c.Concurrency)
	}
	if c.RunDeadline <= 0 {
		p.Add("%s must be a positive duration (got %s)", c.name("runDeadline"), c.RunDeadline)
	} else if c.RunDeadline > MaxRunDeadline {
		p.Add("%s must be at most %s (got %s)", c.name("runDeadline"), MaxRunDeadline, c.RunDeadline)
	}
	if c.MaxTurns <= 0 {
		p.Add("%s must be a positive integer (got %d)", c.name("maxTurns"), c.MaxTurns)
	} else if c.MaxTurns > MaxTurnsLimit {
		p.Add("%s must be at most %d (got %d)", c.name("maxTurns"), MaxTurnsLimit, c.MaxTurns)
	}
	if c.TokenBudget < 0 {
		p.Add("%s must not be negative (got %d)", c.name("tokenBudget"), c.TokenBudget)
	}
	if c.Budget.DailyUSD < 0 || math.IsNaN(c.Budget.DailyUSD) || math.IsInf(c.Budget.DailyUSD, 0) {
		p.Add("%s must be a number of US dollars, 0 for none (got %v)", c.name("budget.dailyUsd"), c.Budget.DailyUSD)
	}
	if c.MemoryRuns < 0 {
		p.Add("%s must not be negative (got %d)", c.name("memoryRuns"), c.MemoryRuns)
	} else if c.MemoryRuns > MaxMemoryRuns {
		p.Add("%s must be at most %d (got %d)", c.name("memoryRuns"), MaxMemoryRuns, c.MemoryRuns)
	}
	if c.Grace < 0 {
		p.Add("%s must not be negative (got %s)", c.name("grace"), c.Grace)
	} else if c.Grace > MaxGrace {
		p.Add("%s must be at most %s (got %s)", c.name("grace"), MaxGrace, c.Grace)
	}
	if c.MaxTokens <= 0 {
		p.Add("%s must be a positive integer (got %d)", c.name("maxTokens"), c.MaxTokens)
	} else if c.MaxTokens > MaxMaxTokens {
		p.Add("%s must be at most %d (got %d)", c.name("maxTokens"), MaxMaxTokens, c.MaxTokens)
	}
	if c.SeedSecret == "" {
		p.Add("%s must not be empty", c.name("seedSecret"))
	}
	switch c.Provider {
	case ProviderAnthropic, ProviderOpenAI, ProviderSim:
	default:
		p.Add("%s must be one of anthropic, openai, sim (got %q)", c.name("provider"), c.Provider)
	}
	if c.RunnerID == "" {
		p.Add("%s must not be empty", c.name("runnerId"))
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
	p = append(p, c.targetProblems()...)
	p = append(p, c.storeProblems()...)
	p = append(p, c.serviceKeyProblems()...)
	if c.Production() {
		if c.Provider == ProviderAnthropic && c.AnthropicAPIKey == "" {
			p.Add("%s is required in production with MODEL_PROVIDER=anthropic", c.name("anthropicApiKey"))
		}
		if c.Provider == ProviderOpenAI && c.OpenAIAPIKey == "" {
			p.Add("%s is required in production with MODEL_PROVIDER=openai", c.name("openaiApiKey"))
		}
		if n := len([]rune(c.DashboardPassword.Value())); n > 0 && n < MinDashboardPassword {
			p.Add("%s must be at least %d characters in production (it has %d)", c.name("dashboardPassword"), MinDashboardPassword, n)
		}
		if c.SeedSecret == persona.DevSeedSecret {
			p.Add("%s must not be the development default in production", c.name("seedSecret"))
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

// targetProblems checks the targets: each on its own (naming its key, targets[i].…, or the flag
// that gave the target, --mcp-url …), names unique, at most one default and one among several.
func (c Config) targetProblems() Problems {
	var p Problems
	ts := c.Targets
	flag, byFlag := c.from["targets"]
	byFlag = byFlag && strings.HasPrefix(flag, "-")
	seen := map[string]int{}
	var defaults []string
	for i, t := range ts {
		field := fmt.Sprintf("targets[%d]", i)
		if t.Name != "" {
			field = fmt.Sprintf("targets[%d] (%s)", i, t.Name)
		}
		if byFlag {
			field = flag + " (target " + t.Name + ")"
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
