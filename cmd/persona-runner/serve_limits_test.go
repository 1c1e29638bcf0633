package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/app"
	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/httpserver"
	"github.com/persona-runner/persona-runner/persona"
)

// mcpRaw speaks the streamable HTTP transport by hand, so that a test sees every status and
// header serve mcp answers.
type mcpRaw struct {
	t            *testing.T
	url          string
	token, space string
}

func (m mcpRaw) request(ctx context.Context, method, session, body string) *http.Request {
	req, err := http.NewRequestWithContext(ctx, method, m.url+"/mcp", strings.NewReader(body))
	if err != nil {
		m.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+m.token)
	req.Header.Set(app.SpaceHeader, m.space)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	return req
}

// do sends a request and returns its status, session id header and body.
func (m mcpRaw) do(method, session, body string) (int, string, string) {
	m.t.Helper()
	resp, err := http.DefaultClient.Do(m.request(context.Background(), method, session, body))
	if err != nil {
		m.t.Fatalf("%s /mcp: %v", method, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Mcp-Session-Id"), string(b)
}

// open initialises a session: its id, or the refusal's status and body.
func (m mcpRaw) open() (id string, status int, body string) {
	m.t.Helper()
	status, id, body = m.do(http.MethodPost, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"limits-test","version":"1"}}}`)
	if status == http.StatusOK {
		if code, _, b := m.do(http.MethodPost, id, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); code != http.StatusAccepted {
			m.t.Fatalf("initialized: %d %s", code, b)
		}
	}
	return id, status, body
}

// ping sends a ping on session id and returns the status.
func (m mcpRaw) ping(id string) int {
	m.t.Helper()
	code, _, _ := m.do(http.MethodPost, id, `{"jsonrpc":"2.0","id":2,"method":"ping"}`)
	return code
}

// stream opens the session's GET event stream and returns once its headers arrived; the
// stream stays open until ctx ends. ended is closed when the server ends it.
func (m mcpRaw) stream(ctx context.Context, id string) (ended <-chan struct{}) {
	m.t.Helper()
	req := m.request(ctx, http.MethodGet, id, "")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		m.t.Fatalf("GET stream of %s: %v %v", id, resp, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
	}()
	return done
}

func loginToken(t *testing.T, authURL, email, password string) string {
	t.Helper()
	login, err := authapi.NewClient(authURL, nil).Login(context.Background(), email, password)
	if err != nil || login.AccessToken == "" {
		t.Fatalf("login %s: %+v %v", email, login, err)
	}
	return login.AccessToken
}

func metricValue(t *testing.T, url, name string) string {
	t.Helper()
	return scrapeGauge(t, url+"/metrics", name)
}

// TestServeMCPSessionCaps (issue 13.4) against the real servers over HTTP: one token opening
// a 17th session closes its least recently used idle one (which then answers 404); with every
// one of its 16 sessions busy (an open event stream each) a new one is refused with 429; past
// --max-sessions another user's new session is refused with 503 until one of its own ends.
func TestServeMCPSessionCaps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, dbFile)
	spaceA := seedPersona(t, db, "persona.cap-a@mana.test", "cap-a-password-1")
	spaceB := seedPersona(t, db, "persona.cap-b@mana.test", "cap-b-password-1")
	authURL, _, _ := startServeAuth(t, map[string]string{"MANA_SERVICE_KEY": testServiceKey}, "--data", dir, "--addr", "127.0.0.1:0")
	mcpURL, _ := startServeMCP(t, "--data", dir, "--addr", "127.0.0.1:0", "--auth-url", authURL, "--max-sessions", "20")
	a := mcpRaw{t, mcpURL, loginToken(t, authURL, "persona.cap-a@mana.test", "cap-a-password-1"), spaceA}
	b := mcpRaw{t, mcpURL, loginToken(t, authURL, "persona.cap-b@mana.test", "cap-b-password-1"), spaceB}

	var sessions []string
	for i := range app.DefaultMaxSessionsPerUser {
		id, code, body := a.open()
		if code != http.StatusOK {
			t.Fatalf("session %d: %d %s", i+1, code, body)
		}
		sessions = append(sessions, id)
	}
	// Use the first one again: the second is now the least recently used.
	if code := a.ping(sessions[0]); code != http.StatusOK {
		t.Fatalf("ping: %d", code)
	}
	id17, code, body := a.open()
	if code != http.StatusOK {
		t.Fatalf("17th session: %d %s, want 200 (the least recently used idle one closed)", code, body)
	}
	if code := a.ping(sessions[1]); code != http.StatusNotFound {
		t.Errorf("the least recently used session after the 17th opened: %d, want 404 (closed)", code)
	}
	for _, id := range append([]string{sessions[0], id17}, sessions[2:]...) {
		if code := a.ping(id); code != http.StatusOK {
			t.Errorf("session %s: %d, want 200 (open)", id, code)
		}
	}
	if got := metricValue(t, mcpURL, "mcp_sessions_active"); got != "16" {
		t.Errorf("mcp_sessions_active %s, want 16", got)
	}
	if got := metricValue(t, mcpURL, "mcp_sessions_evicted_total"); got != "1" {
		t.Errorf("mcp_sessions_evicted_total %s, want 1", got)
	}
	sessions = append([]string{sessions[0], id17}, sessions[2:]...)

	// The overall cap (20): B may open 4, the 5th is refused, A can still replace its own.
	var bSessions []string
	for range 4 {
		id, code, body := b.open()
		if code != http.StatusOK {
			t.Fatalf("B's session: %d %s", code, body)
		}
		bSessions = append(bSessions, id)
	}
	if _, code, body := b.open(); code != http.StatusServiceUnavailable || !strings.Contains(body, `"SESSIONS_FULL"`) || !strings.Contains(body, "20 MCP sessions") {
		t.Errorf("B's 5th session with 20 open: %d %s, want 503 SESSIONS_FULL", code, body)
	}
	replacement, code, body := a.open()
	if code != http.StatusOK {
		t.Fatalf("A's session at the overall cap (closing its own): %d %s", code, body)
	}
	if code := a.ping(sessions[0]); code != http.StatusNotFound {
		t.Errorf("A's least recently used session after the replacement: %d, want 404", code)
	}
	sessions = append(sessions[1:], replacement)

	// Every one of A's sessions busy (an open event stream each): a 17th is refused with 429,
	// and nothing of A's is closed.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, id := range sessions {
		a.stream(ctx, id)
	}
	_, code, body = a.open()
	if code != http.StatusTooManyRequests || !strings.Contains(body, `"TOO_MANY_SESSIONS"`) || !strings.Contains(body, "16 MCP sessions") {
		t.Errorf("17th session with 16 busy: %d %s, want 429 TOO_MANY_SESSIONS", code, body)
	}
	for _, id := range sessions {
		if code := a.ping(id); code != http.StatusOK {
			t.Errorf("busy session %s after the refusal: %d, want 200", id, code)
		}
	}

	// B ends one of its sessions: its place is free again.
	if code, _, body := b.do(http.MethodDelete, bSessions[0], ""); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	if _, code, body := b.open(); code != http.StatusOK {
		t.Errorf("B's session after ending one: %d %s, want 200", code, body)
	}
	if got := metricValue(t, mcpURL, "mcp_sessions_active"); got != "20" {
		t.Errorf("mcp_sessions_active %s, want 20", got)
	}
}

// startUp runs `up` (not --once) with extra flags and returns the base URLs of its auth API,
// demo app and runner once its first tick is done.
func startUp(t *testing.T, dir string, extra ...string) (authURL, mcpURL, runnerURL string) {
	t.Helper()
	seedOne(t, dir, "persona.slow@mana.test", persona.ModuleMix{"todo": 1})
	out := &signalWriter{want: "1 run: ", seen: make(chan struct{})}
	errOut := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() {
		code <- Run(ctx, append([]string{"up", "--data", dir, "--auth-addr", "127.0.0.1:0", "--mcp-addr", "127.0.0.1:0",
			"--runner-addr", "127.0.0.1:0", "--provider", "sim", "--seed", "2", "--interval", "1h", "--start-time", upStart}, extra...),
			out, errOut, testEnv(nil))
	}()
	t.Cleanup(func() { cancel(); <-code })
	select {
	case <-out.seen:
	case c := <-code:
		t.Fatalf("up returned %d\nstdout:\n%s\nstderr:\n%s", c, out.String(), errOut.String())
	}
	m := regexp.MustCompile(`auth API (http://\S+) · demo app (http://\S+)/mcp · runner (http://\S+)/health`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no URLs in up's output:\n%s", out.String())
	}
	return m[1], m[2], m[3]
}

