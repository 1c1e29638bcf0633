// Package e2e_test runs the runner end to end in one process: the auth API, the demo MCP app and
// the fake model server on loopback ports, over SQLite and PostgreSQL, with the real Anthropic and
// OpenAI adapters. It lives apart from package runner so that the runner's quick tests do not
// compile the model SDKs.
package e2e_test

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/persona-runner/persona-runner/app"
	"github.com/persona-runner/persona-runner/authapi"
	authpersist "github.com/persona-runner/persona-runner/authapi/persist"
	"github.com/persona-runner/persona-runner/config"
	"github.com/persona-runner/persona-runner/jwtauth"
	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/model/anthropic"
	"github.com/persona-runner/persona-runner/model/fake"
	"github.com/persona-runner/persona-runner/model/openai"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/retry"
	"github.com/persona-runner/persona-runner/runner"
	"github.com/persona-runner/persona-runner/store"
	"github.com/persona-runner/persona-runner/store/postgres/pgtest"
	"github.com/persona-runner/persona-runner/store/sqlite"
	"github.com/persona-runner/persona-runner/target/strategy"
)

const serviceKey = "e2e-service-key-0123456789abcdef"

// stack is the whole system on loopback ports around one store.
type stack struct {
	db      store.DB
	authURL string
	mcpURL  string
	fake    *fake.Server
	client  *authapi.Client // with the service key
	ids     map[string]string
	authAPI *authapi.Server
	authSrv *httptest.Server
}

func newStack(t *testing.T, pg bool, emails ...string) *stack {
	t.Helper()
	return newCompatStack(t, pg, "", emails...)
}

