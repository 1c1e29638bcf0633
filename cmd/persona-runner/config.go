package main

import (
	"errors"
	"fmt"

	"github.com/persona-runner/persona-runner/config"
)

// ConfigCmd prints the runner's effective configuration — defaults, then the file, then the
// environment, then flags — with secrets masked, and every problem that would stop serve runner.
type ConfigCmd struct {
	RunnerFlags `embed:""`
}

// Run prints the configuration as YAML. An invalid configuration prints nothing but its
// problems, to stderr, and the exit status is 2 (a configuration error, SPEC §8): half a
// configuration would read as a valid one.
func (c *ConfigCmd) Run(env *Env) error {
	cfg, err := c.Load(env)
	var cerr *config.Error
	if errors.As(err, &cerr) {
		fmt.Fprintln(env.Stderr, "persona-runner:", err)
		return exitCode(2)
	}
	if err != nil {
		return err
	}
	out, err := cfg.YAML()
	if err != nil {
		return err
	}
	_, err = env.Stdout.Write(out)
	return err
}
