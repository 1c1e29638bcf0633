package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/jwtauth"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/postgres/pgtest"
)

const testServiceKey = "serve-auth-test-key-0123456789abcdef"

// lockedBuffer collects a server's log lines safely.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServeAuth runs `serve auth` in the background and returns its public URL once it listens;
// stop cancels it and returns its exit status.
func startServeAuth(t *testing.T, env map[string]string, args ...string) (url string, stop func() int, logs *lockedBuffer) {
	t.Helper()
	line, stop, logs := startServeAuthLine(t, env, args...)
	m := regexp.MustCompile(`public URL ([^\s,)]+)`).FindStringSubmatch(line)
	if m == nil {
		stop()
		t.Fatalf("unexpected first line %q", line)
	}
	return m[1], stop, logs
}

// startServeAuthLine runs `serve auth` in the background and returns the first line it prints
// ("auth API listening on ADDR (public URL …, … store)") once it listens.
func startServeAuthLine(t *testing.T, env map[string]string, args ...string) (line string, stop func() int, logs *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	logs = &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		code := Run(ctx, append([]string{"serve", "auth"}, args...), pw, logs, testEnv(env))
		pw.Close()
		done <- code
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("serve auth did not start: %v; stderr:\n%s", err, logs.String())
	}
	go io.Copy(io.Discard, pr)
	stopped := false
	var code int
	stop = func() int {
		if !stopped {
			cancel()
			code = <-done
			stopped = true
		}
		return code
	}
	t.Cleanup(func() { stop() })
	return line, stop, logs
}

func TestServeAuthRefusesWeakKeyInProduction(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, c := range map[string]struct {
		env  map[string]string
		want string
	}{
		"missing": {map[string]string{"APP_ENV": "production"}, "MANA_SERVICE_KEY is required in production"},
		"short":   {map[string]string{"NODE_ENV": "production", "MANA_SERVICE_KEY": "short"}, "at least 32 bytes"},
		// The runner's configuration takes " Production " (blanks, any case) as production; so does
		// serve auth, or a weak key would pass here while the runner beside it is in production.
		"padded": {map[string]string{"APP_ENV": " Production\n", "MANA_SERVICE_KEY": "short"}, "at least 32 bytes"},
	} {
		code, _, errOut := runStopped(t, c.env, "serve", "auth", "--data", dir, "--addr", "127.0.0.1:0")
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s key: code %d, stderr %q, want %q", name, code, errOut, c.want)
		}
	}
	code, _, errOut := run(t, map[string]string{"PORT": "http"}, "serve", "auth", "--data", dir)
	if code != 2 || !strings.Contains(errOut, "PORT must be a port number") {
		t.Errorf("bad PORT: code %d, stderr %q", code, errOut)
	}
}

func TestServeAuthAndAdminCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"MANA_SERVICE_KEY": testServiceKey}

	code, out, errOut := run(t, env, "admin", "create", "ops@example.com", "--data", dir)
	if code != 0 {
		t.Fatalf("admin create: %d %s", code, errOut)
	}
	m := regexp.MustCompile(`(?m)^password: (\S+)$`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "operator ops@example.com created") {
		t.Fatalf("admin create printed %q", out)
	}
	password := m[1]

	url, stop, logs := startServeAuth(t, env, "--data", dir, "--addr", "127.0.0.1:0")
	ctx := context.Background()
	c := authapi.NewClient(url, nil)
	c.ServiceKey = testServiceKey

	// The generated password logs in.
	if _, err := c.Login(ctx, "ops@example.com", password); err != nil {
		t.Fatalf("login with the generated password: %v", err)
	}
	// admin token signs with the stored key for the served issuer.
	code, out, errOut = run(t, env, "admin", "token", "ops@example.com", "--data", dir, "--issuer", url)
	if code != 0 {
		t.Fatalf("admin token: %d %s", code, errOut)
	}
	c.AdminToken = strings.TrimSpace(out)
	if res, err := c.UpsertPersona(ctx, persona.PersonaInput{
		Email: "persona.cli@mana.test", Password: "pw-cli-persona", Archetype: "tester",
		SystemPrompt: "You are a careful tester who tries every feature once.", ModuleMix: persona.ModuleMix{"todo": 1},
	}); err != nil || res.Outcome != persona.Created {
		t.Fatalf("upsert with the CLI token: %+v, %v", res, err)
	}
	if due, _, err := c.Due(ctx, 0); err != nil || len(due) != 1 {
		t.Fatalf("due with the service key: %v, %v", due, err)
	}
	// A token for another issuer is refused.
	code, out, _ = run(t, env, "admin", "token", "ops@example.com", "--data", dir, "--issuer", "http://elsewhere:3001")
	if code != 0 {
		t.Fatal("admin token --issuer elsewhere failed")
	}
	c2 := authapi.NewClient(url, nil)
	c2.AdminToken = strings.TrimSpace(out)
	if _, err := c2.ListPersonas(ctx); !errors.Is(err, authapi.ErrUnauthorized) {
		t.Fatalf("token of another issuer: %v, want 401", err)
	}

	// admin create again resets the password and keeps the account.
	code, out, _ = run(t, env, "admin", "create", "ops@example.com", "--data", dir, "--password", "a-new-operator-password")
	if code != 0 || strings.Contains(out, "password:") || !strings.Contains(out, "ops@example.com updated") {
		t.Fatalf("admin create (reset): %d %q", code, out)
	}
	if _, err := c.Login(ctx, "ops@example.com", "a-new-operator-password"); err != nil {
		t.Fatalf("login with the reset password: %v", err)
	}

	if code := stop(); code != 0 {
		t.Fatalf("serve auth exited %d; stderr:\n%s", code, logs.String())
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Errorf("no shutdown line in the log:\n%s", logs.String())
	}
}

func TestAdminCommandErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, _, errOut := run(t, nil, "admin", "token", "nobody@example.com", "--data", dir)
	if code != 1 || !strings.Contains(errOut, "no account with email nobody@example.com") {
		t.Fatalf("token for an unknown email: %d %q", code, errOut)
	}
	code, _, errOut = run(t, nil, "admin", "create", "not an email", "--data", dir)
	if code != 1 || !strings.Contains(errOut, "email") {
		t.Fatalf("create with a bad email: %d %q", code, errOut)
	}
}

// TestAdminCreateGivesFounderTier: an operator gets the same access tier as a persona, founder
// (the whole app), on every store; SQLite used to give operators "public" while PostgreSQL gave
// "founder". The tier is what the operator's tokens carry.
func TestAdminCreateGivesFounderTier(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), dbFile) },
		"postgres": func(t *testing.T) string { return pgtest.DSN(t) },
	}
	for name, dsn := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := dsn(t)
			if code, _, errOut := run(t, nil, "admin", "create", "ops@example.com", "--db", db, "--password", "an-operator-password"); code != 0 {
				t.Fatalf("admin create: %d %s", code, errOut)
			}
			code, out, errOut := run(t, nil, "admin", "token", "ops@example.com", "--db", db)
			if code != 0 {
				t.Fatalf("admin token: %d %s", code, errOut)
			}
			claims := claimsOf(t, out)
			if claims.Tier != string(persona.TierFounder) || claims.Role != "admin" || claims.Kind != "human" {
				t.Fatalf("operator claims = %+v; want tier founder, role admin, kind human", claims)
			}
		})
	}
}

