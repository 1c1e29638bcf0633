// Package command is the auth strategy of targets whose tokens come from a program the team
// already has (SPEC §10, auth.strategy command): a CLI of the identity provider, a script that
// mints a test user's token, a secret manager's client.
//
// The contract with the command:
//
//   - It is run without a shell, as the target's auth.command lists it; each argument may hold
//     ${ENV}, ${persona.email}, ${persona.id} and ${persona.secrets.NAME}, expanded per persona.
//   - It inherits the runner's environment plus PERSONA_EMAIL, PERSONA_ID and PERSONA_TARGET,
//     and gets no stdin.
//   - It prints the persona's token on stdout, either as the token alone (one line) or as a JSON
//     object {"token": "…", "expiresAt": "2026-01-02T15:04:05Z"} — "access_token" for "token"
//     and "expires_in" (seconds from now) or a Unix-seconds "expiresAt" are accepted too, so an
//     OAuth token response can be printed as it is.
//   - It exits 0. Another status, or no token, fails the persona's run at stage login with the
//     command's stderr (its last 1 KiB) in the error; it is killed after Timeout.
//
// The token is sent as "Authorization: Bearer <token>" with every request of the persona's
// session. It is kept in memory per persona until its stated expiry (less a minute) and reused
// by the persona's later runs; a token with no stated expiry serves one run. A run that outlives
// its token runs the command again before the next request. Tokens are never logged, never
// stored and never put in an error message.
package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/target"
)

// Defaults of a Strategy.
const (
	DefaultTimeout = 30 * time.Second
	// DefaultMargin is how long before its stated expiry a token is no longer used.
	DefaultMargin = time.Minute
	// maxStdout bounds what is read of the command's output (a token, or a JSON object).
	maxStdout = 64 << 10
	// maxStderr is how much of the command's stderr an error keeps (its end).
	maxStderr = 1 << 10
)

// Strategy runs the target's token command.
type Strategy struct {
	Target  string     // the target's name (PERSONA_TARGET)
	Command []string   // the program and its arguments, with placeholders
	Getenv  target.Env // reads ${ENV} and env secrets; nil means os.Getenv
	Timeout time.Duration
	Margin  time.Duration
	Now     func() time.Time // nil means time.Now

	mu    sync.Mutex
	cache map[string]*entry // persona → its token
}

var _ target.Strategy = (*Strategy)(nil)

// entry is one persona's token; mu serialises the command runs for that persona.
type entry struct {
	mu      sync.Mutex
	token   string
	expires time.Time // zero: no stated expiry (serves the run it was made for)
	renewAt time.Time // when the token stops being used: its expiry less the margin
}

// fresh reports whether the token may still be sent at now.
func (e *entry) fresh(now time.Time) bool {
	return e.token != "" && !e.expires.IsZero() && now.Before(e.renewAt)
}

// New returns the strategy running argv for the target called name.
func New(name string, argv []string, getenv target.Env) *Strategy {
	return &Strategy{Target: name, Command: argv, Getenv: getenv}
}

// Name is "command".
func (s *Strategy) Name() string { return target.AuthCommand }

func (s *Strategy) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Strategy) margin() time.Duration {
	if s.Margin > 0 {
		return s.Margin
	}
	return DefaultMargin
}

func (s *Strategy) entry(p persona.DuePersona) *entry {
	key := p.UserID + "\x00" + p.Email
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		s.cache = map[string]*entry{}
	}
	e, ok := s.cache[key]
	if !ok {
		e = &entry{}
		s.cache[key] = e
	}
	return e
}

// Begin returns p's credentials: its cached token while that is valid, else a new one from the
// command. Failures are *target.Error of stage login (secrets for a placeholder that cannot be
// filled).
func (s *Strategy) Begin(ctx context.Context, p persona.DuePersona) (target.Credentials, error) {
	e := s.entry(p)
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.fresh(s.now()) {
		if err := s.fetch(ctx, p, e); err != nil {
			return nil, err
		}
	}
	return &creds{s: s, p: p, e: e, token: e.token, expires: e.expires, renewAt: e.renewAt}, nil
}

