package runner

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Error stages of persona_errors_total.
const (
	stageClaim   = "claim"
	stageLogin   = "login"
	stageSpace   = "space"
	stageHistory = "history"
	stageMCP     = "mcp"
	stageModel   = "model"
	stageTool    = "tool"
	stageRating  = "rating"
	stagePersist = "persist"
	stageRefresh = "refresh"
	stageBudget  = "budget"
)

// metrics are the runner's Prometheus series (SPEC §5.4) on a registry of its own, so two
// runners in one process (tests, `up`) never collide.
type metrics struct {
	reg         *prometheus.Registry
	ticks       *prometheus.CounterVec
	toolCalls   *prometheus.CounterVec
	errors      *prometheus.CounterVec
	runDuration prometheus.Histogram
	tokens      *prometheus.CounterVec
	skipped     prometheus.Counter
	running     prometheus.Gauge
	paused      prometheus.Gauge

	outboxRuns     prometheus.Gauge
	outboxFailed   prometheus.Gauge
	outboxKept     prometheus.Counter
	outboxReplayed prometheus.Counter

	budgetExhausted prometheus.Gauge
	budgetSpent     prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		ticks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "persona_ticks_total", Help: "Persona runs by final status (ok, failed, timeout, cancelled).",
		}, []string{"result"}),
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "persona_tool_calls_total", Help: "Tool calls made by personas, by module and result (ok, error).",
		}, []string{"module", "result"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "persona_errors_total", Help: "Errors by the stage of a run they happened in.",
		}, []string{"stage"}),
		runDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "persona_run_duration_seconds", Help: "Wall time of one persona run, login to tick record.",
			Buckets: []float64{0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llm_tokens_total", Help: "Model tokens by kind (input, output, cached).",
		}, []string{"kind"}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tick_skipped_total", Help: "Ticks skipped because the previous one was still running.",
		}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "persona_runs_in_flight", Help: "Persona runs in progress.",
		}),
		paused: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "runner_paused", Help: "1 while the runner is paused.",
		}),
		outboxRuns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "persona_outbox_runs", Help: "Finished runs waiting in the outbox for the store to take them.",
		}),
		outboxFailed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "persona_outbox_failed_runs", Help: "Runs from the outbox the store refused for good (kept in its failed/ directory).",
		}),
		outboxKept: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "persona_outbox_kept_total", Help: "Finished runs put in the outbox because the store did not take them in time.",
		}),
		outboxReplayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "persona_outbox_replayed_total", Help: "Runs from the outbox the store took on replay.",
		}),
		budgetExhausted: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "runner_budget_exhausted", Help: "1 while the daily cost budget (budget.dailyUsd) is reached: no claims until 00:00 UTC.",
		}),
		budgetSpent: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "runner_budget_spent_usd", Help: "Today's (UTC) run cost of every runner on the store, as of the last claim.",
		}),
	}
	m.reg.MustRegister(m.ticks, m.toolCalls, m.errors, m.runDuration, m.tokens, m.skipped, m.running, m.paused,
		m.outboxRuns, m.outboxFailed, m.outboxKept, m.outboxReplayed, m.budgetExhausted, m.budgetSpent,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Series that exist from the start read 0 instead of being absent, which keeps rate() honest.
	for _, k := range []string{"input", "output", "cached"} {
		m.tokens.WithLabelValues(k)
	}
	for _, s := range []string{"ok", "failed", "timeout", "cancelled"} {
		m.ticks.WithLabelValues(s)
	}
	return m
}
