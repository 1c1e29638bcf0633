package authapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/storetest"
)

// setupCompat starts a server in the Mana compat mode on a fresh store of the dialect, with the
// same operator account as setup.
func setupCompat(t testing.TB, dialect string) *bundle {
	t.Helper()
	clock := storetest.NewClock(storetest.Start)
	st := newStore(t, dialect, clock)
	ctx := context.Background()
	srv := httptest.NewUnstartedServer(nil)
	url := "http://" + srv.Listener.Addr().String()
	logs := &syncBuffer{}
	s, err := authapi.New(ctx, authapi.Config{
		PasswordCost: bcrypt.MinCost, Compat: authapi.CompatMana,
		Store: st, Issuer: url, ServiceKey: serviceKey, Now: clock.Now,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config = authapi.NewHTTPServer("", s, nil)
	srv.Start()
	t.Cleanup(srv.Close)
	b := &bundle{url: url, store: st, clock: clock, hc: srv.Client(), logs: logs, ctx: ctx}
	b.client = authapi.NewClient(url, srv.Client())
	b.client.ServiceKey = serviceKey
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

func eachCompatStore(t *testing.T, fn func(t *testing.T, b *bundle)) {
	t.Helper()
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, setupCompat(t, d))
		})
	}
}

func TestNewRefusesUnknownCompatMode(t *testing.T) {
	clock := storetest.NewClock(storetest.Start)
	_, err := authapi.New(context.Background(), authapi.Config{Store: newStore(t, "sqlite", clock), Issuer: "http://x", Compat: "better-auth"})
	if err == nil || !strings.Contains(err.Error(), `"better-auth"`) {
		t.Fatalf("New with compat better-auth: err = %v, want one naming the mode", err)
	}
}

// The compat server has none of our extension routes.
func TestCompatManaServesOnlyTheOriginalsRoutes(t *testing.T) {
	eachCompatStore(t, func(t *testing.T, b *bundle) {
		id := b.mustPersona(t, "persona.anna@mana.test")
		for _, c := range []struct{ method, path, body string }{
			{"POST", "/api/v1/internal/personas/claim", `{"runnerId":"r1","limit":5}`},
			{"POST", "/api/v1/internal/personas/" + id + "/ticks", `{"tickId":"t1","status":"ok"}`},
			{"GET", "/api/v1/internal/personas/" + id + "/history", ""},
			{"POST", "/api/v1/internal/personas/" + id + "/token", ""},
		} {
			r := b.do(t, c.method, c.path, c.body, b.svc())
			if r.status != http.StatusNotFound {
				t.Errorf("%s %s: status %d, want 404; body %s", c.method, c.path, r.status, r.body)
			}
			if m := r.json(t); m["error"] == "Persona not found" {
				t.Errorf("%s %s: a missing route must not look like a missing persona: %s", c.method, c.path, r.body)
			}
		}
		for _, path := range []string{"/api/v1/admin/spaces", "/api/v1/admin/report"} {
			method := "GET"
			if path == "/api/v1/admin/spaces" {
				method = "POST"
			}
			if r := b.do(t, method, path, `{}`, b.admin()); r.status != http.StatusNotFound {
				t.Errorf("%s %s: status %d, want 404", method, path, r.status)
			}
		}
		// The original's admin persona routes are there.
		if r := b.do(t, "GET", "/api/v1/admin/personas", "", b.admin()); r.status != http.StatusOK {
			t.Errorf("GET admin personas: status %d; body %s", r.status, r.body)
		}
	})
}

func TestCompatManaDueListHasNoSpaceNorTimezone(t *testing.T) {
	eachCompatStore(t, func(t *testing.T, b *bundle) {
		id := b.mustPersona(t, "persona.anna@mana.test")
		r := b.do(t, "GET", "/api/v1/internal/personas/due?limit=0", "", b.svc())
		if r.status != http.StatusOK {
			t.Fatalf("due: %d %s", r.status, r.body)
		}
		var body struct {
			Personas   []map[string]any `json:"personas"`
			ServerTime string           `json:"serverTime"`
		}
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		if len(body.Personas) != 1 || body.ServerTime == "" {
			t.Fatalf("due = %s, want one persona and serverTime", r.body)
		}
		p := body.Personas[0]
		for _, k := range []string{"userId", "email", "archetype", "systemPrompt", "moduleMix", "tickCadence", "lastActiveAt"} {
			if _, ok := p[k]; !ok {
				t.Errorf("due persona lacks %q: %v", k, p)
			}
		}
		for _, k := range []string{"personalSpaceId", "timezone", "leaseExpiresAt"} {
			if _, ok := p[k]; ok {
				t.Errorf("due persona has %q, which the original never sends: %v", k, p)
			}
		}
		if p["userId"] != id {
			t.Errorf("userId = %v, want %s", p["userId"], id)
		}
	})
}

