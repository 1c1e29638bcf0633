package command_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/target"
	"github.com/persona-runner/persona-runner/target/command"
	"github.com/persona-runner/persona-runner/target/strategy"
	"github.com/persona-runner/persona-runner/target/targettest"
)

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "get-token")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// runs counts the lines the script appended to log: one per run of the command.
func runs(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

func kitchen(argv ...string) target.Config {
	return target.Config{Name: "kitchen", Default: true, Auth: target.AuthConfig{Strategy: target.AuthCommand, Command: argv}}
}

func anna() persona.DuePersona {
	return persona.DuePersona{UserID: "u-anna", Email: "anna@kitchen.example"}
}
func ben() persona.DuePersona {
	return persona.DuePersona{UserID: "u-ben", Email: "ben@kitchen.example"}
}

// TestTokenPerPersonaCachedUntilExpiry: a real script prints each persona's own token as JSON
// with expires_in; the kitchen app receives the right token for each persona, and the script
// runs once per persona while its token is valid.
func TestTokenPerPersonaCachedUntilExpiry(t *testing.T) {
	t.Parallel()
	app := targettest.New("tok-anna@kitchen.example", "tok-ben@kitchen.example")
	t.Cleanup(app.Close)
	log := filepath.Join(t.TempDir(), "runs.log")
	get := script(t, `echo "$PERSONA_EMAIL/$PERSONA_TARGET/$1" >> "`+log+`"
printf '{"token": "tok-%s", "expires_in": 3600}\n' "$PERSONA_EMAIL"
`)
	cfg := kitchen(get, "${persona.id}")
	cfg.URL = app.MCPURL
	set, err := strategy.Set([]target.Config{cfg}, strategy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range 2 {
		for _, p := range []persona.DuePersona{anna(), ben()} {
			s, err := set.Open(ctx, p, target.OpenOptions{})
			if err != nil {
				t.Fatalf("%s: %v", p.Email, err)
			}
			if _, err := s.CallTool(ctx, "echo", []byte(`{"text":"hi"}`)); err != nil {
				t.Fatal(err)
			}
			s.Close()
		}
	}
	got := runs(t, log)
	want := []string{"anna@kitchen.example/kitchen/u-anna", "ben@kitchen.example/kitchen/u-ben"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("command runs %q, want one per persona %q", got, want)
	}
	calls := map[string]int{}
	for _, c := range app.Calls() {
		calls[c.Token]++
	}
	if calls["tok-anna@kitchen.example"] != 2 || calls["tok-ben@kitchen.example"] != 2 || len(calls) != 2 {
		t.Errorf("tokens of the calls: %v", calls)
	}
}

// TestTokenRenewedWhenItExpires: a token stated to expire is used until shortly before its
// expiry, then the command runs again, within a run (the next request) and for the next run;
// a token without a stated expiry serves one run.
func TestTokenRenewedWhenItExpires(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "runs.log")
	get := script(t, `echo run >> "`+log+`"
n=$(wc -l < "`+log+`" | tr -d ' ')
printf '{"token": "t%s", "expires_in": 600}' "$n"
`)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s := command.New("kitchen", []string{get}, nil)
	s.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ctx := context.Background()
	bearer := func(c target.Credentials) string {
		t.Helper()
		req := newRequest()
		if err := c.Apply(req); err != nil {
			t.Fatal(err)
		}
		return req.Header.Get("Authorization")
	}
	begin := func() target.Credentials {
		t.Helper()
		c, err := s.Begin(ctx, anna())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := begin()
	if got := bearer(c); got != "Bearer t1" {
		t.Fatalf("first request: %q", got)
	}
	advance(8 * time.Minute) // 2 minutes left: still used, by this run and the next
	if got := bearer(c); got != "Bearer t1" {
		t.Errorf("before expiry: %q", got)
	}
	if got := bearer(begin()); got != "Bearer t1" {
		t.Errorf("next run before expiry: %q", got)
	}
	advance(90 * time.Second) // 30 s left, within the minute's margin: renewed before sending
	if got := bearer(c); got != "Bearer t2" {
		t.Errorf("request near expiry: %q", got)
	}
	if got := bearer(begin()); got != "Bearer t2" {
		t.Errorf("next run after renewal: %q", got)
	}
	if n := len(runs(t, log)); n != 2 {
		t.Errorf("command ran %d times, want 2", n)
	}

	// A token already expired when printed is refused, naming its expiry.
	past := command.New("kitchen", []string{script(t, `echo '{"token": "old", "expiresAt": "2001-02-03T04:05:06Z"}'`)}, nil)
	if _, err := past.Begin(ctx, anna()); err == nil || !strings.Contains(err.Error(), "printed a token that expired at 2001-02-03T04:05:06Z") {
		t.Errorf("expired token: %v", err)
	}

	// Without a stated expiry, every run gets a fresh token, and a run keeps its own.
	plain := script(t, `echo run >> "`+log+`.plain"; n=$(wc -l < "`+log+`.plain" | tr -d ' '); echo "p$n"`)
	s = command.New("kitchen", []string{plain}, nil)
	for i, want := range []string{"Bearer p1", "Bearer p2"} {
		c := begin()
		for range 2 {
			if got := bearer(c); got != want {
				t.Errorf("run %d: %q, want %q", i+1, got, want)
			}
		}
	}
}

func newRequest() *http.Request {
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/mcp", nil)
	if err != nil {
		panic(err)
	}
	return req
}

// TestCommandFailures: each way the command can fail is a login error that says what happened
// (with the command's stderr) and never quotes what it printed on stdout.
func TestCommandFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		timeout    time.Duration
		want       []string
	}{
		{"exit status", "echo secret-on-stdout; echo 'no such user: '\"$PERSONA_EMAIL\" >&2; exit 3\n", 0,
			[]string{"token command", "failed (exit status 3): stderr: no such user: anna@kitchen.example"}},
		{"timeout", "echo waiting >&2; sleep 20; echo late\n", 300 * time.Millisecond,
			[]string{"did not finish within 300ms: stderr: waiting"}},
		{"nothing printed", "exit 0\n", 0, []string{"printed no token on stdout"}},
		{"two lines", "echo secret-on-stdout; echo more\n", 0, []string{"printed several lines on stdout"}},
		{"bad JSON", `echo '{"token": secret-on-stdout}'` + "\n", 0, []string{"not a JSON object {token, expiresAt}: syntax error"}},
		{"JSON without token", `echo '{"expires_in": 60, "other": "secret-on-stdout"}'` + "\n", 0, []string{`without a "token"`}},
		{"bad expiresAt", `echo '{"token": "secret-on-stdout", "expiresAt": "tomorrow"}'` + "\n", 0, []string{`"expiresAt" must be an RFC 3339 time`, `(got "tomorrow")`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := command.New("kitchen", []string{script(t, tc.body)}, nil)
			s.Timeout = tc.timeout
			start := time.Now()
			_, err := s.Begin(context.Background(), anna())
			if err == nil {
				t.Fatal("no error")
			}
			if time.Since(start) > 10*time.Second {
				t.Errorf("took %s: the timeout did not kill the command", time.Since(start))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "secret-on-stdout") {
				t.Errorf("the error quotes stdout: %q", err)
			}
			if target.StageOf(err, "") != target.StageLogin {
				t.Errorf("stage %q", target.StageOf(err, ""))
			}
		})
	}

	// A command that does not exist: the one-line cause says so.
	s := command.New("kitchen", []string{filepath.Join(t.TempDir(), "no-such-command")}, nil)
	_, err := s.Begin(context.Background(), anna())
	if why, permanent := target.Why(err); !strings.HasPrefix(why, "command not found: ") || !permanent {
		t.Errorf("missing command: %q (permanent %v)", why, permanent)
	}
	// A placeholder that cannot be filled fails at stage secrets, before anything runs.
	s = command.New("kitchen", []string{"/bin/echo", "${persona.secrets.key}"}, nil)
	_, err = s.Begin(context.Background(), anna())
	if target.StageOf(err, "") != target.StageSecrets || !strings.Contains(err.Error(), `auth.command[1]: persona anna@kitchen.example has no secret "key"`) {
		t.Errorf("missing secret: %v", err)
	}
}
