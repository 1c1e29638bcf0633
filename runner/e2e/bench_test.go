package e2e_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/persona-runner/persona-runner/config"
	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/model/anthropic"
	"github.com/persona-runner/persona-runner/model/fake"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/runner"
	"github.com/persona-runner/persona-runner/store/postgres"
	"github.com/persona-runner/persona-runner/store/postgres/pgtest"
	"github.com/persona-runner/persona-runner/store/sqlite"
	"github.com/persona-runner/persona-runner/target"
)

// The benchmarks measure the runner itself: the model is the fake server over HTTP through the
// real Anthropic adapter, the store is real, and login and the app's tools are in-process fakes
// that answer at once, so that neither bcrypt nor the app's own work is counted.

type instantTools struct{}

var benchSpecs = []runner.ToolSpec{
	{Name: "todo.create", Description: "Add a todo.", InputSchema: json.RawMessage(`{"type":"object","properties":{"title":{"type":"string"}},"required":["title"]}`)},
	{Name: "todo.list", Description: "List todos.", InputSchema: json.RawMessage(`{"type":"object","properties":{}}`)},
	{Name: "notes.create", Description: "Add a note.", InputSchema: json.RawMessage(`{"type":"object","properties":{"title":{"type":"string"},"body":{"type":"string"}},"required":["title"]}`)},
	{Name: "journal.write", Description: "Write an entry.", InputSchema: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}`)},
}

func (instantTools) Open(context.Context, persona.DuePersona, target.OpenOptions) (runner.ToolSession, error) {
	return instantSession{}, nil
}

func (instantTools) TargetOf(persona.DuePersona) string { return target.Demo }

type instantSession struct{}

func (instantSession) Server() target.ServerInfo {
	return target.ServerInfo{Name: "instant", Version: "1"}
}
func (instantSession) ListTools(context.Context) ([]runner.ToolSpec, error) {
	out := make([]runner.ToolSpec, len(benchSpecs))
	for i, s := range benchSpecs {
		s.Module = target.ModuleOf(s.Name)
		out[i] = s
	}
	return out, nil
}
func (instantSession) CallTool(_ context.Context, name string, _ json.RawMessage) (runner.ToolOutput, error) {
	return runner.ToolOutput{Text: `{"id":"` + name + `-1","ok":true}`}, nil
}
func (instantSession) Close() error { return nil }

// seedSQLite creates n personas directly in a fresh SQLite store.
func seedSQLite(b *testing.B, n int, opts ...sqlite.Option) (*sqlite.DB, []string) {
	b.Helper()
	// The cheapest bcrypt cost: seeding measures nothing here, and thousands of personas at the
	// production cost would take minutes.
	opts = append([]sqlite.Option{sqlite.WithPasswordCost(bcrypt.MinCost)}, opts...)
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	return db, seed(b, db, n)
}

// seed creates n personas directly in store.
func seed(b *testing.B, store persona.Store, n int) []string {
	b.Helper()
	plan := persona.SeedPlan{}
	emails := make([]string, n)
	for i := range n {
		emails[i] = fmt.Sprintf("persona.b%05d@mana.test", i)
		plan.Personas = append(plan.Personas, persona.PersonaInput{
			Email: emails[i], Password: "pw", Archetype: "bench",
			SystemPrompt: "You are a benchmark persona who uses every module a little.",
			ModuleMix:    persona.ModuleMix{"todo": 0.5, "notes": 0.3, "journal": 0.2},
		})
	}
	if _, err := store.ApplySeed(context.Background(), plan, false); err != nil {
		b.Fatal(err)
	}
	return emails
}

func benchProvider(b *testing.B, srv *fake.Server) model.Provider {
	p, err := anthropic.New(anthropic.Config{APIKey: "k", BaseURL: srv.URL(), Model: "claude-sonnet-4-5", Retry: fastRetry})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func benchConfig(concurrency int) config.Config {
	cfg := config.Default()
	cfg.RunnerID = "bench"
	cfg.Provider, cfg.Model = config.ProviderAnthropic, "claude-sonnet-4-5"
	cfg.Concurrency = concurrency
	return cfg
}

// BenchmarkRunOverhead is the runner's cost per persona run with a model that answers at once
// (3 tool calls, a closing text and the rating turn: 5 model calls over loopback HTTP through the
// Anthropic SDK, the fake server's own work included), the app's tool time excluded. One op is
// one persona run; four run at a time. "store=sqlite" writes every row to SQLite; "store=none"
// keeps them in memory, which isolates the runner from the store.
func BenchmarkRunOverhead(b *testing.B) {
	for _, name := range []string{"sqlite", "none", "none/model=inprocess"} {
		b.Run("store="+name, func(b *testing.B) {
			srv := fake.New(b, fake.WithHandler(fake.Agent(3)), fake.WithoutRecording())
			provider := benchProvider(b, srv)
			if strings.HasSuffix(name, "inprocess") {
				provider = inProcessAgent{calls: 3}
			}
			var persist runner.Persistence
			if name == "sqlite" {
				db, _ := seedSQLite(b, b.N)
				persist = runner.NewStorePersistence(db)
			} else {
				persist = newMemPersistence(b.N)
			}
			r, err := runner.New(benchConfig(4).Runner(), runner.Deps{
				Provider: provider, Persistence: persist, Targets: instantTools{},
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			res, err := r.Tick(context.Background())
			cpu = cpuTime() - cpu
			b.StopTimer()
			// Wall time per op depends on how busy the machine is; the process's CPU time per run
			// (runner, adapter, SDK and the in-process fake server together) does not.
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/run")
			if err != nil || res.RanSuccessfully != b.N {
				b.Fatalf("ran %d of %d: %v %+v", res.RanSuccessfully, b.N, err, res.Failed)
			}
			b.ReportMetric(float64(srv.BytesIn())/float64(b.N), "model-bytes/run")
		})
	}
}

// inProcessAgent plays fake.Agent's script without HTTP or an SDK, so that the runner's own cost
// shows alone.
type inProcessAgent struct {
	calls   int
	latency time.Duration // a model's thinking time, slept per call
}

func (inProcessAgent) Name() string  { return "inprocess" }
func (inProcessAgent) Model() string { return "inprocess" }

func (a inProcessAgent) Complete(ctx context.Context, req model.Request) (model.Response, error) {
	if a.latency > 0 {
		t := time.NewTimer(a.latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return model.Response{}, ctx.Err()
		}
	}
	var made []model.ToolCall
	for _, m := range req.Messages {
		made = append(made, m.ToolCalls...)
	}
	usage := model.Usage{InputTokens: 500, OutputTokens: 40}
	if !req.CanCallTools() {
		return model.Response{Text: fake.Ratings(made), Usage: usage}, nil
	}
	if len(made) >= a.calls {
		return model.Response{Text: "A good day.", Usage: usage}, nil
	}
	t := req.Tools[len(made)%len(req.Tools)]
	return model.Response{ToolCalls: []model.ToolCall{{ID: "c" + strconv.Itoa(len(made)), Name: t.Name, Input: fake.SampleArgs(t.InputSchema)}}, Usage: usage}, nil
}

// memPersistence hands out n personas and keeps nothing.
type memPersistence struct {
	mu   sync.Mutex
	next int
	n    int
}

func newMemPersistence(n int) *memPersistence { return &memPersistence{n: n} }

func (m *memPersistence) Claim(_ context.Context, _ string, limit int, _ time.Duration) ([]persona.DuePersona, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []persona.DuePersona
	for ; m.next < m.n && len(out) < limit; m.next++ {
		out = append(out, persona.DuePersona{UserID: strconv.Itoa(m.next), Email: fmt.Sprintf("persona.m%d@mana.test", m.next),
			SystemPrompt: "You are a benchmark persona.", ModuleMix: persona.ModuleMix{"todo": 1}, TickCadence: persona.Daily, PersonalSpaceID: "s"})
	}
	return out, nil
}
func (m *memPersistence) InsertActions(context.Context, string, []persona.Action) error { return nil }
func (m *memPersistence) InsertFeedback(context.Context, string, []persona.Feedback) error {
	return nil
}
func (m *memPersistence) RecordTick(context.Context, persona.Tick) error { return nil }
func (m *memPersistence) History(context.Context, string, int) ([]persona.RunHistory, error) {
	return nil, nil
}

// BenchmarkTenThousandPersonas runs 10,000 due personas through one tick with the fake model
// answering each call after 50 ms, concurrency 256, and compares the wall time with the ideal
// runs × turns × latency / concurrency. It is heavy: run it with -benchtime=1x.
//
// BENCH_PERSONAS changes the count. BENCH_STORE picks the store: sqlite (default), postgres (a
// fresh database on the server named by PERSONA_TEST_POSTGRES_URL) or none (rows kept in memory,
// the worker pool alone). BENCH_MODEL=inprocess replaces the fake server and SDK with an
// in-process model of the same latency, to tell the runner's share from the store's and the HTTP
// stack's. BENCH_CPUPROFILE=FILE writes a CPU profile of the tick alone.
//
// Every figure is for the tick alone, seeding excluded: cpu-ms/run is this process's CPU time
// (user + system) during the tick divided by the runs; tick-peak-RSS-MiB is the process's peak
// resident set during the tick (the kernel's high-water mark is reset just before it, after a GC
// has handed seeding's memory back); on PostgreSQL, pg-cpu-ms/run is the CPU time of the server
// processes serving this benchmark's database during the tick. stored-transcript-B/run is what
// the store keeps of a run's transcript.
func BenchmarkTenThousandPersonas(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("BENCH_PERSONAS")); err == nil && v > 0 {
		n = v
	}
	const (
		latency     = 50 * time.Millisecond
		concurrency = 256
		calls       = 3
		turns       = calls + 2 // tool turns, the closing text, the rating turn
	)
	for range b.N {
		b.StopTimer()
		srv := fake.New(b, fake.WithHandler(fake.Agent(calls)), fake.WithoutRecording(), fake.WithLatency(latency))
		var (
			persist    runner.Persistence
			pg         *postgres.DB
			transcript func() float64
		)
		switch os.Getenv("BENCH_STORE") {
		case "none":
			persist = newMemPersistence(n) // to tell the store's share from the runner's
		case "postgres":
			pg = pgtest.NewDB(b)
			seed(b, pg, n)
			persist = runner.NewStorePersistence(pg)
			transcript = func() float64 {
				return queryFloat(b, pg.SQL(), `SELECT avg(pg_column_size(transcript)) FROM auth.persona_ticks`)
			}
		default:
			db, _ := seedSQLite(b, n)
			persist = runner.NewStorePersistence(db)
			transcript = func() float64 {
				return queryFloat(b, db.SQL(), `SELECT avg(length(transcript)) FROM persona_ticks`)
			}
		}
		provider := benchProvider(b, srv)
		if os.Getenv("BENCH_MODEL") == "inprocess" {
			// The same script and latency without HTTP or an SDK: the runner's scheduling alone.
			provider = inProcessAgent{calls: calls, latency: latency}
		}
		r, err := runner.New(benchConfig(concurrency).Runner(), runner.Deps{
			Provider: provider, Persistence: persist, Targets: instantTools{},
		})
		if err != nil {
			b.Fatal(err)
		}
		resetPeakRSS()
		stopProfile := startProfile(b, os.Getenv("BENCH_CPUPROFILE"))
		pgCPU := serverCPU(b, pg)
		b.StartTimer()
		start, cpu := time.Now(), cpuTime()
		res, err := r.Tick(context.Background())
		wall, cpu := time.Since(start), cpuTime()-cpu
		b.StopTimer()
		stopProfile()
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(n), "cpu-ms/run")
		b.ReportMetric(float64(peakRSS())/(1<<20), "tick-peak-RSS-MiB")
		if pg != nil {
			b.ReportMetric(float64((serverCPU(b, pg)-pgCPU).Microseconds())/1000/float64(n), "pg-cpu-ms/run")
		}
		if err != nil || res.RanSuccessfully != n {
			b.Fatalf("ran %d of %d: %v", res.RanSuccessfully, n, err)
		}
		ideal := time.Duration(n*turns) * latency / concurrency
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(ideal.Seconds(), "ideal-s")
		b.ReportMetric(100*(wall.Seconds()/ideal.Seconds()-1), "over-ideal-%")
		if transcript != nil {
			b.ReportMetric(transcript(), "stored-transcript-B/run")
		}
	}
}

// startProfile starts a CPU profile into path (nothing when path is empty) and returns what
// stops it.
func startProfile(b *testing.B, path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Error(err)
		}
	}
}

func queryFloat(b *testing.B, db interface {
	QueryRow(string, ...any) *sql.Row
}, query string) float64 {
	var v sql.NullFloat64
	if err := db.QueryRow(query).Scan(&v); err != nil {
		b.Fatal(err)
	}
	return v.Float64
}

// serverCPU is the CPU time so far of the PostgreSQL server processes connected to pg's
// database (the server runs on this machine in the benchmarks), or 0 for nil.
func serverCPU(b *testing.B, pg *postgres.DB) time.Duration {
	if pg == nil {
		return 0
	}
	rows, err := pg.Pool().Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // ended since
		}
		// Fields after the command name (which is in parentheses): utime and stime are the
		// 12th and 13th, in clock ticks of 1/100 s.
		f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return total
}

// resetPeakRSS hands freed memory back to the system and resets the process's peak resident set
// size to the current one (Linux: clear_refs 5), so that peakRSS measures what follows.
func resetPeakRSS() {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// BenchmarkPromptBytes measures the bytes sent to the model for a persona's second run, with the
// memory digest of its first run and without it.
func BenchmarkPromptBytes(b *testing.B) {
	for _, memory := range []int{0, 3} {
		b.Run(fmt.Sprintf("memoryRuns=%d", memory), func(b *testing.B) {
			var perRun float64
			for range b.N {
				srv := fake.New(b, fake.WithHandler(fake.Agent(4)), fake.WithoutRecording())
				var clock atomic.Int64
				clock.Store(time.Now().UnixNano())
				now := func() time.Time { return time.Unix(0, clock.Load()) }
				db, _ := seedSQLite(b, 1, sqlite.WithNow(now))
				cfg := benchConfig(1)
				cfg.MemoryRuns = memory
				r, err := runner.New(cfg.Runner(), runner.Deps{
					Provider: benchProvider(b, srv), Persistence: runner.NewStorePersistence(db), Targets: instantTools{},
					Now: now,
				})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				if res, err := r.Tick(ctx); err != nil || res.RanSuccessfully != 1 {
					b.Fatalf("day 1: %+v %v", res, err)
				}
				clock.Add(int64(25 * time.Hour)) // day 2: the persona is due again
				before := srv.BytesIn()
				if res, err := r.Tick(ctx); err != nil || res.RanSuccessfully != 1 {
					b.Fatalf("day 2: %+v %v", res, err)
				}
				perRun += float64(srv.BytesIn() - before)
			}
			b.ReportMetric(perRun/float64(b.N), "prompt-bytes/run")
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS is the process's peak resident set size in bytes (VmHWM), 0 where unknown.
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