// cutOff reports whether the server closes a connection that sent partial (half a request),
// waiting at most a generous bound (it must be well past the read timeouts the tests set).
func cutOff(t *testing.T, baseURL, partial string) bool {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(baseURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, partial); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(45 * time.Second))
	_, err = io.Copy(io.Discard, conn)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestServersCutSlowClients (issue 13.5): every server — the auth API, the demo app, the
// runner's API and the dashboard, alone (serve …) and in up — closes a connection that sent half
// a body or half its headers once its read timeout passes.
func TestServersCutSlowClients(t *testing.T) {
	t.Parallel()
	timeouts := []string{"--read-header-timeout", "1s", "--read-timeout", "1s", "--write-timeout", "5s", "--idle-timeout", "5s"}
	dir := t.TempDir()
	seedPersona(t, filepath.Join(dir, dbFile), "persona.slow-serve@mana.test", "slow-serve-password-1")
	servers := map[string]string{}
	servers["serve auth"], _, _ = startServeAuth(t, map[string]string{"MANA_SERVICE_KEY": testServiceKey}, append([]string{"--data", dir, "--addr", "127.0.0.1:0"}, timeouts...)...)
	servers["serve mcp"], _ = startServeMCP(t, append([]string{"--data", dir, "--addr", "127.0.0.1:0", "--auth-url", servers["serve auth"]}, timeouts...)...)
	servers["serve runner"] = startServeLine(t, `listening on (http://\S+)`, map[string]string{"RUNNER_PAUSED": "true", "MODEL_PROVIDER": "sim", "MANA_SERVICE_KEY": testServiceKey, "MANA_AUTH_URL": servers["serve auth"], "MANA_MCP_URL": servers["serve mcp"] + "/mcp"},
		append([]string{"serve", "runner", "--addr", "127.0.0.1:0", "--interval", "1h"}, timeouts...)...)
	servers["serve dashboard"] = startServeLine(t, `^dashboard (http://\S+)/`, nil,
		append([]string{"serve", "dashboard", "--data", dir, "--addr", "127.0.0.1:0"}, timeouts...)...)
	servers["up auth"], servers["up mcp"], servers["up runner"] = startUp(t, t.TempDir(), timeouts...)
	paths := map[string]string{"serve auth": "/api/auth/login", "up auth": "/api/auth/login", "serve mcp": "/mcp", "up mcp": "/mcp",
		"serve runner": "/control/pause", "up runner": "/control/pause", "serve dashboard": "/login"}
	for name, url := range servers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			halfBody := "POST " + paths[name] + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n" + `{"email":"persona.slow@mana.test",`
			if !cutOff(t, url, halfBody) {
				t.Errorf("a request with half its body still holds the connection after 45 s (read timeout 1 s)")
			}
			if !cutOff(t, url, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ") {
				t.Errorf("a request with half its headers still holds the connection after 45 s (read header timeout 1 s)")
			}
		})
	}
}

