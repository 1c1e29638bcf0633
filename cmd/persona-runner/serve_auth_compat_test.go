package main

import (
	"net/http"
	"strings"
	"testing"
)

// serve auth --compat mana answers like the original: no claim route, organization/list by
// cookie only; an unknown mode is a usage error naming the flag.
func TestServeAuthCompatMana(t *testing.T) {
	t.Parallel()
	env := map[string]string{"MANA_SERVICE_KEY": "compat-test-service-key-0123456789"}
	line, stop, logs := startServeAuthLine(t, env, "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--compat", "mana")
	if !strings.Contains(line, "compat mana") {
		t.Errorf("first line %q does not say the compat mode", line)
	}
	url := strings.TrimSuffix(strings.SplitN(strings.SplitN(line, "public URL ", 2)[1], ",", 2)[0], ")")
	req, _ := http.NewRequest("POST", url+"/api/v1/internal/personas/claim", strings.NewReader(`{"runnerId":"r","limit":1}`))
	req.Header.Set("X-Service-Key", env["MANA_SERVICE_KEY"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("claim on the compat server: %d, want 404", resp.StatusCode)
	}
	req, _ = http.NewRequest("GET", url+"/api/v1/internal/personas/due", nil)
	req.Header.Set("X-Service-Key", env["MANA_SERVICE_KEY"])
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("due on the compat server: %d, want 200", resp.StatusCode)
	}
	if code := stop(); code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, logs.String())
	}

	code, _, errOut := run(t, env, "serve", "auth", "--addr", "127.0.0.1:0", "--compat", "better-auth")
	if code != 2 || !strings.Contains(errOut, "--compat") {
		t.Errorf("--compat better-auth: exit %d, stderr %q; want 2 naming --compat", code, errOut)
	}
}