// TestServeAuthSpecFlags: serve auth takes every flag SPEC §8 lists for it. --config reads the
// runner's YAML file (service key, store, public URL, production mode), environment variables
// and flags override the file, and --auth-url is the public URL (--public-url still works).
func TestServeAuthSpecFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "auth.db")
	if code, _, errOut := run(t, nil, "admin", "create", "ops@example.com", "--db", dbPath, "--password", "an-operator-password"); code != 0 {
		t.Fatalf("admin create: %d %s", code, errOut)
	}
	cfg := writeFile(t, dir, "persona-runner.yaml", "serviceKey: "+testServiceKey+"\ndb: "+dbPath+"\nauthUrl: http://auth.test:3001/\n")
	listenRE := regexp.MustCompile(`listening on (\S+) \(public URL ([^\s,)]+), (\w+) store\)`)
	ctx := context.Background()

	// start serves with args and returns a client of it (carrying the file's service key) and
	// the public URL it announced.
	start := func(env map[string]string, args ...string) (*authapi.Client, string, func() int) {
		t.Helper()
		line, stop, logs := startServeAuthLine(t, env, append(args, "--addr", "127.0.0.1:0")...)
		m := listenRE.FindStringSubmatch(line)
		if m == nil || m[3] != "sqlite" {
			t.Fatalf("first line %q; stderr:\n%s", line, logs.String())
		}
		c := authapi.NewClient("http://"+m[1], nil)
		c.ServiceKey = testServiceKey
		return c, m[2], stop
	}

	// Everything from the file: its store holds the operator, its key opens the internal
	// routes, its authUrl is the issuer.
	c, public, stop := start(nil, "--config", cfg)
	if public != "http://auth.test:3001" {
		t.Errorf("public URL = %q; want the file's authUrl without the trailing slash", public)
	}
	login, err := c.Login(ctx, "ops@example.com", "an-operator-password")
	if err != nil {
		t.Fatalf("login against the file's store: %v", err)
	}
	if iss := claimsOf(t, login.AccessToken).Issuer; iss != "http://auth.test:3001" {
		t.Errorf("iss = %q; want the file's authUrl", iss)
	}
	if _, _, err := c.Due(ctx, 0); err != nil {
		t.Errorf("due with the file's service key: %v", err)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve auth --config exited %d", code)
	}

	// Flags and the environment win over the file.
	c, public, stop = start(map[string]string{"MANA_SERVICE_KEY": "another-service-key-0123456789abcdef"},
		"--config", cfg, "--auth-url", "http://flag.test:3001")
	if public != "http://flag.test:3001" {
		t.Errorf("public URL with --auth-url = %q", public)
	}
	if login, err := c.Login(ctx, "ops@example.com", "an-operator-password"); err != nil || claimsOf(t, login.AccessToken).Issuer != "http://flag.test:3001" {
		t.Errorf("login with --auth-url: %v", err)
	}
	if _, _, err := c.Due(ctx, 0); !errors.Is(err, authapi.ErrUnauthorized) {
		t.Errorf("due with the file's key while MANA_SERVICE_KEY is set: %v; want 401", err)
	}
	stop()
	_, public, stop = start(nil, "--db", dbPath, "--public-url", "http://alias.test")
	if public != "http://alias.test" {
		t.Errorf("public URL with --public-url = %q", public)
	}
	stop()

	// Bad input: a clear error naming the field, nothing served.
	prodCfg := writeFile(t, dir, "prod.yaml", "env: production\nserviceKey: short\ndb: "+dbPath+"\n")
	unknown := writeFile(t, dir, "unknown.yaml", "serviceKey: "+testServiceKey+"\nsecretKey: x\n")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--config", prodCfg}, 2, "at least 32 bytes"},
		{[]string{"--config", unknown}, 2, "secretKey"},
		{[]string{"--config", filepath.Join(dir, "missing.yaml")}, 2, "missing.yaml"},
		{[]string{"--db", dbPath, "--auth-url", "auth.test:3001"}, 2, "--auth-url must be an http(s) URL"},
		{[]string{"--config", writeFile(t, dir, "badurl.yaml", "authUrl: auth.test\n"), "--db", dbPath}, 2, "authUrl in "},
	} {
		code, _, errOut := run(t, nil, append([]string{"serve", "auth", "--addr", "127.0.0.1:0"}, c.args...)...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("serve auth %v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
}

// claimsOf reads the claims of a JWT without verifying it (the test only looks at what the
// server put there).
func claimsOf(t *testing.T, token string) *jwtauth.Claims {
	t.Helper()
	var c jwtauth.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(strings.TrimSpace(token), &c); err != nil {
		t.Fatalf("not a JWT: %q: %v", token, err)
	}
	return &c
}
