// Package jwtauth issues and verifies the access tokens of the auth API (SPEC §4): EdDSA (Ed25519)
// JWTs that live 15 minutes, with iss = the auth service's public base URL, aud = "mana" and the
// claims sub, email, role, tier, kind and sid. The public keys are published as a JWKS (RFC 8037
// OKP keys); a Verifier fetches and caches that JWKS so other services (the MCP gateway, the
// runner) can check tokens without sharing a secret. Verification tolerates DefaultLeeway (30 s)
// of clock skew on exp, nbf and iat.
package jwtauth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/persona-runner/persona-runner/persona"
)

// Audience is the aud claim of every access token (Mana's value).
const Audience = "mana"

// Algorithm is the only JWS algorithm issued and accepted.
const Algorithm = "EdDSA"

// AccessTTL is the lifetime of an access token.
const AccessTTL = 15 * time.Minute

// ErrInvalidToken is returned (wrapped, with the reason) for a token that must be refused:
// malformed, wrongly signed, expired, for another audience or issuer, or signed by an unknown key.
// The HTTP layer maps it to 401.
var ErrInvalidToken = errors.New("invalid token")

// ErrKeysUnavailable is returned when no key could be obtained to check a token at all (the JWKS
// endpoint is unreachable and nothing is cached). It is a server-side problem, not the caller's.
var ErrKeysUnavailable = errors.New("signing keys unavailable")

// Claims are the claims of an access token. Subject is the user id.
type Claims struct {
	Email     string `json:"email"`
	Role      string `json:"role"`
	Tier      string `json:"tier"`
	Kind      string `json:"kind"`
	SessionID string `json:"sid,omitempty"`
	jwt.RegisteredClaims
}

// NewKey generates a fresh Ed25519 signing key. Its id is the RFC 7638 thumbprint of the public
// key, so the same key always has the same kid.
func NewKey() (persona.SigningKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return persona.SigningKey{}, fmt.Errorf("generate signing key: %w", err)
	}
	return persona.SigningKey{
		ID:         Thumbprint(pub),
		Algorithm:  Algorithm,
		PrivateKey: priv.Seed(),
		PublicKey:  []byte(pub),
		CreatedAt:  time.Now().UTC(),
	}, nil
}

// Thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 public key (base64url, no padding).
func Thumbprint(pub ed25519.PublicKey) string {
	// RFC 7638 hashes the required members in lexicographic order without whitespace.
	canon := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Issuer signs access tokens with one key for one issuer URL.
type Issuer struct {
	kid    string
	key    ed25519.PrivateKey
	issuer string

	// TTL is the token lifetime (AccessTTL unless changed before use).
	TTL time.Duration
	// Now is the clock (time.Now unless changed before use); tests move it.
	Now func() time.Time
}

// NewIssuer returns an Issuer signing with key for the issuer URL (the auth public base URL).
func NewIssuer(key persona.SigningKey, issuer string) (*Issuer, error) {
	if key.ID == "" {
		return nil, errors.New("new issuer: signing key has no id")
	}
	if key.Algorithm != "" && key.Algorithm != Algorithm {
		return nil, fmt.Errorf("new issuer: signing key %s has algorithm %q, want %s", key.ID, key.Algorithm, Algorithm)
	}
	if len(key.PrivateKey) != ed25519.SeedSize {
		return nil, fmt.Errorf("new issuer: signing key %s: private key is %d bytes, want a %d-byte seed", key.ID, len(key.PrivateKey), ed25519.SeedSize)
	}
	if issuer == "" {
		return nil, errors.New("new issuer: issuer URL is empty")
	}
	return &Issuer{
		kid:    key.ID,
		key:    ed25519.NewKeyFromSeed(key.PrivateKey),
		issuer: issuer,
		TTL:    AccessTTL,
		Now:    time.Now,
	}, nil
}

// IssuerURL returns the iss claim this issuer writes.
func (i *Issuer) IssuerURL() string { return i.issuer }

// KeyID returns the kid this issuer writes into the header.
func (i *Issuer) KeyID() string { return i.kid }

// Issue signs an access token for user u within session sessionID (may be empty for tokens that
// belong to no session, such as `admin token`). It returns the token and its expiry.
func (i *Issuer) Issue(u persona.User, sessionID string) (string, time.Time, error) {
	now := i.Now().UTC().Truncate(time.Second)
	exp := now.Add(i.TTL)
	c := Claims{
		Email:     u.Email,
		Role:      string(u.Role),
		Tier:      string(u.AccessTier),
		Kind:      string(u.Kind),
		SessionID: sessionID,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   u.ID,
			Issuer:    i.issuer,
			Audience:  jwt.ClaimStrings{Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = i.kid
	s, err := tok.SignedString(i.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign access token for %s: %w", u.Email, err)
	}
	return s, exp, nil
}

// JWK is one public key of a JWKS (RFC 8037 octet key pair).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKSDocument is the body of the JWKS endpoint.
type JWKSDocument struct {
	Keys []JWK `json:"keys"`
}

// JWKS renders the public halves of keys as a JWKS document, in the given order.
func JWKS(keys []persona.SigningKey) ([]byte, error) {
	doc := JWKSDocument{Keys: make([]JWK, 0, len(keys))}
	for _, k := range keys {
		pub, err := publicKey(k)
		if err != nil {
			return nil, fmt.Errorf("render jwks: %w", err)
		}
		doc.Keys = append(doc.Keys, JWK{
			Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub),
			Kid: k.ID, Alg: Algorithm, Use: "sig",
		})
	}
	return json.Marshal(doc)
}

// publicKey returns the public key of k, deriving it from the seed when only that is stored.
func publicKey(k persona.SigningKey) (ed25519.PublicKey, error) {
	if k.Algorithm != "" && k.Algorithm != Algorithm {
		return nil, fmt.Errorf("key %s has algorithm %q, want %s", k.ID, k.Algorithm, Algorithm)
	}
	switch {
	case len(k.PublicKey) == ed25519.PublicKeySize:
		return ed25519.PublicKey(k.PublicKey), nil
	case len(k.PrivateKey) == ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(k.PrivateKey).Public().(ed25519.PublicKey), nil
	}
	return nil, fmt.Errorf("key %s has no usable Ed25519 public key", k.ID)
}

// parseJWKS reads the Ed25519 keys of a JWKS document by kid, ignoring keys of other types
// (a JWKS may legitimately carry RSA or EC keys we do not accept).
func parseJWKS(body []byte) (map[string]ed25519.PublicKey, error) {
	var doc JWKSDocument
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decode jwks: %w", err)
	}
	keys := make(map[string]ed25519.PublicKey, len(doc.Keys))
	for _, k := range doc.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Kid == "" {
			continue
		}
		if k.Alg != "" && k.Alg != Algorithm {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			continue
		}
		keys[k.Kid] = ed25519.PublicKey(x)
	}
	return keys, nil
}