func TestCompatManaBatchesAnswerLikeTheOriginal(t *testing.T) {
	eachCompatStore(t, func(t *testing.T, b *bundle) {
		id := b.mustPersona(t, "persona.anna@mana.test")
		path := "/api/v1/internal/personas/" + id
		// The original's rows: no seq, module or latencyMs; one tool called twice. A seq sent
		// anyway is ignored: the id is the row's index.
		rows := `{"actions":[
			{"tickId":"t1","toolName":"todo.create","inputHash":"a1","result":"ok"},
			{"tickId":"t1","toolName":"todo.create","inputHash":"a2","result":"ok"},
			{"tickId":"t1","toolName":"notes.add","result":"error","errorMessage":"boom","seq":7}]}`
		wantBody(t, b.do(t, "POST", path+"/actions", rows, b.svc()), 200, `{"ok":true,"written":3}`)
		// A retry writes nothing new and still says written = rows sent.
		wantBody(t, b.do(t, "POST", path+"/actions", rows, b.svc()), 200, `{"ok":true,"written":3}`)
		got, err := b.store.Actions(b.ctx, persona.ActionQuery{PersonaID: id})
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, a := range got {
			ids[a.ID] = true
		}
		for _, want := range []string{"t1-0-todo.create", "t1-1-todo.create", "t1-2-notes.add"} {
			if !ids[want] {
				t.Errorf("no action row %s among %v", want, ids)
			}
		}
		if len(got) != 3 {
			t.Errorf("%d action rows, want 3", len(got))
		}

		wantBody(t, b.do(t, "POST", path+"/actions", `{"actions":[{"tickId":"t2","toolName":"x.y","result":"maybe"}]}`, b.svc()),
			400, `{"error":"One or more action rows failed validation"}`)
		wantBody(t, b.do(t, "POST", path+"/actions", `{"actions":`, b.svc()), 400, `{"error":"Invalid JSON"}`)
		wantBody(t, b.do(t, "POST", "/api/v1/internal/personas/nobody/actions", rows, b.svc()), 404, `{"error":"Persona not found"}`)

		fb := `{"feedback":[{"tickId":"t1","module":"todo","rating":4,"notes":"fine"}]}`
		wantBody(t, b.do(t, "POST", path+"/feedback", fb, b.svc()), 200, `{"ok":true,"written":1}`)
		wantBody(t, b.do(t, "POST", path+"/feedback", fb, b.svc()), 200, `{"ok":true,"written":1}`)
		// The original's smallint column refuses a fraction: a 500, nothing written.
		r := b.do(t, "POST", path+"/feedback", `{"feedback":[{"tickId":"t3","module":"todo","rating":3.5}]}`, b.svc())
		if r.status != http.StatusInternalServerError {
			t.Errorf("fractional rating: status %d, want 500; body %s", r.status, r.body)
		}
		if n := b.countFeedback(t, id); n != 1 {
			t.Errorf("%d feedback rows, want 1", n)
		}
	})
}

