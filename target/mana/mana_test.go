package mana_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/sqlite"
	"github.com/persona-runner/persona-runner/store/storetest"
	"github.com/persona-runner/persona-runner/target/mana"
)

const email = "persona.anna@mana.test"

// compatServer is `serve auth --compat mana` in process over HTTP, with one persona.
func compatServer(t *testing.T, clock *storetest.Clock) (*authapi.Server, string, string) {
	t.Helper()
	ctx := context.Background()
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
	spaces, err := db.SpacesOfUser(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	url := "http://" + srv.Listener.Addr().String()
	api, err := authapi.New(ctx, authapi.Config{Store: db, Issuer: url, ServiceKey: "k", Now: clock.Now, Compat: authapi.CompatMana, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = api
	srv.Start()
	t.Cleanup(srv.Close)
	return api, url, spaces[0].ID
}

// Issue 16.1: the original's due list has no personalSpaceId and its organization/list refuses
// Bearer tokens; the personal space comes through the sign-in cookie.
func TestPersonalSpaceThroughTheSignInCookie(t *testing.T) {
	clock := storetest.NewClock(storetest.Start)
	_, url, space := compatServer(t, clock)
	var logs strings.Builder
	s := mana.New(url, persona.DevSeedSecret, nil)
	s.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	for range 2 {
		c, err := s.Begin(context.Background(), persona.DuePersona{Email: email})
		if err != nil {
			t.Fatalf("Begin without personalSpaceId: %v", err)
		}
		if got := c.Identity().SpaceID; got != space {
			t.Fatalf("space = %q, want the personal space %q", got, space)
		}
	}
	if n := strings.Count(logs.String(), "sign-in/email"); n != 1 {
		t.Errorf("the cookie fallback is logged %d times, want once:\n%s", n, logs.String())
	}
}

// Issue 16.2: the original's refresh ignores the refresh token and takes the cookie; a run
// longer than the 15-minute access token keeps a valid one.
func TestLongRunRefreshesThroughTheCookie(t *testing.T) {
	clock := storetest.NewClock(storetest.Start)
	api, url, space := compatServer(t, clock)
	s := mana.New(url, persona.DevSeedSecret, nil)
	s.Now = clock.Now
	ctx := context.Background()
	// The due list gave the space: no sign-in yet, the first refresh needs one.
	c, err := s.Begin(ctx, persona.DuePersona{Email: email, PersonalSpaceID: space})
	if err != nil {
		t.Fatal(err)
	}
	tokenAt := func() string {
		req, _ := http.NewRequest("POST", "http://app.test/mcp", nil)
		if err := c.Apply(req); err != nil {
			t.Fatal(err)
		}
		return strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
	}
	first := tokenAt()
	for i := range 3 { // 60 minutes of run in 20-minute steps
		clock.Advance(20 * time.Minute)
		if _, err := api.Verifier().Verify(ctx, first); err == nil {
			t.Fatalf("step %d: the first token still verifies after %v", i, 20*time.Minute*time.Duration(i+1))
		}
		tok := tokenAt()
		claims, err := api.Verifier().Verify(ctx, tok)
		if err != nil {
			t.Fatalf("step %d: the token sent after refresh does not verify: %v", i, err)
		}
		if claims.Email != email {
			t.Fatalf("refreshed token is %s's", claims.Email)
		}
	}
}
