package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/app"
	"github.com/persona-runner/persona-runner/authapi"
)

// TestBenchSessionFlood is the issue 13.4 benchmark: one persona's token opens BENCH_SESSIONS
// (default 50,000) MCP sessions (an initialize POST each, never closed) against the built
// binary's `serve mcp`, BENCH_FLOOD_CONCURRENCY (default 32) at a time. It reports the gateway's
// resident memory before and after the flood (VmRSS, and the peak VmHWM), the sessions it still
// holds (mcp_sessions_active) and how the initializes were answered. Memory is not asserted
// (GUIDE): it only runs when BENCH_MCP_BIN names a binary, e.g.
//
//	go build -o /tmp/pr ./cmd/persona-runner && BENCH_MCP_BIN=/tmp/pr go test -run TestBenchSessionFlood -v ./cmd/persona-runner
func TestBenchSessionFlood(t *testing.T) {
	bin := os.Getenv("BENCH_MCP_BIN")
	if bin == "" {
		t.Skip("set BENCH_MCP_BIN to a built persona-runner to run the session flood benchmark")
	}
	n, conc := envInt(t, "BENCH_SESSIONS", 50000), envInt(t, "BENCH_FLOOD_CONCURRENCY", 32)
	dir := t.TempDir()
	const email, password = "persona.flood@mana.test", "flood-password-1"
	space := seedPersona(t, filepath.Join(dir, dbFile), email, password)
	authURL, _, _ := startServeAuth(t, map[string]string{"MANA_SERVICE_KEY": testServiceKey}, "--data", dir, "--addr", "127.0.0.1:0")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "mcp", "--data", dir, "--addr", "127.0.0.1:0", "--auth-url", authURL)
	cmd.Stderr = io.Discard
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("serve mcp did not start: %v", err)
	}
	go io.Copy(io.Discard, out)
	m := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("unexpected first line %q", line)
	}
	mcpURL := "http://" + m[1] + "/mcp"

	login, err := authapi.NewClient(authURL, nil).Login(ctx, email, password)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
	initialize := func() (int, error) {
		body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"flood","version":"1"}}}`
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, mcpURL, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+login.AccessToken)
		req.Header.Set(app.SpaceHeader, space)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := initialize(); err != nil || code != http.StatusOK {
		t.Fatalf("first initialize: %d %v", code, err)
	}
	rssBefore, _ := procMemory(t, cmd.Process.Pid)

	var next atomic.Int64
	var mu sync.Mutex
	statuses := map[string]int{}
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				code, err := initialize()
				key := strconv.Itoa(code)
				if err != nil {
					key = "error"
				}
				mu.Lock()
				statuses[key]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	rssAfter, hwm := procMemory(t, cmd.Process.Pid)
	active := scrapeGauge(t, strings.TrimSuffix(mcpURL, "/mcp")+"/metrics", "mcp_sessions_active")
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("%d initializes by one token in %s (%d at a time): responses %v", n, elapsed.Round(time.Millisecond), conc, statuses)
	t.Logf("serve mcp RSS %d MiB before, %d MiB after (peak %d MiB); mcp_sessions_active %s; load average %s",
		rssBefore>>20, rssAfter>>20, hwm>>20, active, strings.TrimSpace(string(load)))
}

// procMemory reads VmRSS and VmHWM (bytes) of process pid.
func procMemory(t *testing.T, pid int) (rss, hwm int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			hwm = kb << 10
		}
	}
	return rss, hwm
}

// scrapeGauge returns the value of a metric without labels from a Prometheus text endpoint.
func scrapeGauge(t *testing.T, url, name string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte(name+" ")); ok {
			return string(v)
		}
	}
	return "absent"
}
