package authapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/postgres/pgtest"
	"github.com/persona-runner/persona-runner/store/storetest"
)

// routeServer is one in-process auth API (full or compat) on one store, with a persona and an
// operator whose token the requests carry.
type routeServer struct {
	name    string
	h       http.Handler
	persona string
	admin   string
}

func newRouteServer(f *testing.F, dialect, compat string) routeServer {
	f.Helper()
	ctx := context.Background()
	clock := storetest.NewClock(storetest.Start)
	st := newStore(f, dialect, clock)
	s, err := authapi.New(ctx, authapi.Config{Store: st, Issuer: "http://auth.test", ServiceKey: serviceKey,
		Now: clock.Now, PasswordCost: bcrypt.MinCost, ReportTools: appTools, Compat: compat})
	if err != nil {
		f.Fatal(err)
	}
	id, _, err := st.UpsertPersona(ctx, personaInput("persona.fuzz@mana.test"))
	if err != nil {
		f.Fatal(err)
	}
	u, _, err := st.UpsertUser(ctx, persona.UserInput{Email: adminEmail, Name: "Ops", Password: adminPassword,
		Role: persona.RoleAdmin, Kind: persona.KindHuman})
	if err != nil {
		f.Fatal(err)
	}
	tok, _, err := s.Issuer().Issue(u, "")
	if err != nil {
		f.Fatal(err)
	}
	return routeServer{name: dialect + "/" + compat, h: s, persona: id, admin: tok}
}

// fuzzRoutes are the API's routes; {id} is the fuzzed path segment (or "@", the persona's id).
var fuzzRoutes = []struct{ method, path string }{
	{"POST", authapi.PathLogin}, {"POST", authapi.PathRefresh}, {"GET", authapi.PathJWKS},
	{"GET", authapi.PathOrgList}, {"POST", authapi.PathSignInEmail},
	{"POST", authapi.PathAdminPersona}, {"GET", authapi.PathAdminPersona},
	{"GET", authapi.PathAdminPersona + "/{id}"}, {"DELETE", authapi.PathAdminPersona + "/{id}"},
	{"POST", authapi.PathAdminSpaces}, {"GET", authapi.PathAdminReport},
	{"GET", authapi.PathInternal + "/due"}, {"POST", authapi.PathInternal + "/claim"},
	{"POST", authapi.PathInternal + "/abandon"},
	{"POST", authapi.PathInternal + "/{id}/actions"}, {"POST", authapi.PathInternal + "/{id}/feedback"},
	{"POST", authapi.PathInternal + "/{id}/ticks"}, {"GET", authapi.PathInternal + "/{id}/history"},
	{"POST", authapi.PathInternal + "/{id}/token"}, {"GET", "/{id}"}, {"GET", "/healthz"},
}

// fuzzHeaders are the headers a fuzzed value replaces (the others keep valid credentials).
var fuzzHeaders = []string{"X-Mana-Space", "Authorization", authapi.HeaderServiceKey, authapi.HeaderRequestID,
	"Content-Type", "Cookie"}

