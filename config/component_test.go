package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/persona-runner/persona-runner/config"
)

// TestComponentsTakeTheirOwn: each component honours only its variables and its file keys, so
// that one file and one environment serve every component: serve auth does not listen on the
// runner's port from the file, nor fail on a runner-only variable.
func TestComponentsTakeTheirOwn(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "all.yaml")
	if err := os.WriteFile(file, []byte("port: 3070\naddr: :9999\nauthUrl: http://auth.test\ndb: file.db\nconcurrency: 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PERSONA_CONCURRENCY": "zero", "MANA_MCP_URL": "::", "DATABASE_URL": "env.db"}
	getenv := func(k string) string { return env[k] }
	a, err := config.LoadAuth(file, getenv, nil)
	if err != nil {
		t.Fatalf("LoadAuth: %v", err)
	}
	if a.Addr != ":3001" || a.PublicURL != "http://auth.test" || a.Store.DB != "env.db" || a.Store.PasswordCost != 10 {
		t.Errorf("LoadAuth = %+v; want :3001 (not the runner's port), the file's authUrl, DATABASE_URL, cost 10", a)
	}
	m, err := config.LoadMCP(file, getenv, nil)
	if err != nil || m.AuthURL != "http://auth.test" || m.Store.DB != "env.db" {
		t.Errorf("LoadMCP = %+v, %v", m, err)
	}
	s, err := config.LoadStore("", func(string) string { return "" }, nil)
	if err != nil || s.DB != config.DefaultDB {
		t.Errorf("LoadStore with nothing set = %+v, %v; want %s", s, err, config.DefaultDB)
	}
	// The runner reads them all: the bad variables are its problems.
	_, err = config.Load(file, getenv, nil)
	for _, want := range []string{"PERSONA_CONCURRENCY", "MANA_MCP_URL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load: %v; want a problem naming %s", err, want)
		}
	}
	if up := config.Up.Getenv(getenv); up("MANA_MCP_URL") != "" || up("DATABASE_URL") != "env.db" || config.Up.Honours("PORT") {
		t.Errorf("up honours the runner's addresses")
	}
	if got := strings.Join(config.ServeMCP.Vars(), " "); got != "APP_ENV NODE_ENV MANA_AUTH_URL DATABASE_URL PERSONA_PASSWORD_COST" {
		t.Errorf("serve mcp's variables: %s", got)
	}
}

// TestStoreProblemsNameTheKey: the store's DSN and password cost are checked where they were set.
func TestStoreProblemsNameTheKey(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "store.yaml")
	if err := os.WriteFile(file, []byte("db: mysql://x\npasswordCost: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.LoadMCP(file, func(string) string { return "" }, nil)
	for _, want := range []string{`db in ` + file + `: unknown DSN scheme "mysql://"`, "passwordCost in " + file + " must be a bcrypt cost from 4 to 31 (got 3)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadMCP: %v; want %q", err, want)
		}
	}
	_, err = config.LoadStore("", func(k string) string {
		return map[string]string{"APP_ENV": "production", "PERSONA_PASSWORD_COST": "4"}[k]
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "PERSONA_PASSWORD_COST must be at least 10 in production (got 4)") {
		t.Errorf("LoadStore in production with cost 4: %v", err)
	}
}

// TestRunnerConfig: the runner's own configuration carries what the runner runs by, production
// turning /diag off, and the lease covers the deadline plus the persist timeout.
func TestRunnerConfig(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Env, cfg.ServiceKey, cfg.Budget.DailyUSD, cfg.Concurrency, cfg.RunnerID = "production", "key", 2.5, 7, "r1"
	r := cfg.Runner()
	if r.Diag || r.ServiceKey != "key" || r.DailyBudgetUSD != 2.5 || r.Concurrency != 7 || r.RunDeadline != cfg.RunDeadline ||
		r.Cost("claude-sonnet-4-5", 1_000_000, 0, 0) != cfg.Cost("claude-sonnet-4-5", 1_000_000, 0, 0) {
		t.Errorf("Runner() = %+v", r)
	}
	if err := r.Validate(); err != nil || r.Lease() != cfg.Lease() || r.Lease() <= r.RunDeadline+config.PersistTimeout {
		t.Errorf("Validate %v, lease %s", err, r.Lease())
	}
}