// newCompatStack is newStack with the auth API in a compat mode ("" for ours).
func newCompatStack(t *testing.T, pg bool, compat string, emails ...string) *stack {
	t.Helper()
	ctx := context.Background()
	s := &stack{ids: map[string]string{}}
	if pg {
		s.db = pgtest.NewDB(t)
	} else {
		db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "persona-runner.db"), sqlite.WithPasswordCost(bcrypt.MinCost))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		s.db = db
	}
	for _, e := range emails {
		pw, _ := persona.DerivePassword(persona.DevSeedSecret, e)
		name := strings.TrimPrefix(strings.Split(e, "@")[0], "persona.")
		id, _, err := s.db.UpsertPersona(ctx, persona.PersonaInput{
			Email: e, Name: name, Password: pw, Archetype: "tester",
			SystemPrompt: "You are " + name + ", who keeps a tidy todo list and a few notes.",
			ModuleMix:    persona.ModuleMix{"todo": 0.7, "notes": 0.3}, Timezone: "Europe/Berlin",
		})
		if err != nil {
			t.Fatal(err)
		}
		s.ids[e] = id
	}

	// The auth API's issuer is its own URL, so its listener comes first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.authURL = "http://" + ln.Addr().String()
	api, err := authapi.New(ctx, authapi.Config{Store: s.db, Issuer: s.authURL, ServiceKey: serviceKey, PasswordCost: bcrypt.MinCost, Compat: compat})
	if err != nil {
		t.Fatal(err)
	}
	authSrv := httptest.NewUnstartedServer(api)
	authSrv.Listener.Close()
	authSrv.Listener = ln
	authSrv.Start()
	t.Cleanup(authSrv.Close)
	s.authAPI, s.authSrv = api, authSrv

	a, err := app.New(app.Config{
		Store: s.db, RateLimit: -1,
		Verifier: jwtauth.NewVerifier(s.authURL+"/api/auth/jwks", s.authURL, jwtauth.Audience, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	mcpSrv := httptest.NewServer(a.Handler())
	t.Cleanup(func() { _ = a.Close(); mcpSrv.Close() })
	s.mcpURL = mcpSrv.URL
	s.fake = fake.New(t)
	s.client = authapi.NewClient(s.authURL, nil)
	s.client.ServiceKey = serviceKey
	return s
}

var fastRetry = retry.Policy{Base: time.Millisecond, Max: 20 * time.Millisecond}

func (s *stack) anthropic(t *testing.T) model.Provider {
	t.Helper()
	p, err := anthropic.New(anthropic.Config{APIKey: "test-key", BaseURL: s.fake.URL(), Model: "claude-sonnet-4-5", Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (s *stack) openai(t *testing.T) model.Provider {
	t.Helper()
	p, err := openai.New(openai.Config{APIKey: "test-key", BaseURL: s.fake.OpenAIURL(), Model: "gpt-4o-mini", Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (s *stack) config(id string) config.Config {
	cfg := config.Default()
	cfg.RunnerID = id
	cfg.AuthURL, cfg.MCPURL = s.authURL, s.mcpURL
	cfg.ServiceKey = serviceKey
	cfg.Provider, cfg.Model = config.ProviderAnthropic, "claude-sonnet-4-5"
	cfg.Concurrency = 4
	return cfg
}

func (s *stack) runner(t *testing.T, cfg config.Config, p model.Provider, viaHTTP bool) *runner.Runner {
	t.Helper()
	var persist runner.Persistence = runner.NewStorePersistence(s.db)
	if viaHTTP {
		persist = authpersist.New(s.client)
	}
	targets, err := strategy.Set(cfg.TargetConfigs(), strategy.Options{AuthURL: cfg.AuthURL, SeedSecret: cfg.SeedSecret.Value()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := runner.New(cfg.Runner(), runner.Deps{Provider: p, Persistence: persist, Targets: runner.TargetSet(targets)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func forEachStore(t *testing.T, f func(t *testing.T, pg bool)) {
	for _, pg := range []bool{false, true} {
		name := "sqlite"
		if pg {
			name = "postgres"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, pg)
		})
	}
}

func TestScriptedRunExactRows(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, pg bool) {
		for _, viaHTTP := range []bool{false, true} {
			t.Run(fmt.Sprintf("http=%v", viaHTTP), func(t *testing.T) {
				email := "persona.anna@mana.test"
				s := newStack(t, pg, email)
				s.fake.Script(
					fake.ToolCalls(fake.Call("todo_create", `{"title":"Buy milk"}`)),
					fake.ToolCalls(fake.Call("todo_create", `{"priority":"high"}`)), // no title: the app refuses
					fake.ToolCalls(fake.Call("notes_create", `{"title":"Idea","body":"Plant basil"}`)),
					fake.Text("Milk is on the list; the second todo would not save."),
					fake.Text("```json\n{\"ratings\":[{\"module\":\"todo\",\"rating\":3,\"notes\":\"the second add failed\"},{\"module\":\"notes\",\"rating\":5,\"notes\":\"easy\"}]}\n```"),
				)
				r := s.runner(t, s.config("r1"), s.anthropic(t), viaHTTP)
				res, err := r.Tick(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if res.Due != 1 || res.RanSuccessfully != 1 {
					t.Fatalf("result %+v", res)
				}
				ctx := context.Background()
				id := s.ids[email]
				acts, err := s.db.Actions(ctx, persona.ActionQuery{PersonaID: id})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, a := range acts {
					if a.LatencyMs == nil || *a.LatencyMs <= 0 {
						t.Errorf("seq %d latency %v", a.Seq, a.LatencyMs)
					}
					got = append(got, fmt.Sprintf("%d %s %s %s %s", a.Seq, a.ToolName, a.Module, a.InputHash, a.Result))
				}
				want := []string{
					"1 todo.create todo 6330399f2342cfc9 ok",
					"2 todo.create todo f54163e252b491c0 error",
					"3 notes.create notes 67b79e73044bef3f ok",
				}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("actions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				if len(acts) == 3 && !strings.Contains(acts[1].ErrorMessage, "title") {
					t.Errorf("the error should name the missing field: %q", acts[1].ErrorMessage)
				}
				fb, err := s.db.Feedback(ctx, persona.FeedbackQuery{PersonaID: id})
				if err != nil {
					t.Fatal(err)
				}
				ratings := map[string]int{}
				for _, f := range fb {
					ratings[f.Module] = f.Rating
				}
				if len(fb) != 2 || ratings["todo"] != 3 || ratings["notes"] != 5 {
					t.Errorf("feedback %+v", fb)
				}
				ticks, err := s.db.Ticks(ctx, persona.TickQuery{PersonaID: id})
				if err != nil || len(ticks) != 1 {
					t.Fatalf("ticks %v %v", ticks, err)
				}
				tk := ticks[0]
				if tk.Status != persona.TickOK || tk.ToolCalls != 3 || tk.Errors != 1 || tk.Turns != 5 || tk.Model == "" ||
					tk.Summary != "Milk is on the list; the second todo would not save." || len(tk.Transcript) == 0 || tk.CostUSD <= 0 {
					t.Errorf("tick record %+v", tk)
				}
				p, err := s.db.Persona(ctx, id)
				if err != nil || p.LastActiveAt == nil || p.LeaseOwner != "" {
					t.Errorf("persona after run: %+v %v", p, err)
				}
				// The rating request continues the main conversation; it keeps the tool definitions
				// (its history has tool calls, which the APIs refuse otherwise) with tool choice none.
				reqs := s.fake.Requests()
				last, main := reqs[len(reqs)-1], reqs[len(reqs)-2]
				if last.HasTools() || !main.HasTools() || len(last.Tools) != len(main.Tools) || last.ToolChoice != "none" ||
					len(last.Messages) != len(main.Messages)+2 {
					t.Errorf("rating request: tools %d, choice %q, %d messages after %d", len(last.Tools), last.ToolChoice, len(last.Messages), len(main.Messages))
				}
				if last.System != main.System || last.Messages[0].Text != main.Messages[0].Text {
					t.Error("rating request does not continue the conversation")
				}
				if !strings.Contains(last.Messages[len(last.Messages)-1].Text, `"ratings"`) {
					t.Errorf("rating prompt: %q", last.Messages[len(last.Messages)-1].Text)
				}
				if len(main.ToolResults()) != 3 || !main.ToolResults()[1].IsError {
					t.Errorf("tool results sent back: %+v", main.ToolResults())
				}
			})
		}
	})
}

func TestParseRowEndToEnd(t *testing.T) {
	t.Parallel()
	email := "persona.ben@mana.test"
	s := newStack(t, false, email)
	s.fake.Script(
		fake.ToolCalls(fake.Call("todo_list", `{}`)),
		fake.Text("Fine."),
		fake.Text(`{"ratings":[{"module":"todo","rating":"pretty good"}]}`),
	)
	r := s.runner(t, s.config("r1"), s.openai(t), true)
	if _, err := r.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	fb, _ := s.db.Feedback(context.Background(), persona.FeedbackQuery{PersonaID: s.ids[email]})
	if len(fb) != 1 || fb[0].Module != runner.ParseModule || fb[0].Rating != 3 || !strings.Contains(fb[0].Notes, "not a number") {
		t.Errorf("feedback %+v", fb)
	}
}

func TestRateLimitStormIsRetried(t *testing.T) {
	t.Parallel()
	email := "persona.cleo@mana.test"
	s := newStack(t, false, email)
	s.fake.Script(
		fake.Fault(429, 10*time.Millisecond), fake.Fault(529, 0), fake.Fault(429, 10*time.Millisecond),
		fake.ToolCalls(fake.Call("todo_list", `{}`)),
		fake.Fault(500, 0), fake.Fault(429, 0),
		fake.Text("Done."),
		fake.Fault(429, 0),
		fake.Text(`{"ratings":[{"module":"todo","rating":4}]}`),
	)
	r := s.runner(t, s.config("r1"), s.anthropic(t), false)
	res, err := r.Tick(context.Background())
	if err != nil || res.RanSuccessfully != 1 {
		t.Fatalf("result %+v %v", res, err)
	}
	if n := s.fake.Count(); n != 9 {
		t.Errorf("%d model requests, want 9 (6 faults retried)", n)
	}
	ticks, _ := s.db.Ticks(context.Background(), persona.TickQuery{PersonaID: s.ids[email]})
	if len(ticks) != 1 || ticks[0].Status != persona.TickOK || ticks[0].ToolCalls != 1 {
		t.Errorf("ticks %+v", ticks)
	}
}

func TestDeadlineTimeoutBacksOff(t *testing.T) {
	t.Parallel()
	email := "persona.dan@mana.test"
	s := newStack(t, false, email)
	// The first model call never answers, so the deadline is the only thing that ends the run:
	// nothing has to happen before it, and a loaded machine only makes the test slower. That a
	// run keeps the calls made before its deadline is tested on a fake clock in package runner
	// (TestDeadlineRecordsTimeout); here the timeout goes through the real stack to the store.
	s.fake.Script(fake.Text("never arrives").WithDelay(time.Hour)) // ends when the runner gives up
	cfg := s.config("r1")
	// Generous, so that connecting to the app (stage mcp) always fits in it even under -race on
	// a loaded machine (200 ms did not): the run then always ends waiting for the model.
	cfg.RunDeadline = 10 * time.Second
	r := s.runner(t, cfg, s.anthropic(t), true)
	res, err := r.Tick(context.Background())
	if err != nil || len(res.Failed) != 1 {
		t.Fatalf("result %+v %v", res, err)
	}
	ctx := context.Background()
	ticks, _ := s.db.Ticks(ctx, persona.TickQuery{PersonaID: s.ids[email]})
	if len(ticks) != 1 || ticks[0].Status != persona.TickTimeout || ticks[0].ToolCalls != 0 || ticks[0].Stage != "model" || !strings.Contains(ticks[0].Error, "deadline") {
		t.Fatalf("ticks %+v", ticks)
	}
	p, err := s.db.Persona(ctx, s.ids[email])
	if err != nil {
		t.Fatal(err)
	}
	if p.FailureCount != 1 || p.NextDueAt == nil || !p.NextDueAt.After(time.Now()) || p.LeaseOwner != "" {
		t.Errorf("persona not backed off: failures %d next due %v lease %q", p.FailureCount, p.NextDueAt, p.LeaseOwner)
	}
	// Backed off, the persona is not due on the next tick.
	if res, err := r.Tick(ctx); err != nil || res.Due != 0 {
		t.Errorf("next tick %+v %v", res, err)
	}
}

func TestTwoRunnersShareOnePostgresStore(t *testing.T) {
	t.Parallel()
	var emails []string
	for i := range 50 {
		emails = append(emails, fmt.Sprintf("persona.p%02d@mana.test", i))
	}
	s := newStack(t, true, emails...)
	// Each runner runs at most 5 personas at once, so the first model call of each run waits
	// until 10 runs are under way: both runners must have claimed personas before any run goes
	// on, however the two are scheduled.
	const bothFull = 10
	var started atomic.Int32
	allStarted := make(chan struct{})
	agent := fake.Agent(2)
	s.fake.Handle(func(req fake.Request) fake.Step {
		if req.HasTools() && len(req.ToolCalls()) == 0 {
			if started.Add(1) == bothFull {
				close(allStarted)
			}
			<-allStarted
		}
		return agent(req)
	})
	var results [2]runner.Result
	var wg sync.WaitGroup
	for i := range 2 {
		cfg := s.config(fmt.Sprintf("runner-%d", i))
		cfg.Concurrency = 5
		r := s.runner(t, cfg, s.anthropic(t), i == 1) // one on the store, one over HTTP
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.Tick(context.Background())
			if err != nil {
				t.Error(err)
			}
			results[i] = res
		}()
	}
	wg.Wait()
	if results[0].Due+results[1].Due != 50 || results[0].RanSuccessfully+results[1].RanSuccessfully != 50 {
		t.Errorf("results %+v / %+v", results[0], results[1])
	}
	ticks, err := s.db.Ticks(context.Background(), persona.TickQuery{})
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string]int{}
	runners := map[string]int{}
	for _, tk := range ticks {
		runs[tk.PersonaID]++
		runners[tk.RunnerID]++
	}
	for _, id := range s.ids {
		if runs[id] != 1 {
			t.Errorf("persona %s ran %d times", id, runs[id])
		}
	}
	if runners["runner-0"] == 0 || runners["runner-1"] == 0 || runners["runner-0"]+runners["runner-1"] != 50 {
		t.Errorf("runs per runner %v: both runners must have claimed personas", runners)
	}
}
