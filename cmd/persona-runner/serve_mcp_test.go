package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/persona-runner/persona-runner/app"
	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/persona"
)

// startServeMCP runs `serve mcp` in the background and returns its base URL once it listens; stop
// cancels it and returns its exit status.
func startServeMCP(t *testing.T, args ...string) (url string, stop func() int) {
	t.Helper()
	url, stop, _ = startServeMCPWithLogs(t, args...)
	return url, stop
}

// startServeMCPLogs is startServeMCP that also returns the server's log.
func startServeMCPLogs(t *testing.T, args ...string) (url string, logs *lockedBuffer) {
	t.Helper()
	url, _, logs = startServeMCPWithLogs(t, args...)
	return url, logs
}

func startServeMCPWithLogs(t *testing.T, args ...string) (url string, stop func() int, logs *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	logs = &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		code := Run(ctx, append([]string{"serve", "mcp"}, args...), pw, logs, testEnv(nil))
		pw.Close()
		done <- code
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("serve mcp did not start: %v; stderr:\n%s", err, logs.String())
	}
	go io.Copy(io.Discard, pr)
	m := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(line)
	if m == nil {
		cancel()
		t.Fatalf("unexpected first line %q", line)
	}
	stopped := false
	var code int
	stop = func() int {
		if !stopped {
			cancel()
			code = <-done
			stopped = true
		}
		return code
	}
	t.Cleanup(func() { stop() })
	return "http://" + m[1], stop, logs
}

