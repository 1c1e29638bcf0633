package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/persona-runner/persona-runner/app"
	"github.com/persona-runner/persona-runner/jwtauth"
	"github.com/persona-runner/persona-runner/persona"
)

func TestBadTokensAre401(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	now := b.clock.Now()
	claims := func(mod func(*jwtauth.Claims)) jwtauth.Claims {
		c := jwtauth.Claims{Email: b.anna.Email, Role: "user", Kind: "persona", RegisteredClaims: jwt.RegisteredClaims{
			Subject: b.anna.ID, Issuer: issuerURL, Audience: jwt.ClaimStrings{jwtauth.Audience},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)),
		}}
		mod(&c)
		return c
	}
	otherKey, err := jwtauth.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := jwtauth.NewIssuer(otherKey, issuerURL)
	if err != nil {
		t.Fatal(err)
	}
	strangerToken, _, err := stranger.Issue(persona.User{ID: b.anna.ID, Email: b.anna.Email}, "")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"missing": "",
		"garbage": "not-a-jwt",
		"expired": b.signed(t, claims(func(c *jwtauth.Claims) {
			c.IssuedAt = jwt.NewNumericDate(now.Add(-time.Hour))
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute))
		})),
		"wrong audience": b.signed(t, claims(func(c *jwtauth.Claims) { c.Audience = jwt.ClaimStrings{"other-app"} })),
		"wrong issuer":   b.signed(t, claims(func(c *jwtauth.Claims) { c.Issuer = "http://evil.test" })),
		"unknown key":    strangerToken,
	}
	for name, token := range cases {
		r := b.post(t, token, b.anna.Personal, "", initializeMsg)
		if r.status != http.StatusUnauthorized {
			t.Errorf("%s token: status %d, want 401 (%s)", name, r.status, r.raw)
			continue
		}
		if r.body["status"] != 401.0 || r.body["error"] == nil || r.body["message"] == nil {
			t.Errorf("%s token: body %v, want a JSON error", name, r.body)
		}
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s token: no WWW-Authenticate: Bearer header", name)
		}
		// The SDK's own client gets no session either.
		if _, err := b.tryConnect(token, b.anna.Personal); err == nil {
			t.Errorf("%s token: the SDK client connected", name)
		}
	}
	if r := b.post(t, cases["expired"], b.anna.Personal, "", initializeMsg); !strings.Contains(str(r.body["message"]), "expired") {
		t.Errorf("expired token: message %q does not say so", r.body["message"])
	}
	// The valid token of the same user is accepted.
	if r := b.post(t, b.token(t, b.anna), b.anna.Personal, "", initializeMsg); r.status != http.StatusOK {
		t.Errorf("valid token: status %d: %s", r.status, r.raw)
	}
}

func TestSpaceMustBeTheUsers(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	token := b.token(t, b.carl)
	for name, space := range map[string]string{
		"missing":         "",
		"someone else's":  b.anna.Personal,
		"shared, not his": b.family,
		"nonexistent":     "no-such-space",
	} {
		r := b.post(t, token, space, "", initializeMsg)
		if r.status != http.StatusForbidden || r.body["status"] != 403.0 {
			t.Errorf("%s space: status %d body %v, want a 403 JSON error", name, r.status, r.body)
		}
	}
	if r := b.post(t, token, b.carl.Personal, "", initializeMsg); r.status != http.StatusOK {
		t.Errorf("own space: status %d: %s", r.status, r.raw)
	}
}

func TestSessionIsRefusedToAnotherUser(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	anna := b.connect(t, b.anna, b.family)
	anna.ok(t, "todo.list", nil)

	// Ben is a member of the family space too, so only the session's owner check stops him.
	r := b.post(t, b.token(t, b.ben), b.family, anna.ID(), `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`)
	if r.status != http.StatusForbidden || r.body["status"] != 403.0 {
		t.Fatalf("ben on anna's session: status %d body %q, want a 403 JSON error", r.status, r.raw)
	}
	// Through the SDK client: the same session with ben's token fails.
	anna.h.set(b.token(t, b.ben), b.family)
	if _, err := anna.try("todo.list", nil); err == nil {
		t.Error("the session served ben")
	}
	// Anna's own request on her session still works.
	r = b.post(t, b.token(t, b.anna), b.family, anna.ID(), `{"jsonrpc":"2.0","id":8,"method":"tools/list"}`)
	if r.status != http.StatusOK || !strings.Contains(r.raw, "todo.create") {
		t.Errorf("anna on her session: status %d: %s", r.status, r.raw)
	}
}

