// Package mana is the auth strategy of the demo app and of Mana stacks (SPEC §4, §5.3): each
// persona logs in at the auth API with its derived password, its requests carry the access
// token (a JWT, refreshed during long runs) and X-Mana-Space with its personal space.
package mana

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/target"
)

// HeaderSpace names the space a request acts in.
const HeaderSpace = "X-Mana-Space"

// Session is a logged-in persona.
type Session struct {
	UserID       string
	AccessToken  string // the JWT sent to the MCP server (SPEC §5.3 fix: not the session token)
	RefreshToken string
}

// Space is one of a user's spaces as the auth API lists them.
type Space struct {
	ID   string
	Type string // "personal", "family", …
}

// Auth logs personas in (SPEC §4). NewAuthClient implements it over HTTP.
type Auth interface {
	Login(ctx context.Context, email, password string) (Session, error)
	// Refresh returns a new access token for a long run.
	Refresh(ctx context.Context, refreshToken string) (accessToken string, err error)
	// Spaces lists the spaces of the user the access token belongs to.
	Spaces(ctx context.Context, accessToken string) ([]Space, error)
}

// CookieAuth is what the original Mana service needs besides Auth (issue 16): its
// organization/list and refresh refuse every Bearer token and take only the signed session
// cookie that Better Auth's sign-in sets. NewAuthClient implements it; Strategy uses it when the
// Bearer calls answer 401.
type CookieAuth interface {
	// SignIn signs in at /api/auth/sign-in/email and returns the session cookies.
	SignIn(ctx context.Context, email, password string) (cookie string, err error)
	SpacesByCookie(ctx context.Context, cookie string) ([]Space, error)
	RefreshByCookie(ctx context.Context, cookie string) (accessToken string, err error)
}

// Minter mints a persona's access token without its password: the auth API's service-key route
// POST /api/v1/internal/personas/{id}/token, or the auth server in the same process (`up`).
type Minter interface {
	MintToken(ctx context.Context, personaID string) (accessToken string, err error)
}

// MinterFunc adapts a function to Minter (the auth server in the same process).
type MinterFunc func(ctx context.Context, personaID string) (string, error)

// MintToken calls f.
func (f MinterFunc) MintToken(ctx context.Context, personaID string) (string, error) {
	return f(ctx, personaID)
}

// NewHTTPMinter mints through the auth API at baseURL with the service key.
func NewHTTPMinter(baseURL, serviceKey string, hc *http.Client) Minter {
	c := authapi.NewClient(baseURL, hc)
	c.ServiceKey = serviceKey
	return MinterFunc(func(ctx context.Context, personaID string) (string, error) {
		res, err := c.MintToken(ctx, personaID)
		return res.AccessToken, err
	})
}

// Strategy is the mana auth strategy. A persona's session outlives its run: the next run reuses
// it, refreshing the access token once it is RefreshAfter old and logging in again only when the
// refresh is refused, so the auth service's slow password check is off the hot path. With a
// Minter, tokens are minted by persona id instead of logging in with the password.
type Strategy struct {
	Auth       Auth
	Minter     Minter // optional
	SeedSecret string // derives each persona's password (SPEC §2)
	// RefreshAfter is the age of an access token after which the next request refreshes it
	// first (the JWT lives 15 minutes); 0 means 10 minutes.
	RefreshAfter time.Duration
	Now          func() time.Time // nil means time.Now
	Logger       *slog.Logger     // nil discards

	saidCookie sync.Once
	authURL    string      // for messages
	noMint     atomic.Bool // the auth API has no mint route (the original): log in instead

	mu       sync.Mutex
	sessions map[string]*creds // by email: each persona's session, reused across runs
}

var _ target.Strategy = (*Strategy)(nil)

// New returns the strategy logging personas in at the auth API at authURL.
func New(authURL, seedSecret string, hc *http.Client) *Strategy {
	return &Strategy{Auth: NewAuthClient(authURL, hc), SeedSecret: seedSecret, authURL: authURL}
}

// Name is "mana".
func (s *Strategy) Name() string { return target.AuthMana }

