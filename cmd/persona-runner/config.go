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

// Run prints the configuration as YAML; a problem is printed to stderr and the exit status is 1.
func (c *ConfigCmd) Run(env *Env) error {
	cfg, loadErr := c.Load(env)
	var cerr *config.Error
	if loadErr != nil && !errors.As(loadErr, &cerr) {
		return loadErr
	}
	out, err := cfg.YAML()
	if err != nil {
		return err
	}
	if _, err := env.Stdout.Write(out); err != nil {
		return err
	}
	if loadErr != nil {
		fmt.Fprintln(env.Stderr, "persona-runner:", loadErr)
		return exitCode(1)
	}
	return nil
}
