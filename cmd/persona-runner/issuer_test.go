package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

// TestServeRunnerNamesIssuerMismatch: the split deployment of issue 13.14 — `serve auth` on
// 127.0.0.1 with its default public URL http://localhost:PORT (the iss of its tokens) and
// `serve mcp` trusting http://127.0.0.1:PORT — used to fail every run with a bare Unauthorized.
// `serve runner` now logs in a due persona at start, and refuses to start (exit 3) naming the
// token's iss and the issuer the app expects; the app logs the rejected token at WARN.
func TestServeRunnerNamesIssuerMismatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const secret = "issuer-test-seed-secret-0123456789"
	email := "persona.iss@mana.test"
	password, err := persona.DerivePassword(secret, email)
	if err != nil {
		t.Fatal(err)
	}
	seedPersona(t, dbPath(dir), email, password)
	authURL, _, _ := startServeAuth(t, map[string]string{"MANA_SERVICE_KEY": testServiceKey}, "--data", dir, "--addr", "127.0.0.1:0")
	if !strings.HasPrefix(authURL, "http://localhost:") {
		t.Fatalf("default public URL %q", authURL)
	}
	trusted := strings.Replace(authURL, "localhost", "127.0.0.1", 1)
	mcpURL, mcpLogs := startServeMCPLogs(t, "--data", dir, "--addr", "127.0.0.1:0", "--auth-url", trusted)

	env := map[string]string{"MANA_AUTH_URL": trusted, "MANA_MCP_URL": mcpURL + "/mcp", "MANA_SERVICE_KEY": testServiceKey,
		"PERSONA_SEED_SECRET": secret, "MODEL_PROVIDER": "sim"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := Run(ctx, []string{"serve", "runner", "--addr", "127.0.0.1:0"}, &out, &errb, testEnv(env))
	want := `the token's iss is "` + authURL + `", this service expects "` + trusted + `"`
	if code != 3 || !strings.Contains(errb.String(), "401 Unauthorized") || !strings.Contains(errb.String(), want) {
		t.Fatalf("serve runner: exit %d, want 3 naming %s\nstdout:\n%s\nstderr:\n%s", code, want, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), `the persona's JWT has iss "`+authURL+`" and aud "mana"`) {
		t.Errorf("the runner's side of the mismatch is missing:\n%s", errb.String())
	}
	// targets check, with no catalog, connects as a due persona the auth API lists: the same line.
	code, _, errOut := run(t, env, "targets", "check")
	if code != 3 || !strings.Contains(errOut, "target demo: the server refused the credentials: 401 Unauthorized") || !strings.Contains(errOut, want) {
		t.Errorf("targets check: exit %d\n%s", code, errOut)
	}
	if logs := mcpLogs.String(); !strings.Contains(logs, "rejected access token") || !strings.Contains(logs, "WARN") ||
		!strings.Contains(logs, `the token's iss is \"`+authURL+`\", this service expects \"`+trusted+`\"`) {
		t.Errorf("serve mcp did not log the rejected token at WARN:\n%s", logs)
	}
}

// TestServeRunnerRefusesWithoutAuthAPI: the other half of issue 13.14 — with the auth API not
// listening, serve runner does not start and idle with every tick failing: it exits 3 naming the
// auth API's address.
func TestServeRunnerRefusesWithoutAuthAPI(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more
	env := map[string]string{"MANA_AUTH_URL": closed, "MANA_MCP_URL": closed + "/mcp", "MANA_SERVICE_KEY": testServiceKey,
		"MODEL_PROVIDER": "sim"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := Run(ctx, []string{"serve", "runner", "--addr", "127.0.0.1:0"}, &out, &errb, testEnv(env))
	if code != 3 || !strings.Contains(errb.String(), ln.Addr().String()) {
		t.Fatalf("serve runner without an auth API: exit %d, want 3 naming %s\nstdout:\n%s\nstderr:\n%s", code, ln.Addr(), out.String(), errb.String())
	}
	if strings.Contains(out.String(), "listening") {
		t.Errorf("serve runner started listening without an auth API:\n%s", out.String())
	}
}
