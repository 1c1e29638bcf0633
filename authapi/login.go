package authapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/persona-runner/persona-runner/httpjson"
	"github.com/persona-runner/persona-runner/jwtauth"
	"github.com/persona-runner/persona-runner/persona"
)

// HashToken is how a session token is stored: hex SHA-256. The token itself has 256 random bits,
// so a fast hash is enough and a database leak reveals no usable token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func newSessionToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate session token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// handleLogin checks credentials, applies the lockout rule and opens a session. A wrong password
// and an unknown email give the same answer after the same bcrypt work, and both count towards
// the lockout of that email.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	u, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	token, sess, ok := s.openSession(w, r, u)
	if !ok {
		return
	}
	access, _, err := s.issuer.Issue(u, sess.ID)
	if err != nil {
		s.internalAuthError(w, r, "issue token", err)
		return
	}
	httpjson.Write(w, http.StatusOK, LoginResponse{
		Token: token, AccessToken: access, RefreshToken: token,
		User: loginUser(u),
	})
}

func loginUser(u persona.User) LoginUser {
	return LoginUser{
		ID: u.ID, Email: u.Email, Name: u.Name, Kind: string(u.Kind), AccessTier: string(u.AccessTier),
		Role: string(u.Role), EmailVerified: u.EmailVerified,
	}
}

// authenticate reads {email,password} and checks them under the lockout rule; on failure it has
// answered already.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (persona.User, bool) {
	ctx := r.Context()
	var req LoginRequest
	if derr := decodeBody(r, &req, false); derr != nil {
		writeAuthDecodeError(w, derr)
		return persona.User{}, false
	}
	if req.Email == "" || req.Password == "" {
		httpjson.WriteError(w, http.StatusBadRequest, codeValidation, "email and password are required")
		return persona.User{}, false
	}
	if len(req.Email) > 320 || len(req.Password) > 1024 {
		httpjson.WriteError(w, http.StatusBadRequest, codeValidation, "email or password is too long")
		return persona.User{}, false
	}
	// Text no store can compare alike (PostgreSQL refuses a NUL) is refused here, on every store.
	if msg := persona.TextProblem(req.Email); msg != "" {
		httpjson.WriteError(w, http.StatusBadRequest, codeValidation, "email: "+msg)
		return persona.User{}, false
	}
	// The lock check, the password comparison and the counting of a failure are one step per
	// email: otherwise parallel attempts all pass the check before the first failure is counted,
	// and far more guesses than the limit are evaluated.
	unlock, err := s.loginLocks.lock(ctx, req.Email)
	if err != nil {
		// The client gave up while waiting for an earlier attempt on the same email.
		httpjson.WriteError(w, http.StatusServiceUnavailable, codeInternal, "Login was cancelled")
		return persona.User{}, false
	}
	defer unlock()
	until, err := s.store.LoginLockedUntil(ctx, req.Email)
	if err != nil {
		s.internalAuthError(w, r, "check login lock", err)
		return persona.User{}, false
	}
	if s.locked(w, until) {
		return persona.User{}, false
	}
	u, err := s.store.UserByEmail(ctx, req.Email)
	ok := false
	switch {
	case err == nil:
		ok = persona.CheckPassword(u.PasswordHash, req.Password)
	case errors.Is(err, persona.ErrNotFound):
		persona.CheckPassword(s.dummyHash, req.Password)
	default:
		s.internalAuthError(w, r, "find user", err)
		return persona.User{}, false
	}
	if !ok {
		until, err := s.store.RecordLoginFailure(ctx, req.Email, s.lockout)
		if err != nil {
			s.internalAuthError(w, r, "record login failure", err)
			return persona.User{}, false
		}
		// The failure that reaches the limit answers 429 at once, so the client learns about the
		// lock without one more attempt.
		if s.locked(w, until) {
			return persona.User{}, false
		}
		httpjson.WriteError(w, http.StatusUnauthorized, codeInvalidCredentials, "Invalid email or password")
		return persona.User{}, false
	}
	if err := s.store.ResetLoginFailures(ctx, req.Email); err != nil {
		s.internalAuthError(w, r, "reset login failures", err)
		return persona.User{}, false
	}
	return u, true
}

// openSession stores a new session of u and returns its token; on failure it has answered.
func (s *Server) openSession(w http.ResponseWriter, r *http.Request, u persona.User) (string, persona.Session, bool) {
	token, err := newSessionToken()
	if err != nil {
		s.internalAuthError(w, r, "login", err)
		return "", persona.Session{}, false
	}
	now := s.now().UTC()
	sess := persona.Session{
		ID: uuid.NewString(), UserID: u.ID, TokenHash: HashToken(token),
		ExpiresAt: now.Add(s.sessionTTL), CreatedAt: now,
	}
	if err := s.store.CreateSession(r.Context(), sess); err != nil {
		s.internalAuthError(w, r, "create session", err)
		return "", persona.Session{}, false
	}
	return token, sess, true
}

