package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/runner"
)

// events is one tick of two runs, one failed, as the runner reports it.
func events() []runner.Event {
	return []runner.Event{
		{Kind: runner.TickStarted},
		{Kind: runner.RunStarted, Email: "persona.ben@mana.test"},
		{Kind: runner.RunStarted, Email: "persona.anna@mana.test"},
		{Kind: runner.RunFinished, Email: "persona.ben@mana.test", Status: persona.TickFailed, ToolCalls: 2, Errors: 1,
			Error: "login: log in persona.ben@mana.test: 401 INVALID_CREDENTIALS", Duration: 1500 * time.Millisecond, InputTokens: 100, OutputTokens: 20, CostUSD: 0.0006},
		{Kind: runner.RunFinished, Email: "persona.anna@mana.test", Status: persona.TickOK, ToolCalls: 6, Errors: 1,
			Ratings: []runner.Rating{{Module: "todo", Rating: 4}, {Module: "notes", Rating: 2}}, Duration: 850 * time.Millisecond,
			InputTokens: 9000, OutputTokens: 1200, CostUSD: 0.045},
		{Kind: runner.TickFinished, Duration: 2300 * time.Millisecond,
			Result: &runner.Result{Due: 2, RanSuccessfully: 1, Failed: []runner.RunFailure{{Persona: "persona.ben@mana.test"}}}},
	}
}

func fixedClock() func() time.Time {
	t0 := time.Date(2025, 6, 4, 9, 0, 0, 0, time.UTC)
	return func() time.Time { return t0 }
}

const wantSummary = `PERSONA                 CALLS  ERRORS  TOKENS  COST     RATINGS          STATUS
persona.anna@mana.test  6      1       10200   $0.0450  todo 4, notes 2  ok
persona.ben@mana.test   2      1       120     $0.0006  -                failed: login: log in persona.ben@mana.test: 401 INVALID_CREDENTIALS
2 runs: 1 ok, 1 failed · 8 tool calls, 2 errors · 10320 tokens, $0.0456 · 2.3s
`

// TestPlain: without a terminal every event is one plain line, and the tick ends with the
// summary table sorted by persona.
func TestPlain(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	d := New(&out, false)
	d.now = fixedClock()
	for _, e := range events() {
		d.Handle(e)
	}
	d.Close()
	want := `09:00:00 tick 1 started
09:00:00 persona.ben@mana.test failed: 2 tool calls, 1 error (1.5s): login: log in persona.ben@mana.test: 401 INVALID_CREDENTIALS
09:00:00 persona.anna@mana.test ok: 6 tool calls, 1 error (850ms)
09:00:00 tick 1 finished: 2 due, 1 ok, 1 failed in 2.3s
` + wantSummary
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("plain output (-want +got):\n%s", diff)
	}
	if got := d.Runs(); len(got) != 2 || got[0].Email != "persona.anna@mana.test" {
		t.Errorf("Runs() = %+v, want both runs, anna first", got)
	}
}

// TestLive: on a terminal the status line is redrawn in place and cleared before every other
// line, so the finished runs and the summary read as plain lines.
func TestLive(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	d := New(&out, true)
	d.now = fixedClock()
	evs := events()
	d.Handle(evs[0])
	d.Expect(2)
	for _, e := range evs[1:] {
		d.Handle(e)
	}
	d.Close()
	got := out.String()
	for _, want := range []string{
		"\r\x1b[Ktick 1 ▸ 0/2 personas done · 0 tool calls · 0 errors · 0s",
		"\r\x1b[K  ✗ persona.ben@mana.test failed: 2 tool calls",
		"\r\x1b[Ktick 1 ▸ 1/2 personas done · 2 tool calls · 1 error · 0s",
		"\r\x1b[K  ✓ persona.anna@mana.test ok: 6 tool calls, 1 error (850ms)\n",
		"\r\x1b[Ktick 1 ▸ 2/2 personas done · 8 tool calls · 2 errors · 0s\r\x1b[K" + wantSummary,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("live output lacks %q:\n%q", want, got)
		}
	}
	if !strings.HasSuffix(got, wantSummary) {
		t.Errorf("live output does not end with the summary:\n%q", got)
	}
}

