package jwtauth_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/persona-runner/persona-runner/jwtauth"
	"github.com/persona-runner/persona-runner/persona"
)

const issuerURL = "http://auth.test"

var user = persona.User{
	ID: "u-1", Email: "persona.anna@mana.test", Role: persona.RoleUser,
	AccessTier: persona.TierFounder, Kind: persona.KindPersona,
}

// clock is a settable clock shared by issuer and verifier.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func mustKey(t *testing.T) persona.SigningKey {
	t.Helper()
	k, err := jwtauth.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustIssuer(t *testing.T, k persona.SigningKey, iss string, clk *clock) *jwtauth.Issuer {
	t.Helper()
	i, err := jwtauth.NewIssuer(k, iss)
	if err != nil {
		t.Fatal(err)
	}
	if clk != nil {
		i.Now = clk.Now
	}
	return i
}

func mustIssue(t *testing.T, i *jwtauth.Issuer) string {
	t.Helper()
	tok, _, err := i.Issue(user, "sess-1")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// jwksServer serves the JWKS of a changeable key list and counts requests.
type jwksServer struct {
	mu   sync.Mutex
	keys []persona.SigningKey
	down bool
	hits atomic.Int32
	*httptest.Server
}

func newJWKSServer(t *testing.T, keys ...persona.SigningKey) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		keys, down := s.keys, s.down
		s.mu.Unlock()
		if down {
			http.Error(w, `{"error":"down"}`, http.StatusServiceUnavailable)
			return
		}
		body, err := jwtauth.JWKS(keys)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(keys ...persona.SigningKey) {
	s.mu.Lock()
	s.keys = keys
	s.mu.Unlock()
}

func (s *jwksServer) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	k := mustKey(t)
	srv := newJWKSServer(t, k)
	v := jwtauth.NewVerifier(srv.URL, issuerURL, jwtauth.Audience, srv.Client())
	c, err := v.Verify(context.Background(), mustIssue(t, mustIssuer(t, k, issuerURL, nil)))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.Subject != user.ID || c.Email != user.Email || c.Role != "user" || c.Tier != "founder" ||
		c.Kind != "persona" || c.SessionID != "sess-1" || c.Issuer != issuerURL {
		t.Fatalf("claims = %+v", c)
	}
	if len(c.Audience) != 1 || c.Audience[0] != "mana" {
		t.Fatalf("aud = %v", c.Audience)
	}
	if got := c.ExpiresAt.Sub(c.IssuedAt.Time); got != 15*time.Minute {
		t.Fatalf("lifetime = %v, want 15m", got)
	}
	// A second token is checked from the cache.
	if _, err := v.Verify(context.Background(), mustIssue(t, mustIssuer(t, k, issuerURL, nil))); err != nil {
		t.Fatal(err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("jwks fetched %d times, want 1", n)
	}
}

func TestTokenHeaderAndClaimNames(t *testing.T) {
	t.Parallel()
	k := mustKey(t)
	tok := mustIssue(t, mustIssuer(t, k, issuerURL, nil))
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	var hdr, body map[string]any
	decode := func(s string, v any) {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	decode(parts[0], &hdr)
	decode(parts[1], &body)
	if hdr["alg"] != "EdDSA" || hdr["kid"] != k.ID {
		t.Fatalf("header = %v", hdr)
	}
	for _, name := range []string{"sub", "email", "role", "tier", "kind", "sid", "iss", "aud", "exp", "iat"} {
		if _, ok := body[name]; !ok {
			t.Errorf("claim %q missing from %v", name, body)
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	k := mustKey(t)
	other := mustKey(t)
	clk := &clock{t: time.Now()}
	v := jwtauth.NewStaticVerifier([]persona.SigningKey{k}, issuerURL, jwtauth.Audience)
	v.Now = clk.Now

	expired := func() string {
		past := &clock{t: clk.Now().Add(-16 * time.Minute)}
		return mustIssue(t, mustIssuer(t, k, issuerURL, past))
	}
	wrongAud := func() string {
		return signClaims(t, jwt.SigningMethodEdDSA, ed25519.NewKeyFromSeed(k.PrivateKey), k.ID,
			claimsFor(clk.Now(), issuerURL, "not-mana"))
	}
	// A key unknown to the verifier but carrying the kid of the known one: the signature fails.
	wrongKeySameKid := func() string {
		i := mustIssuer(t, persona.SigningKey{ID: k.ID, Algorithm: "EdDSA", PrivateKey: other.PrivateKey}, issuerURL, clk)
		return mustIssue(t, i)
	}
	hs256 := func() string {
		// Algorithm confusion: HMAC with the public key as the secret.
		return signClaims(t, jwt.SigningMethodHS256, k.PublicKey, k.ID, claimsFor(clk.Now(), issuerURL, "mana"))
	}
	none := func() string {
		return signClaims(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, k.ID, claimsFor(clk.Now(), issuerURL, "mana"))
	}
	noSub := func() string {
		c := claimsFor(clk.Now(), issuerURL, "mana")
		c.Subject = ""
		return signClaims(t, jwt.SigningMethodEdDSA, ed25519.NewKeyFromSeed(k.PrivateKey), k.ID, c)
	}
	noExp := func() string {
		c := claimsFor(clk.Now(), issuerURL, "mana")
		c.ExpiresAt = nil
		return signClaims(t, jwt.SigningMethodEdDSA, ed25519.NewKeyFromSeed(k.PrivateKey), k.ID, c)
	}
	tampered := func() string {
		tok := mustIssue(t, mustIssuer(t, k, issuerURL, clk))
		parts := strings.Split(tok, ".")
		c := claimsFor(clk.Now(), issuerURL, "mana")
		c.Role = "admin"
		b, _ := json.Marshal(c)
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
	}
	cases := map[string]func() string{
		"expired":         expired,
		"wrong audience":  wrongAud,
		"wrong issuer":    func() string { return mustIssue(t, mustIssuer(t, k, "http://evil.test", clk)) },
		"wrong key":       func() string { return mustIssue(t, mustIssuer(t, other, issuerURL, clk)) },
		"wrong signature": wrongKeySameKid,
		"alg HS256":       hs256,
		"alg none":        none,
		"no subject":      noSub,
		"no expiry":       noExp,
		"tampered claims": tampered,
		"garbage":         func() string { return "not.a.token" },
		"empty":           func() string { return "" },
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			tok := mk()
			_, err := v.Verify(context.Background(), tok)
			if !errors.Is(err, jwtauth.ErrInvalidToken) {
				t.Fatalf("Verify(%s) = %v, want ErrInvalidToken", name, err)
			}
		})
	}
	// The same verifier accepts a good token, so the rejections above are about the token.
	if _, err := v.Verify(context.Background(), mustIssue(t, mustIssuer(t, k, issuerURL, clk))); err != nil {
		t.Fatalf("good token: %v", err)
	}
}

// TestVerifyClockSkewLeeway: clocks of the auth service and a verifier drift apart a little. A
// token is accepted until DefaultLeeway after its exp and from DefaultLeeway before its iat/nbf,
// and refused beyond that on either side.
func TestVerifyClockSkewLeeway(t *testing.T) {
	t.Parallel()
	k := mustKey(t)
	start := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC) // whole seconds: NumericDate has no fraction
	verifierClock := &clock{t: start}
	v := jwtauth.NewStaticVerifier([]persona.SigningKey{k}, issuerURL, jwtauth.Audience)
	v.Now = verifierClock.Now
	if v.Leeway != jwtauth.DefaultLeeway || jwtauth.DefaultLeeway != 30*time.Second {
		t.Fatalf("Leeway = %s, DefaultLeeway = %s; want 30s", v.Leeway, jwtauth.DefaultLeeway)
	}
	issuedAt := func(at time.Time) string { return mustIssue(t, mustIssuer(t, k, issuerURL, &clock{t: at})) }
	justInside := jwtauth.DefaultLeeway - time.Second
	justOutside := jwtauth.DefaultLeeway + time.Second
	cases := []struct {
		name   string
		token  string
		accept bool
	}{
		// The verifier's clock is behind the issuer's: iat and nbf lie in its future.
		{"issued within the leeway ahead", issuedAt(start.Add(justInside)), true},
		{"issued beyond the leeway ahead", issuedAt(start.Add(justOutside)), false},
		// The verifier's clock is ahead: the token's exp has just passed by its clock.
		{"expired within the leeway", issuedAt(start.Add(-jwtauth.AccessTTL - justInside)), true},
		{"expired beyond the leeway", issuedAt(start.Add(-jwtauth.AccessTTL - justOutside)), false},
	}
	for _, c := range cases {
		_, err := v.Verify(context.Background(), c.token)
		switch {
		case c.accept && err != nil:
			t.Errorf("%s: Verify = %v, want accepted", c.name, err)
		case !c.accept && !errors.Is(err, jwtauth.ErrInvalidToken):
			t.Errorf("%s: Verify = %v, want ErrInvalidToken", c.name, err)
		}
	}
	// A verifier may tighten or widen the leeway.
	v0 := jwtauth.NewStaticVerifier([]persona.SigningKey{k}, issuerURL, jwtauth.Audience)
	v0.Now, v0.Leeway = verifierClock.Now, 0
	if _, err := v0.Verify(context.Background(), issuedAt(start.Add(-jwtauth.AccessTTL-time.Second))); !errors.Is(err, jwtauth.ErrInvalidToken) {
		t.Errorf("Leeway 0, expired 1s ago: Verify = %v, want ErrInvalidToken", err)
	}
}

func claimsFor(now time.Time, iss, aud string) jwtauth.Claims {
	return jwtauth.Claims{
		Email: user.Email, Role: "user", Tier: "founder", Kind: "persona",
		RegisteredClaims: jwt.RegisteredClaims{
			Subject: user.ID, Issuer: iss, Audience: jwt.ClaimStrings{aud},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
		},
	}
}

func signClaims(t *testing.T, m jwt.SigningMethod, key any, kid string, c jwtauth.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestUnknownKidRefetchesOnce(t *testing.T) {
	t.Parallel()
	k1, k2 := mustKey(t), mustKey(t)
	srv := newJWKSServer(t, k1)
	clk := &clock{t: time.Now()}
	v := jwtauth.NewVerifier(srv.URL, issuerURL, jwtauth.Audience, srv.Client())
	v.Now = clk.Now
	ctx := context.Background()
	if _, err := v.Verify(ctx, mustIssue(t, mustIssuer(t, k1, issuerURL, clk))); err != nil {
		t.Fatal(err)
	}
	// The auth service rotates to k2; a token signed with it makes the verifier refetch.
	srv.set(k2, k1)
	clk.Add(jwtauth.DefaultMinRefetch)
	if _, err := v.Verify(ctx, mustIssue(t, mustIssuer(t, k2, issuerURL, clk))); err != nil {
		t.Fatalf("token with the new key: %v", err)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("jwks fetched %d times, want 2", n)
	}
}

func TestUnknownKidFloodIsRateLimited(t *testing.T) {
	t.Parallel()
	k := mustKey(t)
	srv := newJWKSServer(t, k)
	clk := &clock{t: time.Now()}
	v := jwtauth.NewVerifier(srv.URL, issuerURL, jwtauth.Audience, srv.Client())
	v.Now = clk.Now
	ctx := context.Background()
	if _, err := v.Verify(ctx, mustIssue(t, mustIssuer(t, k, issuerURL, clk))); err != nil {
		t.Fatal(err)
	}
	// Past the interval, the first unknown kid may refetch; the other 49 must not.
	clk.Add(jwtauth.DefaultMinRefetch)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			bogus := mustKey(t)
			_, err := v.Verify(ctx, mustIssue(t, mustIssuer(t, bogus, issuerURL, clk)))
			if !errors.Is(err, jwtauth.ErrInvalidToken) {
				t.Errorf("bogus kid: %v, want ErrInvalidToken", err)
			}
		})
	}
	wg.Wait()
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("jwks fetched %d times by the start and the flood, want 2 (rate limit)", n)
	}
	// After the interval one more refetch is allowed.
	clk.Add(jwtauth.DefaultMinRefetch)
	if _, err := v.Verify(ctx, mustIssue(t, mustIssuer(t, mustKey(t), issuerURL, clk))); !errors.Is(err, jwtauth.ErrInvalidToken) {
		t.Fatalf("bogus kid after interval: %v", err)
	}
	if n := srv.hits.Load(); n != 3 {
		t.Fatalf("jwks fetched %d times, want 3", n)
	}
}

