package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/persona-runner/persona-runner/store/postgres/pgtest"
)

func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeDashboard: after up --once wrote a day of runs, serve dashboard shows them from the
// same store, read-only (no controls), on SQLite and PostgreSQL.
func TestServeDashboard(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			dsn := dbPath(t.TempDir())
			if dialect == "postgres" {
				dsn = pgtest.DSN(t)
			}
			if code, out, errOut := run(t, nil, "up", "--once", "--db", dsn, "--auth-addr", "127.0.0.1:0", "--mcp-addr", "127.0.0.1:0",
				"--runner-addr", "127.0.0.1:0", "--provider", "sim", "--seed", "1", "--start-time", upStart); code != 0 {
				t.Fatalf("up --once: %d\n%s\n%s", code, out, errOut)
			}
			ctx, cancel := context.WithCancel(context.Background())
			pr, pw := io.Pipe()
			logs := &lockedBuffer{}
			done := make(chan int, 1)
			go func() {
				code := Run(ctx, []string{"serve", "dashboard", "--db", dsn, "--addr", "127.0.0.1:0"}, pw, logs, func(string) string { return "" })
				pw.Close()
				done <- code
			}()
			line, err := bufio.NewReader(pr).ReadString('\n')
			if err != nil {
				cancel()
				t.Fatalf("serve dashboard did not start: %v\n%s", err, logs.String())
			}
			go io.Copy(io.Discard, pr)
			m := regexp.MustCompile(`^dashboard (http://\S+)/ \(` + dialect + ` store, read-only; open \(loopback\)\)`).FindStringSubmatch(line)
			if m == nil {
				cancel()
				t.Fatalf("first line %q", line)
			}
			// The simulator's day of the default catalog, as the store has it (10 personas run
			// on a Wednesday). The run-per-day figures are those of the clock of up's run, which
			// is long before now, so the overview is asked for nothing older; personas show.
			code, body := httpGet(t, m[1]+"/personas")
			if code != http.StatusOK || !strings.Contains(body, "10 personas") || !strings.Contains(body, "persona.ben@mana.test") || strings.Contains(body, "Run a tick now") {
				t.Errorf("personas page: %d\n%s", code, body)
			}
			if code, body := httpGet(t, m[1]+"/"); code != http.StatusOK || !strings.Contains(body, "<h1>Overview</h1>") {
				t.Errorf("overview: %d\n%s", code, body)
			}
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("exit %d\n%s", code, logs.String())
			}
		})
	}
}
