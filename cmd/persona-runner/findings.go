package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/persona-runner/persona-runner/findings"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/report"
)

// FindingsCmd groups the findings commands: what went wrong, grouped, with the calls that
// reproduce it.
type FindingsCmd struct {
	List FindingsListCmd `cmd:"" help:"List the findings of a window, most urgent first."`
	Show FindingsShowCmd `cmd:"" help:"Show one finding in full: since when, who, app versions and the sample calls (the repro)."`
}

// WindowFlags choose the window findings are drawn from and what it is compared with; shared
// by findings, report and check.
type WindowFlags struct {
	Since    string `default:"7d" help:"Window length, e.g. 7d, 2w, 36h."`
	Baseline string `placeholder:"D" help:"Length of the window before --since that regressions compare with (default: the same length as --since)."`
	Compare  string `placeholder:"V1..V2" help:"Compare the runs on app version V2 with those on V1 (serverInfo.version) instead of two windows."`
	Persona  string `placeholder:"EMAIL|ID" help:"Only this persona."`
}

// parse turns the flags into a window, naming the flag that is wrong.
func (w WindowFlags) parse() (since, baseline time.Duration, compare *findings.VersionRange, err error) {
	since, err = report.ParseSince(w.Since)
	if err != nil {
		return 0, 0, nil, usageError{fmt.Errorf("--since: %w", err)}
	}
	if strings.TrimSpace(w.Baseline) != "" {
		if baseline, err = report.ParseSince(w.Baseline); err != nil {
			return 0, 0, nil, usageError{fmt.Errorf("--baseline: %w", err)}
		}
	}
	if c := strings.TrimSpace(w.Compare); c != "" {
		from, to, ok := strings.Cut(c, "..")
		from, to = strings.TrimSpace(from), strings.TrimSpace(to)
		if !ok || from == "" || to == "" || from == to || strings.Contains(to, "..") {
			return 0, 0, nil, usageError{fmt.Errorf("--compare: must be two different app versions as V1..V2, e.g. 1.4.0..1.5.0 (got %q)", c)}
		}
		compare = &findings.VersionRange{From: from, To: to}
	}
	return since, baseline, compare, nil
}

// build reads the findings of the window from the store the flags name.
func (w WindowFlags) build(env *Env, sf StoreFlags) (*findings.Result, error) {
	since, baseline, compare, err := w.parse()
	if err != nil {
		return nil, err
	}
	db, err := sf.OpenExisting(env.Ctx, env)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	res, err := findings.Build(env.Ctx, db, findings.Options{Since: since, Baseline: baseline, Versions: compare, Persona: w.Persona})
	if errors.Is(err, persona.ErrNotFound) && w.Persona != "" {
		return nil, usageError{fmt.Errorf("--persona: no persona %q in the store", w.Persona)}
	}
	return res, err
}

// FindingsListCmd lists the findings.
type FindingsListCmd struct {
	StoreFlags  `embed:""`
	WindowFlags `embed:""`
	All         bool   `help:"Include resolved findings (default: open ones only)."`
	Format      string `enum:"table,json,markdown" default:"table" help:"Output format: table, json or markdown (ready to paste into an issue)."`
}

// Run prints the findings.
func (c *FindingsListCmd) Run(env *Env) error {
	res, err := c.build(env, c.StoreFlags)
	if err != nil {
		return err
	}
	if !c.All {
		res.Findings = res.Open()
		if res.Findings == nil {
			res.Findings = []findings.Finding{}
		}
	}
	return findings.Write(env.Stdout, res, c.Format)
}

// FindingsShowCmd shows one finding.
type FindingsShowCmd struct {
	StoreFlags  `embed:""`
	WindowFlags `embed:""`
	ID          string `arg:"" help:"The finding's id (F-…), or at least 4 characters of it."`
	Format      string `enum:"table,json,markdown" default:"table" help:"Output format: table, json or markdown."`
}

// Run prints the finding.
func (c *FindingsShowCmd) Run(env *Env) error {
	res, err := c.build(env, c.StoreFlags)
	if err != nil {
		return err
	}
	f, err := res.Find(c.ID)
	if errors.Is(err, persona.ErrNotFound) {
		return fmt.Errorf("no finding %q in the window from %s (try --since with a longer window, or findings list --all)", c.ID, res.From.Format("2006-01-02 15:04"))
	}
	if err != nil {
		return usageError{err}
	}
	return findings.WriteOne(env.Stdout, f, c.Format)
}
