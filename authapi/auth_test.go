package authapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/jwtauth"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/storetest"
)

func TestLogin(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		id := b.mustPersona(t, "persona.anna@mana.test")
		r := b.do(t, "POST", authapi.PathLogin, `{"email":"persona.anna@mana.test","password":"pw-persona.anna@mana.test"}`)
		if r.status != http.StatusOK {
			t.Fatalf("login: %d %s", r.status, r.body)
		}
		var got authapi.LoginResponse
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		if got.Token == "" || got.Token != got.RefreshToken || got.AccessToken == "" || got.AccessToken == got.Token {
			t.Fatalf("tokens: %+v", got)
		}
		wantUser := authapi.LoginUser{ID: id, Email: "persona.anna@mana.test", Name: "persona.anna", Kind: "persona",
			AccessTier: "founder", Role: "user", EmailVerified: true}
		if got.User != wantUser {
			t.Fatalf("user = %+v, want %+v", got.User, wantUser)
		}
		for _, k := range []string{"id", "email", "name", "kind", "accessTier", "role", "emailVerified"} {
			if _, ok := r.json(t)["user"].(map[string]any)[k]; !ok {
				t.Errorf("user object lacks %q: %s", k, r.body)
			}
		}
		// The access token verifies against the published JWKS, with issuer and audience.
		v := jwtauth.NewVerifier(b.url+authapi.PathJWKS, b.url, "mana", b.hc)
		v.Now = b.clock.Now
		c, err := v.Verify(b.ctx, got.AccessToken)
		if err != nil {
			t.Fatalf("verify access token: %v", err)
		}
		if c.Subject != id || c.Email != "persona.anna@mana.test" || c.Role != "user" || c.Tier != "founder" ||
			c.Kind != "persona" || c.SessionID == "" {
			t.Fatalf("claims = %+v", c)
		}
		if exp := c.ExpiresAt.Sub(b.clock.Now()); exp < 14*time.Minute || exp > 15*time.Minute {
			t.Fatalf("token expires in %v, want 15m", exp)
		}
	})
}

func TestLoginErrors(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		b.mustPersona(t, "persona.ben@mana.test")
		wantBody(t, b.do(t, "POST", authapi.PathLogin, `{"email":"persona.ben@mana.test","password":"nope"}`),
			401, `{"error":"INVALID_CREDENTIALS","message":"Invalid email or password","status":401}`)
		// An unknown email gets exactly the same answer.
		wantBody(t, b.do(t, "POST", authapi.PathLogin, `{"email":"nobody@mana.test","password":"nope"}`),
			401, `{"error":"INVALID_CREDENTIALS","message":"Invalid email or password","status":401}`)
		for name, body := range map[string]string{
			"invalid json":     `{"email":`,
			"missing password": `{"email":"persona.ben@mana.test"}`,
			"wrong type":       `{"email":42,"password":"x"}`,
		} {
			r := b.do(t, "POST", authapi.PathLogin, body)
			m := r.json(t)
			if r.status != 400 || m["error"] != "VALIDATION" || m["status"] != float64(400) || m["message"] == "" {
				t.Errorf("%s: %d %s, want 400 VALIDATION", name, r.status, r.body)
			}
		}
		r := b.do(t, "POST", authapi.PathLogin, `{"email":"a@b.c","password":"x"}`, "Content-Type: text/plain")
		if m := r.json(t); r.status != 415 || m["error"] != "UNSUPPORTED_MEDIA_TYPE" {
			t.Errorf("text/plain: %d %s, want 415", r.status, r.body)
		}
		big := `{"email":"a@b.c","password":"` + strings.Repeat("x", authapi.MaxBodyBytes) + `"}`
		r = b.do(t, "POST", authapi.PathLogin, big)
		if m := r.json(t); r.status != 413 || m["error"] != "PAYLOAD_TOO_LARGE" || m["status"] != float64(413) {
			t.Errorf("oversized body: %d %s, want 413 JSON", r.status, r.body)
		}
	})
}

