package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestBinaryLinksNoTestCode: test helpers live in test-only packages (pgtest, stdiotest, fake),
// so the binary never links package testing (issue 12.7).
func TestBinaryLinksNoTestCode(t *testing.T) {
	t.Parallel()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
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
