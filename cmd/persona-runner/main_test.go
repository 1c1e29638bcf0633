package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// passwordCostEnv names the variable of the bcrypt cost of the password hashes.
const passwordCostEnv = "PERSONA_PASSWORD_COST"

// testEnv is the environment env describes, plus the cheapest bcrypt cost unless env sets one or
// says production (which refuses it): the tests seed many personas, and the cost changes nothing
// they check.
func testEnv(env map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := env[k]; ok || k != passwordCostEnv || env["APP_ENV"] == "production" || env["NODE_ENV"] == "production" {
			return v
		}
		return "4"
	}
}

// run runs the CLI in-process and returns its exit status and output.
func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, &out, &errb, testEnv(env))
	return code, out.String(), errb.String()
}

// runStopped is run with a context that has already ended: a server command that wrongly starts
// shuts down at once (exit 0) instead of serving until the test times out.
func runStopped(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	code := Run(ctx, args, &out, &errb, testEnv(env))
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	t.Parallel()
	code, out, _ := run(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "persona-runner ") {
		t.Fatalf("version: code %d, out %q", code, out)
	}
}

func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	code, _, errOut := run(t, nil, "frobnicate")
	if code != 2 || !strings.Contains(errOut, "frobnicate") {
		t.Fatalf("unknown command: code %d, stderr %q", code, errOut)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	code, out, _ := run(t, nil, "--help")
	if code != 0 || !strings.Contains(out, "version") {
		t.Fatalf("--help: code %d, out %q", code, out)
	}
}

// TestExitCodeNoStrayMessage checks that a command ending with its own status (here config with
// an invalid setting) prints its problem once and not also Go's "exit status 1".
func TestExitCodeNoStrayMessage(t *testing.T) {
	t.Parallel()
	code, _, errOut := run(t, map[string]string{"PERSONA_CONCURRENCY": "0"}, "config")
	if code != 2 || !strings.Contains(errOut, "PERSONA_CONCURRENCY") {
		t.Fatalf("config with PERSONA_CONCURRENCY=0: code %d, stderr %q", code, errOut)
	}
	if strings.Contains(errOut, "exit status") {
		t.Fatalf("stderr has a stray exit status line: %q", errOut)
	}
}

// TestRunnerFlagBounds checks that --concurrency and --interval refuse values out of range —
// an explicit 0 included, which used to fall back to the default silently — naming the flag.
func TestRunnerFlagBounds(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"config", "--concurrency", "0"},
		{"config", "--concurrency", "1025"},
		{"config", "--interval", "0s"},
		{"config", "--interval", "25h"},
		{"up", "--once", "--auth-addr", "127.0.0.1:0", "--mcp-addr", "127.0.0.1:0", "--runner-addr", "127.0.0.1:0", "--data", t.TempDir(), "--concurrency", "0"},
	} {
		flag := args[len(args)-2]
		code, _, errOut := run(t, nil, args...)
		if code != 2 || !strings.Contains(errOut, flag+":") {
			t.Errorf("%v: code %d, stderr %q (want status 2 and a message naming %s)", args, code, errOut, flag)
		}
	}
	code, out, errOut := run(t, nil, "config", "--concurrency", "1024", "--interval", "24h")
	if code != 0 || !strings.Contains(out, "concurrency: 1024") || !strings.Contains(out, "tickInterval: 24h0m0s") {
		t.Errorf("limits themselves: code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func ptr[T any](v T) *T { return &v }

// TestNoArgumentsPrintsUsage: the bare binary prints its usage (exit 2, a usage error), and
// `help CMD` is CMD --help.
func TestNoArgumentsPrintsUsage(t *testing.T) {
	t.Parallel()
	code, out, _ := run(t, nil)
	if code != 2 || !strings.Contains(out, "Usage: persona-runner") || !strings.Contains(out, "report") {
		t.Fatalf("no arguments: code %d, out %q", code, out)
	}
	code, out, _ = run(t, nil, "help", "serve", "auth")
	if code != 0 || !strings.Contains(out, "Usage: persona-runner serve auth") {
		t.Fatalf("help serve auth: code %d, out %q", code, out)
	}
	code, out, _ = run(t, nil, "help")
	if code != 0 || !strings.Contains(out, "Usage: persona-runner") {
		t.Fatalf("help: code %d, out %q", code, out)
	}
}

// TestAdminCreateRefusesShortPassword: an operator's chosen password has at least 12
// characters; a shorter one is a usage error (2) and creates nothing.
func TestAdminCreateRefusesShortPassword(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, out, errOut := run(t, nil, "admin", "create", "ops@example.com", "--data", dir, "--password", "short-pw-11")
	if code != 2 || !strings.Contains(errOut, "--password") || !strings.Contains(errOut, "12") {
		t.Fatalf("admin create with an 11-character password: code %d, out %q, stderr %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "persona-runner.db")); !os.IsNotExist(err) {
		t.Errorf("a refused admin create opened (created) the store")
	}
}

// TestLogFormat: --log-format picks the services' log lines; anything else is a usage error.
func TestLogFormat(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	for format, want := range map[string]string{"json": `{"time":`, "text": "time=", "auto": `{"time":`} {
		buf.Reset()
		env := &Env{Stderr: &buf, LogFormat: format}
		env.Logger(slog.LevelInfo).Info("hello", "k", "v")
		if !strings.HasPrefix(buf.String(), want) {
			t.Errorf("--log-format %s (not a terminal): %q; want it to start with %q", format, buf.String(), want)
		}
	}
	code, _, errOut := run(t, nil, "--log-format", "xml", "version")
	if code != 2 || !strings.Contains(errOut, "--log-format") {
		t.Errorf("--log-format xml: code %d, stderr %q", code, errOut)
	}
}