// seedPersona creates a persona with a todo module in the store at dsn and returns the id of its
// personal space.
func seedPersona(t *testing.T, dsn, email, password string) string {
	t.Helper()
	ctx := context.Background()
	db := openStore(t, dsn)
	userID, _, err := db.UpsertPersona(ctx, persona.PersonaInput{Email: email, Name: "Tester", Password: password,
		Archetype: "tester", SystemPrompt: "You are a careful tester who tries every feature once.", ModuleMix: persona.ModuleMix{"todo": 1}})
	if err != nil {
		t.Fatal(err)
	}
	spaces, err := db.SpacesOfUser(ctx, userID)
	if err != nil || len(spaces) == 0 {
		t.Fatalf("spaces of %s: %v %v", email, spaces, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return spaces[0].ID
}

// connectAs logs the persona in at the auth API and connects a standard MCP client to serve mcp
// with its access token, in space.
func connectAs(t *testing.T, ctx context.Context, authURL, mcpURL, email, password, space string) *mcp.ClientSession {
	t.Helper()
	login, err := authapi.NewClient(authURL, nil).Login(ctx, email, password)
	if err != nil || login.AccessToken == "" {
		t.Fatalf("login: %+v, %v", login, err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "serve-mcp-test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: mcpURL + "/mcp",
		HTTPClient: &http.Client{Transport: bearer{login.AccessToken, space}}}, nil)
	if err != nil {
		t.Fatalf("connect to %s: %v", mcpURL, err)
	}
	return cs
}

// bearer adds a persona's token and space to every request of the MCP client.
type bearer struct{ token, space string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	r.Header.Set(app.SpaceHeader, b.space)
	return http.DefaultTransport.RoundTrip(r)
}

// TestServeMCPWithAuthAPI is the split topology end to end: a persona logs in to `serve auth`,
// and a standard MCP client with its access token lists the tools of `serve mcp` and creates,
// lists and completes a todo in the persona's personal space.
func TestServeMCPWithAuthAPI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const email, password = "persona.anna@mana.test", "anna-password-1"
	personal := seedPersona(t, filepath.Join(dir, dbFile), email, password)

	authURL, stopAuth, _ := startServeAuth(t, map[string]string{"MANA_SERVICE_KEY": testServiceKey}, "--data", dir, "--addr", "127.0.0.1:0")
	mcpURL, stopMCP := startServeMCP(t, "--data", dir, "--addr", "127.0.0.1:0", "--auth-url", authURL)

	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs := connectAs(t, cctx, authURL, mcpURL, email, password, personal)
	tools, err := cs.ListTools(cctx, nil)
	if err != nil || len(tools.Tools) != len(app.Tools()) {
		t.Fatalf("list tools: %d tools, %v; want %d", len(tools.Tools), err, len(app.Tools()))
	}
	call := func(name string, args map[string]any) map[string]any {
		t.Helper()
		res, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil || res.IsError {
			t.Fatalf("%s: %v %+v", name, err, res)
		}
		var out map[string]any
		if err := json.Unmarshal([]byte(res.Content[0].(*mcp.TextContent).Text), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	todo := call("todo.create", map[string]any{"title": "Write the essay"})["todo"].(map[string]any)
	if got := call("todo.list", nil)["count"]; got != 1.0 {
		t.Errorf("todo.list: %v todos, want 1", got)
	}
	if done := call("todo.complete", map[string]any{"id": todo["id"]})["todo"].(map[string]any)["done"]; done != true {
		t.Errorf("todo.complete: done = %v", done)
	}
	if got := call("todo.list", map[string]any{"status": "done"})["count"]; got != 1.0 {
		t.Errorf("done todos: %v, want 1", got)
	}
	_ = cs.Close()

	if code := stopMCP(); code != 0 {
		t.Errorf("serve mcp exited %d", code)
	}
	if code := stopAuth(); code != 0 {
		t.Errorf("serve auth exited %d", code)
	}
}

func TestServeMCPRefusesBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--rate-limit", "0"},
		{"--session-idle", "0s"},
		{"--max-sessions-per-user", "0"},
		{"--max-sessions", "8"},
		{"--read-timeout", "0s"},
		{"--max-conns", "0"},
		{"--auth-url", "localhost:3001"},
	} {
		var stderr strings.Builder
		code := Run(context.Background(), append([]string{"serve", "mcp", "--data", t.TempDir()}, args...), io.Discard, &stderr, testEnv(nil))
		if code != 2 || !strings.Contains(stderr.String(), args[0]) {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming the flag", args, code, stderr.String())
		}
	}
}

// TestServeMCPConfigFile: serve mcp takes --config (SPEC §8). With nothing but the file, it
// checks tokens against the JWKS of the file's authUrl and spaces in the file's store: a persona
// logged in at serve auth lists the tools.
func TestServeMCPConfigFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "shared.db")
	const email, password = "persona.cfg@mana.test", "cfg-password-1"
	personal := seedPersona(t, dbPath, email, password)

	authURL, _, _ := startServeAuth(t, map[string]string{"MANA_SERVICE_KEY": testServiceKey}, "--db", dbPath, "--addr", "127.0.0.1:0")
	cfg := writeFile(t, dir, "persona-runner.yaml", "authUrl: "+authURL+"\ndb: "+dbPath+"\n")
	mcpURL, stop := startServeMCP(t, "--config", cfg, "--addr", "127.0.0.1:0")

	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// connectAs fails the test when the file's auth URL or store is not the one serve mcp uses.
	cs := connectAs(t, cctx, authURL, mcpURL, email, password, personal)
	if tools, err := cs.ListTools(cctx, nil); err != nil || len(tools.Tools) != len(app.Tools()) {
		t.Fatalf("list tools: %v", err)
	}
	_ = cs.Close()
	if code := stop(); code != 0 {
		t.Errorf("serve mcp exited %d", code)
	}

	// A bad authUrl in the file is refused, naming where it came from.
	bad := writeFile(t, dir, "bad.yaml", "authUrl: localhost:3001\n")
	code, _, errOut := run(t, nil, "serve", "mcp", "--config", bad, "--db", dbPath, "--addr", "127.0.0.1:0")
	if code != 2 || !strings.Contains(errOut, "authUrl in "+bad) {
		t.Errorf("bad authUrl in the file: exit %d, stderr %q", code, errOut)
	}
}
