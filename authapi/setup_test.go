package authapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/postgres"
	"github.com/persona-runner/persona-runner/store/postgres/pgtest"
	"github.com/persona-runner/persona-runner/store/sqlite"
	"github.com/persona-runner/persona-runner/store/storetest"
)

const (
	serviceKey    = "test-service-key-0123456789abcdef0123"
	adminEmail    = "ops@example.com"
	adminPassword = "correct horse battery staple"
)

var dialects = []string{"sqlite", "postgres"}

// appTools is the tool list of the app the test servers report on (as the demo app names its
// tools).
var appTools = []string{"todo.create", "todo.list", "todo.complete", "notes.create", "notes.list", "mood.log"}

// bundle is one auth server on a fresh store, listening on loopback.
type bundle struct {
	url    string
	store  persona.Store
	clock  *storetest.Clock
	hc     *http.Client
	client *authapi.Client // carries the service key and an admin token
	logs   *syncBuffer
	ctx    context.Context
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newStore opens a fresh store of the dialect with clock; PostgreSQL skips without a server.
func newStore(t testing.TB, dialect string, clock *storetest.Clock) persona.Store {
	t.Helper()
	switch dialect {
	case "sqlite":
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "persona.db"), sqlite.WithNow(clock.Now), sqlite.WithPasswordCost(bcrypt.MinCost))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	case "postgres":
		return pgtest.NewDB(t, postgres.WithNow(clock.Now))
	}
	t.Fatalf("unknown dialect %q", dialect)
	return nil
}

// setup starts an auth server on a fresh store of the dialect, with an operator account whose
// admin token the bundle's client carries.
func setup(t testing.TB, dialect string) *bundle {
	t.Helper()
	clock := storetest.NewClock(storetest.Start)
	st := newStore(t, dialect, clock)
	return serve(t, st, clock, serviceKey, "")
}

// serve starts an auth server over st (a second call on the same store is a restart or a
// replica); issuer "" means the server's own URL.
func serve(t testing.TB, st persona.Store, clock *storetest.Clock, key, issuer string) *bundle {
	t.Helper()
	ctx := context.Background()
	srv := httptest.NewUnstartedServer(nil)
	url := "http://" + srv.Listener.Addr().String()
	logs := &syncBuffer{}
	if issuer == "" {
		issuer = url
	}
	s, err := authapi.New(ctx, authapi.Config{
		PasswordCost: bcrypt.MinCost, ReportTools: appTools,
		Store: st, Issuer: issuer, ServiceKey: key, Now: clock.Now,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config = authapi.NewHTTPServer("", s, nil)
	srv.Start()
	t.Cleanup(srv.Close)
	b := &bundle{url: url, store: st, clock: clock, hc: srv.Client(), logs: logs, ctx: ctx}
	b.client = authapi.NewClient(url, srv.Client())
	b.client.ServiceKey = key
	if _, _, err := st.UpsertUser(ctx, persona.UserInput{
		Email: adminEmail, Name: "Ops", Password: adminPassword, Role: persona.RoleAdmin, Kind: persona.KindHuman,
	}); err != nil {
		t.Fatal(err)
	}
	login, err := b.client.Login(ctx, adminEmail, adminPassword)
	if err != nil {
		t.Fatalf("admin login: %v", err)
	}
	b.client.AdminToken = login.AccessToken
	return b
}

// eachStore runs fn as a parallel subtest on each dialect.
func eachStore(t *testing.T, fn func(t *testing.T, b *bundle)) {
	t.Helper()
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, setup(t, d))
		})
	}
}

// personaInput is a valid persona definition for email.
func personaInput(email string) persona.PersonaInput {
	return persona.PersonaInput{
		Email:        email,
		Name:         strings.Split(email, "@")[0],
		Password:     "pw-" + email,
		Archetype:    "tester",
		SystemPrompt: "You are a careful tester who tries every feature once.",
		ModuleMix:    persona.ModuleMix{"todo": 0.5, "notes": 0.5},
	}
}

// mustPersona creates a persona through the store and returns its id.
func (b *bundle) mustPersona(t testing.TB, email string) string {
	t.Helper()
	id, _, err := b.store.UpsertPersona(b.ctx, personaInput(email))
	if err != nil {
		t.Fatalf("UpsertPersona(%s): %v", email, err)
	}
	return id
}

// response is a raw HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %q", r.status, r.body)
	}
	return m
}

// do sends a raw request. headers are "Name: value" strings; a body gets Content-Type
// application/json unless a header sets another.
func (b *bundle) do(t testing.TB, method, path, body string, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(b.ctx, method, b.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// svc is the service-key header; admin the admin bearer header.
func (b *bundle) svc() string   { return "X-Service-Key: " + serviceKey }
func (b *bundle) admin() string { return "Authorization: Bearer " + b.client.AdminToken }

func bearerHeader(tok string) string { return "Authorization: Bearer " + tok }

// wantBody fails unless r has the status and exactly the JSON body want.
func wantBody(t testing.TB, r response, status int, want string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if !jsonEqual(t, r.body, []byte(want)) {
		t.Fatalf("body = %s, want %s", bytes.TrimSpace(r.body), want)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
}

func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("not JSON: %q", a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("bad want JSON %q: %v", b, err)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// wantValidation fails unless r is a 400 ValidationError naming every field in fields.
func wantValidation(t testing.TB, r response, fields ...string) {
	t.Helper()
	if r.status != http.StatusBadRequest {
		t.Fatalf("status = %d, want 400; body %s", r.status, r.body)
	}
	var body struct {
		Error   string                `json:"error"`
		Details []authapi.FieldDetail `json:"details"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Error != "ValidationError" {
		t.Fatalf("body = %s, want a ValidationError", r.body)
	}
	named := map[string]bool{}
	for _, d := range body.Details {
		named[d.Field] = true
		if d.Message == "" {
			t.Errorf("detail for %q has no message", d.Field)
		}
	}
	for _, f := range fields {
		if !named[f] {
			t.Errorf("validation details %s do not name %q", r.body, f)
		}
	}
}

// countActions returns how many action rows the persona has.
func (b *bundle) countActions(t testing.TB, id string) int {
	t.Helper()
	rows, err := b.store.Actions(b.ctx, persona.ActionQuery{PersonaID: id})
	if err != nil {
		t.Fatal(err)
	}
	return len(rows)
}

func (b *bundle) countFeedback(t testing.TB, id string) int {
	t.Helper()
	rows, err := b.store.Feedback(b.ctx, persona.FeedbackQuery{PersonaID: id})
	if err != nil {
		t.Fatal(err)
	}
	return len(rows)
}

// actionsBody renders n valid action rows of one tick as a request body.
func actionsBody(tick string, n int) string {
	var sb strings.Builder
	sb.WriteString(`{"actions":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"tickId":%q,"toolName":"todo.create","inputHash":"abcd","result":"ok","latencyMs":12,"seq":%d}`, tick, i)
	}
	sb.WriteString(`]}`)
	return sb.String()
}
