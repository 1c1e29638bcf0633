// Command persona-runner runs synthetic personas against an app's MCP tools and records how the
// app feels to them. See README.md and SPEC §8 for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
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
	Migrate  MigrateCmd  `cmd:"" help:"Apply the store's migrations and report its schema version."`
	Report   ReportCmd   `cmd:"" help:"What the personas found: module ratings and trend, failing tools, coverage, last runs."`
	Serve    ServeCmd    `cmd:"" help:"Run one component as a server: auth, mcp or runner."`
	Admin    AdminCmd    `cmd:"" help:"Operator accounts: create or reset one, print a token for one."`
	Config   ConfigCmd   `cmd:"" help:"Print the runner's effective configuration, secrets masked."`
}

// Env is what every command gets: where to write and the process context (cancelled on SIGINT or
// SIGTERM).
type Env struct {
	Ctx    context.Context
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
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
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
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
	kctx, err := parser.Parse(args)
	if exit >= 0 { // --help
		return exit
	}
	if err != nil {
		fmt.Fprintln(stderr, "persona-runner:", err)
		return 2
	}
	env := &Env{Ctx: ctx, Stdout: stdout, Stderr: stderr, Getenv: getenv}
	if err := kctx.Run(env); err != nil {
		// kong wraps what a command returns, so the status is found with errors.As.
		var code exitCode
		if errors.As(err, &code) {
			return int(code)
		}
		fmt.Fprintln(stderr, "persona-runner:", err)
		return 1
	}
	return 0
}

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
