package persona

import (
	"context"
	"encoding/json"
	"time"
)

// ActionAggregates is what the read models (findings, report) ask a store that can aggregate
// action rows itself (store/sqlite, store/postgres): counts per tool and module, distinct
// personas, latency ranks and the few raw rows a finding quotes, so that a week of a million
// calls is not read row by row. Every answer is exact: the same numbers as the rows Actions
// returns would give.
type ActionAggregates interface {
	// SpanCalls counts the action rows of [Since, Until) per tool, module and side of Cut, and
	// per run and module: both from one read of the span where the store can.
	SpanCalls(ctx context.Context, q SpanQuery) (SpanCalls, error)
	// ToolFacts reads a span [Since, Until) split at Cut once for what findings ask of every
	// tool: the calls with a known latency per run target, tool and side (a row's target is its
	// run's when the run's tick record started in [TicksSince, TicksUntil), else ""), and of the
	// rows from Cut on, per tool, the personas with a call that reached the app (not
	// Infrastructure) and those with a successful call.
	ToolFacts(ctx context.Context, q SpanQuery) (ToolFacts, error)
	// OKPersonas lists the personas with a successful call of tool in [q.Since, q.Until).
	OKPersonas(ctx context.Context, q SpanQuery, tool string) ([]string, error)
	// LatencyFromTop returns the known latency at rank Offset (0: the largest) of a tool's calls
	// in [Since, Until), of the runs of Target when HasTarget; ok is false when there is none.
	LatencyFromTop(ctx context.Context, q LatencyQuery) (ms int64, ok bool, err error)
	// ActionRows returns the raw rows that match f, oldest first (as Actions orders them).
	ActionRows(ctx context.Context, f RowFilter) ([]Action, error)
	// ToolRuns returns, newest first (as Ticks orders them), up to Limit runs whose tick
	// record started in [TicksSince, TicksUntil) and after After, that have a row of Tool in
	// [Since, Until).
	ToolRuns(ctx context.Context, q ToolRunsQuery) ([]string, error)
	// ToolOKIn reports whether tool has a successful call in [since, until).
	ToolOKIn(ctx context.Context, tool string, since, until time.Time) (bool, error)
	// ActionArguments returns the arguments of the action rows ids (those with arguments).
	ActionArguments(ctx context.Context, ids []string) (map[string]json.RawMessage, error)
	// PersonaNames returns every persona ListPersonas lists, in its order (by email), with
	// only UserID, Email, Name, Archetype and LastError set (no action counts).
	PersonaNames(ctx context.Context) ([]PersonaSummary, error)
	// RunFacts returns the tick records started in [since, until), newest first (as Ticks),
	// with only TickID, PersonaID, Status, StartedAt, Error, Target and ServerVersion set.
	RunFacts(ctx context.Context, since, until time.Time) ([]Tick, error)
	// LastNotes returns, per module of modules, the notes of its newest feedback row in [since,
	// until) with notes (in Feedback's order, the last), "" when it has none.
	LastNotes(ctx context.Context, modules []string, since, until time.Time) (map[string]string, error)
	// RatingCounts counts the feedback rows of [Since, Until) per module, side of Cut and rating.
	RatingCounts(ctx context.Context, q SpanQuery) ([]RatingCount, error)
}

// RatingCount is the number of ratings of one value for one module on one side of the cut.
type RatingCount struct {
	Module              string
	Side, Rating, Count int
}

// SpanQuery selects the action rows of [Since, Until), of Module when set, split at Cut into
// side 0 (before Cut) and side 1 (from Cut on); a zero Cut puts every row on side 0.
// TicksSince and TicksUntil bound the tick records whose target a row takes (ToolFacts).
type SpanQuery struct {
	Since, Cut, Until      time.Time
	Module                 string
	TicksSince, TicksUntil time.Time
}

// ToolSpan counts one tool's rows of one module on one side of the cut.
type ToolSpan struct {
	Tool, Module string
	Side         int
	Calls        int // every row
	OK           int // result ok
	Errors       int // result error, the app answered (not Infrastructure)
	Infra        int // Infrastructure rows
	Timed        int // rows with a known latency
}

// ToolFacts is what ToolFacts reads. OK, when not nil, lists per tool the personas of
// ToolPersonas.OKPersonas (a store that does not gather them leaves it nil: ask OKPersonas).
type ToolFacts struct {
	Timed    []TargetTimed
	Personas []ToolPersonas // side 1: the rows from Cut on
	OK       map[string][]string
}

// ToolPersonas counts one tool's distinct personas on one side of the cut.
type ToolPersonas struct {
	Tool       string
	Side       int
	Personas   int // with a row that is not Infrastructure
	OKPersonas int // with a successful call
}

// TargetTimed counts one target's and tool's rows with a known latency on one side of the cut.
type TargetTimed struct {
	Target, Tool string
	Side, Timed  int
}

// LatencyQuery asks for a latency rank (LatencyFromTop).
type LatencyQuery struct {
	Tool                   string
	Module                 string // only this module's calls
	Since, Until           time.Time
	HasTarget              bool
	Target                 string
	TicksSince, TicksUntil time.Time
	Offset                 int
}

// RowFilter selects raw action rows (ActionRows). Zero fields do not filter.
type RowFilter struct {
	Since, Until time.Time
	Module       string
	Tool         string
	ErrorsOnly   bool   // result error
	NotInfra     bool   // not Infrastructure
	Timed        bool   // with a known latency
	MinLatency   *int64 // latency at least this
	// HasTarget keeps the rows whose target (as in ToolFacts) is Target.
	HasTarget              bool
	Target                 string
	TicksSince, TicksUntil time.Time
	Limit                  int
	// NoArguments leaves Arguments and ResultPreview empty (ActionArguments reads them by id).
	NoArguments bool
}

// ToolRunsQuery asks for the runs that used a tool (ToolRuns).
type ToolRunsQuery struct {
	Tool                   string
	Since, Until           time.Time
	TicksSince, TicksUntil time.Time
	After                  time.Time
	Limit                  int
}

// SpanCalls is what SpanCalls counts.
type SpanCalls struct {
	Tools []ToolSpan        // per tool, module and side
	Runs  []TickModuleCalls // per run and module
}

// TickModuleCalls is the number of rows of one run in one module.
type TickModuleCalls struct {
	TickID, Module string
	Calls          int
}
