package main

import (
	"os"
	"path/filepath"
	"strconv"
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

// TestConfigPrecedence runs each component with a file, the environment and a flag setting the
// same key and checks the one rule: defaults < file < environment < flags; and that a bad value
// at each level is named as the user set it (the file's key, the variable, the flag) and exits 2.
func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	type level struct {
		name string
		env  map[string]string
		args []string
		want string
	}
	// serve runner's configuration, as `config` prints it.
	file := writeFile(t, dir, "runner.yaml", "concurrency: 3\n")
	for _, c := range []level{
		{"file", nil, nil, "\nconcurrency: 3\n"},
		{"environment", map[string]string{"PERSONA_CONCURRENCY": "4"}, nil, "\nconcurrency: 4\n"},
		{"flag", map[string]string{"PERSONA_CONCURRENCY": "4"}, []string{"--concurrency", "5"}, "\nconcurrency: 5\n"},
	} {
		code, out, errOut := run(t, c.env, append([]string{"config", "--config", file}, c.args...)...)
		if code != 0 || !strings.Contains(out, c.want) {
			t.Errorf("config, %s wins: exit %d, want %q\nstdout:\n%s\nstderr:\n%s", c.name, code, c.want, out, errOut)
		}
	}
	bad := writeFile(t, dir, "bad.yaml", "concurrency: 0\n")
	for _, c := range []level{
		{"file", nil, []string{"--config", bad}, "concurrency in " + bad},
		{"environment", map[string]string{"PERSONA_CONCURRENCY": "0"}, nil, "PERSONA_CONCURRENCY"},
		{"flag", nil, []string{"--concurrency", "0"}, "--concurrency:"},
		{"flag of a target", nil, []string{"--mcp-url", "ftp://app.test/mcp", "--mcp-header", "X-Key: 1"}, "--mcp-url (target app).url must be an http(s) URL"},
	} {
		args := append([]string{"config"}, c.args...)
		if c.name == "flag of a target" {
			args = append([]string{"targets", "check"}, c.args...)
		}
		code, out, errOut := run(t, c.env, args...)
		if code != 2 || out != "" || !strings.Contains(errOut, c.want) {
			t.Errorf("%v, bad value from the %s: exit %d, stdout %q, stderr %q; want 2, nothing, and %q", args, c.name, code, out, errOut, c.want)
		}
	}

	// serve auth: its public URL (the file's authUrl < MANA_AUTH_URL < AUTH_PUBLIC_URL <
	// --auth-url) and its store (the file's db < DATABASE_URL < --db).
	for i, c := range []level{
		{"file", nil, nil, "http://file.test"},
		{"MANA_AUTH_URL", map[string]string{"MANA_AUTH_URL": "http://env.test", "DATABASE_URL": "env.db"}, nil, "http://env.test"},
		{"AUTH_PUBLIC_URL", map[string]string{"MANA_AUTH_URL": "http://env.test", "AUTH_PUBLIC_URL": "http://public.test", "DATABASE_URL": "env.db"}, nil, "http://public.test"},
		{"flag", map[string]string{"AUTH_PUBLIC_URL": "http://public.test", "DATABASE_URL": "env.db"}, []string{"--auth-url", "http://flag.test", "--db", "flag.db"}, "http://flag.test"},
	} {
		sub := filepath.Join(dir, "auth", strconv.Itoa(i))
		if err := os.MkdirAll(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{}
		for k, v := range c.env {
			if k == "DATABASE_URL" {
				v = filepath.Join(sub, v)
			}
			env[k] = v
		}
		args := []string{"--addr", "127.0.0.1:0", "--config", writeFile(t, sub, "auth.yaml", "authUrl: http://file.test\ndb: "+filepath.Join(sub, "file.db")+"\n")}
		for _, a := range c.args {
			if strings.HasSuffix(a, ".db") {
				a = filepath.Join(sub, a)
			}
			args = append(args, a)
		}
		url, stop, logs := startServeAuth(t, env, args...)
		if code := stop(); url != c.want || code != 0 {
			t.Errorf("serve auth, %s wins: public URL %s (exit %d), want %s\n%s", c.name, url, code, c.want, logs.String())
		}
		wantDB := map[string]string{"file": "file.db", "flag": "flag.db"}[c.name]
		if wantDB == "" {
			wantDB = "env.db"
		}
		entries, _ := filepath.Glob(filepath.Join(sub, "*.db"))
		if len(entries) != 1 || filepath.Base(entries[0]) != wantDB {
			t.Errorf("serve auth, %s wins: stores %v, want only %s", c.name, entries, wantDB)
		}
	}
	authBad := writeFile(t, dir, "auth-bad.yaml", "authUrl: file.test\n")
	for _, c := range []level{
		{"file", nil, []string{"--config", authBad}, "authUrl in " + authBad},
		{"environment", map[string]string{"AUTH_PUBLIC_URL": "public.test"}, nil, "AUTH_PUBLIC_URL must be an http(s) URL"},
		{"flag", map[string]string{"AUTH_PUBLIC_URL": "http://public.test"}, []string{"--auth-url", "flag.test"}, "--auth-url must be an http(s) URL"},
		{"environment", map[string]string{"PERSONA_PASSWORD_COST": "99"}, nil, "PERSONA_PASSWORD_COST must be a bcrypt cost"},
		{"flag", map[string]string{"DATABASE_URL": filepath.Join(dir, "x.db")}, []string{"--db", "mysql://x"}, `--db: unknown DSN scheme "mysql://"`},
	} {
		code, _, errOut := run(t, c.env, append([]string{"serve", "auth", "--addr", "127.0.0.1:0"}, c.args...)...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("serve auth, bad value from the %s: exit %d, stderr %q; want 2 and %q", c.name, code, errOut, c.want)
		}
	}

	// serve mcp: the auth API whose JWKS it trusts (the file's authUrl < MANA_AUTH_URL < --auth-url).
	mcpFile := writeFile(t, dir, "mcp.yaml", "authUrl: http://file.test\ndb: "+filepath.Join(dir, "mcp.db")+"\n")
	for _, c := range []level{
		{"file", nil, nil, "http://file.test"},
		{"environment", map[string]string{"MANA_AUTH_URL": "http://env.test"}, nil, "http://env.test"},
		{"flag", map[string]string{"MANA_AUTH_URL": "http://env.test"}, []string{"--auth-url", "http://flag.test"}, "http://flag.test"},
	} {
		got := startServeLine(t, `tokens from (\S+)/api/auth/jwks`, c.env, append([]string{"serve", "mcp", "--addr", "127.0.0.1:0", "--config", mcpFile}, c.args...)...)
		if got != c.want {
			t.Errorf("serve mcp, %s wins: auth URL %s, want %s", c.name, got, c.want)
		}
	}
	code, _, errOut := run(t, map[string]string{"MANA_AUTH_URL": "env.test"}, "serve", "mcp", "--addr", "127.0.0.1:0", "--config", mcpFile)
	if code != 2 || !strings.Contains(errOut, "MANA_AUTH_URL must be an http(s) URL") {
		t.Errorf("serve mcp with a bad MANA_AUTH_URL: exit %d, stderr %q", code, errOut)
	}
}
