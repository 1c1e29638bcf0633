package stdio_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/persona-runner/persona-runner/target/stdio"
	"github.com/persona-runner/persona-runner/target/stdio/stdiotest"
)

// The test binary doubles as the MCP server under test: started with STDIO_TEST_SERVER set, it
// serves over stdin/stdout instead of running tests (see serve).
func TestMain(m *testing.M) {
	if mode := os.Getenv("STDIO_TEST_SERVER"); mode != "" {
		serve(mode)
		return
	}
	os.Exit(m.Run())
}

type empty struct{}

// serve is the helper server. Its tools: env (the environment it got, one variable a line),
// spawn (starts a grandchild, `sleep 300`, and returns its pid), noise (writes n bytes to
// stderr). In mode "stubborn" it ignores SIGTERM and keeps running when its stdin closes, so
// only SIGKILL ends it.
func serve(mode string) {
	fmt.Fprintln(os.Stderr, "helper server starting")
	if mode == "stubborn" {
		signal.Ignore(syscall.SIGTERM)
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "stdio-helper", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "env"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ empty) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Join(os.Environ(), "\n")}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "spawn"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ empty) (*mcp.CallToolResult, any, error) {
		c := exec.Command("sleep", "300")
		if err := c.Start(); err != nil {
			return nil, nil, err
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strconv.Itoa(c.Process.Pid)}}}, nil, nil
	})
	type noiseIn struct {
		Bytes int `json:"bytes"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "noise"}, func(ctx context.Context, _ *mcp.CallToolRequest, in noiseIn) (*mcp.CallToolResult, any, error) {
		line := strings.Repeat("x", 99) + "\n"
		for n := 0; n < in.Bytes; n += len(line) {
			os.Stderr.WriteString(line)
		}
		os.Stderr.WriteString("the last line\n")
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
	})
	_ = s.Run(context.Background(), &mcp.StdioTransport{})
	if mode == "stubborn" {
		select {} // stdin closed; stay until killed
	}
}

func needProc(t *testing.T) {
	t.Helper()
	if !stdiotest.Supported() {
		t.Skip("process inspection needs /proc (Linux)")
	}
}

type setup struct {
	proc *stdio.Process
	cs   *mcp.ClientSession
}

func start(t *testing.T, life context.Context, mode string, env map[string]string) setup {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]string{"STDIO_TEST_SERVER": mode}
	for k, v := range env {
		all[k] = v
	}
	p, err := stdio.New(life, stdio.Command{Argv: []string{self}, Env: all, Grace: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, p, nil)
	if err != nil {
		t.Fatalf("connect: %v (stderr: %s)", err, p.Stderr())
	}
	t.Cleanup(func() { cs.Close() })
	return setup{p, cs}
}

func call(t *testing.T, cs *mcp.ClientSession, name string, args any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	if res.IsError {
		t.Fatalf("call %s: tool error %v", name, res.Content)
	}
	return res.Content[0].(*mcp.TextContent).Text
}

func TestEnvironmentIsOnlyWhatTheTargetLists(t *testing.T) {
	t.Setenv("PERSONA_TEST_SECRET", "must-not-leak")
	t.Setenv("PATH", os.Getenv("PATH"))
	s := start(t, context.Background(), "serve", map[string]string{"KITCHEN_TOKEN": "abc", "PATH": "/usr/bin:/bin"})
	got := map[string]string{}
	for _, line := range strings.Split(call(t, s.cs, "env", nil), "\n") {
		k, v, _ := strings.Cut(line, "=")
		got[k] = v
	}
	if _, ok := got["PERSONA_TEST_SECRET"]; ok {
		t.Error("a variable of the runner that the target does not list reached the server")
	}
	if got["KITCHEN_TOKEN"] != "abc" || got["STDIO_TEST_SERVER"] != "serve" {
		t.Errorf("listed variables missing: %v", got)
	}
	if got["PATH"] != "/usr/bin:/bin" {
		t.Errorf("PATH = %q, want the target's own value", got["PATH"])
	}
	allowed := map[string]bool{"KITCHEN_TOKEN": true, "STDIO_TEST_SERVER": true}
	for _, k := range stdio.BaseEnv {
		allowed[k] = true
	}
	for k := range got {
		if !allowed[k] {
			t.Errorf("server got %s, which is neither listed nor a base variable", k)
		}
	}
}

func TestCloseEndsTheWholeProcessGroup(t *testing.T) {
	needProc(t)
	s := start(t, context.Background(), "serve", nil)
	grandchild, _ := strconv.Atoi(call(t, s.cs, "spawn", nil))
	pgid := s.proc.Pid()
	if !stdiotest.Alive(grandchild) || len(stdiotest.Group(pgid)) < 2 {
		t.Fatalf("setup: grandchild %d alive=%v, group %v", grandchild, stdiotest.Alive(grandchild), stdiotest.Group(pgid))
	}
	if err := s.cs.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if left := stdiotest.Group(pgid); len(left) > 0 {
		t.Errorf("processes of the server's group left after Close: %v", left)
	}
	if stdiotest.Alive(grandchild) {
		t.Errorf("the server's child %d outlived Close", grandchild)
	}
	if !strings.Contains(s.proc.Stderr(), "helper server starting") {
		t.Errorf("stderr not kept: %q", s.proc.Stderr())
	}
}

func TestStubbornServerIsKilled(t *testing.T) {
	needProc(t)
	s := start(t, context.Background(), "stubborn", nil)
	pgid := s.proc.Pid()
	s.cs.Close()
	if left := stdiotest.Group(pgid); len(left) > 0 {
		t.Errorf("a server that ignores SIGTERM and stdin's end survived Close: %v", left)
	}
}

func TestLifeEndKillsWithoutClose(t *testing.T) {
	needProc(t)
	life, cancel := context.WithCancel(context.Background())
	s := start(t, life, "stubborn", nil)
	grandchild, _ := strconv.Atoi(call(t, s.cs, "spawn", nil))
	pgid := s.proc.Pid()
	cancel() // the run deadline or the runner's shutdown
	if err := stdiotest.WaitGone(pgid, 10*time.Second); err != nil {
		t.Error(err)
	}
	if stdiotest.Alive(grandchild) {
		t.Errorf("the server's child %d outlived the run", grandchild)
	}
	ctx, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if _, err := s.cs.CallTool(ctx, &mcp.CallToolParams{Name: "env"}); err == nil {
		t.Error("a call after the run ended succeeded")
	}
}

func TestStderrIsCapped(t *testing.T) {
	s := start(t, context.Background(), "serve", nil)
	call(t, s.cs, "noise", map[string]any{"bytes": 300 << 10})
	s.cs.Close()
	got := s.proc.Stderr()
	if len(got) > stdio.StderrLimit+200 {
		t.Errorf("stderr kept %d bytes, limit %d", len(got), stdio.StderrLimit)
	}
	for _, want := range []string{"helper server starting", "bytes of stderr left out", "the last line"} {
		if !strings.Contains(got, want) {
			t.Errorf("stderr lacks %q (head and tail are kept)", want)
		}
	}
}

func TestCommandNotFound(t *testing.T) {
	p, err := stdio.New(context.Background(), stdio.Command{Argv: []string{"persona-runner-no-such-server"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(context.Background(), p, nil)
	if !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("err = %v, want exec.ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), "persona-runner-no-such-server") {
		t.Errorf("error does not name the program: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []stdio.Command{{}, {Argv: []string{" "}}, {Argv: []string{"x"}, Env: map[string]string{"A=B": "1"}}} {
		if _, err := stdio.New(context.Background(), c); err == nil {
			t.Errorf("New(%+v) = nil error", c)
		}
	}
}
