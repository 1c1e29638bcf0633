package storetest

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

// authTests are the auth cases of the suite (listed in Run).
var authTests = []suiteTest{
	{"Sessions", testSessions},
	{"SigningKeys/ConcurrentEnsure", testSigningKeys},
	{"Lockout", testLockout},
	{"Lockout/Window", testLockoutWindow},
}

func testSessions(e *env) {
	id := e.persona("s@mana.test", persona.Daily, "UTC")
	exp := e.clock.Now().Add(time.Hour)
	if err := e.s.CreateSession(e.ctx, persona.Session{ID: "sess-1", UserID: id, TokenHash: "h1", ExpiresAt: exp}); err != nil {
		e.t.Fatal(err)
	}
	s, err := e.s.SessionByTokenHash(e.ctx, "h1")
	if err != nil || s.ID != "sess-1" || s.UserID != id || !s.ExpiresAt.Equal(exp) || !s.CreatedAt.Equal(e.clock.Now()) {
		e.t.Errorf("SessionByTokenHash = %+v, %v", s, err)
	}
	if _, err := e.s.SessionByTokenHash(e.ctx, "other"); !errors.Is(err, persona.ErrNotFound) {
		e.t.Errorf("unknown hash: %v; want ErrNotFound", err)
	}
	e.clock.Set(exp)
	if _, err := e.s.SessionByTokenHash(e.ctx, "h1"); !errors.Is(err, persona.ErrNotFound) {
		e.t.Errorf("expired session: %v; want ErrNotFound", err)
	}
	if err := e.s.CreateSession(e.ctx, persona.Session{ID: "sess-2", UserID: id, TokenHash: "h2", ExpiresAt: exp.Add(time.Hour)}); err != nil {
		e.t.Fatal(err)
	}
	if err := e.s.DeleteSession(e.ctx, "sess-2"); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.s.SessionByTokenHash(e.ctx, "h2"); !errors.Is(err, persona.ErrNotFound) {
		e.t.Errorf("deleted session: %v; want ErrNotFound", err)
	}
	if err := e.s.DeleteSession(e.ctx, "sess-2"); err != nil {
		e.t.Errorf("deleting an absent session: %v; want no error", err)
	}
}

func testSigningKeys(e *env) {
	const callers = 10
	var wg sync.WaitGroup
	got := make([]persona.SigningKey, callers)
	errs := make([]error, callers)
	start := make(chan struct{})
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got[i], errs[i] = e.s.EnsureSigningKey(e.ctx, persona.SigningKey{
				ID: fmt.Sprintf("kid-%d", i), Algorithm: "EdDSA",
				PrivateKey: []byte(fmt.Sprintf("private-%02d-0123456789012345678", i)), PublicKey: []byte(fmt.Sprintf("public-%02d", i)),
			})
		}()
	}
	close(start)
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			e.t.Fatalf("EnsureSigningKey %d: %v", i, errs[i])
		}
		if got[i].ID != got[0].ID || string(got[i].PrivateKey) != string(got[0].PrivateKey) {
			e.t.Errorf("caller %d got key %s; caller 0 got %s", i, got[i].ID, got[0].ID)
		}
	}
	keys, err := e.s.SigningKeys(e.ctx)
	if err != nil || len(keys) != 1 || keys[0].ID != got[0].ID || keys[0].Algorithm != "EdDSA" ||
		string(keys[0].PublicKey) != string(got[0].PublicKey) || !keys[0].CreatedAt.Equal(e.clock.Now()) {
		e.t.Errorf("SigningKeys = %+v, %v; want the one key %s", keys, err, got[0].ID)
	}
	// Later calls (a restart) keep the stored key.
	k, err := e.s.EnsureSigningKey(e.ctx, persona.SigningKey{ID: "late", Algorithm: "EdDSA", PrivateKey: []byte("p"), PublicKey: []byte("q")})
	if err != nil || k.ID != got[0].ID {
		e.t.Errorf("EnsureSigningKey after restart = %s, %v; want %s", k.ID, err, got[0].ID)
	}
}

func testLockout(e *env) {
	p := persona.DefaultLockout
	email := "victim@mana.test"
	for i := 1; i < p.MaxFailures; i++ {
		until, err := e.s.RecordLoginFailure(e.ctx, email, p)
		if err != nil || !until.IsZero() {
			e.t.Fatalf("failure %d: locked until %v, %v; want not locked", i, until, err)
		}
		e.clock.Advance(time.Minute)
	}
	until, err := e.s.RecordLoginFailure(e.ctx, email, p)
	want := e.clock.Now().Add(p.LockFor)
	if err != nil || !until.Equal(want) {
		e.t.Fatalf("failure %d: locked until %v, %v; want %v", p.MaxFailures, until, err, want)
	}
	if got, err := e.s.LoginLockedUntil(e.ctx, email); err != nil || !got.Equal(want) {
		e.t.Errorf("LoginLockedUntil = %v, %v; want %v", got, err, want)
	}
	if got, _ := e.s.LoginLockedUntil(e.ctx, "other@mana.test"); !got.IsZero() {
		e.t.Errorf("another account is locked until %v", got)
	}
	e.clock.Set(want)
	if got, _ := e.s.LoginLockedUntil(e.ctx, email); !got.IsZero() {
		e.t.Errorf("lock still holds at its end: %v", got)
	}
	// After a reset the count starts again.
	e.clock.Set(want.Add(-time.Minute))
	if err := e.s.ResetLoginFailures(e.ctx, email); err != nil {
		e.t.Fatal(err)
	}
	if got, _ := e.s.LoginLockedUntil(e.ctx, email); !got.IsZero() {
		e.t.Errorf("lock survives a reset: %v", got)
	}
	if until, _ := e.s.RecordLoginFailure(e.ctx, email, p); !until.IsZero() {
		e.t.Errorf("first failure after reset locks until %v", until)
	}
}

func testLockoutWindow(e *env) {
	p := persona.DefaultLockout
	email := "slow@mana.test"
	// Failures spread wider than the window never lock.
	for i := range 3 * p.MaxFailures {
		until, err := e.s.RecordLoginFailure(e.ctx, email, p)
		if err != nil || !until.IsZero() {
			e.t.Fatalf("failure %d: locked until %v, %v; want never locked", i+1, until, err)
		}
		e.clock.Advance(p.Window/time.Duration(p.MaxFailures-1) + time.Second)
	}
}