func TestStaleCacheSurvivesOutage(t *testing.T) {
	t.Parallel()
	k := mustKey(t)
	srv := newJWKSServer(t, k)
	clk := &clock{t: time.Now()}
	v := jwtauth.NewVerifier(srv.URL, issuerURL, jwtauth.Audience, srv.Client())
	v.Now = clk.Now
	ctx := context.Background()
	if _, err := v.Verify(ctx, mustIssue(t, mustIssuer(t, k, issuerURL, clk))); err != nil {
		t.Fatal(err)
	}
	srv.setDown(true)
	clk.Add(jwtauth.DefaultCacheTTL + time.Second)
	if _, err := v.Verify(ctx, mustIssue(t, mustIssuer(t, k, issuerURL, clk))); err != nil {
		t.Fatalf("stale key during outage: %v", err)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("jwks fetched %d times, want 2 (one refresh attempt)", n)
	}
	// Once the service is back and the key withdrawn, the refreshed cache refuses it.
	srv.setDown(false)
	srv.set(mustKey(t))
	clk.Add(jwtauth.DefaultCacheTTL + time.Second)
	if _, err := v.Verify(ctx, mustIssue(t, mustIssuer(t, k, issuerURL, clk))); !errors.Is(err, jwtauth.ErrInvalidToken) {
		t.Fatalf("withdrawn key: %v, want ErrInvalidToken", err)
	}
}