// syncBuffer is a bytes.Buffer the redraw goroutine and the test can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// TestLiveRedraws: while a tick runs the line is redrawn by itself, so the elapsed time moves on
// between events; Close stops it. (Run under -race, this also checks the redraw's locking.)
func TestLiveRedraws(t *testing.T) {
	t.Parallel()
	out := &syncBuffer{}
	d := New(out, true)
	redrawn := make(chan struct{})
	var once sync.Once
	calls := 0
	d.now = func() time.Time {
		// now is called under the display's lock: once per draw. The third call is the first
		// redraw by the ticker (the first two are TickStarted's start time and first draw).
		calls++
		if calls == 3 {
			once.Do(func() { close(redrawn) })
		}
		return time.Date(2025, 6, 4, 9, 0, max(calls-2, 0), 0, time.UTC)
	}
	d.Handle(runner.Event{Kind: runner.TickStarted})
	<-redrawn
	d.Close()
	out.mu.Lock()
	got := out.b.String()
	out.mu.Unlock()
	if !strings.Contains(got, "· 1s") {
		t.Errorf("the line was not redrawn with a later elapsed time:\n%q", got)
	}
	if !strings.HasSuffix(got, "\r\x1b[K") {
		t.Errorf("Close did not clear the line:\n%q", got)
	}
}

func TestNobodyDue(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := WriteSummary(&out, nil, time.Second); err != nil {
		t.Fatal(err)
	}
	if want := "nobody was due: every persona has run within its cadence (hourly, daily or weekdays)\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

func TestRatings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []runner.Rating
		want string
	}{
		{nil, "-"},
		{[]runner.Rating{{Module: "todo", Rating: 4}}, "todo 4"},
		{[]runner.Rating{{Module: "todo", Rating: 4}, {Module: "notes", Rating: 2}}, "todo 4, notes 2"},
	} {
		if got := Ratings(tc.in); got != tc.want {
			t.Errorf("Ratings(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestIdleTickIsOneLine: a tick that runs nobody says so in one line, not a start line, a finish
// line and a summary.
func TestIdleTickIsOneLine(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	d := New(&out, false)
	d.now = fixedClock()
	for range 2 {
		d.Handle(runner.Event{Kind: runner.TickStarted})
		d.Handle(runner.Event{Kind: runner.TickFinished, Result: &runner.Result{}})
	}
	want := "09:00:00 tick 1: " + nobodyDue + "\n09:00:00 tick 2: " + nobodyDue + "\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("idle ticks (-want +got):\n%s", diff)
	}
}

// TestSummaryShowsTheCauseWhole: an error too long for the STATUS column is cut there and listed
// whole under the table, its cause (at the end) included.
func TestSummaryShowsTheCauseWhole(t *testing.T) {
	t.Parallel()
	cause := `model: openai chat completion (gpt-test): transport: Post "http://127.0.0.1:9/v1/chat/completions": dial tcp 127.0.0.1:9: connect: connection refused (nothing listens at 127.0.0.1:9; not retried)`
	var out bytes.Buffer
	if err := WriteSummary(&out, []Run{{Email: "persona.a@mana.test", Status: persona.TickFailed, Error: cause},
		{Email: "persona.b@mana.test", Status: persona.TickFailed, Error: cause}}, time.Second); err != nil {
		t.Fatal(err)
	}
	if want := "  persona.a@mana.test, persona.b@mana.test: " + cause + "\n"; !strings.Contains(out.String(), want) {
		t.Errorf("summary lacks the whole cause %q:\n%s", want, out.String())
	}
}