// fetch runs the command for p and stores its token in e; e.mu is held.
func (s *Strategy) fetch(ctx context.Context, p persona.DuePersona, e *entry) error {
	if len(s.Command) == 0 {
		return target.Errorf(target.StageLogin, "auth.command is empty")
	}
	argv := make([]string, len(s.Command))
	for i, a := range s.Command {
		v, err := target.Expand(a, p, s.Getenv)
		if err != nil {
			return target.Errorf(target.StageSecrets, "auth.command[%d]: %w", i, err)
		}
		argv[i] = v
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			// *exec.Error with ErrNotFound: `targets check` says "command not found" in one line.
			return target.Errorf(target.StageLogin, "token command: %w", &exec.Error{Name: argv[0], Err: exec.ErrNotFound})
		}
		return target.Errorf(target.StageLogin, "token command %s cannot be run: %w", argv[0], err)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	// The command is bounded by its own timeout, not by the run's context alone: a token
	// command that hangs must not hold a persona until the run deadline.
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "PERSONA_EMAIL="+p.Email, "PERSONA_ID="+p.UserID, "PERSONA_TARGET="+s.Target)
	var stdout limitedBuffer
	stdout.max = maxStdout
	var stderr tailBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 2 * time.Second // a child that keeps the pipes open does not hold us
	setProcessGroup(cmd)
	started := s.now()
	err := cmd.Run()
	name := argv[0]
	switch {
	case err == nil:
	case cctx.Err() == context.DeadlineExceeded && ctx.Err() == nil:
		return target.Errorf(target.StageLogin, "token command %s did not finish within %s%s", name, timeout, stderr.suffix())
	case ctx.Err() != nil:
		return target.Errorf(target.StageLogin, "token command %s: %w", name, ctx.Err())
	default:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return target.Errorf(target.StageLogin, "token command %s failed (%s)%s", name, exit.ProcessState, stderr.suffix())
		}
		// Not started: *exec.Error (command not found, not executable) stays in the chain so
		// that the one-line cause of `targets check` says so.
		return target.Errorf(target.StageLogin, "token command: %w", err)
	}
	if stdout.over {
		return target.Errorf(target.StageLogin, "token command %s printed more than %d bytes on stdout; print only the token or a JSON object {token, expiresAt}", name, maxStdout)
	}
	token, expires, perr := parseOutput(stdout.Bytes(), started)
	if perr != nil {
		return target.Errorf(target.StageLogin, "token command %s: %v%s", name, perr, stderr.suffix())
	}
	if expires.IsZero() {
		e.token, e.expires, e.renewAt = token, time.Time{}, time.Time{}
		return nil
	}
	if !expires.After(s.now()) {
		return target.Errorf(target.StageLogin, "token command %s printed a token that expired at %s", name, expires.UTC().Format(time.RFC3339))
	}
	// The margin is at most half the token's lifetime, so that a short-lived token is still
	// used for a while rather than renewed before every request.
	margin := min(s.margin(), expires.Sub(started)/2)
	e.token, e.expires, e.renewAt = token, expires, expires.Add(-margin)
	return nil
}

