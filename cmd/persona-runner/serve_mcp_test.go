package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/persona-runner/persona-runner/app"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store"
)

// startServeMCP runs `serve mcp` in the background and returns its base URL once it listens; stop
// cancels it and returns its exit status.
func startServeMCP(t *testing.T, args ...string) (url string, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	logs := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		code := Run(ctx, append([]string{"serve", "mcp"}, args...), pw, logs, func(string) string { return "" })
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
	return "http://" + m[1], stop
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
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	const email, password = "persona.anna@mana.test", "anna-password-1"
	userID, _, err := db.UpsertPersona(ctx, persona.PersonaInput{Email: email, Name: "Anna", Password: password,
		Archetype: "student", SystemPrompt: "You are Anna, a student who plans her week.", ModuleMix: persona.ModuleMix{"todo": 1}})
	if err != nil {
		t.Fatal(err)
	}
	spaces, err := db.SpacesOfUser(ctx, userID)
	if err != nil || len(spaces) == 0 {
		t.Fatalf("spaces of anna: %v %v", spaces, err)
	}
	personal := spaces[0].ID
	db.Close()

	authURL, stopAuth, _ := startServeAuth(t, map[string]string{"MANA_SERVICE_KEY": testServiceKey}, "--data", dir, "--addr", "127.0.0.1:0")
	mcpURL, stopMCP := startServeMCP(t, "--data", dir, "--addr", "127.0.0.1:0", "--auth-url", authURL)

	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	resp, err := http.Post(authURL+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		AccessToken string `json:"accessToken"`
	}
	err = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || login.AccessToken == "" {
		t.Fatalf("login: status %d, %v", resp.StatusCode, err)
	}

	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "serve-mcp-test", Version: "1"}, nil)
	cs, err := client.Connect(cctx, &mcp.StreamableClientTransport{Endpoint: mcpURL + "/mcp",
		HTTPClient: &http.Client{Transport: bearer{login.AccessToken, personal}}}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
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
		{"--auth-url", "localhost:3001"},
	} {
		var stderr strings.Builder
		code := Run(context.Background(), append([]string{"serve", "mcp", "--data", t.TempDir()}, args...), io.Discard, &stderr, func(string) string { return "" })
		if code == 0 || !strings.Contains(stderr.String(), args[0]) {
			t.Errorf("%v: exit %d, stderr %q; want a failure naming the flag", args, code, stderr.String())
		}
	}
}

// TestServeMCPConfigFile: serve mcp takes --config (SPEC §8). With nothing but the file, it
// checks tokens against the JWKS of the file's authUrl and spaces in the file's store: a persona
// logged in at serve auth lists the tools.
func TestServeMCPConfigFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	dbPath := filepath.Join(dir, "shared.db")
	db, err := store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	const email, password = "persona.cfg@mana.test", "cfg-password-1"
	userID, _, err := db.UpsertPersona(ctx, persona.PersonaInput{Email: email, Name: "Cfg", Password: password,
		Archetype: "tester", SystemPrompt: "You are a careful tester who tries every feature once.", ModuleMix: persona.ModuleMix{"todo": 1}})
	if err != nil {
		t.Fatal(err)
	}
	spaces, err := db.SpacesOfUser(ctx, userID)
	if err != nil || len(spaces) == 0 {
		t.Fatalf("spaces: %v %v", spaces, err)
	}
	db.Close()

	authURL, _, _ := startServeAuth(t, map[string]string{"MANA_SERVICE_KEY": testServiceKey}, "--db", dbPath, "--addr", "127.0.0.1:0")
	cfg := filepath.Join(dir, "persona-runner.yaml")
	if err := os.WriteFile(cfg, []byte("authUrl: "+authURL+"\ndb: "+dbPath+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mcpURL, stop := startServeMCP(t, "--config", cfg, "--addr", "127.0.0.1:0")

	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	resp, err := http.Post(authURL+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		AccessToken string `json:"accessToken"`
	}
	err = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("login: status %d, %v", resp.StatusCode, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "serve-mcp-config-test", Version: "1"}, nil)
	cs, err := client.Connect(cctx, &mcp.StreamableClientTransport{Endpoint: mcpURL + "/mcp",
		HTTPClient: &http.Client{Transport: bearer{login.AccessToken, spaces[0].ID}}}, nil)
	if err != nil {
		t.Fatalf("connect with the file's auth URL and store: %v", err)
	}
	if tools, err := cs.ListTools(cctx, nil); err != nil || len(tools.Tools) != len(app.Tools()) {
		t.Fatalf("list tools: %v", err)
	}
	_ = cs.Close()
	if code := stop(); code != 0 {
		t.Errorf("serve mcp exited %d", code)
	}

	// A bad authUrl in the file is refused, naming where it came from.
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("authUrl: localhost:3001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, nil, "serve", "mcp", "--config", bad, "--db", dbPath, "--addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, "authUrl in "+bad) {
		t.Errorf("bad authUrl in the file: exit %d, stderr %q", code, errOut)
	}
}
