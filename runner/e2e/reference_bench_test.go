package e2e_test

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/target"
	"github.com/persona-runner/persona-runner/target/stdio/stdiotest"
	"github.com/persona-runner/persona-runner/target/strategy"
)

// BenchmarkTargetSession is what one persona run costs in the connection to its app, stdio
// against streamable HTTP, with server-everything (the same server both ways): open the
// session (stdio: start the server process), list the tools, make one call, close (stdio: end
// the process). Reported: open-ms (start and initialize), close-ms, and for stdio the server
// process's resident memory while the session is open (server-rss-MB), which every concurrent
// persona run adds. Run with:
//
//	PERSONA_TEST_NODE_MODULES=$PWD/.ci/node/node_modules go test -run '^$' -bench TargetSession -benchtime 20x ./runner/e2e/
func BenchmarkTargetSession(b *testing.B) {
	b.Run("stdio", func(b *testing.B) {
		argv := stdiotest.ReferenceServer(b, everything, "stdio")
		benchSessions(b, target.Config{Name: "everything", Transport: target.TransportStdio, Command: argv}, true)
	})
	b.Run("streamable-http", func(b *testing.B) {
		url := startEverythingHTTP(b)
		benchSessions(b, target.Config{Name: "everything-http", URL: url}, false)
	})
}

func benchSessions(b *testing.B, tc target.Config, stdio bool) {
	t, err := strategy.Build(tc, strategy.Options{ClientVersion: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	p := persona.DuePersona{UserID: "bench", Email: "bench@persona-runner.invalid"}
	ctx := context.Background()
	var open, closing time.Duration
	var rss int64
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		s, err := t.Open(ctx, p, target.OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.ListTools(ctx); err != nil {
			b.Fatal(err)
		}
		open += time.Since(t0)
		if out, err := s.CallTool(ctx, "echo", json.RawMessage(`{"message":"hi"}`)); err != nil || out.IsError {
			b.Fatalf("echo: %v %+v", err, out)
		}
		if stdio {
			rss += childrenRSS()
		}
		t1 := time.Now()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		closing += time.Since(t1)
	}
	n := float64(b.N)
	b.ReportMetric(float64(open.Milliseconds())/n, "open-ms")
	b.ReportMetric(float64(closing.Milliseconds())/n, "close-ms")
	if stdio {
		b.ReportMetric(float64(rss)/n/(1<<20), "server-rss-MB")
	}
}

// childrenRSS is the resident memory of this process's children: during a stdio session, its
// server process (node, started directly).
func childrenRSS() int64 {
	entries, _ := os.ReadDir("/proc")
	self := strconv.Itoa(os.Getpid())
	var total int64
	for _, e := range entries {
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 || f[1] != self {
			continue
		}
		status, _ := os.ReadFile("/proc/" + e.Name() + "/status")
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
				total += kb << 10
			}
		}
	}
	return total
}