func TestIdleSessionsExpire(t *testing.T) {
	t.Parallel()
	b := setup(t, options{cfg: func(c *app.Config) { c.SessionIdleTimeout = time.Second }})
	// The session may expire any time after the connect; nothing between depends on it. Under
	// heavy load it can even expire between initialize and initialized: then connect again.
	var c *client
	for attempt := 1; ; attempt++ {
		cs, err := b.tryConnect(b.token(t, b.anna), b.anna.Personal)
		if err == nil {
			c = cs
			t.Cleanup(func() { _ = c.Close() })
			break
		}
		if attempt == 10 {
			t.Fatalf("connect: %v", err)
		}
	}
	app.WaitSessionsClosed(b.app) // returns when the idle timer has closed the session
	if n := app.OpenSessions(b.app); n != 0 {
		t.Errorf("%d open sessions after the idle timeout, want 0", n)
	}
	if _, err := c.try("todo.list", nil); err == nil {
		t.Error("an expired session still answered")
	}
	r := b.post(t, b.token(t, b.anna), b.anna.Personal, c.ID(), `{"jsonrpc":"2.0","id":9,"method":"tools/list"}`)
	if r.status != http.StatusNotFound || r.body["status"] != 404.0 {
		t.Errorf("expired session: status %d body %q, want a 404 JSON error", r.status, r.raw)
	}
	// A new session works.
	b.connect(t, b.anna, b.anna.Personal).ok(t, "todo.list", nil)
}

func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	status, body := b.get(t, "/health")
	if status != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Errorf("/health: %d %s", status, body)
	}
	c := b.connect(t, b.anna, b.anna.Personal)
	c.ok(t, "todo.create", map[string]any{"title": "count me"})
	b.post(t, "", "", "", initializeMsg)
	status, metrics := b.get(t, "/metrics")
	for _, w := range []string{
		`mcp_tool_calls_total{result="ok",tool="todo.create"} 1`,
		`mcp_tool_call_duration_seconds_count{tool="todo.create"} 1`,
		`mcp_tool_call_duration_seconds_bucket{tool="todo.create",le="+Inf"} 1`,
		`mcp_requests_rejected_total{status="401"} 1`,
		`mcp_sessions_active 1`,
	} {
		if status != 200 || !hasLine(metrics, w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
	if status, body := b.get(t, "/nope"); status != 404 || !strings.Contains(body, `"error":"NOT_FOUND"`) {
		t.Errorf("/nope: %d %s", status, body)
	}
}

func TestNewNamesEveryMissingField(t *testing.T) {
	_, err := app.New(app.Config{})
	if err == nil {
		t.Fatal("New accepted an empty config")
	}
	for _, w := range []string{"Store is required", "Verifier is required"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q does not say %q", err, w)
		}
	}
}

func TestATokenExpiringMidSessionIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	c := b.connect(t, b.anna, b.anna.Personal)
	c.ok(t, "todo.list", nil) // the token is verified and remembered
	// Past exp and the clock-skew leeway.
	b.clock.Advance(jwtauth.AccessTTL + jwtauth.DefaultLeeway)
	if _, err := c.try("todo.list", nil); err == nil {
		t.Error("a call with an expired token succeeded")
	}
	r := b.post(t, b.token(t, b.anna), b.anna.Personal, "", initializeMsg)
	if r.status != http.StatusOK {
		t.Errorf("a fresh token: status %d: %s", r.status, r.raw)
	}
}

func TestRemovedMemberLosesTheSpace(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ben := b.connect(t, b.ben, b.family)
	ben.ok(t, "todo.list", nil)
	if _, _, err := b.store.UpsertSpace(context.Background(), persona.SpaceInput{Slug: "berg-family", Name: "The Bergs",
		Type: persona.SpaceFamily, Members: []string{b.anna.Email}}); err != nil {
		t.Fatal(err)
	}
	// The membership is trusted for MembershipCacheTTL, then checked again.
	b.clock.Advance(app.DefaultMembershipCacheTTL)
	if _, err := ben.try("todo.list", nil); err == nil {
		t.Error("ben still works in the family space after leaving it")
	}
	if r := b.post(t, b.token(t, b.ben), b.family, "", initializeMsg); r.status != http.StatusForbidden {
		t.Errorf("ben in the family space after leaving: status %d", r.status)
	}
}

// TestBadSpaceHeaderIs400: a NUL or invalid UTF-8 in X-Mana-Space is a 400 naming the header on
// both stores (PostgreSQL answered 500: it cannot compare such text).
func TestBadSpaceHeaderIs400(t *testing.T) {
	bothStores(t, func(t *testing.T, pg bool) {
		b := setup(t, options{postgres: pg})
		for _, space := range []string{"a\xffb", "\xc3\x28"} { // a NUL cannot be sent by a Go client
			r := b.post(t, b.token(t, b.anna), space, "", initializeMsg)
			if r.status != http.StatusBadRequest || !strings.Contains(str(r.body["message"]), app.SpaceHeader) {
				t.Errorf("space %q: %d %s, want 400 naming %s", space, r.status, r.raw, app.SpaceHeader)
			}
		}
	})
}
