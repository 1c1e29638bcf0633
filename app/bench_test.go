package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/persona-runner/persona-runner/app"
)

// benchSetup is an app on SQLite without a rate limit (the benchmarks make thousands of calls of
// one tool) or session caps and with its log lines discarded (formatting them is part of the cost all the same).
func benchSetup(b *testing.B) *bundle {
	return setup(b, options{cfg: func(c *app.Config) {
		c.RateLimit = -1
		// The session benchmarks open more sessions per user than the caps allow.
		c.MaxSessionsPerUser, c.MaxSessions = -1, -1
		c.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}})
}

// benchTransport keeps enough idle connections for 100 concurrent sessions.
var benchTransport = &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}

func benchConnect(b *testing.B, bd *bundle, u user, space string) *mcp.ClientSession {
	b.Helper()
	h := &headers{token: bd.token(b, u), space: space, base: benchTransport}
	cl := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := cl.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: bd.url + "/mcp", HTTPClient: &http.Client{Transport: h}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cs.Close() })
	return cs
}

// benchCalls are the simple calls measured: one read and one write.
var benchCalls = []struct {
	name string
	args map[string]any
}{
	{"todo.list", map[string]any{"limit": 10}},
	{"mood.log", map[string]any{"rating": 4}},
}

// cpuTime is the CPU time the process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report adds the call rate and the CPU time per call (client and server together: both run in
// this process) to the benchmark's figures. On a shared machine the CPU time is the steadier
// figure: 2 cores / (CPU per call) bounds the rate the two could reach alone.
func report(b *testing.B, start time.Time, cpu time.Duration) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/call")
}

// BenchmarkToolCallsOneSession measures sequential tool calls over one MCP session.
func BenchmarkToolCallsOneSession(b *testing.B) {
	for _, bc := range benchCalls {
		b.Run(bc.name, func(b *testing.B) {
			bd := benchSetup(b)
			cs := benchConnect(b, bd, bd.anna, bd.anna.Personal)
			ctx := context.Background()
			b.ResetTimer()
			start, cpu := time.Now(), cpuTime()
			for range b.N {
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: bc.name, Arguments: bc.args})
				if err != nil || res.IsError {
					b.Fatalf("%v %v", err, res)
				}
			}
			report(b, start, cpu)
		})
	}
}

// BenchmarkToolCalls100Sessions measures tool calls spread over 100 concurrent sessions of three
// users in three spaces.
func BenchmarkToolCalls100Sessions(b *testing.B) {
	for _, bc := range benchCalls {
		b.Run(bc.name, func(b *testing.B) {
			bd := benchSetup(b)
			who := []struct {
				u     user
				space string
			}{{bd.anna, bd.anna.Personal}, {bd.ben, bd.family}, {bd.carl, bd.carl.Personal}}
			sessions := make([]*mcp.ClientSession, 100)
			for i := range sessions {
				w := who[i%len(who)]
				sessions[i] = benchConnect(b, bd, w.u, w.space)
			}
			ctx := context.Background()
			var next atomic.Int64
			var failed atomic.Value
			b.ResetTimer()
			start, cpu := time.Now(), cpuTime()
			var wg sync.WaitGroup
			for _, cs := range sessions {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: bc.name, Arguments: bc.args})
						if err != nil || res.IsError {
							failed.Store(fmt.Sprint(err, res))
							return
						}
					}
				})
			}
			wg.Wait()
			report(b, start, cpu)
			if f := failed.Load(); f != nil {
				b.Fatal(f)
			}
		})
	}
}

// BenchmarkIdleSessionMemory opens b.N sessions the way a minimal client does (initialize and the
// initialized notification over plain HTTP, no standalone event stream) and reports the server's
// heap and stack growth per session once they are idle.
func BenchmarkIdleSessionMemory(b *testing.B) {
	b.Run("no-stream", func(b *testing.B) { benchIdleSessions(b, false) })
	// A client that also opens the standalone event stream (GET /mcp), as the SDK's client does,
	// costs the server a connection and a goroutine more; the client's side of that connection
	// (in this process) is counted too, so this is an upper bound.
	b.Run("with-stream", func(b *testing.B) { benchIdleSessions(b, true) })
}

func benchIdleSessions(b *testing.B, stream bool) {
	bd := benchSetup(b)
	token := bd.token(b, bd.anna)
	client := &http.Client{Transport: benchTransport}
	post := func(sessionID, msg string) string {
		req, _ := http.NewRequest(http.MethodPost, bd.url+"/mcp", strings.NewReader(msg))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set(app.SpaceHeader, bd.anna.Personal)
		if sessionID != "" {
			req.Header.Set("Mcp-Session-Id", sessionID)
			req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		return resp.Header.Get("Mcp-Session-Id")
	}
	streams := &http.Client{Transport: &http.Transport{}} // one connection per stream
	open := func() {
		id := post("", initializeMsg)
		post(id, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		if !stream {
			return
		}
		req, _ := http.NewRequest(http.MethodGet, bd.url+"/mcp", nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set(app.SpaceHeader, bd.anna.Personal)
		req.Header.Set("Mcp-Session-Id", id)
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		resp, err := streams.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("open stream: %v", err)
		}
		b.Cleanup(func() { resp.Body.Close() })
	}
	open() // warm up pools and caches outside the measurement
	measure := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse + m.StackInuse
	}
	b.ResetTimer()
	before := measure()
	for range b.N {
		open()
	}
	after := measure()
	b.StopTimer()
	if n := app.OpenSessions(bd.app); n != b.N+1 {
		b.Fatalf("%d open sessions, want %d", n, b.N+1)
	}
	b.ReportMetric(float64(int64(after)-int64(before))/float64(b.N), "B/session")
}

// BenchmarkIdleSessionMemorySDKClient opens b.N sessions with the SDK's client, which also keeps
// a standalone event stream open per session, and reports the growth of the whole process (client
// and server) per session: an upper bound of the server's share.
func BenchmarkIdleSessionMemorySDKClient(b *testing.B) {
	bd := benchSetup(b)
	benchConnect(b, bd, bd.anna, bd.anna.Personal) // warm up
	measure := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse + m.StackInuse
	}
	b.ResetTimer()
	before := measure()
	for range b.N {
		benchConnect(b, bd, bd.anna, bd.anna.Personal)
	}
	after := measure()
	b.StopTimer()
	b.ReportMetric(float64(int64(after)-int64(before))/float64(b.N), "B/session")
}
