package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/runner"
	"github.com/persona-runner/persona-runner/target"
	"github.com/persona-runner/persona-runner/target/mana"
)

// memStore is an in-memory Persistence with a lease per persona, like the real stores.
type memStore struct {
	mu       sync.Mutex
	due      []persona.DuePersona
	leased   map[string]string // persona → runner
	done     map[string]bool   // ran ok (not due any more)
	actions  []persona.Action
	feedback []persona.Feedback
	ticks    []persona.Tick
	history  map[string][]persona.RunHistory
	claims   int
	batches  []int // sizes of action batches

	failClaims  int   // fail this many Claim calls with failErr
	failActions int   // fail this many InsertActions calls with failErr
	failTicks   int   // fail this many RecordTick calls with failErr
	failErr     error // default: a transient error
	dueAgain    bool  // a finished run leaves its persona due at once (only its lease is released)
	maxClaims   int   // > 0: claims after this many return nobody
	ignoreLease bool  // claims hand back leased personas too (a broken store)
	claimed     chan persona.DuePersona
}

func newMemStore(ps ...persona.DuePersona) *memStore {
	return &memStore{due: ps, leased: map[string]string{}, done: map[string]bool{}, history: map[string][]persona.RunHistory{}}
}

func (s *memStore) Claim(_ context.Context, runnerID string, limit int, _ time.Duration) ([]persona.DuePersona, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claims++
	if s.failClaims > 0 {
		s.failClaims--
		if s.failErr != nil {
			return nil, s.failErr
		}
		return nil, errors.New("dial tcp 127.0.0.1:3001: connect: connection refused")
	}
	var out []persona.DuePersona
	if s.maxClaims > 0 && s.claims > s.maxClaims {
		return nil, nil
	}
	for _, p := range s.due {
		if len(out) >= limit {
			break
		}
		if (s.leased[p.UserID] != "" && !s.ignoreLease) || s.done[p.UserID] {
			continue
		}
		s.leased[p.UserID] = runnerID
		out = append(out, p)
	}
	for _, p := range out {
		if s.claimed != nil {
			s.claimed <- p
		}
	}
	return out, nil
}

func (s *memStore) InsertActions(_ context.Context, _ string, rows []persona.Action) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failActions > 0 {
		s.failActions--
		if s.failErr != nil {
			return s.failErr
		}
		return errors.New("database is locked")
	}
	// Like the real stores: one bad row refuses the whole batch.
	for i, r := range rows {
		if err := persona.ValidateAction(i, r); err != nil {
			return err
		}
		if strings.ContainsRune(r.ToolName, 0) || !utf8.ValidString(r.ToolName) {
			return fmt.Errorf("actions[%d].toolName: not valid text: %w", i, persona.ErrInvalid)
		}
	}
	s.batches = append(s.batches, len(rows))
	for _, r := range rows {
		if !slices.ContainsFunc(s.actions, func(a persona.Action) bool { return a.ID == r.ID }) {
			s.actions = append(s.actions, r)
		}
	}
	return nil
}

func (s *memStore) InsertFeedback(_ context.Context, _ string, rows []persona.Feedback) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.feedback = append(s.feedback, rows...)
	return nil
}

func (s *memStore) RecordTick(_ context.Context, t persona.Tick) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failTicks > 0 {
		s.failTicks--
		if s.failErr != nil {
			return s.failErr
		}
		return errors.New("database is locked")
	}
	// Like the real stores: an upsert by tick id; a running record releases nothing.
	if i := slices.IndexFunc(s.ticks, func(x persona.Tick) bool { return x.TickID == t.TickID }); i >= 0 {
		s.ticks[i] = t
	} else {
		s.ticks = append(s.ticks, t)
	}
	if t.Status == persona.TickRunning {
		return nil
	}
	delete(s.leased, t.PersonaID)
	if (t.Status == persona.TickOK || t.Status.Failure()) && !s.dueAgain {
		s.done[t.PersonaID] = true
	}
	return nil
}

func (s *memStore) History(_ context.Context, personaID string, runs int) ([]persona.RunHistory, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.history[personaID]
	return h[:min(runs, len(h))], nil
}