func TestLoginLockout(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		const email = "persona.lock@mana.test"
		b.mustPersona(t, email)
		bad := `{"email":"` + email + `","password":"wrong"}`
		good := `{"email":"` + email + `","password":"pw-` + email + `"}`

		// Failures below the limit are forgotten after a successful login.
		for range 4 {
			if r := b.do(t, "POST", authapi.PathLogin, bad); r.status != 401 {
				t.Fatalf("failure below limit: %d %s", r.status, r.body)
			}
		}
		if r := b.do(t, "POST", authapi.PathLogin, good); r.status != 200 {
			t.Fatalf("good login: %d %s", r.status, r.body)
		}
		for i := range 4 {
			if r := b.do(t, "POST", authapi.PathLogin, bad); r.status != 401 {
				t.Fatalf("failure %d after reset: %d %s", i+1, r.status, r.body)
			}
		}
		// The fifth failure in 15 minutes locks the account for 30 minutes.
		r := b.do(t, "POST", authapi.PathLogin, bad)
		wantBody(t, r, 429, `{"error":"ACCOUNT_LOCKED","message":"Too many failed logins; try again in 1800 seconds","status":429,"retryAfterSec":1800}`)
		if got := r.header.Get("Retry-After"); got != "1800" {
			t.Fatalf("Retry-After = %q, want 1800", got)
		}
		// Even the right password is refused while the lock holds.
		b.clock.Advance(10 * time.Minute)
		r = b.do(t, "POST", authapi.PathLogin, good)
		if r.status != 429 || r.header.Get("Retry-After") != "1200" || r.json(t)["retryAfterSec"] != float64(1200) {
			t.Fatalf("locked good login: %d %s Retry-After %q", r.status, r.body, r.header.Get("Retry-After"))
		}
		b.clock.Advance(20*time.Minute + time.Second)
		if r := b.do(t, "POST", authapi.PathLogin, good); r.status != 200 {
			t.Fatalf("login after the lock: %d %s", r.status, r.body)
		}
	})
}

// TestLoginLockoutUnderConcurrency fires many wrong passwords at once: the lock check and the
// counting of a failure are one step, so only as many passwords as the limit allows are
// compared, and every other attempt is refused as locked without being evaluated.
func TestLoginLockoutUnderConcurrency(t *testing.T) {
	t.Parallel()
	const attempts = 24
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			clock := storetest.NewClock(storetest.Start)
			cs := &countingStore{Store: newStore(t, d, clock), email: "persona.burst@mana.test"}
			b := serve(t, cs, clock, serviceKey, "")
			b.mustPersona(t, cs.email)
			bad := `{"email":"` + cs.email + `","password":"wrong"}`

			statuses := make(chan int, attempts)
			var wg sync.WaitGroup
			for range attempts {
				wg.Go(func() {
					req, err := http.NewRequestWithContext(b.ctx, "POST", b.url+authapi.PathLogin, strings.NewReader(bad))
					if err != nil {
						t.Error(err)
						return
					}
					req.Header.Set("Content-Type", "application/json")
					resp, err := b.hc.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					statuses <- resp.StatusCode
				})
			}
			wg.Wait()
			close(statuses)
			got := map[int]int{}
			for st := range statuses {
				got[st]++
			}
			limit := persona.DefaultLockout.MaxFailures
			// limit-1 plain failures, then the failure that locks and every later attempt: 429.
			if got[401] != limit-1 || got[429] != attempts-(limit-1) {
				t.Errorf("statuses = %v; want %d×401 and %d×429", got, limit-1, attempts-(limit-1))
			}
			if n := cs.lookups.Load(); n != int64(limit) {
				t.Errorf("%d passwords were evaluated; want at most the limit, %d", n, limit)
			}
			good := `{"email":"` + cs.email + `","password":"pw-` + cs.email + `"}`
			if r := b.do(t, "POST", authapi.PathLogin, good); r.status != 429 {
				t.Fatalf("right password after the burst: %d %s; want 429", r.status, r.body)
			}
		})
	}
}

