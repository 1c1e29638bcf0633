package target

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Transports a target may use.
const (
	TransportStreamableHTTP = "streamable-http"
	TransportSSE            = "sse"
	TransportStdio          = "stdio"
)

// Auth strategies a target may use.
const (
	AuthMana    = "mana"
	AuthHeaders = "headers"
	AuthCommand = "command"
	AuthOAuth2  = "oauth2"
	AuthNone    = "none"
)

// Config is one target as the config file declares it (SPEC §10, `targets:`).
type Config struct {
	Name      string            `yaml:"name" json:"name"`
	Default   bool              `yaml:"default,omitempty" json:"default,omitempty"`
	Transport string            `yaml:"transport,omitempty" json:"transport,omitempty"` // streamable-http (default) | sse | stdio
	URL       string            `yaml:"url,omitempty" json:"url,omitempty"`
	Command   []string          `yaml:"command,omitempty" json:"command,omitempty"` // stdio: the server and its arguments
	Env       map[string]string `yaml:"env,omitempty" json:"env,omitempty"`         // stdio: the only environment the server gets
	Cwd       string            `yaml:"cwd,omitempty" json:"cwd,omitempty"`         // stdio: its working directory
	Auth      AuthConfig        `yaml:"auth,omitempty" json:"auth,omitempty"`
	Modules   map[string]string `yaml:"modules,omitempty" json:"modules,omitempty"` // glob on the tool name → module
	Tools     PolicyConfig      `yaml:"tools,omitempty" json:"tools,omitempty"`
	// CallsPerSecond caps the calls toward this target, all personas together; 0 is no cap.
	CallsPerSecond float64 `yaml:"callsPerSecond,omitempty" json:"callsPerSecond,omitempty"`
}

// AuthConfig is a target's auth strategy and its settings.
type AuthConfig struct {
	Strategy string            `yaml:"strategy,omitempty" json:"strategy,omitempty"` // mana | headers | command | oauth2 | none
	Headers  map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`   // headers: values with ${ENV} and ${persona.*}
	Command  []string          `yaml:"command,omitempty" json:"command,omitempty"`   // command: prints a token (or JSON {token, expiresAt})
	OAuth2   *OAuth2Config     `yaml:"oauth2,omitempty" json:"oauth2,omitempty"`
	Mana     *ManaConfig       `yaml:"mana,omitempty" json:"mana,omitempty"`
}

// OAuth2Config is the client-credentials grant of the oauth2 strategy.
type OAuth2Config struct {
	TokenURL     string   `yaml:"tokenUrl" json:"tokenUrl"`
	ClientID     string   `yaml:"clientId" json:"clientId"`
	ClientSecret string   `yaml:"clientSecret" json:"clientSecret"` // usually "${ENV}"
	Scopes       []string `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	// Params are more form parameters of the token request, e.g. {audience: …} (Auth0) or
	// {resource: …} (RFC 8707).
	Params map[string]string `yaml:"params,omitempty" json:"params,omitempty"`
}

// ManaConfig is the mana strategy's auth API (SPEC §4).
type ManaConfig struct {
	AuthURL string `yaml:"authUrl,omitempty" json:"authUrl,omitempty"`
}

// PolicyConfig is a target's tool policy: globs on tool names. Empty Allow allows every tool
// that is not destructive; a destructive tool needs its own name in Allow (a glob is not enough).
type PolicyConfig struct {
	Allow []string `yaml:"allow,omitempty" json:"allow,omitempty"`
	Deny  []string `yaml:"deny,omitempty" json:"deny,omitempty"`
}

// TransportName is the transport with its default applied.
func (c Config) TransportName() string {
	switch {
	case c.Transport != "":
		return c.Transport
	case len(c.Command) > 0:
		return TransportStdio
	}
	return TransportStreamableHTTP
}

// StrategyName is the auth strategy with its default applied: none.
func (c Config) StrategyName() string {
	if c.Auth.Strategy == "" {
		return AuthNone
	}
	return c.Auth.Strategy
}