// parseOutput reads the command's stdout: a JSON object with the token and its expiry, or the
// token alone. Messages never quote the output: it holds a credential.
func parseOutput(out []byte, started time.Time) (string, time.Time, error) {
	text := strings.TrimSpace(string(out))
	if text == "" {
		return "", time.Time{}, errors.New("printed no token on stdout")
	}
	if strings.HasPrefix(text, "{") {
		var v struct {
			Token       string          `json:"token"`
			AccessToken string          `json:"access_token"`
			ExpiresAt   json.RawMessage `json:"expiresAt"`
			ExpiresIn   json.RawMessage `json:"expires_in"`
		}
		if err := json.Unmarshal([]byte(text), &v); err != nil {
			return "", time.Time{}, fmt.Errorf("stdout starts with { but is not a JSON object {token, expiresAt}: %s", jsonProblem(err))
		}
		tok := v.Token
		if tok == "" {
			tok = v.AccessToken
		}
		if tok == "" {
			return "", time.Time{}, errors.New(`printed JSON without a "token" (or "access_token") string`)
		}
		if err := checkToken(tok); err != nil {
			return "", time.Time{}, err
		}
		var exp time.Time
		if len(v.ExpiresAt) > 0 && string(v.ExpiresAt) != "null" {
			t, err := parseExpiresAt(v.ExpiresAt)
			if err != nil {
				return "", time.Time{}, err
			}
			exp = t
		} else if len(v.ExpiresIn) > 0 && string(v.ExpiresIn) != "null" {
			var secs float64
			if err := json.Unmarshal(v.ExpiresIn, &secs); err != nil || secs <= 0 {
				return "", time.Time{}, fmt.Errorf(`"expires_in" must be a positive number of seconds (got %s)`, v.ExpiresIn)
			}
			exp = started.Add(time.Duration(secs * float64(time.Second)))
		}
		return tok, exp, nil
	}
	if strings.ContainsAny(text, "\r\n") {
		return "", time.Time{}, errors.New("printed several lines on stdout; print only the token, or a JSON object {token, expiresAt}")
	}
	if err := checkToken(text); err != nil {
		return "", time.Time{}, err
	}
	return text, time.Time{}, nil
}

// checkToken refuses what cannot go in an HTTP header.
func checkToken(tok string) error {
	for _, r := range tok {
		if r < ' ' || r == 0x7f {
			return errors.New("printed a token with control characters, which cannot be sent in a header")
		}
	}
	return nil
}

// parseExpiresAt reads an RFC 3339 time or Unix seconds.
func parseExpiresAt(raw json.RawMessage) (time.Time, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t, nil
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			return time.Unix(n, 0), nil
		}
		return time.Time{}, fmt.Errorf(`"expiresAt" must be an RFC 3339 time such as 2026-01-02T15:04:05Z or Unix seconds (got %q)`, s)
	}
	var n float64
	if err := json.Unmarshal(raw, &n); err == nil && n > 0 {
		return time.Unix(int64(n), 0), nil
	}
	return time.Time{}, fmt.Errorf(`"expiresAt" must be an RFC 3339 time such as 2026-01-02T15:04:05Z or Unix seconds (got %s)`, raw)
}

// jsonProblem describes a JSON error without quoting the input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q must be a %s (got a JSON %s)", te.Field, te.Type, te.Value)
	}
	return "invalid JSON"
}

// creds are one persona's token during one run.
type creds struct {
	s *Strategy
	p persona.DuePersona
	e *entry

	mu      sync.Mutex
	token   string
	expires time.Time // zero: the token is the run's own, kept for the whole run
	renewAt time.Time
}

// Apply sets Authorization: Bearer <token>, running the command again first when the token
// has (nearly) expired during the run.
func (c *creds) Apply(req *http.Request) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.expires.IsZero() && !c.s.now().Before(c.renewAt) {
		c.e.mu.Lock()
		if !c.e.fresh(c.s.now()) {
			if err := c.s.fetch(req.Context(), c.p, c.e); err != nil {
				c.e.mu.Unlock()
				return err
			}
		}
		c.token, c.expires, c.renewAt = c.e.token, c.e.expires, c.e.renewAt
		c.e.mu.Unlock()
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	return nil
}

func (*creds) Identity() target.Identity { return target.Identity{} }

// limitedBuffer keeps at most max bytes and notes that more came.
type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.over = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// tailBuffer keeps the last maxStderr bytes written.
type tailBuffer struct {
	buf  []byte
	lost bool
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - maxStderr; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
		b.lost = true
	}
	return len(p), nil
}

// suffix is ": stderr: <text>" for an error, or nothing when the command wrote nothing.
func (b *tailBuffer) suffix() string {
	text := strings.TrimSpace(strings.ToValidUTF8(string(b.buf), "?"))
	if text == "" {
		return ""
	}
	text = strings.Join(strings.Fields(strings.ReplaceAll(text, "\n", " | ")), " ")
	if b.lost {
		text = "…" + text
	}
	return ": stderr: " + text
}