// organization/list and refresh take only the signed cookie of sign-in/email.
func TestCompatManaSessionCookie(t *testing.T) {
	eachCompatStore(t, func(t *testing.T, b *bundle) {
		email := "persona.anna@mana.test"
		b.mustPersona(t, email)
		password := personaInput(email).Password
		login, err := b.client.Login(b.ctx, email, password)
		if err != nil {
			t.Fatal(err)
		}
		for name, tok := range map[string]string{"JWT": login.AccessToken, "session token": login.RefreshToken} {
			if r := b.do(t, "GET", authapi.PathOrgList, "", bearerHeader(tok)); r.status != http.StatusUnauthorized {
				t.Errorf("organization/list with a Bearer %s: status %d, want 401; body %s", name, r.status, r.body)
			}
		}
		wantBody(t, b.do(t, "POST", authapi.PathRefresh, `{"refreshToken":"`+login.RefreshToken+`"}`), 401,
			`{"error":"TOKEN_EXPIRED","message":"Session expired","status":401}`)

		r := b.do(t, "POST", authapi.PathSignInEmail, `{"email":"`+email+`","password":"wrong"}`)
		if r.status != http.StatusUnauthorized || len(r.header.Values("Set-Cookie")) != 0 {
			t.Fatalf("sign-in with a wrong password: %d, cookies %v", r.status, r.header.Values("Set-Cookie"))
		}
		r = b.do(t, "POST", authapi.PathSignInEmail, `{"email":"`+email+`","password":"`+password+`"}`)
		if r.status != http.StatusOK {
			t.Fatalf("sign-in: %d %s", r.status, r.body)
		}
		var cookie *http.Cookie
		for _, c := range (&http.Response{Header: r.header}).Cookies() {
			if c.Name == authapi.SessionCookie {
				cookie = c
			}
		}
		if cookie == nil || !cookie.HttpOnly {
			t.Fatalf("sign-in set no HTTP-only %s cookie: %v", authapi.SessionCookie, r.header.Values("Set-Cookie"))
		}
		var signIn authapi.SignInResponse
		if err := json.Unmarshal(r.body, &signIn); err != nil || signIn.Token == "" || signIn.User.Email != email {
			t.Fatalf("sign-in body %s", r.body)
		}
		if !strings.HasPrefix(cookie.Value, signIn.Token+".") {
			t.Fatalf("cookie %q is not the session token %q signed", cookie.Value, signIn.Token)
		}
		send := "Cookie: " + authapi.SessionCookie + "=" + cookie.Value
		r = b.do(t, "GET", authapi.PathOrgList, "", send)
		if r.status != http.StatusOK {
			t.Fatalf("organization/list with the cookie: %d %s", r.status, r.body)
		}
		var spaces []authapi.Space
		if err := json.Unmarshal(r.body, &spaces); err != nil || len(spaces) != 1 || spaces[0].Metadata.Type != "personal" {
			t.Fatalf("organization/list = %s, want the personal space", r.body)
		}
		// A cookie whose token is not the signed one, or not signed at all, is no session.
		for _, bad := range []string{login.RefreshToken + cookie.Value[len(signIn.Token):], signIn.Token} {
			if r := b.do(t, "GET", authapi.PathOrgList, "", "Cookie: "+authapi.SessionCookie+"="+bad); r.status != http.StatusUnauthorized {
				t.Errorf("organization/list with cookie %q: status %d, want 401", bad, r.status)
			}
		}

		// Refresh ignores the body and refreshes with the cookie.
		r = b.do(t, "POST", authapi.PathRefresh, `{"refreshToken":"nonsense"}`, send)
		if r.status != http.StatusOK {
			t.Fatalf("refresh with the cookie: %d %s", r.status, r.body)
		}
		var ref authapi.RefreshResponse
		if err := json.Unmarshal(r.body, &ref); err != nil || strings.Count(ref.AccessToken, ".") != 2 || ref.RefreshToken != signIn.Token {
			t.Fatalf("refresh = %s", r.body)
		}
	})
}

// A refreshed access token is a working one: an operator signs in, refreshes and lists personas.
func TestCompatManaRefreshedTokenWorks(t *testing.T) {
	b := setupCompat(t, "sqlite")
	r := b.do(t, "POST", authapi.PathSignInEmail, `{"email":"`+adminEmail+`","password":"`+adminPassword+`"}`)
	if r.status != http.StatusOK {
		t.Fatalf("sign-in: %d %s", r.status, r.body)
	}
	cookies := (&http.Response{Header: r.header}).Cookies()
	r = b.do(t, "POST", authapi.PathRefresh, "", "Cookie: "+cookies[0].Name+"="+cookies[0].Value)
	var ref authapi.RefreshResponse
	if err := json.Unmarshal(r.body, &ref); err != nil || r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	if r := b.do(t, "GET", "/api/v1/admin/personas", "", bearerHeader(ref.AccessToken)); r.status != http.StatusOK {
		t.Fatalf("admin list with the refreshed token: %d %s", r.status, r.body)
	}
}
