package jwtauth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/persona-runner/persona-runner/persona"
)

// Defaults of a Verifier's cache.
const (
	// DefaultMinRefetch is the shortest time between two JWKS fetches. A token with an unknown kid
	// triggers a refetch (the auth service may have a new key), but a flood of made-up kids must
	// not turn every request into a request to the auth service.
	DefaultMinRefetch = 10 * time.Second
	// DefaultCacheTTL is how long a fetched JWKS is trusted before the next Verify refreshes it,
	// so a key withdrawn by the auth service stops being accepted eventually.
	DefaultCacheTTL = 10 * time.Minute
	// DefaultLeeway is the clock skew tolerated between the auth service and a verifier: a token
	// is still accepted up to this long after its exp, and already accepted up to this long
	// before its nbf and iat. Small against the 15-minute lifetime, large enough for clocks that
	// NTP keeps in step.
	DefaultLeeway = 30 * time.Second
	// maxJWKSBytes bounds the JWKS body we are willing to read.
	maxJWKSBytes = 1 << 20
)

// Verifier checks access tokens: signature (EdDSA only), expiry, audience and issuer; exp, nbf and
// iat are checked with Leeway for clock skew. A remote
// Verifier fetches the public keys from a JWKS URL and caches them; a static one has fixed keys.
// It is safe for concurrent use.
type Verifier struct {
	jwksURL  string
	issuer   string
	audience string
	client   *http.Client
	static   bool

	// MinRefetch, CacheTTL, Leeway and Now may be changed before first use.
	MinRefetch time.Duration
	CacheTTL   time.Duration
	Leeway     time.Duration // tolerated clock skew for exp, nbf and iat (DefaultLeeway)
	Now        func() time.Time

	mu          sync.RWMutex
	keys        map[string]ed25519.PublicKey
	fetchedAt   time.Time // last successful fetch
	lastAttempt time.Time // last fetch attempt, successful or not
	fetches     int

	fetchSem chan struct{} // one fetch at a time; waiting respects the caller's context
}

// NewVerifier returns a Verifier that fetches keys from jwksURL and accepts tokens with the given
// issuer and audience. client nil means a client with a 10-second timeout.
func NewVerifier(jwksURL, issuer, audience string, client *http.Client) *Verifier {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Verifier{
		jwksURL: jwksURL, issuer: issuer, audience: audience, client: client,
		MinRefetch: DefaultMinRefetch, CacheTTL: DefaultCacheTTL, Leeway: DefaultLeeway, Now: time.Now,
		keys: map[string]ed25519.PublicKey{}, fetchSem: make(chan struct{}, 1),
	}
}

// NewStaticVerifier returns a Verifier over fixed keys, for a process that holds the keys itself
// (the embedded mode, tests). Keys without a usable public key are skipped.
func NewStaticVerifier(keys []persona.SigningKey, issuer, audience string) *Verifier {
	v := NewVerifier("", issuer, audience, nil)
	v.static = true
	for _, k := range keys {
		if pub, err := publicKey(k); err == nil {
			v.keys[k.ID] = pub
		}
	}
	return v
}

// Fetches reports how many JWKS fetches were attempted (for tests and diagnostics).
func (v *Verifier) Fetches() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.fetches
}

// Verify parses token and checks it. Errors wrap ErrInvalidToken when the token must be refused,
// or ErrKeysUnavailable when the keys could not be obtained.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	var keyErr error
	keyfunc := func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("token has no kid header")
		}
		pub, err := v.key(ctx, kid)
		if err != nil {
			keyErr = err
			return nil, err
		}
		return pub, nil
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{Algorithm}),
		jwt.WithAudience(v.audience),
		jwt.WithIssuer(v.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.Leeway),
		jwt.WithTimeFunc(v.Now),
	)
	var c Claims
	if _, err := p.ParseWithClaims(token, &c, keyfunc); err != nil {
		if keyErr != nil && errors.Is(keyErr, ErrKeysUnavailable) {
			return nil, fmt.Errorf("verify token: %w", keyErr)
		}
		return nil, fmt.Errorf("%w: %w%s", ErrInvalidToken, err, v.mismatch(err, &c))
	}
	if c.Subject == "" {
		return nil, fmt.Errorf("%w: token has no subject", ErrInvalidToken)
	}
	return &c, nil
}

