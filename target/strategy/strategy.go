// Package strategy builds configured targets (SPEC §10): for each target.Config it picks the
// auth strategy's package (mana, headers, …) and the connector of its transport. It is the one
// place that knows them all, so that the runner and the command line know none.
package strategy

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/persona-runner/persona-runner/target"
	"github.com/persona-runner/persona-runner/target/command"
	"github.com/persona-runner/persona-runner/target/headers"
	"github.com/persona-runner/persona-runner/target/mana"
	"github.com/persona-runner/persona-runner/target/oauth2"
	"github.com/persona-runner/persona-runner/target/stdio"
)

// Options are what targets share: the runner's settings they fall back on and their clients.
type Options struct {
	// AuthURL is the auth API of mana targets that name none (the runner's MANA_AUTH_URL).
	AuthURL string
	// SeedSecret derives mana personas' passwords (PERSONA_SEED_SECRET).
	SeedSecret string
	// ServiceKey (MANA_SERVICE_KEY) lets mana targets at AuthURL mint personas' tokens with the
	// auth API's service-key route instead of logging in; Minter, when set, mints in process
	// (up). Neither ever goes to a target with an auth URL of its own.
	ServiceKey string
	Minter     mana.Minter
	// Getenv reads ${ENV} placeholders and persona secrets at run time; nil means os.Getenv.
	Getenv target.Env
	// HTTPClient carries the targets' HTTP requests (MCP and auth); nil means a default one.
	HTTPClient *http.Client
	// ClientVersion is reported to the servers as persona-runner's version.
	ClientVersion string
	Logger        *slog.Logger // nil discards
}

// Build returns the target c describes, ready to open sessions.
func Build(c target.Config, o Options) (*target.Target, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	t := &target.Target{Config: c, ClientVersion: o.ClientVersion, HTTPClient: o.HTTPClient}
	switch c.StrategyName() {
	case target.AuthNone:
		t.Strategy = target.None{}
	case target.AuthMana:
		authURL := o.AuthURL
		if c.Auth.Mana != nil && c.Auth.Mana.AuthURL != "" {
			authURL = c.Auth.Mana.AuthURL
		}
		m := mana.New(authURL, o.SeedSecret, o.HTTPClient)
		m.Logger = o.Logger
		if authURL == o.AuthURL {
			if m.Minter = o.Minter; m.Minter == nil && o.ServiceKey != "" {
				m.Minter = mana.NewHTTPMinter(authURL, o.ServiceKey, o.HTTPClient)
			}
		}
		t.Strategy = m
	case target.AuthHeaders:
		t.Strategy = &headers.Strategy{Headers: c.Auth.Headers, Getenv: o.Getenv}
	case target.AuthCommand:
		t.Strategy = command.New(c.Name, c.Auth.Command, o.Getenv)
	case target.AuthOAuth2:
		if c.Auth.OAuth2 == nil {
			return nil, fmt.Errorf("target %s: auth.oauth2 is required for strategy oauth2", c.Name)
		}
		t.Strategy = &oauth2.Strategy{Config: *c.Auth.OAuth2, Getenv: o.Getenv, HTTPClient: o.HTTPClient}
	default:
		return nil, fmt.Errorf("target %s: auth strategy %q is not supported", c.Name, c.StrategyName())
	}
	switch c.TransportName() {
	case target.TransportStreamableHTTP:
		t.Connector = &target.HTTP{Endpoint: c.URL, Client: o.HTTPClient}
	case target.TransportSSE:
		t.Connector = &target.HTTP{Endpoint: c.URL, SSE: true, Client: o.HTTPClient}
	case target.TransportStdio:
		t.Connector = stdio.ForTarget(c, o.Getenv)
	default:
		return nil, fmt.Errorf("target %s: transport %q is not supported", c.Name, c.TransportName())
	}
	return t, nil
}

// Set builds every target of cs into a set (one of them the default, see target.NewSet).
func Set(cs []target.Config, o Options) (*target.Set, error) {
	ts := make([]*target.Target, 0, len(cs))
	for _, c := range cs {
		t, err := Build(c, o)
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return target.NewSet(ts...)
}
