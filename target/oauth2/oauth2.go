// Package oauth2 is the auth strategy of targets that take OAuth 2.0 access tokens of the client
// credentials grant (RFC 6749 §4.4; SPEC §10, auth.strategy oauth2), through
// golang.org/x/oauth2/clientcredentials.
//
// clientId and clientSecret may hold ${ENV} and ${persona.secrets.NAME} placeholders, expanded
// when a persona's run begins: one client for the whole target, or one per persona. Each client
// has one token source, shared by the personas that use it, which keeps its token until shortly
// before it expires and then asks the token endpoint again; requests carry
// "Authorization: Bearer <access token>". Secrets and tokens are never logged nor stored.
package oauth2

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	xoauth2 "golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/target"
)

// Strategy gets client-credentials tokens from the target's token endpoint.
type Strategy struct {
	Config     target.OAuth2Config
	Getenv     target.Env   // reads ${ENV} and env secrets; nil means os.Getenv
	HTTPClient *http.Client // carries the token requests; nil means http.DefaultClient

	mu      sync.Mutex
	sources map[[sha256.Size]byte]xoauth2.TokenSource // by client (id and secret)
}

var _ target.Strategy = (*Strategy)(nil)

// Name is "oauth2".
func (s *Strategy) Name() string { return target.AuthOAuth2 }

// Begin gets (or reuses) the access token of p's client, so that a refused client fails the run
// at stage login before anything is sent to the app.
func (s *Strategy) Begin(ctx context.Context, p persona.DuePersona) (target.Credentials, error) {
	id, err := target.Expand(s.Config.ClientID, p, s.Getenv)
	if err != nil {
		return nil, target.Errorf(target.StageSecrets, "auth.oauth2.clientId: %w", err)
	}
	secret, err := target.Expand(s.Config.ClientSecret, p, s.Getenv)
	if err != nil {
		return nil, target.Errorf(target.StageSecrets, "auth.oauth2.clientSecret: %w", err)
	}
	ts := s.source(id, secret)
	if _, err := token(ctx, ts); err != nil {
		return nil, s.loginError(err)
	}
	return &creds{s: s, ts: ts}, nil
}

// source returns the token source of one client, made on first use.
func (s *Strategy) source(id, secret string) xoauth2.TokenSource {
	key := sha256.Sum256([]byte(id + "\x00" + secret))
	s.mu.Lock()
	defer s.mu.Unlock()
	if ts, ok := s.sources[key]; ok {
		return ts
	}
	if s.sources == nil {
		s.sources = map[[sha256.Size]byte]xoauth2.TokenSource{}
	}
	params := url.Values{}
	for k, v := range s.Config.Params {
		params.Set(k, v)
	}
	cc := &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: s.Config.TokenURL,
		Scopes: s.Config.Scopes, EndpointParams: params}
	// The token source outlives the run that made it: its context carries only the HTTP client.
	base := context.Background()
	if s.HTTPClient != nil {
		base = context.WithValue(base, xoauth2.HTTPClient, s.HTTPClient)
	}
	ts := cc.TokenSource(base)
	s.sources[key] = ts
	return ts
}

// token asks ts for its token, giving up when ctx ends (the token source's own request is
// bounded by the HTTP client's timeout).
func token(ctx context.Context, ts xoauth2.TokenSource) (*xoauth2.Token, error) {
	type res struct {
		t   *xoauth2.Token
		err error
	}
	ch := make(chan res, 1)
	go func() {
		t, err := ts.Token()
		ch <- res{t, err}
	}()
	select {
	case r := <-ch:
		return r.t, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// loginError says what the token endpoint answered, in its own words (RFC 6749 §5.2), without
// the client's secret. A refused client (400, 401, 403) is permanent: no retry fixes it.
func (s *Strategy) loginError(err error) error {
	var re *xoauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		msg := fmt.Sprintf("%d %s", status, http.StatusText(status))
		if re.ErrorCode != "" {
			msg += ": " + re.ErrorCode
			if re.ErrorDescription != "" {
				msg += ": " + re.ErrorDescription
			}
		} else if body := firstLine(string(re.Body)); body != "" {
			msg += ": " + body
		}
		return &target.Error{Stage: target.StageLogin, Permanent: status >= 400 && status < 500 && status != http.StatusTooManyRequests,
			Err: fmt.Errorf("oauth2 token endpoint %s refused the client credentials: %s", s.Config.TokenURL, msg)}
	}
	return target.Errorf(target.StageLogin, "oauth2 token endpoint %s: %w", s.Config.TokenURL, err)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return persona.Truncate(s, 300)
}

// creds send the client's current access token.
type creds struct {
	s  *Strategy
	ts xoauth2.TokenSource
}

// Apply sets the access token, renewed by the token source when it is about to expire.
func (c *creds) Apply(req *http.Request) error {
	t, err := token(req.Context(), c.ts)
	if err != nil {
		return c.s.loginError(err)
	}
	t.SetAuthHeader(req)
	return nil
}

func (*creds) Identity() target.Identity { return target.Identity{} }