// countingStore counts the user lookups of one email: every evaluated password starts with one.
type countingStore struct {
	persona.Store
	email   string
	lookups atomic.Int64
}

func (c *countingStore) UserByEmail(ctx context.Context, email string) (persona.User, error) {
	if email == c.email {
		c.lookups.Add(1)
	}
	return c.Store.UserByEmail(ctx, email)
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		b.mustPersona(t, "persona.ref@mana.test")
		login, err := b.client.Login(b.ctx, "persona.ref@mana.test", "pw-persona.ref@mana.test")
		if err != nil {
			t.Fatal(err)
		}
		// A long run: the access token expires, the refresh token gets a new one.
		b.clock.Advance(16 * time.Minute)
		if _, err := b.client.Spaces(b.ctx, login.AccessToken); !errors.Is(err, authapi.ErrUnauthorized) {
			t.Fatalf("expired access token: %v, want 401", err)
		}
		ref, err := b.client.Refresh(b.ctx, login.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if ref.AccessToken == "" || ref.RefreshToken != login.RefreshToken {
			t.Fatalf("refresh = %+v", ref)
		}
		if _, err := b.client.Spaces(b.ctx, ref.AccessToken); err != nil {
			t.Fatalf("refreshed token: %v", err)
		}

		wantBody(t, b.do(t, "POST", authapi.PathRefresh, `{"refreshToken":"made-up"}`), 401,
			`{"error":"INVALID_REFRESH_TOKEN","message":"Refresh token is invalid or expired","status":401}`)
		r := b.do(t, "POST", authapi.PathRefresh, `{}`)
		if m := r.json(t); r.status != 400 || m["error"] != "VALIDATION" {
			t.Fatalf("missing refreshToken: %d %s", r.status, r.body)
		}
		r = b.do(t, "POST", authapi.PathRefresh, `not json`)
		if m := r.json(t); r.status != 400 || m["error"] != "VALIDATION" {
			t.Fatalf("invalid JSON: %d %s", r.status, r.body)
		}
		// Sessions end after a week.
		b.clock.Advance(authapi.DefaultSessionTTL)
		if _, err := b.client.Refresh(b.ctx, login.RefreshToken); !errors.Is(err, authapi.ErrUnauthorized) {
			t.Fatalf("expired session: %v, want 401", err)
		}
	})
}

func TestJWKSSurvivesRestart(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			clock := storetest.NewClock(storetest.Start)
			st := newStore(t, d, clock)
			first := serve(t, st, clock, serviceKey, "")
			r1 := first.do(t, "GET", authapi.PathJWKS, "")
			var doc jwtauth.JWKSDocument
			if err := json.Unmarshal(r1.body, &doc); r1.status != 200 || err != nil {
				t.Fatalf("jwks: %d %s", r1.status, r1.body)
			}
			if len(doc.Keys) != 1 || doc.Keys[0].Kty != "OKP" || doc.Keys[0].Crv != "Ed25519" ||
				doc.Keys[0].Alg != "EdDSA" || doc.Keys[0].Use != "sig" || doc.Keys[0].Kid == "" || doc.Keys[0].X == "" {
				t.Fatalf("jwks = %s", r1.body)
			}
			first.mustPersona(t, "persona.restart@mana.test")
			login, err := first.client.Login(first.ctx, "persona.restart@mana.test", "pw-persona.restart@mana.test")
			if err != nil {
				t.Fatal(err)
			}
			// A second server on the same store (a restart, or a replica) has the same key, so
			// the first server's tokens stay valid.
			second := serve(t, st, clock, serviceKey, first.url)
			r2 := second.do(t, "GET", authapi.PathJWKS, "")
			if string(r2.body) != string(r1.body) {
				t.Fatalf("jwks changed across restart:\n%s\n%s", r1.body, r2.body)
			}
			spaces, err := second.client.Spaces(second.ctx, login.AccessToken)
			if err != nil || len(spaces) != 1 {
				t.Fatalf("spaces at the second server: %v %v", spaces, err)
			}
		})
	}
}

