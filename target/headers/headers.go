// Package headers is the auth strategy of targets that take static headers (SPEC §10): each
// value may hold ${ENV}, ${persona.email}, ${persona.id} and ${persona.secrets.NAME}, expanded
// for each persona when its run begins. Secrets are read from the environment or a file then,
// and never stored.
package headers

import (
	"context"
	"net/http"
	"sort"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/target"
)

// Strategy sends the configured headers.
type Strategy struct {
	Headers map[string]string // name → value with placeholders
	Getenv  target.Env        // reads ${ENV} and env secrets; nil means os.Getenv
}

var _ target.Strategy = (*Strategy)(nil)

// Name is "headers".
func (s *Strategy) Name() string { return target.AuthHeaders }

// Begin expands every header for p. A placeholder that cannot be filled (an unset variable, a
// missing secret) fails the run at stage secrets, naming it, rather than sending an empty value.
func (s *Strategy) Begin(_ context.Context, p persona.DuePersona) (target.Credentials, error) {
	names := make([]string, 0, len(s.Headers))
	for k := range s.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	h := make(http.Header, len(names))
	for _, k := range names {
		v, err := target.Expand(s.Headers[k], p, s.Getenv)
		if err != nil {
			return nil, target.Errorf(target.StageSecrets, "header %s: %w", k, err)
		}
		h.Set(k, v)
	}
	return creds(h), nil
}

type creds http.Header

func (c creds) Apply(req *http.Request) error {
	for k, v := range c {
		req.Header[k] = v
	}
	return nil
}

func (creds) Identity() target.Identity { return target.Identity{} }
