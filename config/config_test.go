package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/persona-runner/persona-runner/config"
	"github.com/persona-runner/persona-runner/persona"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("", envOf(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 3070 || cfg.AuthURL != "http://localhost:3001" || cfg.MCPEndpoint() != "http://localhost:3069/mcp" {
		t.Errorf("unexpected defaults: port %d auth %s mcp %s", cfg.Port, cfg.AuthURL, cfg.MCPEndpoint())
	}
	if cfg.TickInterval != time.Minute || cfg.Concurrency != 2 || cfg.RunDeadline != 10*time.Minute || cfg.MaxTurns != 15 {
		t.Errorf("unexpected loop defaults: %+v", cfg)
	}
	if cfg.Provider != config.ProviderSim || cfg.Model != config.DefaultSimModel {
		t.Errorf("without keys in development the provider should be sim, got %s/%s", cfg.Provider, cfg.Model)
	}
	if cfg.SeedSecret.Value() != persona.DevSeedSecret {
		t.Errorf("seed secret default = %q", cfg.SeedSecret.Value())
	}
	if !cfg.DiagEnabled() || cfg.RunnerID == "" {
		t.Errorf("diag %v runner id %q", cfg.DiagEnabled(), cfg.RunnerID)
	}
	// The lease outlasts the run and the writing of its rows, so no other runner claims a
	// persona whose rows are still being written.
	for _, d := range []time.Duration{time.Second, 10 * time.Minute, config.MaxRunDeadline} {
		cfg.RunDeadline = d
		if cfg.Lease() <= d+config.PersistTimeout {
			t.Errorf("deadline %s: lease %s must exceed the deadline plus the persist timeout %s", d, cfg.Lease(), config.PersistTimeout)
		}
	}
}

// TestUpperLimits: values past a sane maximum are refused, naming the variable and the limit;
// the limits themselves are accepted.
func TestUpperLimits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, over, max, want string }{
		{"PERSONA_CONCURRENCY", "1025", "1024", "PERSONA_CONCURRENCY must be at most 1024"},
		{"RUN_MAX_TURNS", "16", "15", "RUN_MAX_TURNS must be at most 15"},
		{"TICK_INTERVAL_MS", "86400001", "86400000", "TICK_INTERVAL_MS must be at most 86400000"},
		{"RUN_DEADLINE", "2h1m", "2h", "RUN_DEADLINE must be at most 2h0m0s"},
		{"SHUTDOWN_GRACE", "61m", "1h", "SHUTDOWN_GRACE must be at most 1h0m0s"},
		{"MODEL_MAX_TOKENS", "128001", "128000", "MODEL_MAX_TOKENS must be at most 128000"},
		{"MEMORY_RUNS", "31", "30", "MEMORY_RUNS must be at most 30"},
	} {
		if _, err := config.Load("", envOf(map[string]string{tc.name: tc.over}), nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: %v, want %q", tc.name, tc.over, err, tc.want)
		}
		if _, err := config.Load("", envOf(map[string]string{tc.name: tc.max}), nil); err != nil {
			t.Errorf("%s=%s refused: %v", tc.name, tc.max, err)
		}
	}
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "runner.yaml")
	yaml := "concurrency: 4\nmodel: from-file\ntickInterval: 30s\nauthUrl: http://file:1\nprices:\n  from-file: {input: 1, output: 2}\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := envOf(map[string]string{"PERSONA_CONCURRENCY": "8", "MODEL": "from-env", "ANTHROPIC_API_KEY": "sk-ant-0123456789abcd"})
	cfg, err := config.Load(file, env, config.Overrides{{Flag: "--model", Apply: func(c *config.Config) error { c.Model = "from-flag"; return nil }}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Concurrency != 8 {
		t.Errorf("env must beat file: concurrency %d", cfg.Concurrency)
	}
	if cfg.Model != "from-flag" {
		t.Errorf("flag must beat env: model %s", cfg.Model)
	}
	if cfg.TickInterval != 30*time.Second || cfg.AuthURL != "http://file:1" {
		t.Errorf("file must beat defaults: %s %s", cfg.TickInterval, cfg.AuthURL)
	}
	if cfg.Provider != config.ProviderAnthropic {
		t.Errorf("an Anthropic key should select anthropic, got %s", cfg.Provider)
	}
	if _, ok := cfg.Prices["claude-sonnet-4"]; !ok {
		t.Error("file prices must add to the defaults, not replace them")
	}
	if p, _ := cfg.PriceOf("from-file"); p.Output != 2 {
		t.Errorf("price from file = %+v", p)
	}
}

// TestProblemsNameTheKeyTheUserSet checks that a problem names a value where the user set it:
// the YAML key for the file's, the variable for the environment's (which overrides the file),
// the flag for a flag's. They used to name the variable whatever set the value.
func TestProblemsNameTheKeyTheUserSet(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "runner.yaml")
	yaml := "concurrency: 5000\nrunDeadline: 3h\nauthUrl: localhost:3001\nmaxTurns: 20\nbudget: {dailyUsd: -1}\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := envOf(map[string]string{"RUN_MAX_TURNS": "16"})
	_, err := config.Load(file, env, config.Overrides{{Flag: "--deadline", Key: "runDeadline", Apply: func(c *config.Config) error { c.RunDeadline = 5 * time.Hour; return nil }}})
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *config.Error, got %v", err)
	}
	want := []string{
		"authUrl in " + file + ` must be an http(s) URL (got "localhost:3001")`,
		"concurrency in " + file + " must be at most 1024 (got 5000)",
		"--deadline must be at most 2h0m0s (got 5h0m0s)",
		"RUN_MAX_TURNS must be at most 15 (got 16)",
		"budget.dailyUsd in " + file + " must be a number of US dollars, 0 for none (got -1)",
	}
	if diff := cmp.Diff(want, ce.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// TestSet tells a value the user set from a default, whatever set it: the file's simSeed: 0 is
// set, a default is not.
func TestSet(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "runner.yaml")
	if err := os.WriteFile(file, []byte("simSeed: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file, envOf(map[string]string{"MODEL": "m"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"simSeed": true, "model": true, "concurrency": false, "provider": false} {
		if got := cfg.Set(key); got != want {
			t.Errorf("Set(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestEveryProblemInOneMessage(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{
		"PERSONA_CONCURRENCY": "0",
		"TICK_INTERVAL_MS":    "soon",
		"RUNNER_PAUSED":       "maybe",
		"RUN_DEADLINE":        "-1s",
		"MANA_AUTH_URL":       "localhost:3001",
		"MODEL_PROVIDER":      "gemini",
	})
	_, err := config.Load("", env, config.Overrides{{Flag: "--interval", Apply: func(*config.Config) error { return errors.New("must be positive") }}})
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *config.Error, got %v", err)
	}
	for _, name := range []string{"PERSONA_CONCURRENCY", "TICK_INTERVAL_MS", "RUNNER_PAUSED", "RUN_DEADLINE", "MANA_AUTH_URL", "MODEL_PROVIDER", "--interval"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("message does not name %s:\n%v", name, err)
		}
	}
}

