package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/catalog"
	"github.com/persona-runner/persona-runner/config"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store"
	"github.com/persona-runner/persona-runner/target"
)

// SeedCmd creates or updates the catalog's personas and shared spaces in one transaction.
type SeedCmd struct {
	StoreFlags `embed:""`
	Catalog    string `placeholder:"FILE" help:"Catalog file, YAML or JSON (default: the catalog built into the binary)."`
	DryRun     bool   `help:"Report what would change and write nothing."`
	Secret     string `placeholder:"S" help:"Seed secret the persona passwords derive from (default: PERSONA_SEED_SECRET, else the development secret)."`
	Auth       string `placeholder:"URL" help:"Seed through the admin API of a running auth service at URL instead of the local store."`
	JWT        string `placeholder:"TOKEN" help:"Admin JWT for --auth (see 'persona-runner admin token'); default ADMIN_JWT."`
	Config     string `placeholder:"FILE" type:"existingfile" help:"Runner configuration file whose targets the catalog's personas test: personas of a target whose auth is not mana get no password and cannot log in to the auth API (default: the demo app alone)."`
}

// seeder applies a seed plan. The store does it directly; seeding through the admin HTTP API
// (--auth URL --jwt TOKEN) is another seeder.
type seeder interface {
	ApplySeed(ctx context.Context, plan persona.SeedPlan, dryRun bool) ([]persona.SeedChange, error)
}

// Run validates the catalog before it touches the store, so a bad catalog writes nothing and
// needs no database at all.
func (c *SeedCmd) Run(env *Env) error {
	// The targets the personas test decide which of them log in to the auth API (mana).
	targets := config.Default().TargetConfigs()
	var fileTargets bool
	if c.Config != "" {
		file, err := config.ReadFile(c.Config)
		if err != nil {
			return usageError{err}
		}
		targets, fileTargets = file.TargetConfigs(), len(file.Targets) > 0
	}
	// Through --auth the app is a running service's (a real Mana deployment's modules: articles,
	// dreams, …), and with targets of its own a configuration names other apps: their runner
	// checks the modules against the app's tools at start.
	var cat *catalog.Catalog
	var err error
	if (c.Auth != "" || fileTargets) && c.Catalog != "" {
		cat, err = catalog.Load(c.Catalog, nil)
	} else {
		cat, err = loadCatalog(c.Catalog)
	}
	if err != nil {
		return usageError{err}
	}
	secret, err := seedSecret(c.Secret, env.Getenv)
	if err != nil {
		return err
	}
	plan, err := cat.Plan(secret)
	if err != nil {
		return err
	}
	if err := planLogins(&plan, targets); err != nil {
		return usageError{fmt.Errorf("seed from %s: %w (nothing was written)", cat.Source, err)}
	}
	s, closeFn, err := c.seeder(env)
	if err != nil {
		return err
	}
	defer closeFn()
	changes, err := s.ApplySeed(env.Ctx, plan, c.DryRun)
	if err != nil && c.Auth != "" {
		printSeedChanges(env.Stdout, changes)
		return fmt.Errorf("seed from %s through %s: %w", cat.Source, c.Auth, err)
	}
	if err != nil {
		return fmt.Errorf("seed from %s: %w (nothing was written)", cat.Source, err)
	}
	if settings, ok := s.(store.Settings); ok && !c.DryRun {
		// cleanup's default keeps the personas of the catalog last seeded here.
		if err := recordSeedCatalog(env.Ctx, settings, cat); err != nil {
			return err
		}
	}
	if c.DryRun {
		fmt.Fprintf(env.Stdout, "dry run of %s: nothing was written\n", cat.Source)
	} else {
		fmt.Fprintf(env.Stdout, "seeded from %s\n", cat.Source)
	}
	return printSeedChanges(env.Stdout, changes)
}

// seeder returns what applies the plan and how to release it.
func (c *SeedCmd) seeder(env *Env) (seeder, func(), error) {
	if c.Auth != "" {
		if c.DB != "" || c.Data != "" {
			return nil, nil, usageError{errors.New("--auth seeds through the admin API: it cannot be combined with --db or --data")}
		}
		token := c.JWT
		if token == "" {
			token = env.Getenv("ADMIN_JWT")
		}
		if token == "" && !c.DryRun {
			return nil, nil, usageError{errors.New("--auth needs an admin token: pass --jwt TOKEN or set ADMIN_JWT (persona-runner admin token EMAIL prints one)")}
		}
		cl := authapi.NewClient(strings.TrimRight(c.Auth, "/"), nil)
		cl.AdminToken = token
		return apiSeeder{cl}, func() {}, nil
	}
	if c.JWT != "" {
		return nil, nil, usageError{errors.New("--jwt goes with --auth URL")}
	}
	if c.DryRun {
		// A dry run never makes the store it reports on: against a SQLite file that does not
		// exist yet it applies the plan to a throwaway empty store (so everything shows as
		// created), which is removed afterwards.
		if err := c.MustExist(env); errors.Is(err, fs.ErrNotExist) {
			dsn, _ := c.DSN(env.Getenv)
			fmt.Fprintf(env.Stdout, "the store %s does not exist yet: compared with an empty one\n", dsn)
			tmp, err := os.MkdirTemp("", "persona-runner-seed-dry-run-")
			if err != nil {
				return nil, nil, err
			}
			db, err := StoreFlags{Data: tmp}.Open(env.Ctx, env)
			if err != nil {
				os.RemoveAll(tmp)
				return nil, nil, err
			}
			return db, func() { db.Close(); os.RemoveAll(tmp) }, nil
		} else if err != nil {
			return nil, nil, err
		}
	}
	db, err := c.Open(env.Ctx, env)
	if err != nil {
		return nil, nil, err
	}
	return db, func() { db.Close() }, nil
}

