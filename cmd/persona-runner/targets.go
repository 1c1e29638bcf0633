package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/catalog"
	"github.com/persona-runner/persona-runner/config"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/target"
	"github.com/persona-runner/persona-runner/target/mana"
	"github.com/persona-runner/persona-runner/target/strategy"
)

// flagTargetName is the name of the one target given by --mcp-url/--mcp-header/--mcp-command.
const flagTargetName = "app"

// TargetFlags name one target on the command line instead of the config file's targets.
type TargetFlags struct {
	MCPHeader  []string `name:"mcp-header" placeholder:"'NAME: VALUE'" help:"Header sent with every request to the app under test (repeatable); a value may name an environment variable or a persona secret in the dollar-brace form, expanded at run time."`
	MCPCommand string   `name:"mcp-command" placeholder:"'CMD ARGS…'" help:"Run the app under test as a stdio MCP server: the command and its arguments."`
}

// flagTarget is the target the flags describe, or nil without any. url is --mcp-url when it
// names the app under test.
func (f TargetFlags) flagTarget(url string) (*target.Config, error) {
	if url == "" && len(f.MCPHeader) == 0 && f.MCPCommand == "" {
		return nil, nil
	}
	t := &target.Config{Name: flagTargetName, Default: true, URL: url, Auth: target.AuthConfig{Strategy: target.AuthNone}}
	if f.MCPCommand != "" {
		if url != "" {
			return nil, errors.New("--mcp-url and --mcp-command name two apps: give one")
		}
		argv, err := splitCommand(f.MCPCommand)
		if err != nil {
			return nil, fmt.Errorf("--mcp-command: %w", err)
		}
		t.Command, t.Transport = argv, target.TransportStdio
	} else if url == "" {
		return nil, errors.New("--mcp-header needs --mcp-url (the app's MCP endpoint)")
	}
	if len(f.MCPHeader) > 0 {
		t.Auth = target.AuthConfig{Strategy: target.AuthHeaders, Headers: map[string]string{}}
		for _, h := range f.MCPHeader {
			name, value, ok := strings.Cut(h, ":")
			name, value = strings.TrimSpace(name), strings.TrimSpace(value)
			if !ok || name == "" {
				return nil, fmt.Errorf("--mcp-header %q must be 'Name: value'", h)
			}
			t.Auth.Headers[name] = value
		}
	}
	return t, nil
}

// override sets the configuration's targets to the flags' one, when the flags name one.
func (f TargetFlags) override(url string) (config.Override, bool, error) {
	t, err := f.flagTarget(url)
	if err != nil || t == nil {
		return config.Override{}, false, err
	}
	flag := "--mcp-url"
	if f.MCPCommand != "" {
		flag = "--mcp-command"
	}
	return config.Override{Flag: flag, Key: "targets", Apply: func(c *config.Config) error {
		c.Targets = []target.Config{*t}
		return nil
	}}, true, nil
}

// splitCommand splits a command line into words as a POSIX shell would for plain words,
// 'single' and "double" quotes and backslash escapes; nothing else is interpreted.
func splitCommand(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool
		quote rune
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch {
			case r == '"':
				quote = 0
			case r == '\\' && i+1 < len(rs) && strings.ContainsRune(`"\$`, rs[i+1]):
				i++
				cur.WriteRune(rs[i])
			default:
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == '\\' && i+1 < len(rs):
			i++
			cur.WriteRune(rs[i])
			in = true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed %c quote in %q", quote, s)
	}
	if in {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, errors.New("the command is empty")
	}
	return words, nil
}

// buildTargets builds the configured targets (the demo app as target demo when none is).
// Mana personas' tokens are minted by minter when given (up: the auth server in process), else
// through the auth API's service-key route.
func buildTargets(cfg config.Config, getenv func(string) string, log *slog.Logger, minter mana.Minter) (*target.Set, error) {
	return strategy.Set(cfg.TargetConfigs(), strategy.Options{
		AuthURL:       cfg.AuthURL,
		SeedSecret:    cfg.SeedSecret.Value(),
		ServiceKey:    cfg.ServiceKey.Value(),
		Minter:        minter,
		Getenv:        getenv,
		HTTPClient:    &http.Client{Timeout: 2 * time.Minute},
		ClientVersion: version,
		Logger:        log,
	})
}

// TargetsCmd groups the target commands.
type TargetsCmd struct {
	Check TargetsCheckCmd `cmd:"" help:"Connect to a target as a persona would: server, tools, modules and the tool policy."`
}

