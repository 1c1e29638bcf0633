package runner

import (
	"errors"
	"fmt"
	"time"
)

// PersistTimeout is how long the runner may take to write a run's rows and tick record after the
// run ended (its deadline included), retries and back-off included.
const PersistTimeout = 2 * time.Minute

// MaxTurns is the most model turns of a run's main conversation (SPEC §5.3).
const MaxTurns = 15

// Config is what the runner runs by: its own settings, not the environment-facing configuration
// (config.Config.Runner builds one from the file, the environment and the flags).
type Config struct {
	// RunnerID names the runner as the owner of its leases.
	RunnerID string
	// ServiceKey guards /control/* and /diag/*; empty: they answer 401.
	ServiceKey string
	// Diag serves /diag/* (never in production).
	Diag bool

	TickInterval time.Duration // between ticks; the first is at start
	Concurrency  int           // personas run at once
	Paused       bool          // start paused
	RunDeadline  time.Duration // per run
	MaxTurns     int           // model turns of the main conversation, 1 to MaxTurns
	TokenBudget  int64         // input+output tokens per run, 0 = none
	MaxTokens    int           // output tokens per model call
	MemoryRuns   int           // past runs in the memory digest, 0 = none
	Grace        time.Duration // how long running personas may finish on stop

	// Outbox is the directory where finished runs the store would not take wait to be replayed;
	// empty: no outbox, such runs are lost.
	Outbox string
	// RecordArguments keeps each call's arguments and a preview of its result on its action row.
	RecordArguments bool
	// DailyBudgetUSD stops claiming for the day once the runs started since 00:00 UTC cost it
	// (the store's sum, every replica); 0: no budget.
	DailyBudgetUSD float64
	// Cost estimates the US dollars of a run's tokens on model; nil: 0.
	Cost func(model string, input, output, cached int64) float64
}

// Lease is how long a claimed persona stays leased: the run deadline, then the time its rows may
// take to be written (PersistTimeout), plus a margin for claiming and clock skew, so a lease
// never runs out under a run or its persisting (another runner would claim it meanwhile).
func (c Config) Lease() time.Duration {
	margin := max(c.RunDeadline/5, time.Minute)
	return c.RunDeadline + PersistTimeout + margin
}

// Validate checks what the runner cannot run without, naming the field.
func (c Config) Validate() error {
	var errs []error
	if c.RunnerID == "" {
		errs = append(errs, errors.New("field RunnerID must not be empty"))
	}
	if c.TickInterval <= 0 {
		errs = append(errs, fmt.Errorf("field TickInterval must be positive (got %s)", c.TickInterval))
	}
	if c.Concurrency <= 0 {
		errs = append(errs, fmt.Errorf("field Concurrency must be positive (got %d)", c.Concurrency))
	}
	if c.RunDeadline <= 0 {
		errs = append(errs, fmt.Errorf("field RunDeadline must be positive (got %s)", c.RunDeadline))
	}
	if c.MaxTurns <= 0 || c.MaxTurns > MaxTurns {
		errs = append(errs, fmt.Errorf("field MaxTurns must be from 1 to %d (got %d)", MaxTurns, c.MaxTurns))
	}
	if c.MaxTokens <= 0 {
		errs = append(errs, fmt.Errorf("field MaxTokens must be positive (got %d)", c.MaxTokens))
	}
	if c.TokenBudget < 0 || c.MemoryRuns < 0 || c.Grace < 0 || c.DailyBudgetUSD < 0 {
		errs = append(errs, errors.New("fields TokenBudget, MemoryRuns, Grace and DailyBudgetUSD must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	return nil
}

func (c Config) cost(model string, input, output, cached int64) float64 {
	if c.Cost == nil {
		return 0
	}
	return c.Cost(model, input, output, cached)
}
