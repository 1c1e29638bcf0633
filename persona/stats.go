package persona

import (
	"context"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"
)

// The types below are the rows of the dashboard's read queries: aggregates the stores compute in
// SQL, so that a page over a million action rows reads a few hundred rows, not all of them.

// StatsFilter selects the rows an aggregate covers. Empty fields select everything.
type StatsFilter struct {
	Since     time.Time // inclusive
	Until     time.Time // exclusive
	PersonaID string
	Module    string // actions and feedback of this module; runs that made a call in it
	Target    string // runs of this target (the tick record's target), and their rows
	// NoPercentiles: ToolStats may leave P50Ms and P95Ms 0 (a page that shows no latency; over
	// every persona they are the dear part).
	NoPercentiles bool
}

// RunDay counts the runs that started on one UTC day with one status, with their tokens and cost.
type RunDay struct {
	Day          time.Time // midnight UTC
	Status       TickStatus
	Runs         int
	InputTokens  int64
	OutputTokens int64
	CostUSD      float64
}

// RatingDay counts one module's ratings of one value given on one UTC day.
type RatingDay struct {
	Day    time.Time // midnight UTC
	Module string
	Rating int
	Count  int
}

// ToolStat is one tool's calls in a window. Latency percentiles are nearest-rank over the Timed
// calls, those whose latency is known; both are 0 when none is.
type ToolStat struct {
	Tool     string
	Module   string
	Calls    int
	Errors   int
	Timed    int
	P50Ms    int64
	P95Ms    int64
	LastUsed time.Time
}

// ToolError is one distinct error message of a tool, how often it came and when last.
type ToolError struct {
	Tool    string
	Message string
	Count   int
	Last    time.Time
}

// Note is one rating with its note and the persona who gave it.
type Note struct {
	TickID    string
	PersonaID string
	Email     string
	Module    string
	Rating    int
	Notes     string
	CreatedAt time.Time
}

// RunRow is a tick record without its transcript, with the persona's email and name and the
// target and server the run talked to.
type RunRow struct {
	Tick
	Email         string
	Name          string
	Target        string
	ServerName    string
	ServerVersion string
}

// CardQuery pages through the personas, by email.
type CardQuery struct {
	Search string // part of the email, name or archetype (case-insensitive); empty = all
	Offset int
	Limit  int
}

// PersonaCard is one persona with its last run and its ratings per module, for the personas page.
type PersonaCard struct {
	Persona
	LastRunAt  *time.Time
	LastStatus TickStatus // empty when it never ran
	Ratings    []ModuleRating
}

// NextDue is the earliest time from now on at which p is due by the rule of SPEC §6 (now itself
// when it is due): after its cadence period and back-off, after a lease held by a runner, and on
// a weekday in its time zone for the weekdays cadence.
func NextDue(p Persona, now time.Time) time.Time {
	at := now
	if p.LastActiveAt != nil {
		if t := p.LastActiveAt.Add(p.TickCadence.Period()); t.After(at) {
			at = t
		}
	}
	if p.NextDueAt != nil && p.NextDueAt.After(at) {
		at = *p.NextDueAt
	}
	if p.LeaseOwner != "" && p.LeaseExpiresAt != nil && p.LeaseExpiresAt.After(at) {
		at = *p.LeaseExpiresAt
	}
	if p.TickCadence == Weekdays {
		loc := Location(p.Timezone)
		for i := 0; i < 3 && !IsWeekday(at, p.Timezone); i++ {
			l := at.In(loc)
			at = time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, loc)
		}
	}
	return at
}

// StatsStore is the read queries over aggregates that store/sqlite and store/postgres add to
// Store for the dashboard. They only read.
type StatsStore interface {
	// RunsByDay counts runs per UTC day and status, with their tokens and cost.
	RunsByDay(ctx context.Context, f StatsFilter) ([]RunDay, error)
	// RatingsByDay counts ratings per UTC day, module and value.
	RatingsByDay(ctx context.Context, f StatsFilter) ([]RatingDay, error)
	// ToolStats returns calls, errors and latency percentiles per tool, by tool name.
	ToolStats(ctx context.Context, f StatsFilter) ([]ToolStat, error)
	// ToolErrors returns each tool's distinct error messages, most frequent first, at most
	// perTool of them.
	ToolErrors(ctx context.Context, f StatsFilter, perTool int) ([]ToolError, error)
	// RecentNotes returns the newest ratings, newest first.
	RecentNotes(ctx context.Context, f StatsFilter, limit int) ([]Note, error)
	// RecentRuns returns the newest runs without transcripts, newest first.
	RecentRuns(ctx context.Context, f StatsFilter, limit int) ([]RunRow, error)
	// Run returns one run with its transcript; ErrNotFound when there is none.
	Run(ctx context.Context, tickID string) (RunRow, error)
	// Targets lists the distinct targets of the tick records.
	Targets(ctx context.Context) ([]string, error)
	// PersonaCards pages through the live personas by email and counts the matches.
	PersonaCards(ctx context.Context, q CardQuery) ([]PersonaCard, int, error)
	// NextDue returns up to limit live personas in the order their cadence and back-off make
	// them due (leases and weekdays are the caller's: see NextDue).
	NextDue(ctx context.Context, limit int) ([]Persona, error)
}

// LatencyBucket is the bucket of the dashboard's hourly latency histogram (store/sqlite
// migration 12, store/postgres migration 11) that holds ms: the latency itself below 32 ms, then
// 16 buckets per power of two (from 2^41 ms on, again the latency itself). It returns the
// bucket's lower bound and width; a bucket holds [lo, lo+width). The migrations' SQL computes
// the same.
func LatencyBucket(ms int64) (lo, width int64) {
	if ms < 32 || ms >= 1<<41 {
		return ms, 1
	}
	w := int64(1) << (bits.Len64(uint64(ms)) - 5)
	return ms / w * w, w
}

