// Package stdio runs an MCP server as a child process and speaks to it over its stdin and stdout
// with the official go-sdk's CommandTransport (SPEC §10, transport stdio).
//
// A Process is one server process for one persona run. It is started with only the environment
// the target lists (plus the few basics a program needs to start, see BaseEnv), in a process
// group of its own, so that ending it ends everything it started (npx, a shell, the node process
// behind them). Its stderr is kept, capped at StderrLimit, for the run's transcript. It ends when
// its session is closed, when the lifetime context given to Start ends (the run deadline, the
// runner's shutdown), or when Kill is called: stdin is closed first, as the MCP spec asks, then
// the group gets SIGTERM and, after Grace, SIGKILL. No process of the group outlives Close.
package stdio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// StderrLimit is how much of a server's stderr a Process keeps (its head and its tail).
const StderrLimit = 64 << 10

// DefaultGrace is how long a server gets to exit after its stdin is closed, and again after
// SIGTERM, before it is killed.
const DefaultGrace = 2 * time.Second

// BaseEnv names the variables a server inherits from the runner besides those its target lists:
// what a program needs to be found and started (npx needs HOME for its cache), and nothing that
// is commonly a secret. It is the list the MCP reference SDK's stdio client inherits by default.
var BaseEnv = []string{"HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"}

// Command describes how to start a server.
type Command struct {
	// Argv is the program and its arguments, e.g. ["npx", "-y", "@scope/server"]. The program
	// is looked up in the runner's PATH when it has no slash.
	Argv []string
	// Env is the environment the target lists, values already expanded. It is added to BaseEnv
	// and wins over it.
	Env map[string]string
	// Dir is the working directory; empty means the runner's.
	Dir string
	// Grace is the wait after closing stdin and again after SIGTERM; zero means DefaultGrace.
	Grace time.Duration
	// Getenv reads the runner's environment for BaseEnv; nil means os.Getenv.
	Getenv func(string) string
}

// Validate reports a command that cannot be started, naming the field.
func (c Command) Validate() error {
	if len(c.Argv) == 0 || strings.TrimSpace(c.Argv[0]) == "" {
		return errors.New("command: must name the program to start")
	}
	for k := range c.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf("env: %q is not a variable name", k)
		}
	}
	return nil
}

// Environ is the exact environment the server is started with, sorted by name.
func (c Command) Environ() []string {
	getenv := c.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	vars := map[string]string{}
	for _, k := range BaseEnv {
		if v := getenv(k); v != "" {
			vars[k] = v
		}
	}
	for k, v := range c.Env {
		vars[k] = v
	}
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// Process is one server process. It implements mcp.Transport: the session's Connect starts it.
// Its methods are safe for concurrent use.
type Process struct {
	cmd    *exec.Cmd
	grace  time.Duration
	stderr capBuffer
	ct     *mcp.CommandTransport

	mu      sync.Mutex
	started bool
	pgid    int
	exited  chan struct{} // closed when the group leader was waited for (inner Close returned)
	readErr chan struct{} // closed when stderr reached EOF (every process of the group let go of it)
	life    context.Context
}

var _ mcp.Transport = (*Process)(nil)

// New prepares a server process; Connect starts it. While life lasts the process may run; when
// life ends, the process group is terminated even if the session was never closed.
func New(life context.Context, c Command) (*Process, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	cmd := exec.Command(c.Argv[0], c.Argv[1:]...)
	cmd.Env = c.Environ()
	cmd.Dir = c.Dir
	cmd.SysProcAttr = groupAttr()
	grace := c.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	p := &Process{
		cmd:     cmd,
		grace:   grace,
		exited:  make(chan struct{}),
		readErr: make(chan struct{}),
		life:    life,
	}
	// Close is ours (see conn.Close): the SDK's own terminate steps signal only the leader, so
	// they are pushed back behind the group's SIGTERM and SIGKILL.
	p.ct = &mcp.CommandTransport{Command: cmd, TerminateDuration: 4 * grace}
	return p, nil
}

// Connect starts the process and returns the connection over its stdin and stdout. It fails
// with an error wrapping exec.ErrNotFound when the program is not found.
func (p *Process) Connect(ctx context.Context) (mcp.Connection, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return nil, errors.New("stdio: the process was started already; a Process serves one session")
	}
	if err := p.life.Err(); err != nil {
		return nil, fmt.Errorf("stdio: start %s: %w", p.cmd.Args[0], context.Cause(p.life))
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stdio: stderr pipe: %w", err)
	}
	p.cmd.Stderr = w
	inner, err := p.ct.Connect(ctx)
	w.Close() // the child holds its own copy
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("stdio: start %s: %w", p.cmd.Args[0], err)
	}
	p.started = true
	p.pgid = p.cmd.Process.Pid
	go func() {
		defer close(p.readErr)
		defer r.Close()
		io.Copy(&p.stderr, r)
	}()
	c := &conn{Connection: inner, p: p}
	go func() {
		select {
		case <-p.life.Done():
			c.Close()
		case <-p.exited:
		}
	}()
	return c, nil
}