func (s *Strategy) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Begin returns p's credentials: its session of an earlier run while it is fresh, refreshed
// when it is old, else a new one (minted, or a login with the derived password); and its
// personal space (the claim's, else organization/list).
func (s *Strategy) Begin(ctx context.Context, p persona.DuePersona) (target.Credentials, error) {
	password, err := persona.DerivePassword(s.SeedSecret, p.Email)
	if err != nil {
		return nil, target.Errorf(target.StageLogin, "%w", err)
	}
	s.mu.Lock()
	c := s.sessions[p.Email]
	if c == nil {
		c = &creds{s: s, email: p.Email, password: password}
		if s.sessions == nil {
			s.sessions = map[string]*creds{}
		}
		s.sessions[p.Email] = c
	}
	s.mu.Unlock()

	c.mu.Lock()
	defer c.mu.Unlock()
	c.password, c.userID = password, p.UserID
	if c.session.AccessToken == "" || c.old() {
		if err := c.renew(ctx); err != nil {
			return nil, target.Errorf(target.StageLogin, "log in %s: %w", p.Email, err)
		}
	}
	if p.PersonalSpaceID != "" {
		c.space = p.PersonalSpaceID
	}
	if c.space == "" {
		if c.space, err = c.personalSpace(ctx); err != nil {
			return nil, target.Errorf(target.StageSpace, "%w", err)
		}
	}
	return c, nil
}

// old reports whether the access token is due for renewal. Called with mu held.
func (c *creds) old() bool {
	after := c.s.RefreshAfter
	if after <= 0 {
		after = 10 * time.Minute
	}
	return c.s.now().Sub(c.tokenAt) >= after
}

// renew gets a fresh access token: a refresh of the session when there is one, else (or when
// the refresh is refused) a new session, minted or logged in. Called with mu held.
func (c *creds) renew(ctx context.Context) error {
	if c.session.AccessToken != "" {
		if c.session.RefreshToken != "" {
			tok, err := c.refresh(ctx)
			if err == nil {
				c.session.AccessToken, c.tokenAt = tok, c.s.now()
				return nil
			}
			c.s.log().Info("refresh refused: logging in again", "persona", c.email, "err", err)
		}
		c.cookie = ""
	}
	sess, err := c.s.newSession(ctx, c.userID, c.email, c.password)
	if err != nil {
		return err
	}
	c.session, c.tokenAt = sess, c.s.now()
	return nil
}

// newSession mints a token for userID when a Minter is set and the auth API has the route,
// else logs email in with its password.
func (s *Strategy) newSession(ctx context.Context, userID, email, password string) (Session, error) {
	if s.Minter != nil && userID != "" && !s.noMint.Load() {
		tok, err := s.Minter.MintToken(ctx, userID)
		if err == nil {
			return Session{UserID: userID, AccessToken: tok}, nil
		}
		if authapi.IsMissingRoute(err) {
			if s.noMint.CompareAndSwap(false, true) {
				s.log().Info("the auth API has no token route (the original Mana service): personas log in with their passwords", "err", err)
			}
		} else {
			s.log().Warn("mint token failed: logging in with the password", "persona", email, "err", err)
		}
	}
	return s.Auth.Login(ctx, email, password)
}

// Login logs email in and finds its personal space, for diagnostics (/diag/login).
func (s *Strategy) Login(ctx context.Context, email string) (target.Identity, error) {
	c, err := s.Begin(ctx, persona.DuePersona{Email: email})
	if err != nil {
		return target.Identity{}, err
	}
	return c.Identity(), nil
}

// personalSpace finds the first personal space of organization/list: with the access token,
// else (the original Mana service refuses Bearer tokens there) with the cookie of a sign-in.
func (c *creds) personalSpace(ctx context.Context) (string, error) {
	s := c.s
	spaces, err := s.Auth.Spaces(ctx, c.session.AccessToken)
	if ca, ok := s.Auth.(CookieAuth); ok && errors.Is(err, authapi.ErrUnauthorized) {
		s.saidCookie.Do(func() {
			s.log().Info("organization/list refuses the Bearer token (the original Mana service): the personal space and token refreshes go through the signed cookie of /api/auth/sign-in/email")
		})
		var cookie string
		if cookie, err = c.signIn(ctx, ca); err == nil {
			spaces, err = ca.SpacesByCookie(ctx, cookie)
		}
	}
	if err != nil {
		return "", fmt.Errorf("list spaces: %w", err)
	}
	for _, sp := range spaces {
		if sp.Type == string(persona.SpacePersonal) {
			return sp.ID, nil
		}
	}
	return "", fmt.Errorf("list spaces: %s has no personal space", c.email)
}

// signIn returns the persona's session cookie, signing in when it has none yet. Called with mu
// held or before the credentials are shared.
func (c *creds) signIn(ctx context.Context, ca CookieAuth) (string, error) {
	if c.cookie != "" {
		return c.cookie, nil
	}
	cookie, err := ca.SignIn(ctx, c.email, c.password)
	if err != nil {
		return "", err
	}
	c.cookie = cookie
	return cookie, nil
}

