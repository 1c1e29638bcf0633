package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/model/fake"
)

// TestBenchUpOnce is the issue 14.6 benchmark: the built binary's `up --once` with BENCH_PERSONAS
// (default 200) daily personas at --concurrency BENCH_CONCURRENCY (default 64), the model a fake
// server over HTTP with zero latency (five tool calls and a rating turn per persona, through the
// Anthropic SDK), on a store the catalog was seeded into first. It reports the process's wall time, CPU (user + system of up, which embeds
// auth API, demo app and runner) and peak RSS. Timing is not asserted (GUIDE): it only runs when
// BENCH_UP_BIN names a binary, e.g.
//
//	go build -o /tmp/pr ./cmd/persona-runner && BENCH_UP_BIN=/tmp/pr go test -run TestBenchUpOnce -v ./cmd/persona-runner
func TestBenchUpOnce(t *testing.T) {
	bin := os.Getenv("BENCH_UP_BIN")
	if bin == "" {
		t.Skip("set BENCH_UP_BIN to a built persona-runner to run the up --once benchmark")
	}
	n, conc := envInt(t, "BENCH_PERSONAS", 200), envInt(t, "BENCH_CONCURRENCY", 64)
	srv := fake.New(t, fake.WithHandler(fake.Agent(5)), fake.WithoutRecording())
	dir := t.TempDir()
	var cat strings.Builder
	cat.WriteString("personas:\n")
	for i := range n {
		fmt.Fprintf(&cat, "  - name: P%d\n    email: persona.bench%d@mana.test\n    archetype: tester\n    tickCadence: daily\n"+
			"    moduleMix: {todo: 0.4, notes: 0.3, journal: 0.3}\n    systemPrompt: You are a careful tester who tries every feature once.\n", i, i)
	}
	catalogFile := filepath.Join(dir, "catalog.yaml")
	if err := os.WriteFile(catalogFile, []byte(cat.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	// Seeding (a password hash per persona) is set-up, not part of the measured run.
	data := filepath.Join(dir, "data")
	if out, err := exec.Command(bin, "seed", "--data", data, "--catalog", catalogFile).CombinedOutput(); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "up", "--once", "--data", data,
		"--provider", "anthropic", "--concurrency", strconv.Itoa(conc),
		"--auth-addr", "127.0.0.1:0", "--mcp-addr", "127.0.0.1:0", "--runner-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "ANTHROPIC_API_KEY=bench-key", "ANTHROPIC_BASE_URL="+srv.URL(), "MODEL_PROVIDER=anthropic")
	var outBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outBuf, &outBuf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The resident set at its largest sample, split as the kernel counts it: anonymous memory
	// (heap, stacks, the data and bss the process wrote) and file-backed pages (the binary's
	// text and read-only data it touched).
	peak := make(chan string, 1)
	stop := make(chan struct{})
	go func() { peak <- samplePeakRSS(cmd.Process.Pid, stop) }()
	err := cmd.Wait()
	wall := time.Since(start)
	close(stop)
	out := outBuf.Bytes()
	if err != nil {
		t.Fatalf("up --once: %v\n%s", err, out)
	}
	t.Logf("largest sampled resident set (/proc/PID/smaps_rollup, every 10 ms): %s", <-peak)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	t.Logf("%s", lastLines(string(out), 3))
	t.Logf("up --once, %d personas, concurrency %d, fake model over HTTP (0 ms): wall %.2fs (%.0f runs/min), CPU %.2fs (%.4f CPU-s/run), peak RSS %.1f MiB, %d model requests",
		n, conc, wall.Seconds(), float64(n)/wall.Minutes(), cpu.Seconds(), cpu.Seconds()/float64(n), float64(ru.Maxrss)/1024, srv.Count())
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s must be a positive integer (got %q)", name, v)
	}
	return n
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// samplePeakRSS reads /proc/pid/smaps_rollup every 10 ms until stop and returns the Rss,
// Anonymous and file-backed (Rss − Anonymous) figures of the largest sample, in MiB, and where
// that sample's pages were (residentByMapping of /proc/pid/smaps read right after it).
func samplePeakRSS(pid int, stop <-chan struct{}) string {
	var best map[string]int
	var where string
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
			m := map[string]int{}
			for _, line := range strings.Split(string(b), "\n") {
				f := strings.Fields(line)
				if len(f) == 3 && f[2] == "kB" {
					v, _ := strconv.Atoi(f[1])
					m[strings.TrimSuffix(f[0], ":")] = v
				}
			}
			if m["Rss"] > best["Rss"] {
				best = m
				if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid)); err == nil {
					where = residentByMapping(string(b))
				}
			}
		}
		select {
		case <-stop:
			if best == nil {
				return "no sample"
			}
			return fmt.Sprintf("Rss %.1f MiB = anonymous %.1f + file-backed %.1f (shared %.1f); %s", mib(best["Rss"]), mib(best["Anonymous"]),
				mib(best["Rss"]-best["Anonymous"]), mib(best["Shared_Clean"]+best["Shared_Dirty"]), where)
		case <-tick.C:
		}
	}
}

func mib(kb int) float64 { return float64(kb) / 1024 }

// residentByMapping sums a /proc/PID/smaps by what the mappings hold: the executable's text
// (r-x), its read-only data (r--: .rodata with the type data, .gopclntab), its data and bss, other
// files (libc, …), the largest anonymous mapping (the Go heap arena) and the other anonymous
// mappings (the runtime's own structures, thread stacks, SQLite's allocations).
func residentByMapping(smaps string) string {
	var exe, perms, path string
	var text, rodata, data, files, arena, anon int
	for _, line := range strings.Split(smaps, "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && strings.Contains(f[0], "-") && len(f[1]) == 4 {
			perms, path = f[1], ""
			if len(f) >= 6 {
				path = f[5]
			}
			if exe == "" && strings.HasPrefix(path, "/") {
				exe = path // the first file mapping is the executable's text
			}
			continue
		}
		if len(f) != 3 || f[0] != "Rss:" {
			continue
		}
		kb, _ := strconv.Atoi(f[1])
		switch {
		case path == exe && perms[2] == 'x':
			text += kb
		case path == exe && perms[1] == '-':
			rodata += kb
		case path == exe:
			data += kb
		case strings.HasPrefix(path, "/"):
			files += kb
		case kb > arena:
			anon += arena
			arena = kb
		default:
			anon += kb
		}
	}
	return fmt.Sprintf("executable text %.1f, read-only data %.1f, data %.1f, other files %.1f; largest anonymous mapping (Go heap arena) %.1f, other anonymous %.1f MiB",
		mib(text), mib(rodata), mib(data), mib(files), mib(arena), mib(anon))
}
