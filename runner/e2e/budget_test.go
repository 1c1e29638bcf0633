package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	authpersist "github.com/persona-runner/persona-runner/authapi/persist"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/runner"
)

// budget.dailyUsd across replicas: two runners on one store (both stores) claim nobody once the
// store's cost of today's runs reaches the budget, and say so in the log, /health and /metrics;
// under the budget they claim as before.
func TestDailyBudgetStopsClaimsAcrossRunners(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, pg bool) {
		ctx := context.Background()
		emails := []string{"persona.anna@mana.test", "persona.ben@mana.test", "persona.cleo@mana.test"}
		s := newStack(t, pg, emails...)
		// Another replica already spent $0.60 today (a run of a fourth persona).
		otherID, _, err := s.db.UpsertPersona(ctx, persona.PersonaInput{Email: "persona.dora@mana.test", Name: "Dora", Password: "dora-password-long",
			Archetype: "tester", SystemPrompt: "You are a careful tester who tries every feature once.", ModuleMix: persona.ModuleMix{"todo": 1}})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now().Add(-time.Minute)
		fin := start.Add(30 * time.Second)
		if err := s.db.RecordTick(ctx, persona.Tick{TickID: "spent-today", PersonaID: otherID, RunnerID: "elsewhere", Status: persona.TickOK,
			StartedAt: start, FinishedAt: &fin, CostUSD: 0.60, Model: "claude-sonnet-4-5"}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.db.CostSince(ctx, start.Add(-time.Hour)); err != nil || got != 0.60 {
			t.Fatalf("CostSince = %v, %v; want 0.60", got, err)
		}

		newRunner := func(id string, daily float64, log io.Writer) *runner.Runner {
			cfg := s.config(id)
			cfg.Budget.DailyUSD = daily
			r, err := runner.New(cfg.Runner(), runner.Deps{Provider: inProcessAgent{calls: 1}, Persistence: runner.NewStorePersistence(s.db),
				Targets: instantTools{}, Logger: slog.New(slog.NewTextHandler(log, nil))})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		for _, id := range []string{"r1", "r2"} {
			log := &lockedLog{}
			r := newRunner(id, 0.50, log)
			res, err := r.Tick(ctx)
			if err != nil || res.Due != 0 || res.RanSuccessfully != 0 {
				t.Fatalf("%s over budget: tick %+v, %v; want nobody claimed", id, res, err)
			}
			if !strings.Contains(log.String(), "daily cost budget reached: not claiming personas until 00:00 UTC") ||
				!strings.Contains(log.String(), "spentUsd=0.6") {
				t.Errorf("%s log:\n%s", id, log)
			}
			srv := httptest.NewServer(r.Handler())
			var health struct {
				Budget *runner.BudgetStatus `json:"budget"`
			}
			resp, err := srv.Client().Get(srv.URL + "/health")
			if err != nil {
				t.Fatal(err)
			}
			err = json.NewDecoder(resp.Body).Decode(&health)
			resp.Body.Close()
			if err != nil || health.Budget == nil || !health.Budget.Exhausted || health.Budget.DailyUSD != 0.5 || health.Budget.SpentUSD != 0.6 {
				t.Errorf("%s /health budget = %+v, %v", id, health.Budget, err)
			}
			resp, err = srv.Client().Get(srv.URL + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !hasLine(string(body), "runner_budget_exhausted 1") || !hasLine(string(body), "runner_budget_spent_usd 0.6") {
				t.Errorf("%s /metrics lacks the budget gauges", id)
			}
			srv.Close()
		}

		// Under a larger budget the two runners share the due personas as before.
		total := 0
		for _, id := range []string{"r3", "r4"} {
			log := &lockedLog{}
			r := newRunner(id, 5, log)
			res, err := r.Tick(ctx)
			if err != nil {
				t.Fatal(err)
			}
			total += res.RanSuccessfully
			if b := r.Budget(); b == nil || b.Exhausted {
				t.Errorf("%s under budget: %+v", id, b)
			}
		}
		if total != len(emails) {
			t.Errorf("under budget the runners ran %d personas, want %d", total, len(emails))
		}
	})
}

// A budget needs the store's sum: through the auth API it is refused at start.
func TestDailyBudgetNeedsTheStore(t *testing.T) {
	t.Parallel()
	s := newStack(t, false, "persona.anna@mana.test")
	cfg := s.config("r1")
	cfg.Budget.DailyUSD = 1
	_, err := runner.New(cfg.Runner(), runner.Deps{Provider: inProcessAgent{calls: 1}, Persistence: authpersist.New(s.client), Targets: instantTools{}})
	if err == nil || !strings.Contains(err.Error(), "budget.dailyUsd") {
		t.Errorf("runner.New with a budget over HTTP: %v", err)
	}
}

// hasLine reports whether text has line as one whole line, so a metric asserted at 1 is not
// matched by the same series at 10 or by a longer name that ends the same way.
func hasLine(text, line string) bool {
	return slices.Contains(strings.Split(text, "\n"), line)
}
