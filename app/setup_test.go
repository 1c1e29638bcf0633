package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/persona-runner/persona-runner/app"
	"github.com/persona-runner/persona-runner/jwtauth"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store"
	"github.com/persona-runner/persona-runner/store/postgres"
	"github.com/persona-runner/persona-runner/store/postgres/pgtest"
	"github.com/persona-runner/persona-runner/store/sqlite"
)

// issuerURL is the iss of the test tokens (the auth API's base URL).
const issuerURL = "http://auth.test"

// clock is a settable clock for the store, the app and the token issuer.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.ns.Store(t.UnixNano()); return c }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// user is a persona created in the store, with its personal space.
type user struct {
	ID, Email, Personal string
}

// bundle is one running app over one store, with three personas: anna and ben share the family
// space; carl is on his own.
type bundle struct {
	app    *app.App
	store  store.DB
	url    string
	clock  *clock
	key    persona.SigningKey
	issuer *jwtauth.Issuer
	logs   *syncBuffer
	cfg    app.Config

	anna, ben, carl user
	family          string
}

type options struct {
	postgres bool
	cfg      func(*app.Config)
}

// newStore opens an empty store of the kind asked for (PostgreSQL tests skip without
// PERSONA_TEST_POSTGRES_URL), which migrates the app's tables with its own.
func newStore(t testing.TB, pg bool, now func() time.Time) store.DB {
	t.Helper()
	ctx := context.Background()
	var db store.DB
	if pg {
		db = pgtest.NewDB(t, postgres.WithNow(now))
	} else {
		s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "persona-runner.db"), sqlite.WithNow(now))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		db = s
	}
	return db
}

func setup(t testing.TB, o options) *bundle {
	t.Helper()
	ctx := context.Background()
	b := &bundle{clock: newClock(time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)), logs: &syncBuffer{}}
	b.store = newStore(t, o.postgres, b.clock.Now)

	b.anna = mustPersona(t, b.store, "persona.anna@mana.test", "Anna")
	b.ben = mustPersona(t, b.store, "persona.ben@mana.test", "Ben")
	b.carl = mustPersona(t, b.store, "persona.carl@mana.test", "Carl")
	family, _, err := b.store.UpsertSpace(ctx, persona.SpaceInput{Slug: "berg-family", Name: "The Bergs",
		Type: persona.SpaceFamily, Members: []string{b.anna.Email, b.ben.Email}})
	if err != nil {
		t.Fatal(err)
	}
	b.family = family

	// Tokens are verified against a JWKS served over HTTP, as the gateway does against the auth API.
	b.key, err = jwtauth.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := jwtauth.JWKS([]persona.SigningKey{b.key})
	if err != nil {
		t.Fatal(err)
	}
	authSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(authSrv.Close)
	b.issuer, err = jwtauth.NewIssuer(b.key, issuerURL)
	if err != nil {
		t.Fatal(err)
	}
	b.issuer.Now = b.clock.Now
	verifier := jwtauth.NewVerifier(authSrv.URL+"/api/auth/jwks", issuerURL, jwtauth.Audience, authSrv.Client())
	verifier.Now = b.clock.Now

	cfg := app.Config{
		Store: b.store, Verifier: verifier,
		Logger: slog.New(slog.NewJSONHandler(b.logs, nil)), Now: b.clock.Now,
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	b.cfg = cfg
	b.serve(t)
	return b
}

// serve builds the bundle's app from its configuration and serves it.
func (b *bundle) serve(t testing.TB) {
	t.Helper()
	var err error
	b.app, err = app.New(b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.app.Handler())
	app := b.app
	t.Cleanup(func() {
		_ = app.Close()
		srv.Close()
	})
	b.url = srv.URL
}

// replica is a second app on the bundle's store and configuration, served on its own: another
// replica of serve mcp on the same database.
func (b *bundle) replica(t testing.TB) *bundle {
	t.Helper()
	r := *b
	r.serve(t)
	return &r
}

