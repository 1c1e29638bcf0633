package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestBinaryLinksNoTestCode: test helpers live in test-only packages (pgtest, stdiotest, fake),
// so the binary never links package testing (issue 12.7).
func TestBinaryLinksNoTestCode(t *testing.T) {
	t.Parallel()
	// go test puts its own toolchain first on PATH.
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed %d packages: %q", len(deps), deps)
	}
	for _, bad := range []string{"testing", "net/http/httptest", "testing/synctest"} {
		if slices.Contains(deps, bad) {
			t.Errorf("the binary links %s", bad)
		}
	}
}
