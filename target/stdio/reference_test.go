package stdio_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/persona-runner/persona-runner/target/stdio"
	"github.com/persona-runner/persona-runner/target/stdio/stdiotest"
)

// connectReference starts a reference server from npm over stdio and connects to it.
func connectReference(t *testing.T, argv []string, env map[string]string) (*stdio.Process, *mcp.ClientSession) {
	t.Helper()
	p, err := stdio.New(context.Background(), stdio.Command{Argv: argv, Env: env, Grace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "persona-runner-test", Version: "1"}, nil).Connect(ctx, p, nil)
	if err != nil {
		t.Fatalf("connect %v: %v (stderr: %s)", argv, err, p.Stderr())
	}
	t.Cleanup(func() { cs.Close() })
	return p, cs
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	var names []string
	for tool, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatalf("list tools: %v", err)
		}
		names = append(names, tool.Name)
	}
	return names
}

func TestServerEverythingOverStdio(t *testing.T) {
	needProc(t)
	p, cs := connectReference(t, stdiotest.ReferenceServer(t, "@modelcontextprotocol/server-everything", "stdio"), nil)
	if got := cs.InitializeResult().ServerInfo.Name; got == "" {
		t.Error("no server name in initialize")
	}
	names := toolNames(t, cs)
	for _, want := range []string{"echo", "get-sum", "get-tiny-image"} {
		if !slices.Contains(names, want) {
			t.Errorf("tool %s not listed: %v", want, names)
		}
	}
	if got := call(t, cs, "echo", map[string]any{"message": "hello"}); !strings.Contains(got, "hello") {
		t.Errorf("echo = %q", got)
	}
	pgid := p.Pid()
	if err := cs.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if left := stdiotest.Group(pgid); len(left) > 0 {
		t.Errorf("server-everything left processes behind: %v", left)
	}
	if !strings.Contains(p.Stderr(), "Starting default (STDIO) server") {
		t.Errorf("server's stderr not kept: %q", p.Stderr())
	}
}

func TestServerMemoryOverStdio(t *testing.T) {
	needProc(t)
	p, cs := connectReference(t, stdiotest.ReferenceServer(t, "@modelcontextprotocol/server-memory"),
		map[string]string{"MEMORY_FILE_PATH": filepath.Join(t.TempDir(), "memory.jsonl")})
	names := toolNames(t, cs)
	if !slices.Contains(names, "create_entities") || !slices.Contains(names, "read_graph") {
		t.Fatalf("memory tools not listed: %v", names)
	}
	pgid := p.Pid()
	cs.Close()
	if left := stdiotest.Group(pgid); len(left) > 0 {
		t.Errorf("server-memory left processes behind: %v", left)
	}
}