// Where is the target's address for messages: its URL or its command.
func (c Config) Where() string {
	if c.URL != "" {
		return c.URL
	}
	return strings.Join(c.Command, " ")
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Problems lists what is wrong with the target; field names the key it sits under in the file
// ("targets[0]") so that each problem names the key to fix.
func (c Config) Problems(field string) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, field+"."+fmt.Sprintf(format, args...)) }
	if !namePattern.MatchString(c.Name) {
		add("name must be lowercase letters, digits, - and _, starting with a letter or digit (got %q)", c.Name)
	}
	switch c.TransportName() {
	case TransportStreamableHTTP, TransportSSE:
		if c.URL == "" && c.Name == Demo {
			// The built-in demo app: its address is the runner's (config.TargetConfigs).
		} else if c.URL == "" {
			add("url is required for transport %s", c.TransportName())
		} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("url must be an http(s) URL (got %q)", c.URL)
		}
		if len(c.Command) > 0 {
			add("command is for transport stdio; this target uses %s", c.TransportName())
		}
	case TransportStdio:
		if len(c.Command) == 0 || strings.TrimSpace(c.Command[0]) == "" {
			add("command is required for transport stdio")
		}
		if c.URL != "" {
			add("url is not used by transport stdio")
		}
	default:
		add("transport must be one of streamable-http, sse, stdio (got %q)", c.Transport)
	}
	switch c.StrategyName() {
	case AuthMana, AuthNone:
	case AuthHeaders:
		if len(c.Auth.Headers) == 0 {
			add("auth.headers must name at least one header for strategy headers")
		}
		for k := range c.Auth.Headers {
			if !validHeaderName(k) {
				add("auth.headers has an invalid header name %q", k)
			}
		}
	case AuthCommand:
		if len(c.Auth.Command) == 0 || strings.TrimSpace(c.Auth.Command[0]) == "" {
			add("auth.command is required for strategy command")
		}
	case AuthOAuth2:
		o := c.Auth.OAuth2
		if o == nil {
			add("auth.oauth2 is required for strategy oauth2 (tokenUrl, clientId, clientSecret)")
			break
		}
		if u, err := url.Parse(o.TokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("auth.oauth2.tokenUrl must be an http(s) URL (got %q)", o.TokenURL)
		}
		if o.ClientID == "" {
			add("auth.oauth2.clientId is required")
		}
		switch {
		case o.ClientSecret == "":
			add("auth.oauth2.clientSecret is required: write \"${VARIABLE}\" to read it from the environment")
		case !strings.Contains(o.ClientSecret, "${"):
			// A secret written into the file ends up in version control and backups.
			add("auth.oauth2.clientSecret must not be written in the file: write \"${VARIABLE}\" (or \"${persona.secrets.NAME}\") to read it at run time")
		}
		for k := range o.Params {
			if k == "grant_type" || k == "scope" || k == "client_id" || k == "client_secret" {
				add("auth.oauth2.params must not set %q (the grant sets it)", k)
			}
		}
	default:
		add("auth.strategy must be one of mana, headers, command, oauth2, none (got %q)", c.Auth.Strategy)
	}
	if c.TransportName() == TransportStdio && c.StrategyName() != AuthNone {
		// Every strategy's credentials are HTTP request headers; a stdio server would never see
		// them, and a run that looks authenticated but is not misleads.
		add("auth.strategy %s sends credentials with HTTP requests; a stdio target takes none: give the server what it needs in env, e.g. TOKEN: \"${persona.secrets.token}\"", c.StrategyName())
	}
	if c.TransportName() != TransportStdio && (len(c.Env) > 0 || c.Cwd != "") {
		add("env and cwd are for transport stdio; this target uses %s", c.TransportName())
	}
	for k := range c.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			add("env has an invalid variable name %q", k)
		}
	}
	for g, m := range c.Modules {
		if err := checkGlob(g); err != nil {
			add("modules: %v", err)
		}
		if strings.TrimSpace(m) == "" {
			add("modules[%q] must name a module", g)
		}
	}
	for i, g := range c.Tools.Allow {
		if err := checkGlob(g); err != nil {
			add("tools.allow[%d]: %v", i, err)
		}
	}
	for i, g := range c.Tools.Deny {
		if err := checkGlob(g); err != nil {
			add("tools.deny[%d]: %v", i, err)
		}
	}
	if c.CallsPerSecond < 0 {
		add("callsPerSecond must not be negative (got %v)", c.CallsPerSecond)
	}
	return p
}

// validHeaderName reports whether s is an HTTP header field name (RFC 9110 token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}