func (s *Strategy) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// creds are one persona's mana credentials, kept across its runs.
type creds struct {
	s        *Strategy
	email    string
	password string // for a login or a cookie sign-in when the service wants one
	userID   string // the claim's persona id, for minting
	space    string

	mu      sync.Mutex
	session Session
	tokenAt time.Time
	cookie  string // session cookie of a sign-in (the original Mana service)
}

func (c *creds) Identity() target.Identity {
	return target.Identity{UserID: c.session.UserID, SpaceID: c.space}
}

// Apply sets Authorization: Bearer <JWT> and X-Mana-Space, refreshing an old token first so a
// long run never calls the app with an expired JWT (SPEC §4 fix). A failed refresh is logged
// and the current token used: the app's answer then says what is wrong.
func (c *creds) Apply(req *http.Request) error {
	req.Header.Set("Authorization", "Bearer "+c.token(req.Context()))
	req.Header.Set(HeaderSpace, c.space)
	return nil
}

// Describe says which iss and aud the persona's JWT carries (read without verifying it: these
// are the runner's own credentials), for a 401 of the app. Mana apps trust one issuer, the auth
// service's public URL, and the audience "mana".
func (c *creds) Describe() string {
	c.mu.Lock()
	tok := c.session.AccessToken
	c.mu.Unlock()
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &claims); err != nil {
		return ""
	}
	return fmt.Sprintf("the persona's JWT has iss %q and aud %q from the auth API %s", claims.Issuer, strings.Join(claims.Audience, ","), c.s.authURL)
}

func (c *creds) token(ctx context.Context) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.old() {
		if err := c.renew(context.WithoutCancel(ctx)); err != nil {
			c.s.log().Warn("renew access token", "persona", c.email, "err", err)
		}
	}
	return c.session.AccessToken
}

// refresh gets a new access token: with the refresh token, else (the original Mana service
// answers 401 to it) with the session cookie, signing in again when the cookie has expired.
// Called with mu held.
func (c *creds) refresh(ctx context.Context) (string, error) {
	tok, err := c.s.Auth.Refresh(ctx, c.session.RefreshToken)
	ca, ok := c.s.Auth.(CookieAuth)
	if err == nil || !ok || !errors.Is(err, authapi.ErrUnauthorized) {
		return tok, err
	}
	for attempt := 0; attempt < 2; attempt++ {
		var cookie string
		if cookie, err = c.signIn(ctx, ca); err != nil {
			return "", err
		}
		if tok, err = ca.RefreshByCookie(ctx, cookie); err == nil || !errors.Is(err, authapi.ErrUnauthorized) {
			return tok, err
		}
		c.cookie = "" // expired: sign in anew once
	}
	return "", err
}

// authClient is Auth over the auth API's HTTP endpoints (SPEC §4).
type authClient struct{ c *authapi.Client }

// NewAuthClient returns the Auth that logs personas in at the auth API at baseURL.
func NewAuthClient(baseURL string, hc *http.Client) Auth {
	return authClient{authapi.NewClient(baseURL, hc)}
}

func (a authClient) Login(ctx context.Context, email, password string) (Session, error) {
	res, err := a.c.Login(ctx, email, password)
	if err != nil {
		return Session{}, err
	}
	return Session{UserID: res.User.ID, AccessToken: res.AccessToken, RefreshToken: res.RefreshToken}, nil
}

func (a authClient) Refresh(ctx context.Context, refreshToken string) (string, error) {
	res, err := a.c.Refresh(ctx, refreshToken)
	if err != nil {
		return "", err
	}
	return res.AccessToken, nil
}

func (a authClient) Spaces(ctx context.Context, accessToken string) ([]Space, error) {
	list, err := a.c.Spaces(ctx, accessToken)
	if err != nil {
		return nil, err
	}
	out := make([]Space, len(list))
	for i, s := range list {
		out[i] = Space{ID: s.ID, Type: s.Metadata.Type}
	}
	return out, nil
}

func (a authClient) SignIn(ctx context.Context, email, password string) (string, error) {
	return a.c.SignInEmail(ctx, email, password)
}

func (a authClient) SpacesByCookie(ctx context.Context, cookie string) ([]Space, error) {
	list, err := a.c.SpacesByCookie(ctx, cookie)
	if err != nil {
		return nil, err
	}
	out := make([]Space, len(list))
	for i, s := range list {
		out[i] = Space{ID: s.ID, Type: s.Metadata.Type}
	}
	return out, nil
}

func (a authClient) RefreshByCookie(ctx context.Context, cookie string) (string, error) {
	res, err := a.c.RefreshByCookie(ctx, cookie)
	if err != nil {
		return "", err
	}
	return res.AccessToken, nil
}
