package runner_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRunnerSpeaksNoHTTPToItsCollaborators: the runner's core imports no auth API client or
// server, no store, no auth strategy and no transport of a target (issue 12.6, SPEC §10): those
// are adapters behind its Persistence and Targets interfaces, wired by cmd; nor the
// environment-facing config (issue 12.6: it takes a runner.Config of its own). Only the target
// package itself (the Targets seam's types) and its ask helpers may be imported.
func TestRunnerSpeaksNoHTTPToItsCollaborators(t *testing.T) {
	t.Parallel()
	// go test puts its own toolchain first on PATH.
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const mod = "github.com/persona-runner/persona-runner/"
	allowedTarget := map[string]bool{mod + "target": true, mod + "target/ask": true}
	var ours []string
	for _, pkg := range strings.Fields(string(out)) {
		if !strings.HasPrefix(pkg, mod) {
			continue
		}
		ours = append(ours, strings.TrimPrefix(pkg, mod))
		rel := strings.TrimPrefix(pkg, mod)
		// config is the environment-facing configuration: the runner takes a runner.Config.
		for _, banned := range []string{"authapi", "jwtauth", "store", "app", "web", "cmd", "config", "model/anthropic", "model/openai"} {
			if rel == banned || strings.HasPrefix(rel, banned+"/") {
				t.Errorf("the runner depends on %s", rel)
			}
		}
		if strings.HasPrefix(rel, "target/") && !allowedTarget[pkg] {
			t.Errorf("the runner depends on the target adapter %s", rel)
		}
	}
	if len(ours) < 3 || ours[len(ours)-1] != "runner" {
		t.Fatalf("go list -deps listed %v; want the runner and its dependencies", ours)
	}
}
