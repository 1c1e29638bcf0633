package app

import (
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the gateway's Prometheus metrics, in a registry of its own so that several apps (in
// tests, or next to the runner in one process) never collide.
type metrics struct {
	reg      *prometheus.Registry
	calls    *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	rejected *prometheus.CounterVec
	// sessionsEvicted counts sessions closed to make room for a new one of the same user;
	// sessionsRefused new sessions refused by a cap, by status (429 per user, 503 overall).
	sessionsEvicted prometheus.Counter
	sessionsRefused *prometheus.CounterVec
}

func newMetrics(server *mcp.Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcp_tool_calls_total",
			Help: "Tool calls by tool and result (ok, invalid, not_found, rate_limited, error).",
		}, []string{"tool", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mcp_tool_call_duration_seconds",
			Help:    "Time to serve a tool call, from arguments to result, by tool.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"tool"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcp_requests_rejected_total",
			Help: "Requests to /mcp refused before reaching MCP, by HTTP status (401 token, 403 space).",
		}, []string{"status"}),
		sessionsEvicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mcp_sessions_evicted_total",
			Help: "MCP sessions closed to make room for a new one of the same user (per-user cap).",
		}),
		sessionsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcp_sessions_refused_total",
			Help: "New MCP sessions refused by a cap, by HTTP status (429 per user, all busy; 503 overall).",
		}, []string{"status"}),
	}
	sessions := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mcp_sessions_active",
		Help: "Open MCP sessions.",
	}, func() float64 {
		n := 0
		for range server.Sessions() {
			n++
		}
		return float64(n)
	})
	m.reg.MustRegister(m.calls, m.latency, m.rejected, sessions, m.sessionsEvicted, m.sessionsRefused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(tool, result string, latency time.Duration) {
	m.calls.WithLabelValues(tool, result).Inc()
	m.latency.WithLabelValues(tool).Observe(latency.Seconds())
}
