// Package progress shows what the runner is doing for `persona-runner up`: on a terminal a live
// status line (personas done of due, tool calls, errors, elapsed time) above which each finished
// run gets one line; elsewhere plain log lines. After every tick it writes a summary table with
// one row per persona run. It reads only runner events, so it works with any runner wiring.
package progress

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/runner"
)

// refresh is how often the live line redraws itself so that the elapsed time moves on even while
// no run finishes.
const refresh = 250 * time.Millisecond

// maxStatus bounds the status column of the summary, so a long error message does not push the
// table off the screen; the full message is in the tick record.
const maxStatus = 72

// Run is one finished persona run as the summary shows it.
type Run struct {
	Email    string
	Status   persona.TickStatus
	Calls    int
	Errors   int
	Ratings  []runner.Rating
	Error    string
	Duration time.Duration
	Tokens   int64 // input + output
	CostUSD  float64
}

// Display turns runner events into progress output. Handle is safe for concurrent use (the
// runner calls it from its workers). Close stops the live line's redraws.
type Display struct {
	w    io.Writer
	live bool
	now  func() time.Time

	mu       sync.Mutex
	ticks    int
	start    time.Time
	expected int
	started  int
	quiet    bool // plain form: the tick's "started" line waits for its first run
	runs     []Run
	calls    int
	errs     int
	drawn    bool          // the live line is on screen (the cursor is at its end)
	stop     chan struct{} // closed to end the redraw goroutine of the current tick
	finished chan struct{} // closed when that goroutine has ended
	last     []Run         // the runs of the last finished tick
}

// nobodyDue is what a tick that ran nobody says.
const nobodyDue = "nobody was due: every persona has run within its cadence (hourly, daily or weekdays)"

// New returns a display writing to w. live selects the terminal form (a status line redrawn in
// place with carriage returns); otherwise every event is one plain line.
func New(w io.Writer, live bool) *Display {
	return &Display{w: w, live: live, now: time.Now}
}

// Expect sets how many personas the current tick is expected to run (the due count), for the
// "done of total" figure. Without it the total is the number of runs started so far.
func (d *Display) Expect(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expected = n
	if d.live && d.stop != nil {
		d.drawLocked()
	}
}

// Handle takes one runner event. Use it as runner.Deps.OnEvent.
func (d *Display) Handle(e runner.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch e.Kind {
	case runner.TickStarted:
		d.ticks++
		d.start = d.now()
		d.expected, d.started, d.calls, d.errs = 0, 0, 0, 0
		d.runs = nil
		if d.live {
			// The first draw waits for Expect or the first run, so the line does not flash
			// "0/0" before the due count is known; the redraw loop draws it if neither comes.
			d.startRedrawLocked()
		} else {
			// An idle tick says so in one line when it finishes; the start line is written
			// only once the tick runs somebody.
			d.quiet = true
		}
	case runner.RunStarted:
		d.started++
		if d.quiet {
			d.quiet = false
			d.logf("tick %d started", d.ticks)
		}
		if d.live {
			d.drawLocked()
		}
	case runner.RunFinished:
		r := Run{Email: e.Email, Status: e.Status, Calls: e.ToolCalls, Errors: e.Errors,
			Ratings: e.Ratings, Error: e.Error, Duration: e.Duration, Tokens: e.InputTokens + e.OutputTokens, CostUSD: e.CostUSD}
		d.runs = append(d.runs, r)
		d.calls += r.Calls
		d.errs += r.Errors
		line := runLine(r)
		if d.live {
			d.clearLocked()
			fmt.Fprintf(d.w, "  %s %s\n", mark(r.Status), line)
			d.drawLocked()
		} else {
			d.logf("%s", line)
		}
	case runner.TickFinished:
		d.stopRedrawLocked()
		if d.live {
			d.clearLocked()
		}
		d.last = append([]Run(nil), d.runs...)
		elapsed := e.Duration
		if elapsed == 0 {
			elapsed = d.now().Sub(d.start)
		}
		idle := len(d.runs) == 0 && (e.Result == nil || e.Result.Due == 0 && len(e.Result.Failed) == 0)
		d.quiet = false
		if idle && !d.live {
			d.logf("tick %d: %s", d.ticks, nobodyDue)
			return
		}
		if !d.live {
			due, ok, failed := len(d.runs), 0, 0
			if e.Result != nil {
				due, ok, failed = e.Result.Due, e.Result.RanSuccessfully, len(e.Result.Failed)
			}
			d.logf("tick %d finished: %d due, %d ok, %d failed in %s", d.ticks, due, ok, failed, round(elapsed))
		}
		// The summary is written once per tick whatever the form, so that logs and terminals
		// tell the same story.
		_ = WriteSummary(d.w, d.runs, elapsed)
	}
}

// Runs returns the runs of the last finished tick, sorted as the summary shows them.
func (d *Display) Runs() []Run {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := append([]Run(nil), d.last...)
	sortRuns(out)
	return out
}

// Close stops redrawing and clears the live line; output written afterwards starts on a clean
// line.
func (d *Display) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopRedrawLocked()
	if d.live {
		d.clearLocked()
	}
}