func TestProductionChecks(t *testing.T) {
	t.Parallel()
	for _, envName := range []string{"APP_ENV", "NODE_ENV"} {
		_, err := config.Load("", envOf(map[string]string{envName: "production"}), nil)
		if err == nil {
			t.Fatalf("%s=production without keys must fail", envName)
		}
		for _, want := range []string{"MANA_SERVICE_KEY", "ANTHROPIC_API_KEY", "PERSONA_SEED_SECRET"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: message does not name %s:\n%v", envName, want, err)
			}
		}
	}
	// Either variable saying production is production: the other saying otherwise does not win.
	for _, env := range []map[string]string{
		{"APP_ENV": "development", "NODE_ENV": "production"},
		{"APP_ENV": "production", "NODE_ENV": "development"},
		{"APP_ENV": " Production "},
	} {
		cfg, err := config.Load("", envOf(env), nil)
		if err == nil || !cfg.Production() || !strings.Contains(err.Error(), "MANA_SERVICE_KEY is required in production") {
			t.Errorf("%v: production=%v, err %v", env, cfg.Production(), err)
		}
	}
	if cfg, err := config.Load("", envOf(map[string]string{"APP_ENV": "staging", "NODE_ENV": "development"}), nil); err != nil || cfg.Production() || cfg.Env != "staging" {
		t.Errorf("staging: env %q production=%v err %v", cfg.Env, cfg.Production(), err)
	}
	// The offline simulator is refused in production, by name, with everything else in order.
	_, err := config.Load("", envOf(map[string]string{
		"NODE_ENV": "production", "MANA_SERVICE_KEY": "svc-key-0123456789abcdef0123456789", "PERSONA_SEED_SECRET": "prod-secret",
		"MODEL_PROVIDER": "sim",
	}), nil)
	var ce *config.Error
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || !strings.Contains(ce.Problems[0], "MODEL_PROVIDER=sim") {
		t.Errorf("sim in production: %v", err)
	}
	cfg, err := config.Load("", envOf(map[string]string{
		"APP_ENV": "production", "MANA_SERVICE_KEY": "svc-key-0123456789abcdef0123456789", "PERSONA_SEED_SECRET": "prod-secret",
		"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "sk-openai-0123456789",
	}), nil)
	if err != nil {
		t.Fatalf("complete production config rejected: %v", err)
	}
	if cfg.DiagEnabled() {
		t.Error("/diag must be off in production")
	}
}

