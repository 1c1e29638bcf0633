package main

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/persona-runner/persona-runner/target/stdio/stdiotest"
)

// everythingCatalog has two personas for server-everything (modules by the default rule:
// echo, get, …).
const everythingCatalog = `personas:
  - name: Ada
    email: ada@everything.example
    archetype: tester
    moduleMix: {get: 0.6, echo: 0.4}
    systemPrompt: You are Ada, who tries every tool of an app once a day.
  - name: Bo
    email: bo@everything.example
    archetype: tester
    moduleMix: {echo: 1}
    systemPrompt: You are Bo, who mostly talks to the app and listens to what it says back.
`

// quoteArgs writes argv as one --mcp-command value.
func quoteArgs(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// TestTargetsCheckStdio: targets check starts the server from --mcp-command and shows what
// personas would see; a program that does not exist is named in one line, exit 3.
func TestTargetsCheckStdio(t *testing.T) {
	t.Parallel()
	argv := stdiotest.ReferenceServer(t, "@modelcontextprotocol/server-everything", "stdio")
	code, out, errOut := run(t, nil, "targets", "check", "--mcp-command", quoteArgs(argv))
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// trigger-sampling-request is listed only to clients that can answer sampling, as personas can.
	for _, want := range []string{"stdio, auth none", "server mcp-servers/everything ", "get-tiny-image", "get   ", "offered", "trigger-sampling-request", "trigger-elicitation-request"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, _, errOut = run(t, nil, "targets", "check", "--mcp-command", "no-such-mcp-server-xyz --stdio")
	if code != 3 || !strings.Contains(errOut, "command not found: no-such-mcp-server-xyz") {
		t.Errorf("missing program: exit %d\n%s", code, errOut)
	}
	// A server that dies at start: its own last words are in the one line.
	code, _, errOut = run(t, nil, "targets", "check", "--mcp-command", `sh -c 'echo "cannot open database kitchen.db" >&2; exit 1'`)
	if code != 3 || !strings.Contains(errOut, "cannot open database kitchen.db") {
		t.Errorf("crashing server: exit %d\n%s", code, errOut)
	}
}

// TestUpOnceStdio: up --once with --mcp-command runs the catalog's personas against
// server-everything over stdio and leaves no server process behind.
func TestUpOnceStdio(t *testing.T) {
	t.Parallel()
	if !stdiotest.Supported() {
		t.Skip("no /proc here: cannot prove that no server process is left")
	}
	mark := "persona-test-" + uuid.NewString()
	argv := stdiotest.ReferenceServer(t, "@modelcontextprotocol/server-everything", "stdio", mark)
	dir := t.TempDir()
	cat := writeFile(t, dir, "personas.yaml", everythingCatalog)
	code, out, errOut := run(t, nil, upArgs(dir, "--mcp-command", quoteArgs(argv), "--catalog", cat)...)
	if code != 0 {
		t.Fatalf("up: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"target app: mcp-servers/everything", "2 runs: 2 ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if err := stdiotest.WaitUnmarked(mark, 5*time.Second); err != nil {
		t.Error(err)
	}
	runs := runsByEmail(t, openStore(t, dbPath(dir)))
	for _, email := range []string{"ada@everything.example", "bo@everything.example"} {
		if ticks := runs[email]; len(ticks) != 1 || ticks[0].Target != flagTargetName || ticks[0].ServerName != "mcp-servers/everything" || ticks[0].ToolCalls == 0 {
			t.Errorf("%s: ticks %+v", email, ticks)
		}
	}
}

// TestSIGTERMEndsStdioServers: the program (as a child process) gets SIGTERM while personas'
// runs are in progress on stdio servers; it stops within its grace period and no server process
// is left behind.
func TestSIGTERMEndsStdioServers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the program as a child process")
	}
	if !stdiotest.Supported() {
		t.Skip("no /proc here: cannot prove that no server process is left")
	}
	mark := "persona-test-" + uuid.NewString()
	argv := stdiotest.ReferenceServer(t, "@modelcontextprotocol/server-everything", "stdio", mark)
	asked := make(chan struct{})
	var once sync.Once
	done := make(chan struct{})
	model := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(asked) })
		select { // never answers: the runs hang on their model with their servers running
		case <-r.Context().Done():
		case <-done:
		}
	}))
	defer model.Close()
	defer close(done)
	dir := t.TempDir()
	cat := writeFile(t, dir, "personas.yaml", everythingCatalog)
	cmd := exec.Command(os.Args[0], "-test.run=^$", "--", "up",
		"--data", dir, "--provider", "openai", "--interval", "1h", "--catalog", cat, "--mcp-command", quoteArgs(argv),
		"--auth-addr", "127.0.0.1:0", "--mcp-addr", "127.0.0.1:0", "--runner-addr", "127.0.0.1:0")
	cmd.Env = []string{
		"PERSONA_RUNNER_TEST_MAIN=1",
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"OPENAI_BASE_URL=" + model.URL + "/v1", "OPENAI_API_KEY=test-key",
		"SHUTDOWN_GRACE=1s", passwordCostEnv + "=4",
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	var (
		mu   sync.Mutex
		seen []string
	)
	exited := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			seen = append(seen, sc.Text())
			mu.Unlock()
		}
		exited <- cmd.Wait()
	}()
	log := func() string { mu.Lock(); defer mu.Unlock(); return strings.Join(seen, "\n") }
	select {
	case <-asked:
	case err := <-exited:
		t.Fatalf("exited before a run reached the model: %v\n%s", err, log())
	case <-time.After(2 * time.Minute):
		t.Fatalf("no persona run reached the model\n%s", log())
	}
	if n := len(stdiotest.Marked(mark)); n < 2 { // the runner and at least one server
		t.Fatalf("no server process running during the run (%d marked)", n)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(time.Minute):
		t.Fatalf("did not stop within a minute of SIGTERM\n%s", log())
	}
	if err := stdiotest.WaitUnmarked(mark, 5*time.Second); err != nil {
		t.Errorf("%v\n%s", err, log())
	}
}
