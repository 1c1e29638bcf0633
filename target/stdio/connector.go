package stdio

import (
	"context"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/target"
)

// Connector is the target.Connector of a stdio target: every persona session gets a server
// process of its own (isolation: nothing one persona did is seen by the next through the
// server's memory), started with the target's command, environment and working directory, and
// ended when the session closes or its lifetime ends (the run's deadline, the runner's
// shutdown).
type Connector struct {
	Argv []string          // the target's command: ${ENV} and ${persona.*} expanded per persona
	Env  map[string]string // the target's env: values expanded the same way
	Dir  string            // the target's cwd
	// Getenv reads ${ENV} placeholders, persona secrets and BaseEnv; nil means os.Getenv.
	Getenv target.Env
	Grace  time.Duration // see Command.Grace; zero means DefaultGrace
}

var _ target.Connector = (*Connector)(nil)

// ForTarget is the connector of a stdio target's configuration.
func ForTarget(c target.Config, getenv target.Env) *Connector {
	return &Connector{Argv: c.Command, Env: c.Env, Dir: c.Cwd, Getenv: getenv}
}

// Connect prepares p's server process; the session's connect starts it. The credentials are
// not used: a stdio server gets what it needs through env (e.g. "${persona.secrets.token}").
// A placeholder that cannot be filled fails at stage secrets, naming it.
func (c *Connector) Connect(_ context.Context, life context.Context, p persona.DuePersona, _ target.Credentials) (mcp.Transport, error) {
	argv := make([]string, len(c.Argv))
	for i, a := range c.Argv {
		if !strings.Contains(a, "${") {
			argv[i] = a
			continue
		}
		v, err := target.Expand(a, p, c.Getenv)
		if err != nil {
			return nil, target.Errorf(target.StageSecrets, "command argument %d: %w", i, err)
		}
		argv[i] = v
	}
	env := make(map[string]string, len(c.Env))
	for k, v := range c.Env {
		x, err := target.Expand(v, p, c.Getenv)
		if err != nil {
			return nil, target.Errorf(target.StageSecrets, "env %s: %w", k, err)
		}
		env[k] = x
	}
	return New(life, Command{Argv: argv, Env: env, Dir: c.Dir, Grace: c.Grace, Getenv: c.Getenv})
}
