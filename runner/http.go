package runner

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/persona-runner/persona-runner/httpjson"
	"github.com/persona-runner/persona-runner/httpserver"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/target"
)

// Handler serves the runner's HTTP API (SPEC §5.4): /health and /metrics for everyone;
// /control/pause and /control/resume with the service key; /diag/login and /diag/tick with the
// service key, outside production only. Errors are JSON.
func (r *Runner) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", r.handleHealth)
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.metrics.reg, promhttp.HandlerOpts{}))
	mux.Handle("POST /control/pause", r.serviceKey(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		r.Pause()
		httpjson.Write(w, http.StatusOK, map[string]any{"ok": true, "paused": true})
	})))
	mux.Handle("POST /control/resume", r.serviceKey(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		r.Resume()
		httpjson.Write(w, http.StatusOK, map[string]any{"ok": true, "paused": false})
	})))
	if r.cfg.Diag {
		mux.Handle("GET /diag/login", r.serviceKey(http.HandlerFunc(r.handleDiagLogin)))
		mux.Handle("POST /diag/tick", r.serviceKey(http.HandlerFunc(r.handleDiagTick)))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		httpjson.Write(w, http.StatusNotFound, map[string]any{"error": "Not Found", "message": "no route for " + req.Method + " " + req.URL.Path})
	})
	return mux
}

func (r *Runner) handleHealth(w http.ResponseWriter, _ *http.Request) {
	body := map[string]any{
		"status":         "ok",
		"service":        "persona-runner",
		"paused":         r.Paused(),
		"tickIntervalMs": r.cfg.TickInterval.Milliseconds(),
		"concurrency":    r.cfg.Concurrency,
		"lastTick":       r.LastTick(),
		"outbox":         r.outboxHealth(),
	}
	// Ours, additive: the daily cost budget across replicas.
	if b := r.Budget(); b != nil {
		body["budget"] = b
	}
	// Ours, additive: the auth service's missing extension endpoints and what replaces them.
	if fr, ok := r.store.(FallbackReporter); ok {
		if st := fr.Fallback(); st != nil {
			body["fallback"] = st
		}
	}
	httpjson.Write(w, http.StatusOK, body)
}

// outboxHealth is /health's view of the outbox: null without one.
func (r *Runner) outboxHealth() any {
	if r.outbox == nil {
		return nil
	}
	pending, failed := r.outbox.depth()
	return map[string]any{"runs": pending, "failedRuns": failed}
}

// serviceKey admits requests with the service key (httpjson.ServiceKey).
func (r *Runner) serviceKey(next http.Handler) http.Handler {
	return httpjson.ServiceKey(r.cfg.ServiceKey)(next)
}

func (r *Runner) handleDiagLogin(w http.ResponseWriter, req *http.Request) {
	email := strings.TrimSpace(req.URL.Query().Get("email"))
	if err := persona.ValidateEmail(email); err != nil {
		httpjson.Write(w, http.StatusBadRequest, map[string]any{"ok": false, "error": "email: " + err.Error()})
		return
	}
	l, ok := r.targets.(interface {
		Login(ctx context.Context, email string) (target.Identity, error)
	})
	if !ok {
		httpjson.Write(w, http.StatusNotImplemented, map[string]any{"ok": false, "email": email, "error": "the runner's targets have no login to check"})
		return
	}
	id, err := l.Login(req.Context(), email)
	if err != nil {
		body := map[string]any{"ok": false, "email": email, "error": err.Error()}
		if target.StageOf(err, "") == target.StageLogin {
			body["error"] = "login: " + err.Error()
		}
		httpjson.Write(w, http.StatusBadGateway, body)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"ok": true, "email": email, "userId": id.UserID, "spaceId": id.SpaceID})
}

func (r *Runner) handleDiagTick(w http.ResponseWriter, req *http.Request) {
	// The tick outlives a client that hangs up; Stop still ends it. It may take longer than the
	// server's timeouts allow an ordinary request: the caller holds the service key.
	httpserver.Stream(w)
	res, err := r.Tick(context.WithoutCancel(req.Context()))
	switch {
	case errors.Is(err, ErrTickInProgress):
		httpjson.Write(w, http.StatusConflict, map[string]any{"ok": false, "error": err.Error()})
	case errors.Is(err, ErrStopped):
		httpjson.Write(w, http.StatusServiceUnavailable, map[string]any{"ok": false, "error": err.Error()})
	case err != nil:
		httpjson.Write(w, http.StatusInternalServerError, map[string]any{"ok": false, "error": err.Error(), "result": res})
	default:
		httpjson.Write(w, http.StatusOK, map[string]any{"ok": true, "result": res, "paused": r.Paused()})
	}
}