func TestKeysUnavailable(t *testing.T) {
	t.Parallel()
	k := mustKey(t)
	srv := newJWKSServer(t, k)
	srv.setDown(true)
	v := jwtauth.NewVerifier(srv.URL, issuerURL, jwtauth.Audience, srv.Client())
	_, err := v.Verify(context.Background(), mustIssue(t, mustIssuer(t, k, issuerURL, nil)))
	if !errors.Is(err, jwtauth.ErrKeysUnavailable) || errors.Is(err, jwtauth.ErrInvalidToken) {
		t.Fatalf("Verify with jwks down = %v, want ErrKeysUnavailable", err)
	}
}

func TestJWKSFormat(t *testing.T) {
	t.Parallel()
	k := mustKey(t)
	body, err := jwtauth.JWKS([]persona.SigningKey{k})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 1 {
		t.Fatalf("keys = %v", doc.Keys)
	}
	got := doc.Keys[0]
	want := map[string]string{
		"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": k.ID,
		"x": base64.RawURLEncoding.EncodeToString(k.PublicKey),
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s = %q, want %q", name, got[name], w)
		}
	}
	if _, ok := got["d"]; ok {
		t.Fatal("JWKS leaks the private key")
	}
	// A key stored with only its seed still renders its public half.
	seedOnly := persona.SigningKey{ID: k.ID, Algorithm: "EdDSA", PrivateKey: k.PrivateKey}
	body2, err := jwtauth.JWKS([]persona.SigningKey{seedOnly})
	if err != nil || string(body2) != string(body) {
		t.Fatalf("seed-only JWKS = %s, %v; want %s", body2, err, body)
	}
}

func TestNewIssuerRejectsBadKeys(t *testing.T) {
	t.Parallel()
	k := mustKey(t)
	bad := map[string]persona.SigningKey{
		"no id":      {Algorithm: "EdDSA", PrivateKey: k.PrivateKey},
		"short seed": {ID: "x", Algorithm: "EdDSA", PrivateKey: k.PrivateKey[:10]},
		"other alg":  {ID: "x", Algorithm: "RS256", PrivateKey: k.PrivateKey},
	}
	for name, key := range bad {
		if _, err := jwtauth.NewIssuer(key, issuerURL); err == nil {
			t.Errorf("NewIssuer(%s) succeeded", name)
		}
	}
	if _, err := jwtauth.NewIssuer(k, ""); err == nil {
		t.Error("NewIssuer with empty issuer succeeded")
	}
}
