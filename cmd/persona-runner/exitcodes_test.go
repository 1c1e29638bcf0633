package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// TestExitCodes runs one command per case of SPEC §8's table: 0 success, 1 the job ran and found
// a failure, 2 usage or configuration error, 3 could not run (a store, target or model
// unreachable). check's own cases are in TestCheckExitCodes, up --once's failed run (1) in
// TestUpOnceCheckCannotRun.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badYAML := writeFile(t, dir, "bad.yaml", "concurrency: lots\n")
	badCatalog := writeFile(t, dir, "cat.yaml", "personas:\n  - name: X\n")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	// Nothing listens on port 1: the connection is refused at once.
	unreachable := "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=5"
	up := func(store ...string) []string {
		return append([]string{"up", "--once", "--auth-addr", "127.0.0.1:0", "--mcp-addr", "127.0.0.1:0",
			"--runner-addr", "127.0.0.1:0", "--provider", "sim"}, store...)
	}
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string // in stderr
	}{
		{"success", nil, []string{"version"}, 0, ""},
		{"unknown flag", nil, []string{"version", "--frobnicate"}, 2, "--frobnicate"},
		{"invalid variable", map[string]string{"PERSONA_CONCURRENCY": "0"}, []string{"config"}, 2, "PERSONA_CONCURRENCY"},
		{"invalid file", nil, []string{"config", "--config", badYAML}, 2, badYAML},
		{"invalid flag value", nil, []string{"config", "--interval", "25h"}, 2, "--interval"},
		{"invalid config for up", map[string]string{"RUN_MAX_TURNS": "16"}, up("--data", filepath.Join(dir, "up1")), 2, "RUN_MAX_TURNS"},
		{"invalid catalog", nil, []string{"seed", "--data", filepath.Join(dir, "seed"), "--catalog", badCatalog}, 2, "cat.yaml"},
		{"unknown store scheme", nil, []string{"migrate", "--db", "mysql://root@127.0.0.1/db"}, 2, "mysql://"},
		{"--db with --data", nil, []string{"personas", "list", "--db", "x.db", "--data", dir}, 2, "--db and --data"},
		{"store unreachable: up", nil, up("--db", unreachable), 3, "cannot open the store"},
		{"store unreachable: migrate", nil, []string{"migrate", "--db", unreachable}, 3, "cannot open the store"},
		{"store missing: report", nil, []string{"report", "--data", filepath.Join(dir, "none")}, 3, "cannot open the store"},
		{"address in use: serve mcp", nil, []string{"serve", "mcp", "--data", filepath.Join(dir, "mcp"), "--addr", taken.Addr().String()}, 3, taken.Addr().String()},
		{"address in use: up", nil, up("--data", filepath.Join(dir, "up2"), "--runner-addr", taken.Addr().String()), 3, "--runner-addr"},
		{"the job found a failure", nil, []string{"runs", "show", "nope", "--data", filepath.Join(dir, "seed2")}, 1, ""},
	} {
		if c.name == "the job found a failure" {
			// runs show reads an existing store: make one.
			if code, _, errOut := run(t, nil, "migrate", "--data", filepath.Join(dir, "seed2")); code != 0 {
				t.Fatalf("migrate: %d %s", code, errOut)
			}
		}
		code, out, errOut := run(t, c.env, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: %v: exit %d, want %d naming %q\nstdout:\n%s\nstderr:\n%s", c.name, c.args, code, c.code, c.want, out, errOut)
		}
		if c.code == 2 && c.args[0] == "config" && out != "" {
			t.Errorf("%s: config printed %q to stdout; an invalid configuration prints only its problems", c.name, out)
		}
	}
}