// loadCatalog reads the catalog file, or the embedded default when path is empty, validated
// against the demo app's modules.
func loadCatalog(path string) (*catalog.Catalog, error) {
	if path == "" {
		return catalog.Default(), nil
	}
	cat, err := catalog.Load(path, catalog.DemoModules)
	if err != nil {
		return nil, usageError{err} // a bad or missing catalog is a usage error (exit 2)
	}
	return cat, nil
}

// seedSecret picks the seed secret: the flag, else PERSONA_SEED_SECRET, else the development
// default, which production refuses (SPEC §5.1) because anyone could derive the passwords.
func seedSecret(flag string, getenv func(string) string) (string, error) {
	secret := flag
	if secret == "" {
		secret = getenv("PERSONA_SEED_SECRET")
	}
	if secret == "" {
		secret = persona.DevSeedSecret
	}
	if config.ProductionEnv(getenv) && subtle.ConstantTimeCompare([]byte(secret), []byte(persona.DevSeedSecret)) == 1 {
		return "", usageError{errors.New("refusing the development seed secret in production (APP_ENV or NODE_ENV is production): set PERSONA_SEED_SECRET")}
	}
	return secret, nil
}

// printSeedChanges writes the seed report as a table and a totals line.
func printSeedChanges(w io.Writer, changes []persona.SeedChange) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tKEY\tOUTCOME\tDETAIL")
	counts := map[persona.Outcome]int{}
	for _, ch := range changes {
		counts[ch.Outcome]++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ch.Kind, ch.Key, ch.Outcome, ch.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "created %d, updated %d, unchanged %d\n",
		counts[persona.Created], counts[persona.Updated], counts[persona.Unchanged])
	return err
}

// apiSeeder applies a plan through the admin HTTP API: personas, then shared spaces, one request
// each. Unlike the store it cannot do it in one transaction; each request is an idempotent upsert,
// so after a failure the report lists what was applied and running seed again finishes the job.
// A dry run sends nothing (and so needs no token): it lists what would be sent.
type apiSeeder struct{ c *authapi.Client }

// Planned is the outcome of a dry run through the API: the request was not sent.
const Planned persona.Outcome = "planned"

func (a apiSeeder) ApplySeed(ctx context.Context, plan persona.SeedPlan, dryRun bool) ([]persona.SeedChange, error) {
	var changes []persona.SeedChange
	for _, p := range plan.Personas {
		if dryRun {
			changes = append(changes, persona.SeedChange{Kind: "persona", Key: p.Email, Outcome: Planned, Detail: "dry run: not sent"})
			continue
		}
		res, err := a.c.UpsertPersona(ctx, p)
		if err != nil {
			return changes, partial(changes, err)
		}
		changes = append(changes, persona.SeedChange{Kind: "persona", Key: p.Email, Outcome: res.Outcome})
	}
	for _, s := range plan.Spaces {
		if dryRun {
			changes = append(changes, persona.SeedChange{Kind: "space", Key: s.Slug, Outcome: Planned, Detail: "dry run: not sent"})
			continue
		}
		res, err := a.c.UpsertSpace(ctx, s)
		if err != nil {
			return changes, partial(changes, err)
		}
		changes = append(changes, persona.SeedChange{Kind: "space", Key: s.Slug, Outcome: res.Outcome})
	}
	return changes, nil
}

// partial says how far an API seed got before err.
func partial(done []persona.SeedChange, err error) error {
	return fmt.Errorf("%w (the %d entries before it were applied; run seed again to finish)", err, len(done))
}

// planLogins gives a persona a password only when its target logs in through the auth API (auth
// strategy mana, as the demo app does); the others become accounts without a password
// (persona.PersonaInput.NoLogin), which cannot log in there (SPEC §10). targets are the
// configured ones; a persona naming a target they lack is an error naming it and them.
func planLogins(plan *persona.SeedPlan, targets []target.Config) error {
	byName := make(map[string]target.Config, len(targets))
	var names []string
	def := ""
	for _, t := range targets {
		byName[t.Name] = t
		names = append(names, t.Name)
		if t.Default || len(targets) == 1 {
			def = t.Name
		}
	}
	var unknown []string
	for i := range plan.Personas {
		in := &plan.Personas[i]
		name := in.Target
		if name == "" {
			name = def
		}
		t, ok := byName[name]
		if !ok {
			unknown = append(unknown, fmt.Sprintf("persona %s tests target %q", in.Email, name))
			continue
		}
		if t.StrategyName() != target.AuthMana {
			in.Password, in.NoLogin = "", true
		}
	}
	if len(unknown) > 0 {
		sort.Strings(names)
		return fmt.Errorf("%s, which is not configured (targets: %s): declare it under targets: in the file given with --config",
			strings.Join(unknown, "; "), strings.Join(names, ", "))
	}
	return nil
}