// key returns the public key for kid, fetching the JWKS when the cache is empty, stale, or does
// not know kid — subject to the refetch rate limit.
func (v *Verifier) key(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	pub, fresh, _ := v.lookup(kid)
	if v.static {
		if pub == nil {
			return nil, fmt.Errorf("unknown key id %q", kid)
		}
		return pub, nil
	}
	if pub != nil && fresh {
		return pub, nil
	}
	fetchErr := v.refresh(ctx, kid)
	// A stale key is still used when the refetch failed or was rate-limited: the auth service
	// being briefly unreachable should not log everybody out.
	pub, _, haveAny := v.lookup(kid)
	if pub != nil {
		return pub, nil
	}
	if fetchErr != nil && !haveAny {
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, fetchErr)
	}
	return nil, fmt.Errorf("unknown key id %q", kid)
}

// lookup reads the cache: the key for kid (nil if unknown), whether the cache is within its TTL,
// and whether any key is cached at all.
func (v *Verifier) lookup(kid string) (ed25519.PublicKey, bool, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	fresh := !v.fetchedAt.IsZero() && v.Now().Sub(v.fetchedAt) < v.CacheTTL
	return v.keys[kid], fresh, len(v.keys) > 0
}

// refresh fetches the JWKS unless another caller just did or the rate limit forbids it. It
// returns the fetch error, if a fetch was made and failed.
func (v *Verifier) refresh(ctx context.Context, kid string) error {
	select {
	case v.fetchSem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("wait for jwks fetch: %w", ctx.Err())
	}
	defer func() { <-v.fetchSem }()

	// Another caller may have fetched while we waited.
	if pub, fresh, _ := v.lookup(kid); pub != nil && fresh {
		return nil
	}
	v.mu.Lock()
	now := v.Now()
	if !v.lastAttempt.IsZero() && now.Sub(v.lastAttempt) < v.MinRefetch {
		v.mu.Unlock()
		return nil
	}
	v.lastAttempt = now
	v.fetches++
	v.mu.Unlock()

	keys, err := v.fetch(ctx)
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.keys = keys
	v.fetchedAt = v.Now()
	v.mu.Unlock()
	return nil
}

func (v *Verifier) fetch(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.jwksURL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks %s: %w", v.jwksURL, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks %s: %w", v.jwksURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
	if err != nil {
		return nil, fmt.Errorf("fetch jwks %s: read body: %w", v.jwksURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch jwks %s: status %d", v.jwksURL, resp.StatusCode)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks %s: %w", v.jwksURL, err)
	}
	return keys, nil
}

// mismatch spells out an iss or aud that is not the one expected, with both values: the usual
// cause is an auth service whose public URL differs from the issuer the app trusts (an address
// of 127.0.0.1 against the default http://localhost:PORT). The claims are only read after the
// signature was verified (golang-jwt validates claims after it), so no forged value is echoed.
func (v *Verifier) mismatch(err error, c *Claims) string {
	var parts []string
	if errors.Is(err, jwt.ErrTokenInvalidIssuer) {
		parts = append(parts, fmt.Sprintf("the token's iss is %q, this service expects %q (the auth service's public URL, serve auth --auth-url, must equal the issuer trusted here, serve mcp --issuer)", c.Issuer, v.issuer))
	}
	if errors.Is(err, jwt.ErrTokenInvalidAudience) {
		parts = append(parts, fmt.Sprintf("the token's aud is %q, this service expects %q", strings.Join(c.Audience, ","), v.audience))
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, "; ")
}
