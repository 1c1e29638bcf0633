package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/persona-runner/persona-runner/findings"
	"github.com/persona-runner/persona-runner/gate"
	"github.com/persona-runner/persona-runner/persona"
)

// GateFlags are the thresholds and outputs of check and of up --once --check.
type GateFlags struct {
	MinRating          float64 `name:"min-rating" default:"3.5" help:"Every rated module's mean rating must be at least this (0 turns the check off)."`
	MaxErrorRate       string  `name:"max-error-rate" default:"5%" help:"Tool calls that may fail, as a percentage (100% turns the check off)."`
	MaxUnusableRatings int     `name:"max-unusable-ratings" default:"0" help:"Unusable rating replies (degraded runs) allowed (-1 turns the check off)."`
	FailOn             string  `name:"fail-on" default:"new-findings,regressions,failed-runs" help:"Conditions that fail the check: a comma-separated list of new-findings, regressions, failed-runs, or none."`
	Format             string  `name:"format" enum:"table,json,markdown,junit,html" default:"table" help:"Output format: table, json, markdown, junit (JUnit XML for CI) or html (one self-contained file)."`
	Output             string  `name:"output" placeholder:"FILE" help:"Write the output to FILE instead of standard output (the verdict line still goes to standard error)."`
}

// thresholds reads the flags, naming the one that is wrong (a usage error, exit 2).
func (g GateFlags) thresholds() (gate.Thresholds, error) {
	th := gate.Thresholds{MinRating: g.MinRating, MaxUnusable: g.MaxUnusableRatings}
	if g.MinRating < 0 || g.MinRating > 5 {
		return th, usageError{fmt.Errorf("--min-rating: must be from 0 to 5 (got %g)", g.MinRating)}
	}
	if g.MaxUnusableRatings < -1 {
		return th, usageError{fmt.Errorf("--max-unusable-ratings: must be 0 or more, or -1 for no limit (got %d)", g.MaxUnusableRatings)}
	}
	rate, err := gate.ParseRate(g.MaxErrorRate)
	if err != nil {
		return th, usageError{fmt.Errorf("--max-error-rate: %w", err)}
	}
	th.MaxErrorRate = rate
	if th.FailOn, err = gate.ParseFailOn(g.FailOn); err != nil {
		return th, usageError{fmt.Errorf("--fail-on: %w", err)}
	}
	if g.Output != "" {
		if fi, err := os.Stat(filepath.Dir(g.Output)); err != nil || !fi.IsDir() {
			return th, usageError{fmt.Errorf("--output: the directory of %q does not exist", g.Output)}
		}
	}
	return th, nil
}

// gate evaluates the window, writes the outcome and returns the exit status as an error: nil
// (0) when it passed, exitCode(1) when a threshold failed.
func (g GateFlags) gate(env *Env, db findings.Source, o findings.Options, th gate.Thresholds) error {
	out, err := gate.Evaluate(env.Ctx, db, gate.Options{Findings: o, Thresholds: th})
	if errors.Is(err, persona.ErrNotFound) && o.Persona != "" {
		return usageError{fmt.Errorf("--persona: no persona %q in the store", o.Persona)}
	}
	if err != nil {
		return cannotRun{fmt.Errorf("check: %w", err)}
	}
	var buf bytes.Buffer
	if err := gate.Write(&buf, out, g.Format); err != nil {
		return err
	}
	if g.Output != "" {
		if err := os.WriteFile(g.Output, buf.Bytes(), 0o644); err != nil {
			return cannotRun{fmt.Errorf("--output: %w", err)}
		}
	} else if _, err := env.Stdout.Write(buf.Bytes()); err != nil {
		return err
	}
	if out.Passed {
		if g.Output != "" || g.Format != "table" {
			fmt.Fprintf(env.Stderr, "persona-runner check: passed (%d runs, %d checks)\n", len(out.Runs), len(out.Checks))
		}
		return nil
	}
	var names []string
	for _, c := range out.Failed() {
		names = append(names, c.Name)
	}
	fmt.Fprintf(env.Stderr, "persona-runner check: failed: %s\n", strings.Join(names, ", "))
	return exitCode(1)
}

// CheckCmd is the CI gate over the store: exit 0 passed, 1 a threshold failed, 2 usage or
// configuration error, 3 could not run.
type CheckCmd struct {
	StoreFlags  `embed:""`
	WindowFlags `embed:""`
	GateFlags   `embed:""`
}

// Run reads the store and gates.
func (c *CheckCmd) Run(env *Env) error {
	th, err := c.thresholds()
	if err != nil {
		return err
	}
	since, baseline, compare, err := c.parse()
	if err != nil {
		return err
	}
	if _, err := c.DSN(env.Getenv); err != nil {
		return usageError{err}
	}
	db, err := c.OpenExisting(env.Ctx, env)
	if err != nil {
		return cannotRun{err}
	}
	defer db.Close()
	return c.gate(env, db, findings.Options{Since: since, Baseline: baseline, Versions: compare, Persona: c.Persona}, th)
}