// startServeLine runs a persona-runner command that serves until cancelled and returns the URL
// its first line shows (the first group of pattern).
func startServeLine(t *testing.T, pattern string, env map[string]string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	logs := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		code := Run(ctx, args, pw, logs, testEnv(env))
		pw.Close()
		done <- code
	}()
	t.Cleanup(func() { cancel(); <-done })
	// The line that names the address may follow others (serve runner's start-up check).
	br := bufio.NewReader(pr)
	re := regexp.MustCompile(pattern)
	var seen []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("%v did not start: %v\nstdout:\n%s\nstderr:\n%s", args, err, strings.Join(seen, ""), logs.String())
		}
		seen = append(seen, line)
		if m := re.FindStringSubmatch(line); m != nil {
			go io.Copy(io.Discard, pr)
			return m[1]
		}
	}
}

// TestStreamsOutliveTimeouts (issue 13.5): the event stream of an authenticated MCP session and
// the dashboard's live stream stay open past the read and write timeouts (1 s here) that end
// ordinary requests.
func TestStreamsOutliveTimeouts(t *testing.T) {
	t.Parallel()
	timeouts := []string{"--read-header-timeout", "1s", "--read-timeout", "1s", "--write-timeout", "1s"}
	dir := t.TempDir()
	space := seedPersona(t, filepath.Join(dir, dbFile), "persona.stream@mana.test", "stream-password-1")
	authURL, _, _ := startServeAuth(t, map[string]string{"MANA_SERVICE_KEY": testServiceKey}, "--data", dir, "--addr", "127.0.0.1:0")
	mcpURL, _ := startServeMCP(t, append([]string{"--data", dir, "--addr", "127.0.0.1:0", "--auth-url", authURL}, timeouts...)...)
	m := mcpRaw{t, mcpURL, loginToken(t, authURL, "persona.stream@mana.test", "stream-password-1"), space}
	id, code, body := m.open()
	if code != http.StatusOK {
		t.Fatalf("open: %d %s", code, body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mcpStream := m.stream(ctx, id)

	_, _, runnerURL := startUp(t, t.TempDir(), timeouts...)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, runnerURL+"/live", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /live: %v %v", resp, err)
	}
	liveStream := make(chan struct{})
	go func() {
		defer close(liveStream)
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
	}()

	// Three times the timeouts: a stream under them would have ended (this can only pass
	// wrongly under load, never fail).
	time.Sleep(3 * time.Second)
	select {
	case <-mcpStream:
		t.Errorf("the MCP session's event stream ended within 3 s (read and write timeouts 1 s)")
	default:
	}
	select {
	case <-liveStream:
		t.Errorf("the dashboard's live stream ended within 3 s (read and write timeouts 1 s)")
	default:
	}
	if code := m.ping(id); code != http.StatusOK {
		t.Errorf("ping on the streaming session: %d", code)
	}
}

// TestServeMCPConnectionCap (issue 13.5): with --max-conns 2 and two connections held open, a
// third waits unserved until one of them closes, then is served.
func TestServeMCPConnectionCap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seedPersona(t, filepath.Join(dir, dbFile), "persona.conns@mana.test", "conns-password-1")
	mcpURL, _ := startServeMCP(t, "--data", dir, "--addr", "127.0.0.1:0", "--auth-url", "http://127.0.0.1:9",
		"--max-conns", "2", "--read-header-timeout", "10m", "--idle-timeout", "10m")
	addr := strings.TrimPrefix(mcpURL, "http://")
	// Two kept-alive connections, each having been served once: they hold both places.
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		held = append(held, c)
	}
	got := make(chan int, 1)
	go func() {
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get(mcpURL + "/health")
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	select {
	case code := <-got:
		t.Fatalf("a third connection was served (%d) while two held both places", code)
	case <-time.After(time.Second):
	}
	held[0].Close()
	select {
	case code := <-got:
		if code != http.StatusOK && code != http.StatusServiceUnavailable {
			t.Errorf("third connection: %d", code)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("the third connection was not served within 45 s of a place freeing")
	}
}

// defaultHTTPFlags are the flags' defaults, for a command built without the parser.
func defaultHTTPFlags() HTTPFlags {
	d := httpserver.Defaults()
	return HTTPFlags{ReadHeaderTimeout: d.ReadHeaderTimeout, ReadTimeout: d.ReadTimeout, WriteTimeout: d.WriteTimeout,
		IdleTimeout: d.IdleTimeout, MaxConns: d.MaxConns}
}