// TargetsCheckCmd connects to one target as a persona would and shows what personas would see.
type TargetsCheckCmd struct {
	Name        string `arg:"" optional:"" help:"Target to check (default: the default target)."`
	RunnerFlags `embed:""`
	TargetFlags `embed:""`
	Catalog     string `placeholder:"FILE" type:"existingfile" help:"Persona catalog: the check connects as its first persona of the target (with its secrets) and checks the personas' moduleMix against the target's modules."`
}

// checkTimeout bounds one target check (connect and list tools).
const checkTimeout = 30 * time.Second

// Run checks the target. A target that cannot be reached exits 3 naming the cause in one line;
// a configuration problem, or a catalog naming modules the target does not offer, exits 2.
func (c *TargetsCheckCmd) Run(env *Env) error {
	var extra config.Overrides
	flags := c.RunnerFlags
	if o, ok, err := c.override(c.MCPURL); err != nil {
		fmt.Fprintln(env.Stderr, "persona-runner:", err)
		return exitCode(2)
	} else if ok {
		extra = append(extra, o)
		flags.MCPURL = "" // the app's endpoint, not the demo's MANA_MCP_URL
	}
	cfg, err := flags.Load(env, extra...)
	if err != nil {
		fmt.Fprintln(env.Stderr, "persona-runner:", err)
		return exitCode(2)
	}
	set, err := buildTargets(cfg, env.Getenv, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		fmt.Fprintln(env.Stderr, "persona-runner:", err)
		return exitCode(2)
	}
	t, ok := set.Get(c.Name)
	if !ok {
		fmt.Fprintf(env.Stderr, "persona-runner: no target %q (targets: %s)\n", c.Name, strings.Join(set.Names(), ", "))
		return exitCode(2)
	}
	var cat *catalog.Catalog
	if c.Catalog != "" {
		if cat, err = catalog.Load(c.Catalog, nil); err != nil {
			fmt.Fprintln(env.Stderr, "persona-runner:", err)
			return exitCode(2)
		}
	}
	p := probePersona(cat, t.Name(), t == set.Default())
	ctx, cancel := context.WithTimeout(env.Ctx, checkTimeout)
	defer cancel()
	if p.UserID == "targets-check" && t.Config.StrategyName() == target.AuthMana && cfg.ServiceKey != "" {
		// A mana login needs a real persona: without a catalog, the first due persona of the
		// target the auth API lists (with the service key), so that the check tries a real JWT.
		cl := authapi.NewClient(cfg.AuthURL, nil)
		cl.ServiceKey = cfg.ServiceKey.Value()
		if list, _, err := cl.Due(ctx, 0); err == nil {
			for _, d := range list {
				if set.TargetOf(d) == t.Name() {
					p = d
					break
				}
			}
		}
	}
	fmt.Fprintf(env.Stdout, "target %s (%s, %s, auth %s) as %s\n", t.Name(), t.Config.Where(), t.Config.TransportName(), t.Config.StrategyName(), p.Email)
	server, tools, err := probe(ctx, t, p)
	if err != nil {
		why, _ := target.Why(err)
		fmt.Fprintf(env.Stderr, "persona-runner: target %s: %s\n", t.Name(), why)
		return exitCode(3)
	}
	writeToolTable(env.Stdout, server, tools)
	if cat != nil {
		if err := cat.CheckModules(t.Name(), t == set.Default(), target.OfferedModules(tools)); err != nil {
			fmt.Fprintln(env.Stderr, "persona-runner:", err)
			return exitCode(2)
		}
	}
	return nil
}

// probe runs Target.Probe under our own timer: the SDK's connect can overrun its context.
func probe(ctx context.Context, t *target.Target, p persona.DuePersona) (target.ServerInfo, []target.Tool, error) {
	type res struct {
		s     target.ServerInfo
		tools []target.Tool
		err   error
	}
	ch := make(chan res, 1)
	go func() {
		s, tools, err := t.Probe(ctx, p)
		ch <- res{s, tools, err}
	}()
	select {
	case r := <-ch:
		return r.s, r.tools, r.err
	case <-ctx.Done():
		return target.ServerInfo{}, nil, fmt.Errorf("initialize: no answer within %s", checkTimeout)
	}
}

