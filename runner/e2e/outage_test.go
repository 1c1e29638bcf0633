package e2e_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	authpersist "github.com/persona-runner/persona-runner/authapi/persist"
	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/runner"
)

// gatedAgent plays inProcessAgent but holds every rating turn until open is closed, and tells
// reached when a run gets there: the test stops the auth API while every run is mid-day.
type gatedAgent struct {
	inProcessAgent
	reached chan string
	open    chan struct{}

	mu    sync.Mutex
	ticks map[string]map[string]bool // persona email → tick ids seen by the model
}

func (a *gatedAgent) Complete(ctx context.Context, req model.Request) (model.Response, error) {
	a.mu.Lock()
	if a.ticks[req.Persona.Email] == nil {
		a.ticks[req.Persona.Email] = map[string]bool{}
	}
	first := !a.ticks[req.Persona.Email][req.TickID]
	a.ticks[req.Persona.Email][req.TickID] = true
	a.mu.Unlock()
	if !req.CanCallTools() && !first {
		select {
		case a.reached <- req.Persona.Email:
		case <-ctx.Done():
			return model.Response{}, ctx.Err()
		}
		select {
		case <-a.open:
		case <-ctx.Done():
			return model.Response{}, ctx.Err()
		}
	}
	return a.inProcessAgent.Complete(ctx, req)
}

// TestAuthAPIOutageLosesNoRun is issue 13.1: the auth API stops while every persona is mid-day and
// stays away for longer than the old retry window (about 3 s), then comes back on its address.
// Every finished run's actions, feedback and tick record arrive exactly once and no persona runs
// twice: with the outage inside the persist budget the retries carry the rows; with a budget
// shorter than the outage the runs wait in the outbox and the next tick writes them.
func TestAuthAPIOutageLosesNoRun(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, pg bool) {
		for _, tc := range []struct {
			name   string
			budget time.Duration
		}{{"retried", 0}, {"outbox", time.Second}} {
			t.Run(tc.name, func(t *testing.T) {
				emails := []string{"persona.anna@mana.test", "persona.ben@mana.test", "persona.cleo@mana.test"}
				s := newStack(t, pg, emails...)
				agent := &gatedAgent{inProcessAgent: inProcessAgent{calls: 2}, reached: make(chan string), open: make(chan struct{}),
					ticks: map[string]map[string]bool{}}
				cfg := s.config("r1")
				cfg.Outbox = t.TempDir()
				r, err := runner.New(cfg.Runner(), runner.Deps{Provider: agent, Persistence: authpersist.New(s.client),
					Targets: instantTools{}, PersistBudget: tc.budget})
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan runner.Result, 1)
				go func() {
					res, _ := r.Tick(context.Background())
					done <- res
				}()
				for range emails {
					<-agent.reached
				}
				addr := s.authSrv.Listener.Addr().String()
				s.authSrv.Close()
				close(agent.open)
				time.Sleep(4 * time.Second) // the outage: longer than the old retry window
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				srv := &http.Server{Handler: s.authAPI}
				go func() { _ = srv.Serve(ln) }()
				t.Cleanup(func() { _ = srv.Close() })

				res := <-done
				if res.RanSuccessfully != len(emails) {
					t.Errorf("tick result %+v: want %d finished runs", res, len(emails))
				}
				if tc.budget > 0 {
					if n, _ := r.OutboxDepth(); n != len(emails) {
						t.Errorf("outbox depth after the outage %d, want %d", n, len(emails))
					}
					if _, err := r.Tick(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
				if n, _ := r.OutboxDepth(); n != 0 {
					t.Errorf("outbox depth at the end %d, want 0", n)
				}
				ctx := context.Background()
				for _, e := range emails {
					id := s.ids[e]
					ticks, err := s.db.Ticks(ctx, persona.TickQuery{PersonaID: id})
					if err != nil {
						t.Fatal(err)
					}
					acts, err := s.db.Actions(ctx, persona.ActionQuery{PersonaID: id})
					if err != nil {
						t.Fatal(err)
					}
					fb, err := s.db.Feedback(ctx, persona.FeedbackQuery{PersonaID: id})
					if err != nil {
						t.Fatal(err)
					}
					if len(ticks) != 1 || ticks[0].Status != persona.TickOK || len(acts) != 2 || len(fb) == 0 {
						t.Errorf("%s: %d tick records %v, %d actions (want 2), %d feedback rows", e, len(ticks), ticks, len(acts), len(fb))
					}
					for _, a := range acts {
						if len(ticks) == 1 && a.TickID != ticks[0].TickID {
							t.Errorf("%s: action of another run %s", e, a.TickID)
						}
					}
					agent.mu.Lock()
					runs := len(agent.ticks[e])
					agent.mu.Unlock()
					if runs != 1 {
						t.Errorf("%s ran %d times, want once", e, runs)
					}
				}
				// Nobody is leased any more: every lease was released by its run's record.
				due, _, err := s.db.DuePersonas(ctx, 0)
				if err != nil {
					t.Fatal(err)
				}
				if len(due) != 0 {
					t.Errorf("due after the runs landed: %d", len(due))
				}
			})
		}
	})
}

// TestRestartAbandonsThroughTheAuthAPI is issue 13.2 in the split deployment: a runner that
// restarts under the same id, writing through the auth API, marks the run its previous process
// left running abandoned (POST …/internal/personas/abandon) and runs that persona again, once.
func TestRestartAbandonsThroughTheAuthAPI(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, pg bool) {
		email := "persona.anna@mana.test"
		s := newStack(t, pg, email)
		ctx := context.Background()
		// The previous process: claimed the persona, wrote its running record, died.
		if got, err := s.client.Claim(ctx, "r1", 1, time.Hour); err != nil || len(got) != 1 {
			t.Fatalf("claim: %v, %v", got, err)
		}
		if err := s.client.PostTick(ctx, persona.Tick{TickID: "0190c000-0000-7000-8000-000000000001", PersonaID: s.ids[email],
			RunnerID: "r1", Status: persona.TickRunning, StartedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		r, err := runner.New(s.config("r1").Runner(), runner.Deps{Provider: inProcessAgent{calls: 1},
			Persistence: authpersist.New(s.client), Targets: instantTools{}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Tick(ctx)
		if err != nil || res.RanSuccessfully != 1 {
			t.Fatalf("tick after restart: %+v, %v; want the persona run again", res, err)
		}
		ticks, err := s.db.Ticks(ctx, persona.TickQuery{PersonaID: s.ids[email]})
		if err != nil {
			t.Fatal(err)
		}
		var abandoned, ok int
		for _, tk := range ticks {
			switch tk.Status {
			case persona.TickAbandoned:
				abandoned++
				if !strings.Contains(tk.Error, "r1") {
					t.Errorf("abandoned record does not name the runner: %q", tk.Error)
				}
			case persona.TickOK:
				ok++
			}
		}
		if abandoned != 1 || ok != 1 || len(ticks) != 2 {
			t.Errorf("records %+v; want one abandoned and one ok re-run", ticks)
		}
	})
}