func TestSecretsMasked(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("", envOf(map[string]string{
		"MANA_SERVICE_KEY": "service-key-secret-1234", "ANTHROPIC_API_KEY": "sk-ant-very-secret-9876",
		"PERSONA_SEED_SECRET": "seed-secret-value-5555", "DATABASE_URL": "postgres://u:dbpass@h/db",
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	y, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	printed := string(y) + fmt.Sprintf("%v %+v", cfg, cfg)
	for _, secret := range []string{"service-key-secret", "sk-ant-very-secret", "seed-secret-value", "dbpass"} {
		if strings.Contains(printed, secret) {
			t.Errorf("secret %q printed:\n%s", secret, printed)
		}
	}
	if !strings.Contains(string(y), "****1234") {
		t.Errorf("masked key should keep its last four characters:\n%s", y)
	}
	// The rendered YAML reads back as a config file (masked secrets aside).
	file := filepath.Join(t.TempDir(), "out.yaml")
	if err := os.WriteFile(file, y, 0o600); err != nil {
		t.Fatal(err)
	}
	back, err := config.Load(file, envOf(nil), nil)
	if err != nil {
		t.Fatalf("printed config does not load: %v", err)
	}
	if diff := cmp.Diff(cfg.TickInterval, back.TickInterval); diff != "" {
		t.Error(diff)
	}
}

func TestUnknownFileKey(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(file, []byte("concurency: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(file, envOf(nil), nil)
	if err == nil || !strings.Contains(err.Error(), "concurency") {
		t.Fatalf("unknown key must be reported by name, got %v", err)
	}
}

func TestCost(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	// 1M uncached input at $3, 0.5M cached at $0.30, 0.1M output at $15.
	got := cfg.Cost("claude-sonnet-4-5-20250929", 1_500_000, 100_000, 500_000)
	if want := 3 + 0.15 + 1.5; got != want {
		t.Errorf("cost = %v, want %v", got, want)
	}
	if got := cfg.Cost("unknown-model", 1000, 1000, 0); got != 0 {
		t.Errorf("unknown model cost = %v", got)
	}
	if p, _ := cfg.PriceOf("gpt-4o-mini-2024-07-18"); p.Input != 0.15 {
		t.Errorf("longest prefix should win: %+v", p)
	}
}

// TestProductionEnv: the rule commands use without a Config is the one Load applies.
func TestProductionEnv(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{"APP_ENV": " Production "}, true},
		{map[string]string{"APP_ENV": "development", "NODE_ENV": "production"}, true},
		{map[string]string{"APP_ENV": "staging", "NODE_ENV": "development"}, false},
		{map[string]string{}, false},
	} {
		cfg, _ := config.Load("", envOf(tc.env), nil)
		if got := config.ProductionEnv(envOf(tc.env)); got != tc.want || cfg.Production() != tc.want {
			t.Errorf("%v: ProductionEnv %v, Load's Production %v; want %v", tc.env, got, cfg.Production(), tc.want)
		}
	}
}

// budget.dailyUsd comes from the file or BUDGET_DAILY_USD (which wins); a bad value names the
// variable or key.
func TestDailyBudget(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "runner.yaml")
	if err := os.WriteFile(file, []byte("budget:\n  dailyUsd: 2.5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file, envOf(nil), nil)
	if err != nil || cfg.Budget.DailyUSD != 2.5 {
		t.Fatalf("file budget = %v, %v", cfg.Budget.DailyUSD, err)
	}
	cfg, err = config.Load(file, envOf(map[string]string{"BUDGET_DAILY_USD": "10"}), nil)
	if err != nil || cfg.Budget.DailyUSD != 10 {
		t.Fatalf("env budget = %v, %v", cfg.Budget.DailyUSD, err)
	}
	if _, err := config.Load("", envOf(map[string]string{"BUDGET_DAILY_USD": "lots"}), nil); err == nil || !strings.Contains(err.Error(), "BUDGET_DAILY_USD") {
		t.Errorf("BUDGET_DAILY_USD=lots: %v", err)
	}
	if err := os.WriteFile(file, []byte("budget:\n  dailyUsd: -1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(file, envOf(nil), nil); err == nil || !strings.Contains(err.Error(), "budget.dailyUsd") {
		t.Errorf("dailyUsd -1: %v", err)
	}
}
