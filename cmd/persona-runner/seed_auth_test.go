package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/persona-runner/persona-runner/authapi"
)

// seed --auth goes through the admin API of a running auth service: the same table, the same
// result as a local seed, and a second run changes nothing.
func TestSeedThroughAuthAPI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"MANA_SERVICE_KEY": testServiceKey}
	if code, _, errOut := run(t, env, "admin", "create", "ops@example.com", "--data", dir, "--password", "ops-password-123"); code != 0 {
		t.Fatalf("admin create: %d %s", code, errOut)
	}
	url, _, _ := startServeAuth(t, env, "--data", dir, "--addr", "127.0.0.1:0")
	code, out, errOut := run(t, env, "admin", "token", "ops@example.com", "--data", dir, "--issuer", url)
	if code != 0 {
		t.Fatalf("admin token: %d %s", code, errOut)
	}
	token := strings.TrimSpace(out)

	// A dry run sends nothing and needs no token.
	code, out, errOut = run(t, env, "seed", "--auth", url, "--dry-run")
	if code != 0 || !strings.Contains(out, "planned") || !strings.Contains(out, "nothing was written") {
		t.Fatalf("dry run: code %d, out %q, stderr %q", code, out, errOut)
	}
	c := authapi.NewClient(url, nil)
	c.AdminToken = token
	if list, err := c.ListPersonas(context.Background()); err != nil || len(list) != 0 {
		t.Fatalf("after the dry run: %d personas, %v; want none", len(list), err)
	}

	// Without a token a real seed is refused before anything is sent.
	code, _, errOut = run(t, env, "seed", "--auth", url)
	if code != 2 || !strings.Contains(errOut, "--jwt") {
		t.Fatalf("no token: code %d, stderr %q", code, errOut)
	}
	// --auth with --data is a contradiction.
	code, _, errOut = run(t, env, "seed", "--auth", url, "--jwt", token, "--data", dir)
	if code != 2 || !strings.Contains(errOut, "cannot be combined") {
		t.Fatalf("--auth with --data: code %d, stderr %q", code, errOut)
	}

	code, out, errOut = run(t, env, "seed", "--auth", url, "--jwt", token)
	if code != 0 || !strings.Contains(out, "created 12, updated 0, unchanged 0") {
		t.Fatalf("seed --auth: code %d, out %q, stderr %q", code, out, errOut)
	}
	if list, err := c.ListPersonas(context.Background()); err != nil || len(list) != 10 {
		t.Fatalf("after seed: %d personas, %v; want 10", len(list), err)
	}
	code, out, _ = run(t, map[string]string{"ADMIN_JWT": token}, "seed", "--auth", url)
	if code != 0 || !regexp.MustCompile(`created 0, updated 0, unchanged 12`).MatchString(out) {
		t.Fatalf("second seed --auth (token from ADMIN_JWT): code %d, out %q", code, out)
	}
}