func (s *memStore) tickOf(personaID string) (persona.Tick, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.ticks {
		if t.PersonaID == personaID {
			return t, true
		}
	}
	return persona.Tick{}, false
}

// fakeAuth logs anyone in whose password is the derived one.
type fakeAuth struct {
	secret    string
	mu        sync.Mutex
	refreshes int
}

func (a *fakeAuth) Login(_ context.Context, email, password string) (mana.Session, error) {
	a.mu.Lock()
	secret := a.secret
	a.mu.Unlock()
	want, _ := persona.DerivePassword(secret, email)
	if password != want {
		return mana.Session{}, fmt.Errorf("invalid credentials for %s", email)
	}
	return mana.Session{UserID: "u-" + email, AccessToken: "jwt-" + email, RefreshToken: "rt-" + email}, nil
}

func (a *fakeAuth) Refresh(_ context.Context, rt string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refreshes++
	return fmt.Sprintf("jwt-refreshed-%d", a.refreshes), nil
}

func (a *fakeAuth) Spaces(_ context.Context, token string) ([]mana.Space, error) {
	return []mana.Space{{ID: "shared", Type: "family"}, {ID: "space-" + token, Type: "personal"}}, nil
}

// fakeTools is a target serving a fixed tool list, whose personas authenticate with the real
// mana strategy over fakeAuth; handle decides each call's outcome.
type fakeTools struct {
	specs    []runner.ToolSpec
	handle   func(ctx context.Context, name string, args json.RawMessage) (runner.ToolOutput, error)
	strategy *mana.Strategy
	mu       sync.Mutex
	calls    []string // "name token space"
}

func (f *fakeTools) Open(ctx context.Context, p persona.DuePersona, _ target.OpenOptions) (runner.ToolSession, error) {
	creds, err := f.strategy.Begin(ctx, p)
	if err != nil {
		return nil, err
	}
	return &fakeSession{f: f, creds: creds}, nil
}

func (f *fakeTools) TargetOf(p persona.DuePersona) string {
	if p.Target == "" {
		return target.Demo
	}
	return p.Target
}

func (f *fakeTools) Login(ctx context.Context, email string) (target.Identity, error) {
	return f.strategy.Login(ctx, email)
}

type fakeSession struct {
	f     *fakeTools
	creds target.Credentials
}

func (s *fakeSession) Server() target.ServerInfo {
	return target.ServerInfo{Name: "fake-app", Version: "1.0.0", ProtocolVersion: "2025-06-18"}
}

func (s *fakeSession) ListTools(context.Context) ([]runner.ToolSpec, error) {
	out := slices.Clone(s.f.specs)
	for i := range out {
		if out[i].Module == "" {
			out[i].Module = target.ModuleOf(out[i].Name)
		}
	}
	return out, nil
}

