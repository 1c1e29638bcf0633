package persona

import (
	"context"
	"math/bits"
	"slices"
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
// migration 9, store/postgres migration 11) that holds ms: the latency itself below 32 ms, then
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
