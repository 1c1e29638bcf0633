package main

import (
	"bufio"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run this test binary as the real program (main, signals and all): with
// PERSONA_RUNNER_TEST_MAIN=1 it is persona-runner, with its arguments after "--".
func TestMain(m *testing.M) {
	if os.Getenv("PERSONA_RUNNER_TEST_MAIN") == "1" {
		for i, a := range os.Args {
			if a == "--" {
				os.Args = append([]string{os.Args[0]}, os.Args[i+1:]...)
				break
			}
		}
		main()
		return
	}
	os.Exit(m.Run())
}

// TestSecondSignalExitsAtOnce: the first Ctrl-C starts a graceful stop that waits for running
// personas (here: a model that never answers, an hour of grace); the second one ends the process
// at once.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the program as a child process")
	}
	asked := make(chan struct{})
	var once sync.Once
	done := make(chan struct{})
	model := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(asked) })
		select { // never answers: the persona's run hangs on its model
		case <-r.Context().Done():
		case <-done:
		}
	}))
	defer model.Close()
	defer close(done)

	cmd := exec.Command(os.Args[0], "-test.run=^$", "--", "up",
		"--data", t.TempDir(), "--provider", "openai", "--interval", "1h",
		"--auth-addr", "127.0.0.1:0", "--mcp-addr", "127.0.0.1:0", "--runner-addr", "127.0.0.1:0")
	cmd.Env = []string{
		"PERSONA_RUNNER_TEST_MAIN=1",
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"OPENAI_BASE_URL=" + model.URL + "/v1", "OPENAI_API_KEY=test-key",
		"SHUTDOWN_GRACE=1h", passwordCostEnv + "=4",
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	defer func() { _ = cmd.Process.Kill() }()

	select {
	case <-asked:
	case <-time.After(2 * time.Minute):
		t.Fatal("no persona run reached the model")
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var seen []string
	timeout := time.After(time.Minute)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				break wait
			}
			seen = append(seen, l)
			if strings.Contains(l, "signal again to exit at once") {
				break wait
			}
		case <-timeout:
			break wait
		}
	}
	if len(seen) == 0 || !strings.Contains(seen[len(seen)-1], "signal again") {
		t.Fatalf("the first signal did not start a graceful stop; stderr:\n%s", strings.Join(seen, "\n"))
	}
	select {
	case err := <-exited:
		t.Fatalf("exited on the first signal while a run was still going (%v); stderr:\n%s", err, strings.Join(seen, "\n"))
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range lines { // keep the pipe drained
		}
	}()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("after the second signal: %v, want the process ended by SIGINT", err)
		}
		ws, ok := ee.Sys().(syscall.WaitStatus)
		if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
			t.Fatalf("after the second signal: %v, want the process ended by SIGINT", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the second signal did not end the process")
	}
}
