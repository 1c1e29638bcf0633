package runner

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Spender is a Persistence that can sum what every runner replica spent since a time: the
// store's sum over the tick records. The daily cost budget (budget.dailyUsd) needs it.
type Spender interface {
	CostSince(ctx context.Context, since time.Time) (float64, error)
}

// CostSince sums the cost of the runs started at or after since, all runners (Spender).
func (p storePersistence) CostSince(ctx context.Context, since time.Time) (float64, error) {
	return p.s.CostSince(ctx, since)
}

// BudgetStatus is the daily budget as /health shows it.
type BudgetStatus struct {
	DailyUSD  float64   `json:"dailyUsd"`
	SpentUSD  float64   `json:"spentUsd"` // today (UTC), every replica, as of CheckedAt
	Day       string    `json:"day"`
	Exhausted bool      `json:"exhausted"` // no claims until the next day
	CheckedAt time.Time `json:"checkedAt"`
}

// budget tracks the daily cost budget across replicas through the store's sum.
type budget struct {
	mu   sync.Mutex
	last BudgetStatus
}

// Budget returns the daily budget's state, nil when none is configured.
func (r *Runner) Budget() *BudgetStatus {
	if r.cfg.DailyBudgetUSD <= 0 {
		return nil
	}
	r.budget.mu.Lock()
	defer r.budget.mu.Unlock()
	st := r.budget.last
	st.DailyUSD = r.cfg.DailyBudgetUSD
	return &st
}

// budgetAllows reads today's spend of every replica and reports whether claiming may go on. A
// change of state is logged once: reaching the budget as a warning, a new day as info.
func (r *Runner) budgetAllows(ctx context.Context) (bool, error) {
	limit := r.cfg.DailyBudgetUSD
	if limit <= 0 {
		return true, nil
	}
	now := r.now().UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	var spent float64
	err := r.retry.Do(ctx, transient, func(ctx context.Context) error {
		var err error
		spent, err = r.store.(Spender).CostSince(ctx, day)
		return err
	})
	if err != nil {
		r.metrics.errors.WithLabelValues(stageBudget).Inc()
		return false, fmt.Errorf("daily budget: read today's spend: %w", err)
	}
	exhausted := spent >= limit
	r.budget.mu.Lock()
	was := r.budget.last
	r.budget.last = BudgetStatus{SpentUSD: spent, Day: day.Format("2006-01-02"), Exhausted: exhausted, CheckedAt: now}
	r.budget.mu.Unlock()
	r.metrics.budgetSpent.Set(spent)
	if exhausted {
		r.metrics.budgetExhausted.Set(1)
		if !was.Exhausted || was.Day != day.Format("2006-01-02") {
			r.log.Warn("daily cost budget reached: not claiming personas until 00:00 UTC",
				"spentUsd", spent, "dailyUsd", limit, "day", day.Format("2006-01-02"))
		}
		return false, nil
	}
	r.metrics.budgetExhausted.Set(0)
	if was.Exhausted {
		r.log.Info("daily cost budget: claiming again", "spentUsd", spent, "dailyUsd", limit, "day", day.Format("2006-01-02"))
	}
	return true, nil
}
