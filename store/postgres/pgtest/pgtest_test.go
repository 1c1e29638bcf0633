package pgtest_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/persona-runner/persona-runner/store/postgres/pgtest"
)

// recorder is a testing.TB that records how a helper ended the test.
type recorder struct {
	testing.TB
	mu      sync.Mutex
	skipped string
	failed  string
}

func (r *recorder) Helper() {}

func (r *recorder) Skipf(format string, args ...any) {
	r.mu.Lock()
	r.skipped = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	panic(r)
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.failed = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	panic(r)
}

// end runs DSN on the recorder and returns how it ended the test.
func end(t *testing.T) (skipped, failed string) {
	r := &recorder{TB: t}
	func() {
		defer func() {
			if v := recover(); v != nil && v != r {
				panic(v)
			}
		}()
		pgtest.DSN(r)
	}()
	return r.skipped, r.failed
}

// TestMissingServerFailsUnderCI: without PERSONA_TEST_POSTGRES_URL the PostgreSQL tests skip on a
// laptop but fail under CI, so CI cannot pass with the store tests of one dialect skipped.
func TestMissingServerFailsUnderCI(t *testing.T) {
	t.Setenv(pgtest.URLEnv, "")
	t.Setenv("CI", "")
	if skipped, failed := end(t); skipped == "" || failed != "" {
		t.Errorf("without CI: skipped %q, failed %q; want a skip", skipped, failed)
	}
	t.Setenv("CI", "true")
	skipped, failed := end(t)
	if skipped != "" || !strings.Contains(failed, pgtest.URLEnv) {
		t.Errorf("under CI: skipped %q, failed %q; want a failure naming %s", skipped, failed, pgtest.URLEnv)
	}
}