func (s *fakeSession) CallTool(ctx context.Context, name string, args json.RawMessage) (runner.ToolOutput, error) {
	// The credentials go on a request as they would on the wire.
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://app.test/mcp", nil)
	if err := s.creds.Apply(req); err != nil {
		return runner.ToolOutput{}, err
	}
	s.f.mu.Lock()
	s.f.calls = append(s.f.calls, name+" "+strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")+" "+req.Header.Get(mana.HeaderSpace))
	s.f.mu.Unlock()
	// Every real call takes a little time, as over a network.
	time.Sleep(50 * time.Microsecond)
	if s.f.handle != nil {
		return s.f.handle(ctx, name, args)
	}
	return runner.ToolOutput{Text: `{"ok":true}`}, nil
}

func (s *fakeSession) Close() error { return nil }

func demoTools() *fakeTools {
	return &fakeTools{specs: []runner.ToolSpec{
		{Name: "todo.create", Description: "Create a todo", InputSchema: json.RawMessage(`{"type":"object","properties":{"title":{"type":"string"}}}`)},
		{Name: "todo.list", Description: "List todos", InputSchema: json.RawMessage(`{"type":"object"}`)},
		{Name: "notes.add", Description: "Add a note", InputSchema: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}}}`)},
		{Name: "mood.log", Description: "Log a mood"},
	}}
}

// scripted is a model.Provider whose answers come from a function of the request; it keeps a
// copy of every request.
type scripted struct {
	mu     sync.Mutex
	reqs   []model.Request
	answer func(ctx context.Context, req model.Request, n int) (model.Response, error)
}

func (s *scripted) Name() string  { return "scripted" }
func (s *scripted) Model() string { return "sim-1" }

func (s *scripted) Complete(ctx context.Context, req model.Request) (model.Response, error) {
	s.mu.Lock()
	req.Messages = slices.Clone(req.Messages)
	s.reqs = append(s.reqs, req)
	n := 0
	for _, r := range s.reqs {
		if r.TickID == req.TickID {
			n++
		}
	}
	s.mu.Unlock()
	return s.answer(ctx, req, n)
}

func (s *scripted) requests() []model.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// day answers turn by turn from a list, then rates with rating.
func day(turns []model.Response, rating string) func(context.Context, model.Request, int) (model.Response, error) {
	return func(_ context.Context, req model.Request, n int) (model.Response, error) {
		if req.Phase == model.PhaseRating {
			return model.Response{Text: rating, StopReason: model.StopEnd, Usage: model.Usage{InputTokens: 100, OutputTokens: 20}}, nil
		}
		if n > len(turns) {
			return model.Response{Text: "Done.", StopReason: model.StopEnd}, nil
		}
		r := turns[n-1]
		if r.Usage == (model.Usage{}) {
			r.Usage = model.Usage{InputTokens: 100, OutputTokens: 10, CachedTokens: 40}
		}
		return r, nil
	}
}

func call(id, name, input string) model.ToolCall {
	return model.ToolCall{ID: id, Name: name, Input: json.RawMessage(input)}
}

func testPersona(email string) persona.DuePersona {
	return persona.DuePersona{
		UserID: "u-" + email, Email: email, Archetype: "tester",
		SystemPrompt: "You are " + email + ", a busy person who tries apps.",
		ModuleMix:    persona.ModuleMix{"todo": 0.6, "notes": 0.4},
		TickCadence:  persona.Daily, Timezone: "Europe/Berlin",
	}
}

func testConfig() runner.Config {
	return runner.Config{
		RunnerID: "test-runner", ServiceKey: "test-service-key", Diag: true,
		TickInterval: time.Minute, Concurrency: 4, RunDeadline: 10 * time.Minute, MaxTurns: 15,
		MaxTokens: 2048, MemoryRuns: 3, Grace: time.Minute, RecordArguments: true,
	}
}

type bundle struct {
	r      *runner.Runner
	store  *memStore
	tools  *fakeTools
	model  *scripted
	auth   *fakeAuth
	mu     sync.Mutex
	events []runner.Event
	logs   bytes.Buffer // the runner's log output, as text
}

// Write takes the runner's log output (setup's logger writes here), safe for its goroutines.
func (b *bundle) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.logs.Write(p)
}

// logged returns the runner's log output so far.
func (b *bundle) logged() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.logs.String()
}

func (b *bundle) eventsOf(kind runner.EventKind) []runner.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []runner.Event
	for _, e := range b.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func setup(t *testing.T, cfg runner.Config, answer func(context.Context, model.Request, int) (model.Response, error), ps ...persona.DuePersona) *bundle {
	t.Helper()
	b := &bundle{store: newMemStore(ps...), tools: demoTools(), model: &scripted{answer: answer}, auth: &fakeAuth{secret: persona.DevSeedSecret}}
	b.tools.strategy = &mana.Strategy{Auth: b.auth, SeedSecret: persona.DevSeedSecret}
	r, err := runner.New(cfg, runner.Deps{
		Provider: b.model, Persistence: b.store, Targets: b.tools,
		OnEvent: func(e runner.Event) { b.mu.Lock(); b.events = append(b.events, e); b.mu.Unlock() },
		Logger:  slog.New(slog.NewTextHandler(b, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	runner.SetRetry(r, 3, time.Millisecond)
	b.r = r
	return b
}