// locked answers 429 when until lies in the future.
func (s *Server) locked(w http.ResponseWriter, until time.Time) bool {
	if until.IsZero() {
		return false
	}
	left := until.Sub(s.now())
	if left <= 0 {
		return false
	}
	sec := int(math.Ceil(left.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(sec))
	httpjson.Write(w, http.StatusTooManyRequests, httpjson.Error{
		Error: codeAccountLocked, Status: http.StatusTooManyRequests, RetryAfterSec: sec,
		Message: fmt.Sprintf("Too many failed logins; try again in %d seconds", sec),
	})
	return true
}

func (s *Server) internalAuthError(w http.ResponseWriter, r *http.Request, op string, err error) {
	if r.Context().Err() == nil {
		s.log.ErrorContext(r.Context(), op+" failed", "err", err)
	}
	httpjson.WriteError(w, http.StatusInternalServerError, codeInternal, "Internal error")
}

// handleRefresh trades a live session token for a new access token. The session token stays the
// same until it expires, so concurrent refreshes from one runner cannot invalidate each other.
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req RefreshRequest
	if derr := decodeBody(r, &req, false); derr != nil {
		writeAuthDecodeError(w, derr)
		return
	}
	if req.RefreshToken == "" {
		httpjson.WriteError(w, http.StatusBadRequest, codeValidation, "refreshToken is required")
		return
	}
	sess, err := s.store.SessionByTokenHash(ctx, HashToken(req.RefreshToken))
	if errors.Is(err, persona.ErrNotFound) {
		httpjson.WriteError(w, http.StatusUnauthorized, codeInvalidRefreshToken, "Refresh token is invalid or expired")
		return
	}
	if err != nil {
		s.internalAuthError(w, r, "find session", err)
		return
	}
	u, err := s.store.User(ctx, sess.UserID)
	if errors.Is(err, persona.ErrNotFound) {
		httpjson.WriteError(w, http.StatusUnauthorized, codeInvalidRefreshToken, "Refresh token is invalid or expired")
		return
	}
	if err != nil {
		s.internalAuthError(w, r, "find user", err)
		return
	}
	access, _, err := s.issuer.Issue(u, sess.ID)
	if err != nil {
		s.internalAuthError(w, r, "issue token", err)
		return
	}
	httpjson.Write(w, http.StatusOK, RefreshResponse{AccessToken: access, RefreshToken: req.RefreshToken})
}

// handleJWKS publishes the public keys. Every stored key is listed (newest first), so tokens of
// an older key stay verifiable elsewhere while they live.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	body, err := jwtauth.JWKS(s.keys)
	if err != nil {
		s.log.ErrorContext(r.Context(), "render jwks", "err", err)
		writeError(w, http.StatusInternalServerError, "Internal Server Error", "")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(body)
}

// handleOrgList lists the caller's spaces in Mana's organization shape.
func (s *Server) handleOrgList(w http.ResponseWriter, r *http.Request) {
	c := claimsOf(r.Context())
	spaces, err := s.store.SpacesOfUser(r.Context(), c.Subject)
	if err != nil {
		s.writeStoreError(w, r, "list spaces", err)
		return
	}
	httpjson.Write(w, http.StatusOK, spaceList(spaces, c.Tier))
}

func spaceList(spaces []persona.Space, tier string) []Space {
	out := make([]Space, len(spaces))
	for i, sp := range spaces {
		out[i] = Space{
			ID: sp.ID, Name: sp.Name, Slug: sp.Slug, Logo: nil,
			Metadata:  SpaceMetadata{Type: string(sp.Type), Tier: tier},
			CreatedAt: sp.CreatedAt,
		}
	}
	return out
}

// emailLocks serialises the login attempts of each email within this process. An entry lives
// only while attempts on its email are running or waiting, so the map stays as small as the
// number of emails being tried at once. Replicas each serialise their own attempts: with R
// replicas at most R-1 attempts beyond the limit can be evaluated.
type emailLocks struct {
	mu sync.Mutex
	m  map[string]*emailLock
}

type emailLock struct {
	sem  chan struct{} // holds one token while an attempt runs
	refs int           // attempts running or waiting
}

// lock waits for the email's turn (or ctx's end) and returns the function that ends it.
func (l *emailLocks) lock(ctx context.Context, email string) (func(), error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*emailLock{}
	}
	e := l.m[email]
	if e == nil {
		e = &emailLock{sem: make(chan struct{}, 1)}
		l.m[email] = e
	}
	e.refs++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(l.m, email)
		}
		l.mu.Unlock()
	}
	select {
	case e.sem <- struct{}{}:
		return func() { <-e.sem; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
