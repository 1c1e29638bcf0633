package app

import (
	"sync"
	"time"

	"github.com/persona-runner/persona-runner/jwtauth"
)

// authCache remembers, for a short while, the two answers every request to /mcp needs: that a
// token verified (an Ed25519 signature check) and that a user is a member of a space (a database
// query). A persona's session sends the same token and space on every call, so both are asked
// again and again with the same answer.
//
// A token is remembered until it expires but at most tokenTTL; a membership for memberTTL, which
// is how long a removed member can keep working in a space. Failures are never remembered. Both
// maps are bounded: when one is full it is emptied (the next requests simply check again).
type authCache struct {
	now       func() time.Time
	tokenTTL  time.Duration
	memberTTL time.Duration
	max       int

	mu      sync.Mutex
	tokens  map[string]cachedToken
	members map[memberKey]time.Time // until when the membership is trusted
}

type cachedToken struct {
	claims *jwtauth.Claims
	until  time.Time
}

type memberKey struct{ space, user string }

func newAuthCache(now func() time.Time, tokenTTL, memberTTL time.Duration, max int) *authCache {
	return &authCache{now: now, tokenTTL: tokenTTL, memberTTL: memberTTL, max: max,
		tokens: map[string]cachedToken{}, members: map[memberKey]time.Time{}}
}

// token returns the claims of a token verified before and not yet expired.
func (c *authCache) token(tok string) (*jwtauth.Claims, bool) {
	if c.tokenTTL <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.tokens[tok]
	if !ok {
		return nil, false
	}
	if !c.now().Before(e.until) {
		delete(c.tokens, tok)
		return nil, false
	}
	return e.claims, true
}

// rememberToken records that tok verified with claims.
func (c *authCache) rememberToken(tok string, claims *jwtauth.Claims) {
	if c.tokenTTL <= 0 || claims.ExpiresAt == nil {
		return
	}
	until := c.now().Add(c.tokenTTL)
	if exp := claims.ExpiresAt.Time; exp.Before(until) {
		until = exp
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.tokens) >= c.max {
		clear(c.tokens)
	}
	c.tokens[tok] = cachedToken{claims: claims, until: until}
}

// member reports whether the user was recently found to be a member of the space.
func (c *authCache) member(space, user string) bool {
	if c.memberTTL <= 0 {
		return false
	}
	k := memberKey{space, user}
	c.mu.Lock()
	defer c.mu.Unlock()
	until, ok := c.members[k]
	if ok && !c.now().Before(until) {
		delete(c.members, k)
		return false
	}
	return ok
}

// rememberMember records that the user is a member of the space.
func (c *authCache) rememberMember(space, user string) {
	if c.memberTTL <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.members) >= c.max {
		clear(c.members)
	}
	c.members[memberKey{space, user}] = c.now().Add(c.memberTTL)
}
