package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/persona-runner/persona-runner/authapi"
)

// Issue 16.6: Mana's catalog.json, $schema, descriptions and its own modules included, seeds as
// it is into a running Mana-compatible auth service; the demo app's local store refuses modules
// its tools do not offer, naming them.
func TestSeedManaCatalogThroughCompatAuth(t *testing.T) {
	t.Parallel()
	cat, err := filepath.Abs("../../catalog/testdata/mana-catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := map[string]string{"MANA_SERVICE_KEY": testServiceKey}
	if code, _, errOut := run(t, env, "admin", "create", "ops@example.com", "--data", dir, "--password", "ops-password-123"); code != 0 {
		t.Fatalf("admin create: %d %s", code, errOut)
	}
	url, _, _ := startServeAuth(t, env, "--data", dir, "--addr", "127.0.0.1:0", "--compat", "mana")
	code, out, errOut := run(t, env, "admin", "token", "ops@example.com", "--data", dir, "--issuer", url)
	if code != 0 {
		t.Fatalf("admin token: %d %s", code, errOut)
	}
	token := strings.TrimSpace(out)
	code, out, errOut = run(t, env, "seed", "--auth", url, "--jwt", token, "--catalog", cat)
	if code != 0 {
		t.Fatalf("seed Mana's catalog.json: %d\n%s\n%s", code, out, errOut)
	}
	c := authapi.NewClient(url, nil)
	c.AdminToken = token
	list, err := c.ListPersonas(context.Background())
	if err != nil || len(list) != 2 {
		t.Fatalf("after the seed: %+v %v; want 2 personas", list, err)
	}

	code, _, errOut = run(t, env, "seed", "--data", t.TempDir(), "--catalog", cat)
	if code == 0 || !strings.Contains(errOut, `"articles"`) {
		t.Errorf("local seed for the demo app: code %d, stderr %q; want a refusal naming articles", code, errOut)
	}
}
