package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/persona-runner/persona-runner/app"
	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/report"
)

// ReportCmd prints what the personas found over a window: module ratings with their trend, the
// failing tools, tool coverage and each persona's last run.
type ReportCmd struct {
	StoreFlags `embed:""`
	Since      string `default:"7d" help:"Window length, e.g. 7d, 2w, 36h; the trend compares with the window before it."`
	Baseline   string `placeholder:"D" help:"Length of the window before --since that the trend and regressions compare with (default: the same length as --since)."`
	Compare    string `placeholder:"V1..V2" help:"Findings compare the runs on app version V2 with those on V1 (serverInfo.version) instead of two windows."`
	Persona    string `placeholder:"EMAIL|ID" help:"Only this persona."`
	Module     string `help:"Only this module."`
	Target     string `placeholder:"NAME" help:"Only the runs of this target (app under test); coverage against the tools it offered at its latest run."`
	Format     string `enum:"table,json,markdown" default:"table" help:"Output format: table, json or markdown (ready to paste into an issue)."`
	Auth       string `placeholder:"URL" help:"Read the report from the admin API of a running auth service at URL instead of the local store."`
	JWT        string `placeholder:"TOKEN" help:"Admin JWT for --auth (see 'persona-runner admin token'); default ADMIN_JWT."`
}

// Run builds the report from the store and writes it.
func (c *ReportCmd) Run(env *Env) error {
	since, baseline, compare, err := WindowFlags{Since: c.Since, Baseline: c.Baseline, Compare: c.Compare}.parse()
	if err != nil {
		return err
	}
	if c.Auth != "" {
		if c.DB != "" || c.Data != "" {
			return errors.New("--auth reads the report from the admin API: it cannot be combined with --db or --data")
		}
		if c.Baseline != "" || c.Compare != "" || c.Target != "" {
			return usageError{errors.New("--baseline, --compare and --target read the local store: they cannot be combined with --auth")}
		}
		token := c.JWT
		if token == "" {
			token = env.Getenv("ADMIN_JWT")
		}
		if token == "" {
			return errors.New("--auth needs an admin token: pass --jwt TOKEN or set ADMIN_JWT (persona-runner admin token EMAIL prints one)")
		}
		cl := authapi.NewClient(strings.TrimRight(c.Auth, "/"), nil)
		cl.AdminToken = token
		r, err := cl.Report(env.Ctx, c.Since, c.Persona, c.Module)
		if err != nil {
			return err
		}
		return report.Write(env.Stdout, r, c.Format)
	}
	db, err := c.OpenExisting(env.Ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := report.Build(env.Ctx, db, report.Options{Since: since, Baseline: baseline, Compare: compare,
		Persona: c.Persona, Module: c.Module, Target: c.Target, Offered: offeredTools()})
	var fe *persona.FieldError
	if errors.As(err, &fe) && (fe.Field == "module" || fe.Field == "target") {
		return fmt.Errorf("--%s: %s", fe.Field, fe.Message)
	}
	if err != nil {
		return err
	}
	return report.Write(env.Stdout, r, c.Format)
}

// offeredTools lists the demo app's tools that personas can call, for coverage.
func offeredTools() []string {
	var names []string
	for _, t := range app.Tools() {
		names = append(names, t.Name)
	}
	return names
}