// SortRatingDays orders rating rows by day, module and rating, as RatingsByDay returns them.
func SortRatingDays(days []RatingDay) {
	slices.SortFunc(days, func(a, b RatingDay) int {
		if c := a.Day.Compare(b.Day); c != 0 {
			return c
		}
		if c := strings.Compare(a.Module, b.Module); c != 0 {
			return c
		}
		return a.Rating - b.Rating
	})
}

// ToolHours sums a window's ToolStats from the stores' hourly rollup (its whole hours, AddHours)
// and the rows of its partial edge hours (AddRow), with each tool's latency histogram by
// LatencyBucket, from which Stats locates the percentiles.
type ToolHours struct {
	by map[string]*toolHours
}

type toolHours struct {
	s    ToolStat
	hist map[int64]int64
}

func (h *ToolHours) tool(name, module string) *toolHours {
	if h.by == nil {
		h.by = map[string]*toolHours{}
	}
	t := h.by[name]
	if t == nil {
		t = &toolHours{s: ToolStat{Tool: name}, hist: map[int64]int64{}}
		h.by[name] = t
	}
	t.s.Module = max(t.s.Module, module)
	return t
}

// AddHours adds a rollup row: calls in one latency bucket (-1: without a latency), errors of
// them, and the newest call's time.
func (h *ToolHours) AddHours(tool, module string, bucket, calls, errors int64, last time.Time) {
	t := h.tool(tool, module)
	t.s.Calls += int(calls)
	t.s.Errors += int(errors)
	if last.After(t.s.LastUsed) {
		t.s.LastUsed = last
	}
	if bucket >= 0 {
		t.s.Timed += int(calls)
		t.hist[bucket] += calls
	}
}

// AddRow adds one action row.
func (h *ToolHours) AddRow(tool, module string, result Result, latency *int64, at time.Time) {
	bucket, errors := int64(-1), int64(0)
	if latency != nil {
		bucket, _ = LatencyBucket(*latency)
	}
	if result == ResultError {
		errors = 1
	}
	h.AddHours(tool, module, bucket, 1, errors, at)
}

// Stats returns the tools' statistics by name. Unless noPercentiles, each percentile (nearest
// rank) is read by latency: the offset-th smallest latency in [lo, hi) of the tool's rows of
// the window.
func (h *ToolHours) Stats(noPercentiles bool, latency func(tool string, lo, hi, offset int64) (int64, error)) ([]ToolStat, error) {
	out := make([]ToolStat, 0, len(h.by))
	for _, t := range h.by {
		if t.s.Calls == 0 {
			continue
		}
		t.s.LastUsed = t.s.LastUsed.UTC()
		if t.s.Timed > 0 && !noPercentiles {
			n := int64(t.s.Timed)
			for _, p := range []struct {
				rank int64
				to   *int64
			}{{(n*50 + 99) / 100, &t.s.P50Ms}, {(n*95 + 99) / 100, &t.s.P95Ms}} {
				lo, w, off, ok := RankInBuckets(t.hist, p.rank)
				if !ok {
					return nil, fmt.Errorf("%s: latency rank %d of %d not in the histogram", t.s.Tool, p.rank, n)
				}
				v, err := latency(t.s.Tool, lo, lo+w, off)
				if err != nil {
					return nil, fmt.Errorf("%s: latency rank %d: %w", t.s.Tool, p.rank, err)
				}
				*p.to = v
			}
		}
		out = append(out, t.s)
	}
	slices.SortFunc(out, func(a, b ToolStat) int { return strings.Compare(a.Tool, b.Tool) })
	return out, nil
}

// HourEdges splits [since, until) (zero: open) into the whole UTC hours [hs, he), empty when
// there are none, and the partial edges, the rows to read.
func HourEdges(since, until time.Time) (hs, he time.Time, edges [][2]time.Time) {
	return WholeSpans(since, until, time.Hour)
}

// WholeSpans splits [since, until) (zero: open) into the whole spans of unit [ws, we) (UTC
// hours, UTC days), empty when there are none, and the partial edges before and after them.
func WholeSpans(since, until time.Time, unit time.Duration) (ws, we time.Time, edges [][2]time.Time) {
	if since.IsZero() {
		since = time.Unix(0, 0).UTC()
	}
	if until.IsZero() {
		until = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	ws, we = since.Truncate(unit), until.Truncate(unit)
	if ws.Before(since) {
		ws = ws.Add(unit)
	}
	if !ws.Before(we) {
		return time.Time{}, time.Time{}, [][2]time.Time{{since, until}}
	}
	return ws, we, [][2]time.Time{{since, ws}, {we, until}}
}

// RankInBuckets finds the k-th smallest (1-based) of the latencies counted per bucket in hist
// (by the buckets' lower bounds, LatencyBucket): the bucket that holds it and its 0-based
// offset among the bucket's latencies. ok is false when hist counts fewer than k.
func RankInBuckets(hist map[int64]int64, k int64) (lo, width, offset int64, ok bool) {
	los := make([]int64, 0, len(hist))
	for b := range hist {
		los = append(los, b)
	}
	slices.Sort(los)
	below := int64(0)
	for _, b := range los {
		if n := hist[b]; k <= below+n {
			_, w := LatencyBucket(b)
			return b, w, k - below - 1, true
		}
		below += hist[b]
	}
	return 0, 0, 0, false
}
