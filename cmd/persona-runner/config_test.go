package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigInvalidPrintsOnlyProblems: an invalid configuration prints nothing to stdout (half a
// configuration would read as a valid one) and its problems to stderr, each named as the user
// set it: the file's key, the variable.
func TestConfigInvalidPrintsOnlyProblems(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "runner.yaml")
	if err := os.WriteFile(file, []byte("concurrency: 5000\nmodel: m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, map[string]string{"RUN_MAX_TURNS": "16"}, "config", "--config", file)
	if code != 2 || out != "" {
		t.Errorf("config: exit %d, stdout %q (want 2 and nothing)", code, out)
	}
	for _, want := range []string{"concurrency in " + file + " must be at most 1024", "RUN_MAX_TURNS must be at most 15"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

// TestUpHonoursTheFilesSeedNotTheAddresses: up takes the simulator's seed from the config file
// (README: simSeed) when no --seed or SIM_SEED gives one, and ignores the runner's address
// variables (PORT, MANA_AUTH_URL, MANA_MCP_URL), even invalid ones: it wires its parts itself.
func TestUpHonoursTheFilesSeedNotTheAddresses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "runner.yaml")
	if err := os.WriteFile(file, []byte("simSeed: 4242\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PORT": "not-a-port", "MANA_AUTH_URL": "not a url", "MANA_MCP_URL": "::"}
	code, out, errOut := run(t, env, "up", "--once", "--data", dir, "--auth-addr", "127.0.0.1:0", "--mcp-addr", "127.0.0.1:0",
		"--runner-addr", "127.0.0.1:0", "--provider", "sim", "--start-time", upStart, "--config", file)
	if code != 0 || !strings.Contains(out, "(not an LLM; seed 4242)") {
		t.Errorf("up --config with simSeed: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}
