package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/target"
)

// Persistence is where a runner claims personas and writes what they did (SPEC §5.3 step 5).
// NewStorePersistence writes to a persona.Store in the same process; authapi/persist goes
// through the auth API's internal endpoints with the service key (the runner speaks no HTTP to
// its persistence). Adapters mark failures worth another try retry.Temporary. The runner chunks batches to
// the endpoint limits and retries transient failures itself, so implementations make one attempt
// per call. Errors that wrap persona.ErrInvalid, ErrNotFound or ErrConflict are permanent.
type Persistence interface {
	// Claim leases up to limit due personas to runnerID for lease.
	Claim(ctx context.Context, runnerID string, limit int, lease time.Duration) ([]persona.DuePersona, error)
	// InsertActions writes at most persona.MaxActionsPerBatch rows; existing ids are skipped.
	InsertActions(ctx context.Context, personaID string, rows []persona.Action) error
	// InsertFeedback writes at most persona.MaxFeedbackPerBatch rows; existing ids are skipped.
	InsertFeedback(ctx context.Context, personaID string, rows []persona.Feedback) error
	// RecordTick upserts the run's record; a terminal status releases the lease.
	RecordTick(ctx context.Context, t persona.Tick) error
	// History returns the persona's last runs, newest first, for the memory digest.
	History(ctx context.Context, personaID string, runs int) ([]persona.RunHistory, error)
}

// RunRecorder is a Persistence that can write a whole run — its actions, feedback and tick
// record — in one call that writes all of it or nothing (persona.Store.RecordRun). The runner
// then makes one write per run instead of three; when that write fails for good it falls back
// to the separate calls, which say which part could not be written and still record the tick.
// NewStorePersistence implements it; authapi/persist keeps the separate SPEC §4 endpoints.
type RunRecorder interface {
	RecordRun(ctx context.Context, run persona.RunRecord) error
}

// Abandoner is a Persistence that can mark the runs a previous process of this runner id left
// `running` (a crash, kill -9) abandoned and release their leases (persona.Store.AbandonRuns).
// The runner calls it once, before its first claim; without it such runs are found when their
// lease runs out and the persona is claimed again.
type Abandoner interface {
	AbandonRuns(ctx context.Context, runnerID string) (int, error)
}

// FallbackStatus says which extension endpoints the auth service lacks and what the runner does
// instead. /health shows it.
type FallbackStatus struct {
	MissingEndpoints []string `json:"missingEndpoints"`
	SingleReplica    bool     `json:"singleReplica"`
	Note             string   `json:"note"`
}

// FallbackReporter is a Persistence that can fall back when the auth service lacks extension
// endpoints (authapi/persist.Fallback); Fallback is nil when none is missing.
type FallbackReporter interface{ Fallback() *FallbackStatus }

// Targets opens a persona's session on the app it tests (SPEC §10). TargetSet adapts the
// *target.Set that cmd builds from the configuration; the runner itself imports no auth
// strategy, no auth API client and no transport.
type Targets interface {
	// Open authenticates p with its target's strategy and connects. Errors are *target.Error
	// with the stage they happened in (login, space, secrets, mcp, target).
	Open(ctx context.Context, p persona.DuePersona, opts target.OpenOptions) (ToolSession, error)
	// TargetOf is the name of the target p tests (its own, else the default).
	TargetOf(p persona.DuePersona) string
}

// ToolSession is one persona's connection to its target.
type ToolSession interface {
	// Server is what the server said about itself in initialize.
	Server() target.ServerInfo
	// ListTools lists every tool, each with its module and whether the policy offers it.
	ListTools(ctx context.Context) ([]ToolSpec, error)
	// CallTool calls a tool by its MCP name. An error is a transport failure (or
	// target.ErrHidden, never sent); a tool that ran and failed returns IsError.
	CallTool(ctx context.Context, name string, args json.RawMessage) (ToolOutput, error)
	Close() error
}

// ToolSpec is a tool as the target lists it (module, annotations, policy).
type ToolSpec = target.Tool

// ToolOutput is what a tool returned: its text content and whether it reported an error.
type ToolOutput = target.Output

// TargetSet adapts a target.Set to Targets.
func TargetSet(s *target.Set) Targets { return targetSet{s} }

type targetSet struct{ s *target.Set }

func (t targetSet) Open(ctx context.Context, p persona.DuePersona, opts target.OpenOptions) (ToolSession, error) {
	sess, err := t.s.Open(ctx, p, opts)
	if err != nil {
		return nil, err
	}
	return sess, nil
}

func (t targetSet) TargetOf(p persona.DuePersona) string { return t.s.TargetOf(p) }

// Login logs email in on the default target for /diag/login, when its strategy can (mana).
func (t targetSet) Login(ctx context.Context, email string) (target.Identity, error) {
	def := t.s.Default()
	l, ok := def.Strategy.(interface {
		Login(ctx context.Context, email string) (target.Identity, error)
	})
	if !ok {
		return target.Identity{}, fmt.Errorf("target %s (auth %s) has no login to check", def.Name(), def.Config.StrategyName())
	}
	return l.Login(ctx, email)
}