// probePersona is the persona a check connects as: the catalog's first persona of the target,
// else one made up for the check (enough for targets whose credentials are not per persona).
func probePersona(cat *catalog.Catalog, name string, isDefault bool) persona.DuePersona {
	if cat != nil {
		for _, pe := range cat.Personas {
			if pe.Target == name || (pe.Target == "" && isDefault) {
				return persona.DuePersona{UserID: pe.Email, Email: pe.Email, Target: pe.Target, Secrets: pe.Secrets}
			}
		}
	}
	return persona.DuePersona{UserID: "targets-check", Email: "targets-check@persona-runner.invalid", Target: name}
}

// writeToolTable prints the server's identity and its tools as personas see them.
func writeToolTable(w io.Writer, s target.ServerInfo, tools []target.Tool) {
	fmt.Fprintf(w, "server %s %s · protocol %s\n", s.Name, s.Version, s.ProtocolVersion)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOOL\tMODULE\tOFFERED\tANNOTATIONS")
	offered := 0
	for _, t := range tools {
		state := "offered"
		if t.Hidden != "" {
			state = "hidden: " + t.Hidden
		} else {
			offered++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Module, state, annotationText(t.Annotations))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d tools, %d offered to personas, modules: %s\n", len(tools), offered, strings.Join(target.OfferedModules(tools), ", "))
}

func annotationText(a target.Annotations) string {
	var parts []string
	if a.Title != "" {
		parts = append(parts, fmt.Sprintf("title %q", a.Title))
	}
	for _, h := range []struct {
		name string
		v    *bool
	}{{"readOnly", a.ReadOnlyHint}, {"destructive", a.DestructiveHint}, {"idempotent", a.IdempotentHint}, {"openWorld", a.OpenWorldHint}} {
		if h.v != nil && *h.v {
			parts = append(parts, h.name)
		}
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, ", ")
}

// startupCheck probes every target before the runner starts (SPEC §8: up and serve runner
// refuse to start on a failure no retry fixes). The check connects as the catalog's first
// persona of each target, else (serve runner, which has no catalog) as the first due persona
// of the target that due lists, so that a mana target's JWT is tried against the app: an
// iss/aud mismatch stops the start with both values. Targets that need a real persona and have
// none are skipped; their runs will tell. userID, when set, names a catalog persona's stored id
// (up seeds the catalog first), so a mana target mints its token as a run would instead of
// failing to mint for an id it does not know and falling back to the password.
func startupCheck(ctx context.Context, set *target.Set, cat *catalog.Catalog, userID func(ctx context.Context, email string) (string, error),
	due func(context.Context) ([]persona.DuePersona, error), w io.Writer) error {
	var fatal []string
	var dueList []persona.DuePersona
	if cat == nil && due != nil {
		// Not listed (the auth API not up yet): mana targets go unchecked, the runs will tell.
		dueList, _ = due(ctx)
	}
	for _, name := range set.Names() {
		t, _ := set.Get(name)
		isDefault := t == set.Default()
		p := probePersona(cat, name, isDefault)
		if cat != nil && userID != nil && p.UserID != "targets-check" {
			if id, err := userID(ctx, p.Email); err == nil {
				p.UserID = id
			}
		}
		if p.UserID == "targets-check" {
			for _, d := range dueList {
				if set.TargetOf(d) == name {
					p = d
					break
				}
			}
		}
		if p.UserID == "targets-check" && t.Config.StrategyName() == target.AuthMana {
			continue // a mana login needs a real persona; the runs themselves will tell
		}
		cctx, cancel := context.WithTimeout(ctx, checkTimeout)
		server, tools, err := probe(cctx, t, p)
		cancel()
		if err != nil {
			why, permanent := target.Why(err)
			if p.UserID == "targets-check" && target.StageOf(err, "") == target.StageSecrets {
				continue // the made-up persona has no secrets; real personas may
			}
			if permanent {
				fatal = append(fatal, fmt.Sprintf("target %s: %s", name, why))
			} else {
				fmt.Fprintf(w, "target %s: %s (runs will retry)\n", name, why)
			}
			continue
		}
		offered := 0
		for _, tl := range tools {
			if tl.Offered() {
				offered++
			}
		}
		fmt.Fprintf(w, "target %s: %s %s, %d tools (%d offered)\n", name, server.Name, server.Version, len(tools), offered)
		if cat != nil {
			if err := cat.CheckModules(name, isDefault, target.OfferedModules(tools)); err != nil {
				return err
			}
		}
	}
	if len(fatal) > 0 {
		return errors.New(strings.Join(fatal, "; "))
	}
	return nil
}