func mustPersona(t testing.TB, st persona.Store, email, name string) user {
	t.Helper()
	ctx := context.Background()
	id, _, err := st.UpsertPersona(ctx, persona.PersonaInput{
		Email: email, Name: name, Password: "pw-" + name, Archetype: "tester",
		SystemPrompt: "You are " + name + ", a careful tester of small apps.",
		ModuleMix:    persona.ModuleMix{"todo": 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	spaces, err := st.SpacesOfUser(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range spaces {
		if s.Type == persona.SpacePersonal {
			return user{ID: id, Email: email, Personal: s.ID}
		}
	}
	t.Fatalf("%s has no personal space", email)
	return user{}
}

// token signs a valid access token for u.
func (b *bundle) token(t testing.TB, u user) string {
	t.Helper()
	tok, _, err := b.issuer.Issue(persona.User{ID: u.ID, Email: u.Email, Role: persona.RoleUser,
		AccessTier: persona.TierFounder, Kind: persona.KindPersona}, "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signed signs arbitrary claims with the bundle's key (for tokens the issuer would never make).
func (b *bundle) signed(t testing.TB, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = b.key.ID
	s, err := tok.SignedString(ed25519.NewKeyFromSeed(b.key.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// headers is an http.RoundTripper that adds the bearer token and the space header, both
// changeable while a session is open.
type headers struct {
	mu           sync.Mutex
	token, space string
	base         http.RoundTripper
}

func (h *headers) set(token, space string) {
	h.mu.Lock()
	h.token, h.space = token, space
	h.mu.Unlock()
}

func (h *headers) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	token, space := h.token, h.space
	h.mu.Unlock()
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+token)
	r.Header.Set(app.SpaceHeader, space)
	return h.base.RoundTrip(r)
}

// client is an MCP client session (the SDK's own client) with its header transport.
type client struct {
	*mcp.ClientSession
	h *headers
}

// connect opens an MCP session as u in space with the SDK's client over real HTTP.
func (b *bundle) connect(t testing.TB, u user, space string) *client {
	t.Helper()
	c, err := b.tryConnect(b.token(t, u), space)
	if err != nil {
		t.Fatalf("connect as %s in %s: %v", u.Email, space, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (b *bundle) tryConnect(token, space string) (*client, error) {
	h := &headers{token: token, space: space, base: http.DefaultTransport}
	cl := mcp.NewClient(&mcp.Implementation{Name: "app-test", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{Endpoint: b.url + "/mcp", HTTPClient: &http.Client{Transport: h}, MaxRetries: -1}
	// The SDK's Connect can overrun its context's deadline when the server never answers, so the
	// wait is bounded here as well.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type result struct {
		cs  *mcp.ClientSession
		err error
	}
	done := make(chan result, 1)
	go func() {
		cs, err := cl.Connect(ctx, tr, nil)
		done <- result{cs, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, r.err
		}
		return &client{ClientSession: r.cs, h: h}, nil
	case <-time.After(30 * time.Second):
		return nil, errors.New("connect did not return within 30s")
	}
}

// call calls a tool and returns its result; a protocol error fails the test.
func (c *client) call(t testing.TB, name string, args any) *mcp.CallToolResult {
	t.Helper()
	res, err := c.try(name, args)
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	return res
}

func (c *client) try(name string, args any) (*mcp.CallToolResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return c.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
}

// ok calls a tool that must succeed and decodes its JSON text result.
func (c *client) ok(t testing.TB, name string, args any) map[string]any {
	t.Helper()
	res := c.call(t, name, args)
	if res.IsError {
		t.Fatalf("call %s(%v): tool error: %s", name, args, text(res))
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(text(res)), &out); err != nil {
		t.Fatalf("call %s: result is not a JSON object: %v\n%s", name, err, text(res))
	}
	return out
}

// fails calls a tool that must return a tool error and returns its text.
func (c *client) fails(t testing.TB, name string, args any) string {
	t.Helper()
	res := c.call(t, name, args)
	if !res.IsError {
		t.Fatalf("call %s(%v) succeeded, want a tool error: %s", name, args, text(res))
	}
	return text(res)
}

func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// rawResponse is an HTTP response with its body read.
type rawResponse struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// post sends one raw JSON-RPC message to /mcp (for status codes and bodies the SDK client hides).
func (b *bundle) post(t testing.TB, token, space, sessionID string, msg string) rawResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.url+"/mcp", strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if space != "" {
		req.Header.Set(app.SpaceHeader, space)
	}
	if sessionID != "" {
		req.Header.Set("Mcp-Session-Id", sessionID)
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := rawResponse{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("JSON response does not decode: %v\n%s", err, raw)
		}
	}
	return out
}

const initializeMsg = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// get fetches a plain endpoint and returns its status and body.
func (b *bundle) get(t testing.TB, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(b.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// lines returns the JSON log lines whose msg is msg.
func (s *syncBuffer) lines(t testing.TB, msg string) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, line)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func str(v any) string { return fmt.Sprint(v) }
