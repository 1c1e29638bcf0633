package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/sqlite"
)

// TestKilledRunIsAbandonedAndRunsAgain is issue 13.2: the real program is killed with SIGKILL
// while its personas are mid-run (their model never answers). The runs it left are `running` in
// the store; the next start under the same RUNNER_ID marks them abandoned, naming the runner,
// and runs each of those personas once more.
func TestKilledRunIsAbandonedAndRunsAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the program as a child process")
	}
	asked := make(chan struct{})
	var once sync.Once
	done := make(chan struct{})
	model := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(asked) })
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	defer model.Close()
	defer close(done)

	data := t.TempDir()
	env := []string{
		"PERSONA_RUNNER_TEST_MAIN=1", "PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"RUNNER_ID=kill-test", passwordCostEnv + "=4",
	}
	addrs := []string{"--auth-addr", "127.0.0.1:0", "--mcp-addr", "127.0.0.1:0", "--runner-addr", "127.0.0.1:0"}
	first := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--", "up", "--data", data, "--provider", "openai", "--interval", "1h"}, addrs...)...)
	first.Env = append(env, "OPENAI_BASE_URL="+model.URL+"/v1", "OPENAI_API_KEY=test-key")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = first.Process.Kill() }()
	select {
	case <-asked:
	case <-time.After(2 * time.Minute):
		t.Fatal("no persona run reached the model")
	}
	if err := first.Process.Kill(); err != nil { // SIGKILL: nothing gets written on the way out
		t.Fatal(err)
	}
	_ = first.Wait()

	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(data, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	left, err := db.Ticks(ctx, persona.TickQuery{Status: persona.TickRunning})
	db.Close()
	if err != nil || len(left) == 0 {
		t.Fatalf("running records after kill -9: %v, %v; want the runs in progress", left, err)
	}

	second := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--", "up", "--data", data, "--provider", "sim", "--once"}, addrs...)...)
	second.Env = env
	if out, err := second.CombinedOutput(); err != nil {
		t.Fatalf("second start: %v\n%s", err, out)
	}
	db, err = sqlite.Open(ctx, filepath.Join(data, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, lost := range left {
		tk, err := db.Tick(ctx, lost.TickID)
		if err != nil {
			t.Fatal(err)
		}
		if tk.Status != persona.TickAbandoned || !strings.Contains(tk.Error, "kill-test") {
			t.Errorf("run %s after restart: %s %q; want abandoned naming runner kill-test", lost.TickID, tk.Status, tk.Error)
		}
		all, err := db.Ticks(ctx, persona.TickQuery{PersonaID: lost.PersonaID})
		if err != nil {
			t.Fatal(err)
		}
		reruns := 0
		for _, x := range all {
			if x.TickID != lost.TickID {
				reruns++
				if !x.Status.Completed() {
					t.Errorf("re-run of %s: %s %q", lost.PersonaID, x.Status, x.Error)
				}
			}
		}
		if reruns != 1 {
			t.Errorf("persona %s ran %d times after the restart, want once", lost.PersonaID, reruns)
		}
	}
}
