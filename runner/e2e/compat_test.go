package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/persona-runner/persona-runner/authapi"
	authpersist "github.com/persona-runner/persona-runner/authapi/persist"
	"github.com/persona-runner/persona-runner/model/fake"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/runner"
	"github.com/persona-runner/persona-runner/store/postgres/pgtest"
	"github.com/persona-runner/persona-runner/store/sqlite"
	"github.com/persona-runner/persona-runner/target/strategy"
)

type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Issue 14.5 and 16: our runner against `serve auth --compat mana` (the original's endpoints
// only, over HTTP) on both stores, with its local store of the same kind. The claim, ticks and
// history routes are missing; the due list has no personalSpaceId nor timezone; organization/list
// and refresh take only the sign-in cookie. The run still succeeds, its rows reach the service,
// its tick record and memory live in the local store, and it is not rerun while its local
// schedule says it ran.
func TestRunnerFallsBackAgainstTheOriginalsEndpoints(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, pg bool) {
		email := "persona.anna@mana.test"
		s := newCompatStack(t, pg, authapi.CompatMana, email)
		ctx := context.Background()
		s.fake.Script(
			fake.ToolCalls(fake.Call("todo_create", `{"title":"Buy milk"}`)),
			fake.ToolCalls(fake.Call("todo_create", `{"title":"Call Ben"}`)),
			fake.ToolCalls(fake.Call("notes_create", `{"title":"Idea","body":"Plant basil"}`)),
			fake.Text("Two todos and a note."),
			fake.Text(`{"ratings":[{"module":"todo","rating":4.4,"notes":"quick"},{"module":"notes","rating":5,"notes":"easy"}]}`),
		)
		var local persona.Store
		opened := 0
		openLocal := func(ctx context.Context) (authpersist.LocalStore, error) {
			opened++
			if pg {
				local = pgtest.NewDB(t)
				return local, nil
			}
			db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "runner-local.db"), sqlite.WithPasswordCost(bcrypt.MinCost))
			local = db
			return db, err
		}
		logs := &lockedLog{}
		log := slog.New(slog.NewTextHandler(logs, nil))
		cfg := s.config("r1")
		persist := authpersist.NewFallback(s.client, openLocal, log)
		targets, err := strategy.Set(cfg.TargetConfigs(), strategy.Options{AuthURL: cfg.AuthURL, SeedSecret: cfg.SeedSecret.Value(), Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		r, err := runner.New(cfg.Runner(), runner.Deps{Provider: s.anthropic(t), Persistence: persist, Targets: runner.TargetSet(targets), Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Tick(ctx)
		if err != nil {
			t.Fatalf("tick: %v\n%s", err, logs.String())
		}
		if res.Due != 1 || res.RanSuccessfully != 1 {
			t.Fatalf("result %+v\nlog:\n%s", res, logs.String())
		}
		// The rows reached the service, ids by batch index as the original makes them.
		id := s.ids[email]
		acts, err := s.db.Actions(ctx, persona.ActionQuery{PersonaID: id})
		if err != nil {
			t.Fatal(err)
		}
		if len(acts) != 3 {
			t.Fatalf("%d action rows on the service, want 3: %+v", len(acts), acts)
		}
		fb, err := s.db.Feedback(ctx, persona.FeedbackQuery{PersonaID: id})
		if err != nil || len(fb) != 2 {
			t.Fatalf("feedback on the service: %+v %v", fb, err)
		}
		for _, f := range fb {
			if f.Module == "todo" && f.Rating != 4 {
				t.Errorf("todo rating %d, want 4.4 rounded", f.Rating)
			}
		}
		// The service has no tick record (it has no such table route); the local store has it.
		if ticks, _ := s.db.Ticks(ctx, persona.TickQuery{PersonaID: id}); len(ticks) != 0 {
			t.Errorf("the service got %d tick records through a route it does not have", len(ticks))
		}
		if opened != 1 || local == nil {
			t.Fatalf("local store opened %d times", opened)
		}
		lp, err := local.PersonaByEmail(ctx, email)
		if err != nil {
			t.Fatalf("no local record of the persona: %v", err)
		}
		if lp.Timezone != "UTC" {
			t.Errorf("local timezone %q, want UTC (the due list gives none)", lp.Timezone)
		}
		ticks, err := local.Ticks(ctx, persona.TickQuery{PersonaID: lp.UserID})
		if err != nil || len(ticks) != 1 || ticks[0].Status != persona.TickOK || ticks[0].ToolCalls != 3 {
			t.Fatalf("local tick records %+v %v", ticks, err)
		}
		// The memory digest comes from the local store.
		hist, err := persist.History(ctx, id, 5)
		if err != nil || len(hist) != 1 || len(hist[0].Actions) != 3 {
			t.Fatalf("history through the fallback: %+v %v", hist, err)
		}
		// Said once in the log, and in /health.
		out := logs.String()
		for _, want := range []string{"no claim endpoint", "ONE runner replica", "no ticks endpoint", "no history endpoint", "no timezone", "sign-in/email"} {
			if n := strings.Count(out, want); n != 1 {
				t.Errorf("log says %q %d times, want once:\n%s", want, n, out)
			}
		}
		// No false alarm: the original's answers (no duplicates, written = rows sent) are fine.
		if strings.Contains(out, "level=ERROR") {
			t.Errorf("errors logged against the original's answers:\n%s", out)
		}
		h := httptest.NewServer(r.Handler())
		defer h.Close()
		resp, err := h.Client().Get(h.URL + "/health")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var health struct {
			Fallback *runner.FallbackStatus `json:"fallback"`
		}
		if err := json.Unmarshal(body, &health); err != nil || health.Fallback == nil || !health.Fallback.SingleReplica ||
			strings.Join(health.Fallback.MissingEndpoints, ",") != "claim,history,ticks" || !strings.Contains(health.Fallback.Note, "ONE runner replica") {
			t.Errorf("/health = %s, want the fallback with claim, history and ticks missing and one replica", body)
		}

		// The next tick does not rerun the persona: its local schedule says it ran today.
		res, err = r.Tick(ctx)
		if err != nil || res.Due != 0 {
			t.Fatalf("second tick: %+v %v", res, err)
		}
	})
}

// Against our own auth API nothing falls back: claims lease on the server, no local store is
// opened, /health shows no fallback.
func TestRunnerUsesTheExtensionsWhenThere(t *testing.T) {
	t.Parallel()
	email := "persona.anna@mana.test"
	s := newStack(t, false, email)
	s.fake.Script(
		fake.ToolCalls(fake.Call("todo_create", `{"title":"Buy milk"}`)),
		fake.Text("Done."),
		fake.Text(`{"ratings":[{"module":"todo","rating":4}]}`),
	)
	opened := 0
	persist := authpersist.NewFallback(s.client, func(context.Context) (authpersist.LocalStore, error) {
		opened++
		return nil, io.ErrUnexpectedEOF
	}, nil)
	cfg := s.config("r1")
	targets, err := strategy.Set(cfg.TargetConfigs(), strategy.Options{AuthURL: cfg.AuthURL, SeedSecret: cfg.SeedSecret.Value()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := runner.New(cfg.Runner(), runner.Deps{Provider: s.anthropic(t), Persistence: persist, Targets: runner.TargetSet(targets)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Tick(context.Background())
	if err != nil || res.RanSuccessfully != 1 {
		t.Fatalf("tick: %+v %v", res, err)
	}
	if opened != 0 {
		t.Errorf("the local store was opened %d times against our own auth API", opened)
	}
	ticks, err := s.db.Ticks(context.Background(), persona.TickQuery{PersonaID: s.ids[email]})
	if err != nil || len(ticks) != 1 {
		t.Errorf("tick records on the server: %d %v", len(ticks), err)
	}
	// An unknown persona is a 404 too, but "Persona not found" is no missing route.
	if _, err := persist.History(context.Background(), "nobody", 5); !errors.Is(err, persona.ErrNotFound) {
		t.Errorf("history of an unknown persona: err = %v, want not found", err)
	}
	if st := persist.Fallback(); st != nil {
		t.Errorf("fallback %+v against our own auth API", st)
	}
}