func TestOrganizationList(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		b.mustPersona(t, "persona.anna@mana.test")
		b.mustPersona(t, "persona.ben@mana.test")
		if _, err := b.client.UpsertSpace(b.ctx, persona.SpaceInput{Slug: "berg-family", Name: "The Bergs", Type: "family",
			Members: []string{"persona.anna@mana.test", "persona.ben@mana.test"}}); err != nil {
			t.Fatal(err)
		}
		login, err := b.client.Login(b.ctx, "persona.anna@mana.test", "pw-persona.anna@mana.test")
		if err != nil {
			t.Fatal(err)
		}
		r := b.do(t, "GET", authapi.PathOrgList, "", bearerHeader(login.AccessToken))
		if r.status != 200 {
			t.Fatalf("org list: %d %s", r.status, r.body)
		}
		var raw []map[string]any
		if err := json.Unmarshal(r.body, &raw); err != nil || len(raw) != 2 {
			t.Fatalf("org list = %s", r.body)
		}
		for _, k := range []string{"id", "name", "slug", "logo", "metadata", "createdAt"} {
			if _, ok := raw[0][k]; !ok {
				t.Errorf("organization lacks %q: %s", k, r.body)
			}
		}
		if raw[0]["logo"] != nil {
			t.Errorf("logo = %v, want null", raw[0]["logo"])
		}
		var spaces []authapi.Space
		json.Unmarshal(r.body, &spaces)
		if spaces[0].Slug != "persona-anna" || spaces[0].Metadata != (authapi.SpaceMetadata{Type: "personal", Tier: "founder"}) {
			t.Errorf("first space = %+v, want the personal space", spaces[0])
		}
		if spaces[1].Slug != "berg-family" || spaces[1].Name != "The Bergs" || spaces[1].Metadata.Type != "family" {
			t.Errorf("second space = %+v, want berg-family", spaces[1])
		}
		wrongKey := foreignToken(t, b, "u-x", persona.RoleUser)
		wantBody(t, b.do(t, "GET", authapi.PathOrgList, ""), 401,
			`{"error":"Unauthorized","message":"missing Authorization: Bearer token"}`)
		for name, tok := range map[string]string{"garbage": "abc.def.ghi", "wrongly signed": wrongKey} {
			wantBody(t, b.do(t, "GET", authapi.PathOrgList, "", bearerHeader(tok)), 401,
				`{"error":"Unauthorized","message":"invalid or expired token"}`)
			_ = name
		}
		// Within the clock-skew leeway after its exp the token still works; beyond it, it does not.
		b.clock.Advance(jwtauth.AccessTTL + jwtauth.DefaultLeeway - time.Second)
		if r := b.do(t, "GET", authapi.PathOrgList, "", bearerHeader(login.AccessToken)); r.status != 200 {
			t.Fatalf("org list just inside the leeway: %d %s", r.status, r.body)
		}
		b.clock.Advance(2 * time.Second)
		wantBody(t, b.do(t, "GET", authapi.PathOrgList, "", bearerHeader(login.AccessToken)), 401,
			`{"error":"Unauthorized","message":"invalid or expired token"}`)
	})
}

// foreignToken is a well-formed token for the server's issuer signed by a key the server never
// saw.
func foreignToken(t testing.TB, b *bundle, sub string, role persona.Role) string {
	t.Helper()
	k, err := jwtauth.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	iss, err := jwtauth.NewIssuer(k, b.url)
	if err != nil {
		t.Fatal(err)
	}
	iss.Now = b.clock.Now
	tok, _, err := iss.Issue(persona.User{ID: sub, Email: "x@example.com", Role: role, Kind: persona.KindHuman}, "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestUnknownRoutesAnswerJSON(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite")
	wantBody(t, b.do(t, "GET", "/nope", ""), 404, `{"error":"Not Found","message":"no route for GET /nope"}`)
	r := b.do(t, "DELETE", authapi.PathLogin, "")
	wantBody(t, r, 405, `{"error":"Method Not Allowed","message":"DELETE is not allowed on /api/v1/auth/login"}`)
	if r.header.Get("Allow") == "" {
		t.Errorf("405 without Allow header")
	}
}

