// Command persona-runner runs synthetic personas against an app's MCP tools and records how the
// app feels to them. See README.md and SPEC §8 for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/persona-runner/persona-runner/catalog"
	"github.com/persona-runner/persona-runner/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// CLI is the whole command line. Each command lives in a file of its own named after it.
type CLI struct {
	Up       UpCmd       `cmd:"" help:"Run the whole loop in one process: auth API, demo app and runner on an embedded store, seeded on first start."`
	Version  VersionCmd  `cmd:"" help:"Print the version."`
	Seed     SeedCmd     `cmd:"" help:"Create or update the catalog's personas and spaces in one transaction."`
	Targets  TargetsCmd  `cmd:"" help:"Check the apps under test (SPEC §10)."`
	Cleanup  CleanupCmd  `cmd:"" help:"Delete personas not in the catalog (or all) with all their data."`
	Personas PersonasCmd `cmd:"" help:"List personas or show one."`
	Migrate  MigrateCmd  `cmd:"" help:"Apply the migrations of the store's tables and of the demo app's, and report both schema versions."`
	Report   ReportCmd   `cmd:"" help:"What the personas found: findings, module ratings and trend, failing tools, coverage, last runs."`
	Runs     RunsCmd     `cmd:"" help:"Inspect the persona runs: list them or show one turn by turn."`
	Check    CheckCmd    `cmd:"" help:"The CI gate: apply thresholds to the runs in the store; exit 0 passed, 1 a threshold failed, 2 usage error, 3 could not run."`
	Findings FindingsCmd `cmd:"" help:"What went wrong, grouped into findings with the calls that reproduce it: list or show one."`
	Serve    ServeCmd    `cmd:"" help:"Run one component as a server: auth, mcp or runner."`
	Admin    AdminCmd    `cmd:"" help:"Operator accounts: create or reset one, print a token for one."`
	Config   ConfigCmd   `cmd:"" help:"Print the runner's effective configuration, secrets masked."`

	LogFormat string `name:"log-format" enum:"auto,text,json" default:"auto" help:"Log lines as text or JSON; auto is text on a terminal, JSON otherwise (one choice for every service)."`
}

// Env is what every command gets: where to write and the process context (cancelled on SIGINT or
// SIGTERM).
type Env struct {
	Ctx    context.Context
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// LogFormat is --log-format: auto, text or json.
	LogFormat string
}

// Logger is the logger of every service a command runs, writing to Stderr at level and above
// in the format --log-format chose (auto: text on a terminal, JSON otherwise).
func (e *Env) Logger(level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if e.LogFormat == "text" || (e.LogFormat != "json" && isTerminal(e.Stderr)) {
		return slog.New(slog.NewTextHandler(e.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(e.Stderr, opts))
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	finished := make(chan struct{})
	go func() {
		// The first signal asks for a graceful stop; from then on the default handling is back,
		// so a second Ctrl-C (or SIGTERM) ends the process at once. ctx also ends when Run has
		// returned (stop below); then there is nothing to say.
		<-ctx.Done()
		stop()
		select {
		case <-finished:
		default:
			fmt.Fprintln(os.Stderr, "persona-runner: stopping; signal again to exit at once")
		}
	}()
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	close(finished)
	stop()
	os.Exit(code)
}

// Run parses args and runs the command, returning the exit status. Tests call it directly.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) (code int) {
	var cli CLI
	exit := -1
	parser, err := kong.New(&cli,
		kong.Name("persona-runner"),
		kong.Description("Synthetic personas that use your app through its MCP tools, every call audited, every module rated."),
		kong.UsageOnError(),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exit = code }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Vars{"version": version},
	)
	if err != nil {
		fmt.Fprintln(stderr, "persona-runner:", err)
		return 2
	}
	switch {
	case len(args) == 0:
		// No command: the usage, and the status of a usage error.
		args = []string{"--help"}
		defer func() { code = 2 }()
	case args[0] == "help":
		// persona-runner help [CMD…] is persona-runner [CMD…] --help.
		args = append(append([]string(nil), args[1:]...), "--help")
	}
	kctx, err := parser.Parse(args)
	if exit >= 0 { // --help
		return exit
	}
	if err != nil {
		fmt.Fprintln(stderr, "persona-runner:", err)
		return 2
	}
	env := &Env{Ctx: ctx, Stdin: os.Stdin, Stdout: stdout, Stderr: stderr, Getenv: getenv, LogFormat: cli.LogFormat}
	if err := kctx.Run(env); err != nil {
		// kong wraps what a command returns, so the status is found with errors.As.
		var code exitCode
		if errors.As(err, &code) {
			return int(code) // the command printed its own message
		}
		fmt.Fprintln(stderr, "persona-runner:", cause(err))
		return statusOf(err)
	}
	return 0
}

// statusOf is the exit status of a command's error (SPEC §8): 2 a usage or configuration error
// (a bad flag, an invalid configuration or catalog), 3 could not run (a store, target or model
// unreachable, an address in use), else 1: the job ran and found a failure. The one table every
// command goes by.
func statusOf(err error) int {
	var (
		code   exitCode
		cannot cannotRun
		usage  usageError
		cfg    *config.Error
		cat    *catalog.Error
	)
	switch {
	case errors.As(err, &code):
		return int(code)
	case errors.As(err, &cannot):
		return 3
	case errors.As(err, &usage), errors.As(err, &cfg), errors.As(err, &cat):
		return 2
	}
	return 1
}

// cause is err without the wrapper that chose its status (kong wraps what a command returns).
func cause(err error) error {
	var cannot cannotRun
	if errors.As(err, &cannot) {
		return cannot.error
	}
	var usage usageError
	if errors.As(err, &usage) {
		return usage.error
	}
	return err
}

// usageError is a bad flag value or combination: printed like any error, exit status 2 (the
// status kong gives a flag it cannot parse), so scripts can tell misuse from failure.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// cannotRun is a failure to run at all (a store, target or model unreachable, an address in
// use): exit status 3.
type cannotRun struct{ error }

func (e cannotRun) Unwrap() error { return e.error }

// exitCode ends a command with a status after it printed its own message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// VersionCmd prints the version.
type VersionCmd struct{}

// Run prints the version.
func (VersionCmd) Run(env *Env) error {
	_, err := fmt.Fprintln(env.Stdout, "persona-runner", version)
	return err
}