func (d *Display) logf(format string, args ...any) {
	fmt.Fprintf(d.w, "%s %s\n", d.now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// drawLocked writes the status line in place of the previous one.
func (d *Display) drawLocked() {
	total := max(d.expected, d.started)
	fmt.Fprintf(d.w, "\r\x1b[Ktick %d ▸ %d/%d personas done · %s · %s · %s",
		d.ticks, len(d.runs), total, plural(d.calls, "tool call"), plural(d.errs, "error"), round(d.now().Sub(d.start)))
	d.drawn = true
}

// clearLocked removes the status line so that ordinary lines can be written.
func (d *Display) clearLocked() {
	if d.drawn {
		fmt.Fprint(d.w, "\r\x1b[K")
		d.drawn = false
	}
}

func (d *Display) startRedrawLocked() {
	d.stopRedrawLocked()
	stop, finished := make(chan struct{}), make(chan struct{})
	d.stop, d.finished = stop, finished
	go func() {
		defer close(finished)
		t := time.NewTicker(refresh)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				d.mu.Lock()
				d.drawLocked()
				d.mu.Unlock()
			}
		}
	}()
}

// stopRedrawLocked ends the redraw goroutine. It releases the lock while waiting, because the
// goroutine may be waiting for the lock to draw once more.
func (d *Display) stopRedrawLocked() {
	if d.stop == nil {
		return
	}
	close(d.stop)
	finished := d.finished
	d.stop, d.finished = nil, nil
	d.mu.Unlock()
	<-finished
	d.mu.Lock()
}

func mark(s persona.TickStatus) string {
	switch s {
	case persona.TickOK:
		return "✓"
	case persona.TickDegraded:
		return "!"
	}
	return "✗"
}

// runLine is one finished run in a few words.
func runLine(r Run) string {
	line := fmt.Sprintf("%s %s: %s, %s (%s)", r.Email, r.Status, plural(r.Calls, "tool call"), plural(r.Errors, "error"), round(r.Duration))
	if r.Status != persona.TickOK && r.Error != "" {
		line += ": " + oneLine(r.Error) // whole: the cause is usually at its end
	}
	return line
}

// WriteSummary writes the table of a tick's runs (sorted by persona) and a totals line. A tick
// that ran nobody says so in one line.
func WriteSummary(w io.Writer, runs []Run, elapsed time.Duration) error {
	if len(runs) == 0 {
		_, err := fmt.Fprintln(w, nobodyDue)
		return err
	}
	sorted := append([]Run(nil), runs...)
	sortRuns(sorted)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PERSONA\tCALLS\tERRORS\tTOKENS\tCOST\tRATINGS\tSTATUS")
	ok, degraded, calls, errs := 0, 0, 0, 0
	var tokens int64
	var cost float64
	for _, r := range sorted {
		switch r.Status {
		case persona.TickOK:
			ok++
		case persona.TickDegraded:
			degraded++
		}
		calls += r.Calls
		errs += r.Errors
		tokens += r.Tokens
		cost += r.CostUSD
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\n", r.Email, r.Calls, r.Errors, r.Tokens, USD(r.CostUSD), Ratings(r.Ratings), status(r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := writeCauses(w, sorted); err != nil {
		return err
	}
	counts := fmt.Sprintf("%d ok", ok)
	if degraded > 0 {
		counts += fmt.Sprintf(", %d degraded (unusable ratings)", degraded)
	}
	_, err := fmt.Fprintf(w, "%s: %s, %d failed · %s, %s · %d tokens, %s · %s\n", plural(len(sorted), "run"), counts, len(sorted)-ok-degraded,
		plural(calls, "tool call"), plural(errs, "error"), tokens, USD(cost), round(elapsed))
	return err
}

// USD writes a cost in dollars: four decimals below a dollar (model runs cost fractions of a
// cent), two above.
func USD(v float64) string {
	if v < 1 {
		return fmt.Sprintf("$%.4f", v)
	}
	return fmt.Sprintf("$%.2f", v)
}

// Ratings renders a run's ratings in the order given, e.g. "todo 4, notes 2"; "-" for none.
func Ratings(rs []runner.Rating) string {
	if len(rs) == 0 {
		return "-"
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%s %d", r.Module, r.Rating)
	}
	return strings.Join(parts, ", ")
}

func status(r Run) string {
	if r.Status == persona.TickOK || r.Error == "" {
		return string(r.Status)
	}
	return persona.Truncate(string(r.Status)+": "+oneLine(r.Error), maxStatus)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func sortRuns(rs []Run) {
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Email < rs[j].Email })
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// round shows durations as people read them: 850ms, 3.2s, 1m5s.
func round(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// writeCauses lists under the table each error the STATUS column had to cut, whole, once per
// distinct text with the personas it ended.
func writeCauses(w io.Writer, runs []Run) error {
	var order []string
	who := map[string][]string{}
	for _, r := range runs {
		if r.Status == persona.TickOK || r.Error == "" || status(r) == string(r.Status)+": "+oneLine(r.Error) {
			continue // shown whole in the table already
		}
		msg := oneLine(r.Error)
		if _, seen := who[msg]; !seen {
			order = append(order, msg)
		}
		who[msg] = append(who[msg], r.Email)
	}
	if len(order) == 0 {
		return nil
	}
	if _, err := fmt.Fprintln(w, "why:"); err != nil {
		return err
	}
	for _, msg := range order {
		names := who[msg]
		list := strings.Join(names, ", ")
		if len(names) > 3 {
			list = fmt.Sprintf("%d runs (%s, …)", len(names), strings.Join(names[:3], ", "))
		}
		if _, err := fmt.Fprintf(w, "  %s: %s\n", list, msg); err != nil {
			return err
		}
	}
	return nil
}