func TestRequestIDAndAccessLog(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite")
	r := b.do(t, "GET", authapi.PathJWKS, "", "X-Request-Id: trace-abc-123")
	if got := r.header.Get("X-Request-Id"); got != "trace-abc-123" {
		t.Fatalf("X-Request-Id = %q, want the caller's", got)
	}
	r = b.do(t, "POST", authapi.PathLogin, `{"email":"ops@example.com","password":"`+adminPassword+`"}`, "X-Request-Id: bad id\twith tabs")
	gen := r.header.Get("X-Request-Id")
	if gen == "" || strings.ContainsAny(gen, " \t") {
		t.Fatalf("generated X-Request-Id = %q", gen)
	}
	logs := b.logs.String()
	for _, want := range []string{`"request_id":"trace-abc-123"`, `"path":"/api/auth/jwks"`, `"status":200`, `"request_id":"` + gen + `"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("access log lacks %s:\n%s", want, logs)
		}
	}
	// Nothing secret reaches the log.
	for _, secret := range []string{adminPassword, serviceKey, b.client.AdminToken} {
		if strings.Contains(logs, secret) {
			t.Fatalf("log contains a secret")
		}
	}
}

func TestClientErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite")
	_, err := b.client.GetPersona(b.ctx, "no-such-id")
	var ae *authapi.Error
	if !errors.As(err, &ae) || ae.Status != 404 || ae.Code != "Persona not found" || !errors.Is(err, persona.ErrNotFound) {
		t.Fatalf("GetPersona(unknown) = %v", err)
	}
	_, err = b.client.Login(b.ctx, adminEmail, "wrong")
	if !errors.As(err, &ae) || ae.Code != "INVALID_CREDENTIALS" || !errors.Is(err, authapi.ErrUnauthorized) {
		t.Fatalf("bad login = %v", err)
	}
	_, err = b.client.UpsertPersona(b.ctx, persona.PersonaInput{Email: "bad"})
	if !errors.As(err, &ae) || !errors.Is(err, persona.ErrInvalid) || len(ae.Details) < 4 {
		t.Fatalf("invalid upsert = %v", err)
	}
	if !strings.Contains(err.Error(), "email") || !strings.Contains(err.Error(), "systemPrompt") {
		t.Fatalf("error text does not name the fields: %v", err)
	}
	noKey := authapi.NewClient(b.url, b.hc)
	_, _, err = noKey.Due(b.ctx, 0)
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Message != "Invalid or missing service key" {
		t.Fatalf("Due without key = %v", err)
	}
	ctx, cancel := context.WithCancel(b.ctx)
	cancel()
	if _, _, err := b.client.Due(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
}

// failingStore is a real store whose due query fails, as a lost database connection would.
type failingStore struct{ persona.Store }

func (failingStore) DuePersonas(context.Context, int) ([]persona.DuePersona, time.Time, error) {
	return nil, time.Time{}, errors.New("connection reset by peer")
}

func TestStoreFailureIs500WithLoggedRequestID(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(storetest.Start)
	b := serve(t, failingStore{newStore(t, "sqlite", clock)}, clock, serviceKey, "")
	r := b.do(t, "GET", authapi.PathInternal+"/due", "", b.svc(), "X-Request-Id: req-500")
	wantBody(t, r, 500, `{"error":"Internal Server Error"}`)
	var found bool
	for _, line := range strings.Split(b.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"due personas failed"`) {
			found = strings.Contains(line, `"request_id":"req-500"`) && strings.Contains(line, "connection reset by peer")
		}
	}
	if !found {
		t.Fatalf("no error line with the request id and cause:\n%s", b.logs.String())
	}
	// The cause stays in the log; the client learns nothing about the database.
	if strings.Contains(string(r.body), "connection") {
		t.Fatalf("500 body leaks the cause: %s", r.body)
	}
}