// FuzzRoutes sends any path segment, query, header value and body to every route of the full
// and the compat API, on SQLite and (when PERSONA_TEST_POSTGRES_URL is set) PostgreSQL: never a
// server error (the compat mode's one documented 500, a fractional rating, aside), a JSON answer,
// and the same status from every store.
func FuzzRoutes(f *testing.F) {
	for _, s := range []struct {
		route       uint8
		id, query   string
		header      uint8
		value, body string
	}{
		{0, "", "", 4, "application/json", `{"email":"persona.fuzz@mana.test\u0000","password":"x"}`},
		{0, "", "", 4, "application/json", `{"email":"a@b.c","password":"\u0000"}`},
		{1, "", "", 4, "application/json", `{"refreshToken":"\u0000\xff"}`},
		{3, "", "", 1, "Bearer \x00", ``},
		{7, "a\x00b", "", 0, "", ``}, {7, "\xff", "", 0, "", ``}, {7, "@", "", 0, "", ``},
		{8, "x\x00", "", 0, "", ``}, {8, "\xc3\x28", "", 0, "", ``},
		{10, "", "module=%00", 0, "", ``}, {10, "", "module=%FF&persona=%00", 0, "", ``},
		{10, "", "persona=a%00&since=7%00d", 0, "", ``}, {10, "", "since=%zz", 0, "", ``},
		{11, "", "limit=%00", 0, "", ``},
		{12, "", "", 4, "application/json", `{"runnerId":"r\u0000"}`},
		{12, "", "", 4, "application/json", "{\"runnerId\":\"r\xff\"}"},
		{13, "", "", 4, "application/json", `{"runnerId":"\u0000"}`},
		{14, "\x00", "", 4, "application/json", `{"actions":[{"tickId":"t","toolName":"x","result":"ok"}]}`},
		{14, "@", "", 4, "application/json", `{"actions":[{"tickId":"t\u0000","toolName":"x","result":"ok"}]}`},
		{15, "\xff\xfe", "", 4, "application/json", `{"feedback":[{"tickId":"t","module":"todo","rating":3}]}`},
		{16, "a\x00", "", 4, "application/json", `{"tickId":"t","status":"ok"}`},
		{16, "@", "", 4, "application/json", `{"tickId":"t\u0000","status":"ok","runnerId":"\u0000"}`},
		{17, "\x00", "runs=%00", 0, "", ``}, {17, "@", "runs=2", 0, "", ``},
		{18, "\x00", "", 4, "application/json", `{}`}, {18, "@", "", 4, "application/json", `{}`},
		{19, "\x00", "", 0, "", ``}, {20, "", "", 3, "\x00\xff", ``},
		{11, "", "", 2, "\x00", ``}, {5, "", "", 4, "application/json", `{"email":"p\u0000@x.y"}`},
		{9, "", "", 4, "application/json", `{"slug":"s","name":"n\u0000","type":"club","members":["\u0000"]}`},
		{2, "", "", 5, "mana.session_token=\x00\xff", ``},
	} {
		f.Add(s.route, s.id, s.query, s.header, s.value, s.body)
	}
	dialects := []string{"sqlite"}
	if os.Getenv(pgtest.URLEnv) != "" {
		dialects = append(dialects, "postgres")
	}
	var servers [][]routeServer // per compat mode, one per store
	for _, compat := range []string{"", authapi.CompatMana} {
		var byStore []routeServer
		for _, d := range dialects {
			byStore = append(byStore, newRouteServer(f, d, compat))
		}
		servers = append(servers, byStore)
	}
	f.Fuzz(func(t *testing.T, route uint8, id, query string, header uint8, value, body string) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		hdr := fuzzHeaders[int(header)%len(fuzzHeaders)]
		for _, byStore := range servers {
			first := 0
			for i, s := range byStore {
				seg := url.PathEscape(id)
				if id == "@" {
					seg = s.persona
				}
				u := &url.URL{Path: strings.ReplaceAll(rt.path, "{id}", id), RawPath: strings.ReplaceAll(rt.path, "{id}", seg), RawQuery: query}
				if id == "@" {
					u.Path = u.RawPath
				}
				req := httptest.NewRequest(rt.method, "/", strings.NewReader(body))
				req.URL, req.RequestURI = u, u.RequestURI()
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(authapi.HeaderServiceKey, serviceKey)
				req.Header.Set("Authorization", "Bearer "+s.admin)
				req.Header.Set(hdr, value)
				rec := httptest.NewRecorder()
				s.h.ServeHTTP(rec, req)
				if rec.Code >= 500 && !(strings.HasSuffix(s.name, "/"+authapi.CompatMana) && strings.HasSuffix(rt.path, "/feedback")) {
					t.Fatalf("%s: %s %s (%s: %q): %d %s", s.name, rt.method, u.RequestURI(), hdr, value, rec.Code, rec.Body)
				}
				if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Fatalf("%s: %s %s: %d with Content-Type %q: %s", s.name, rt.method, u.RequestURI(), rec.Code, ct, rec.Body)
				}
				if i == 0 {
					first = rec.Code
				} else if rec.Code != first {
					t.Fatalf("%s %s (%s: %q, body %q): %s answers %d, %s answers %d: %s", rt.method, u.RequestURI(), hdr, value, body,
						byStore[0].name, first, s.name, rec.Code, rec.Body)
				}
			}
		}
	})
}