// Pid is the process id of the server (its process group id too); 0 before Connect.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pgid
}

// Stderr returns what the server wrote to stderr, at most StderrLimit bytes: the head and the
// tail, with a line in between saying how much was left out.
func (p *Process) Stderr() string { return p.stderr.String() }

// Kill ends the whole process group now (SIGKILL), for a caller that cannot wait for Close.
func (p *Process) Kill() {
	p.mu.Lock()
	pgid := p.pgid
	p.mu.Unlock()
	select {
	case <-p.exited:
		return // closed already: the group is gone (and its id may belong to another by now)
	default:
	}
	if pgid > 0 {
		signalGroup(pgid, sigKill)
	}
}

// conn is the SDK's connection to the process with a Close that ends the process group.
type conn struct {
	mcp.Connection
	p    *Process
	once sync.Once
	err  error
}

// Close closes the server's stdin and waits up to Grace for it to exit; then the process group
// gets SIGTERM, and after another Grace SIGKILL. It returns when the server has been waited for
// and every process of its group is gone (or has been sent SIGKILL), with stderr read to its end.
func (c *conn) Close() error {
	c.once.Do(func() {
		p := c.p
		done := make(chan error, 1)
		go func() { done <- c.Connection.Close() }()
		var err error
		select {
		case err = <-done:
		case <-time.After(p.grace):
			signalGroup(p.pgid, sigTerm)
			select {
			case err = <-done:
			case <-time.After(p.grace):
				signalGroup(p.pgid, sigKill)
				err = <-done
			}
		}
		close(p.exited)
		// The leader is gone; anything it left behind in its group goes with it.
		signalGroup(p.pgid, sigKill)
		select {
		case <-p.readErr:
		case <-time.After(p.grace):
		}
		c.err = exitErr(err)
	})
	return c.err
}

// exitErr keeps a close error only when it says something beyond how the process was ended:
// a server that exits by signal after its stdin closed did what it was asked.
func exitErr(err error) error {
	var ee *exec.ExitError
	if err == nil || errors.As(err, &ee) {
		return nil
	}
	return err
}

// capBuffer keeps the first and the last StderrLimit/2 bytes written to it.
type capBuffer struct {
	mu      sync.Mutex
	head    []byte
	tail    []byte // a window of the most recent bytes after head filled, at most half the limit
	dropped int64
}

func (b *capBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	half := StderrLimit / 2
	if room := half - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head = append(b.head, p[:k]...)
		p = p[k:]
	}
	if len(p) == 0 {
		return n, nil
	}
	b.tail = append(b.tail, p...)
	if over := len(b.tail) - half; over > 0 {
		b.dropped += int64(over)
		b.tail = append(b.tail[:0], b.tail[over:]...)
	}
	return n, nil
}

func (b *capBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped == 0 {
		return string(b.head) + string(b.tail)
	}
	return fmt.Sprintf("%s\n…(%d bytes of stderr left out)…\n%s", b.head, b.dropped, b.tail)
}
