package mana_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/sqlite"
	"github.com/persona-runner/persona-runner/store/storetest"
	"github.com/persona-runner/persona-runner/target/mana"
)

const testServiceKey = "service-key-for-mint-tests-0123456789"

// countingAuth counts the calls a strategy makes to the auth API.
type countingAuth struct {
	mana.Auth
	mana.CookieAuth
	logins, refreshes atomic.Int32
}

func (a *countingAuth) Login(ctx context.Context, email, password string) (mana.Session, error) {
	a.logins.Add(1)
	return a.Auth.Login(ctx, email, password)
}

func (a *countingAuth) Refresh(ctx context.Context, tok string) (string, error) {
	a.refreshes.Add(1)
	return a.Auth.Refresh(ctx, tok)
}

type authStack struct {
	url, id string
	db      *sqlite.DB
	clock   *storetest.Clock
	auth    *countingAuth
}

// fullServer is our auth API (not the compat mode) over HTTP with one persona; sessions live
// an hour.
func fullServer(t *testing.T) *authStack {
	t.Helper()
	ctx := context.Background()
	clock := storetest.NewClock(storetest.Start)
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), sqlite.WithNow(clock.Now), sqlite.WithPasswordCost(bcrypt.MinCost))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pw, _ := persona.DerivePassword(persona.DevSeedSecret, email)
	id, _, err := db.UpsertPersona(ctx, persona.PersonaInput{Email: email, Name: "Anna", Password: pw, Archetype: "student",
		SystemPrompt: "You are Anna, a student who keeps lists.", ModuleMix: persona.ModuleMix{"todo": 1}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	url := "http://" + srv.Listener.Addr().String()
	api, err := authapi.New(ctx, authapi.Config{Store: db, Issuer: url, ServiceKey: testServiceKey, Now: clock.Now,
		SessionTTL: time.Hour, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = api
	srv.Start()
	t.Cleanup(srv.Close)
	return &authStack{url: url, id: id, db: db, clock: clock, auth: newCounting(url)}
}

func (st *authStack) strategy() *mana.Strategy {
	s := mana.New(st.url, persona.DevSeedSecret, nil)
	s.Auth, s.Now = st.auth, st.clock.Now
	return s
}

// bearer is the Authorization header the credentials put on a request.
func bearer(t *testing.T, c interface{ Apply(*http.Request) error }) string {
	t.Helper()
	req := httptest.NewRequest("POST", "http://app.test/mcp", nil)
	if err := c.Apply(req); err != nil {
		t.Fatal(err)
	}
	return req.Header.Get("Authorization")
}

// Issue 14.6: one login serves many runs; an old token is refreshed, not logged in again; a
// refused refresh (the session expired) logs in anew.
func TestSessionReusedAcrossRuns(t *testing.T) {
	st := fullServer(t)
	s := st.strategy()
	ctx := context.Background()
	p := persona.DuePersona{UserID: st.id, Email: email}
	first := ""
	for i := range 20 {
		c, err := s.Begin(ctx, p)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if h := bearer(t, c); first == "" {
			first = h
		} else if h != first {
			t.Fatalf("run %d got a new token without need", i)
		}
		st.clock.Advance(10 * time.Second)
	}
	if n, r := st.auth.logins.Load(), st.auth.refreshes.Load(); n != 1 || r != 0 {
		t.Fatalf("20 runs within the token's life: %d logins, %d refreshes; want 1, 0", n, r)
	}

	st.clock.Advance(11 * time.Minute) // the token nears its 15-minute expiry
	c, err := s.Begin(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if h := bearer(t, c); h == first {
		t.Error("an old token was not renewed")
	}
	if n, r := st.auth.logins.Load(), st.auth.refreshes.Load(); n != 1 || r != 1 {
		t.Fatalf("after the token aged: %d logins, %d refreshes; want 1, 1", n, r)
	}

	st.clock.Advance(2 * time.Hour) // the session (1 h here) is gone: refresh is refused
	if _, err := s.Begin(ctx, p); err != nil {
		t.Fatal(err)
	}
	if n, r := st.auth.logins.Load(), st.auth.refreshes.Load(); n != 2 || r != 2 {
		t.Fatalf("after the session expired: %d logins, %d refreshes; want 2 (a fresh login), 2", n, r)
	}
}

// Issue 14.6: with the service key the strategy mints tokens by persona id and never logs in, so
// a stranger who locks the persona's password out does not stop its runs.
func TestMintedTokensSurviveALockedPassword(t *testing.T) {
	st := fullServer(t)
	s := st.strategy()
	s.Minter = mana.NewHTTPMinter(st.url, testServiceKey, nil)
	ctx := context.Background()
	cl := authapi.NewClient(st.url, nil)
	for range 6 {
		cl.Login(ctx, email, "wrong password of a stranger")
	}
	if _, err := cl.Login(ctx, email, mustPassword(t)); err == nil {
		t.Fatal("the persona's password is not locked out")
	}
	p := persona.DuePersona{UserID: st.id, Email: email}
	for range 3 {
		c, err := s.Begin(ctx, p)
		if err != nil {
			t.Fatalf("Begin with a locked password: %v", err)
		}
		if id := c.Identity(); id.UserID != st.id || id.SpaceID == "" {
			t.Errorf("identity = %+v", id)
		}
		st.clock.Advance(11 * time.Minute) // each run needs a new token
	}
	if n := st.auth.logins.Load(); n != 0 {
		t.Errorf("%d password logins, want none", n)
	}
}

func mustPassword(t *testing.T) string {
	pw, err := persona.DerivePassword(persona.DevSeedSecret, email)
	if err != nil {
		t.Fatal(err)
	}
	return pw
}

// A service without the mint route (the original) is told once and the personas log in.
func TestMintFallsBackToLoginWithoutTheRoute(t *testing.T) {
	clock := storetest.NewClock(storetest.Start)
	_, url, _ := compatServer(t, clock)
	auth := newCounting(url)
	s := mana.New(url, persona.DevSeedSecret, nil)
	s.Auth, s.Now = auth, clock.Now
	s.Minter = mana.NewHTTPMinter(url, "k", nil)
	if _, err := s.Begin(context.Background(), persona.DuePersona{UserID: "some-id", Email: email}); err != nil {
		t.Fatal(err)
	}
	if n := auth.logins.Load(); n != 1 {
		t.Errorf("logins = %d, want 1", n)
	}
}

func newCounting(url string) *countingAuth {
	a := mana.NewAuthClient(url, nil)
	return &countingAuth{Auth: a, CookieAuth: a.(mana.CookieAuth)}
}
