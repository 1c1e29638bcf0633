package authapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/persona-runner/persona-runner/httpjson"
	"github.com/persona-runner/persona-runner/persona"
)

// CompatMana makes a Server answer only what the original Mana auth service (Better Auth behind
// a Hono app) answers, in its shapes, so that our runner's fallbacks can be tested against a real
// server rather than a mock (issues 14 and 16):
//   - no claim, ticks, history, token, admin spaces or admin report routes (404);
//   - GET …/internal/personas/due lists personas without personalSpaceId and timezone;
//   - actions and feedback answer {ok, written: <rows sent>} without duplicates; an action row's
//     id is {tickId}-{index in the batch}-{toolName} whatever its seq; a bad row answers 400 with
//     one message and no field; a non-integer rating is a 500 (the database refuses it);
//   - GET /api/auth/organization/list answers 401 to any Bearer token and 200 only with the
//     signed session cookie that POST /api/auth/sign-in/email sets;
//   - POST /api/v1/auth/refresh ignores its body and refreshes with that cookie (401
//     TOKEN_EXPIRED without it).
const CompatMana = "mana"

// Compat modes New accepts ("" is our full API).
var compatModes = []string{"", CompatMana}

// SessionCookie is the name of the signed session cookie of the Mana compat mode (Better Auth's
// session_token cookie with Mana's "mana" prefix).
const SessionCookie = "mana.session_token"

// PathSignInEmail is Better Auth's email sign-in route (compat mode only).
const PathSignInEmail = "/api/auth/sign-in/email"

// Messages of the compat mode, as the original answers them.
const (
	msgBadActionRows   = "One or more action rows failed validation"
	msgBadFeedbackRows = "One or more feedback rows failed validation"
	codeTokenExpired   = "TOKEN_EXPIRED"
)

func (s *Server) compatRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+PathLogin, s.handleLogin)
	mux.HandleFunc("POST "+PathRefresh, s.handleCookieRefresh)
	mux.HandleFunc("POST "+PathSignInEmail, s.handleSignInEmail)
	mux.HandleFunc("GET "+PathJWKS, s.handleJWKS)
	mux.HandleFunc("GET "+PathOrgList, s.handleCookieOrgList)

	mux.Handle("POST "+PathAdminPersona, s.requireAdmin(s.handleAdminUpsert))
	mux.Handle("GET "+PathAdminPersona, s.requireAdmin(s.handleAdminList))
	mux.Handle("GET "+PathAdminPersona+"/{id}", s.requireAdmin(personaID(s.handleAdminGet)))
	mux.Handle("DELETE "+PathAdminPersona+"/{id}", s.requireAdmin(personaID(s.handleAdminDelete)))

	mux.Handle("GET "+PathInternal+"/due", s.requireServiceKey(s.handleCompatDue))
	mux.Handle("POST "+PathInternal+"/{id}/actions", s.requireServiceKey(personaID(s.handleCompatActions)))
	mux.Handle("POST "+PathInternal+"/{id}/feedback", s.requireServiceKey(personaID(s.handleCompatFeedback)))
}

// CompatDuePersona is a persona of the original's due list: no personalSpaceId, no timezone.
type CompatDuePersona struct {
	UserID       string            `json:"userId"`
	Email        string            `json:"email"`
	Archetype    string            `json:"archetype"`
	SystemPrompt string            `json:"systemPrompt"`
	ModuleMix    persona.ModuleMix `json:"moduleMix"`
	TickCadence  persona.Cadence   `json:"tickCadence"`
	LastActiveAt *time.Time        `json:"lastActiveAt"`
}

// CompatBatchResult is the original's answer to an actions or feedback POST: written is the
// number of rows sent, duplicates or not.
type CompatBatchResult struct {
	OK      bool `json:"ok"`
	Written int  `json:"written"`
}

// SignInResponse is Better Auth's answer to POST /api/auth/sign-in/email.
type SignInResponse struct {
	Redirect bool      `json:"redirect"`
	Token    string    `json:"token"`
	User     LoginUser `json:"user"`
}

func (s *Server) handleCompatDue(w http.ResponseWriter, r *http.Request) {
	due, at, err := s.store.DuePersonas(r.Context(), 0)
	if err != nil {
		s.writeStoreError(w, r, "due personas", err)
		return
	}
	out := make([]CompatDuePersona, len(due))
	for i, p := range due {
		out[i] = CompatDuePersona{
			UserID: p.UserID, Email: p.Email, Archetype: p.Archetype, SystemPrompt: p.SystemPrompt,
			ModuleMix: p.ModuleMix, TickCadence: p.TickCadence, LastActiveAt: p.LastActiveAt,
		}
	}
	httpjson.Write(w, http.StatusOK, struct {
		Personas   []CompatDuePersona `json:"personas"`
		ServerTime time.Time          `json:"serverTime"`
	}{out, at})
}

func (s *Server) handleCompatActions(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	body, derr := readBody(r)
	if derr != nil {
		writeDecodeError(w, derr)
		return
	}
	rows, derr, details := decodeActions(body, id, nil) // the original files tool names as sent
	if derr != nil {
		httpjson.Write(w, http.StatusBadRequest, errorBody{Error: msgInvalidJSON})
		return
	}
	if details != nil {
		httpjson.Write(w, http.StatusBadRequest, errorBody{Error: msgBadActionRows})
		return
	}
	// The original's id is the row's index in the batch, whatever seq says.
	for i := range rows {
		rows[i].Seq = i
		rows[i].ID = persona.ActionID(rows[i].TickID, i, rows[i].ToolName)
	}
	if _, _, err := s.store.InsertActions(r.Context(), id, rows); err != nil {
		s.writeStoreError(w, r, "insert actions", err)
		return
	}
	httpjson.Write(w, http.StatusOK, CompatBatchResult{OK: true, Written: len(rows)})
}

func (s *Server) handleCompatFeedback(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	body, derr := readBody(r)
	if derr != nil {
		writeDecodeError(w, derr)
		return
	}
	// The original accepts any number from 1 to 5, and its smallint column then refuses a
	// fraction: a 500.
	var raw struct {
		Feedback []struct {
			Rating json.RawMessage `json:"rating"`
		} `json:"feedback"`
	}
	if json.Unmarshal(body, &raw) == nil {
		for _, f := range raw.Feedback {
			var n float64
			if json.Unmarshal(f.Rating, &n) == nil && n >= 1 && n <= 5 && n != math.Trunc(n) {
				s.log.ErrorContext(r.Context(), "insert feedback failed", "err", "invalid input syntax for type smallint")
				httpjson.Write(w, http.StatusInternalServerError, errorBody{Error: "Internal Server Error"})
				return
			}
		}
	}
	rows, derr, details := decodeFeedback(body, id)
	if derr != nil {
		httpjson.Write(w, http.StatusBadRequest, errorBody{Error: msgInvalidJSON})
		return
	}
	if details != nil {
		httpjson.Write(w, http.StatusBadRequest, errorBody{Error: msgBadFeedbackRows})
		return
	}
	if _, _, err := s.store.InsertFeedback(r.Context(), id, rows); err != nil {
		s.writeStoreError(w, r, "insert feedback", err)
		return
	}
	httpjson.Write(w, http.StatusOK, CompatBatchResult{OK: true, Written: len(rows)})
}

// handleSignInEmail is Better Auth's email sign-in: the same credential check and lockout as
// login, a new session, and the session token in a signed, HTTP-only cookie.
func (s *Server) handleSignInEmail(w http.ResponseWriter, r *http.Request) {
	u, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	token, sess, ok := s.openSession(w, r, u)
	if !ok {
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: s.signCookie(token), Path: "/",
		Expires: sess.ExpiresAt, MaxAge: int(s.sessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	httpjson.Write(w, http.StatusOK, SignInResponse{Token: token, User: loginUser(u)})
}

// handleCookieRefresh issues a new access token for the session of the signed cookie; the body
// is not read.
func (s *Server) handleCookieRefresh(w http.ResponseWriter, r *http.Request) {
	u, sess, token, err := s.cookieSession(r)
	if err != nil {
		if !errors.Is(err, errNoSession) {
			s.internalAuthError(w, r, "find session", err)
			return
		}
		httpjson.WriteError(w, http.StatusUnauthorized, codeTokenExpired, "Session expired")
		return
	}
	access, _, err := s.issuer.Issue(u, sess.ID)
	if err != nil {
		s.internalAuthError(w, r, "issue token", err)
		return
	}
	httpjson.Write(w, http.StatusOK, RefreshResponse{AccessToken: access, RefreshToken: token})
}

// handleCookieOrgList lists the spaces of the signed cookie's user; a Bearer token, JWT or
// session token, is not a session here.
func (s *Server) handleCookieOrgList(w http.ResponseWriter, r *http.Request) {
	u, _, _, err := s.cookieSession(r)
	if err != nil {
		if !errors.Is(err, errNoSession) {
			s.internalAuthError(w, r, "find session", err)
			return
		}
		httpjson.Write(w, http.StatusUnauthorized, map[string]string{"code": "UNAUTHORIZED", "message": "Unauthorized"})
		return
	}
	spaces, err := s.store.SpacesOfUser(r.Context(), u.ID)
	if err != nil {
		s.writeStoreError(w, r, "list spaces", err)
		return
	}
	httpjson.Write(w, http.StatusOK, spaceList(spaces, string(u.AccessTier)))
}

var errNoSession = errors.New("no live session cookie")

// cookieSession finds the live session and user of the request's signed session cookie.
func (s *Server) cookieSession(r *http.Request) (persona.User, persona.Session, string, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return persona.User{}, persona.Session{}, "", errNoSession
	}
	token, ok := s.verifyCookie(c.Value)
	if !ok {
		return persona.User{}, persona.Session{}, "", errNoSession
	}
	sess, err := s.store.SessionByTokenHash(r.Context(), HashToken(token))
	if errors.Is(err, persona.ErrNotFound) {
		return persona.User{}, persona.Session{}, "", errNoSession
	}
	if err != nil {
		return persona.User{}, persona.Session{}, "", err
	}
	u, err := s.store.User(r.Context(), sess.UserID)
	if errors.Is(err, persona.ErrNotFound) {
		return persona.User{}, persona.Session{}, "", errNoSession
	}
	if err != nil {
		return persona.User{}, persona.Session{}, "", err
	}
	return u, sess, token, nil
}

// signCookie is Better Auth's signed cookie value: the token, a dot and the standard base64 of
// its HMAC-SHA256 (net/http quotes nothing of it: base64 and the token's URL alphabet are safe).
func (s *Server) signCookie(token string) string {
	return token + "." + base64.StdEncoding.EncodeToString(s.cookieMAC(token))
}

func (s *Server) verifyCookie(v string) (string, bool) {
	i := strings.LastIndexByte(v, '.')
	if i <= 0 {
		return "", false
	}
	sig, err := base64.StdEncoding.DecodeString(v[i+1:])
	if err != nil {
		return "", false
	}
	token := v[:i]
	return token, hmac.Equal(sig, s.cookieMAC(token))
}

func (s *Server) cookieMAC(token string) []byte {
	m := hmac.New(sha256.New, s.cookieKey)
	m.Write([]byte(token))
	return m.Sum(nil)
}

// cookieKey derives the cookie-signing secret from the stored signing key, so that every replica
// and a restarted server accept the cookies of the others.
func cookieKey(k persona.SigningKey) []byte {
	m := hmac.New(sha256.New, k.PrivateKey)
	m.Write([]byte("persona-runner mana-compat session cookie"))
	return m.Sum(nil)
}

// isCompatMode reports whether mode is one New accepts.
func isCompatMode(mode string) bool {
	for _, m := range compatModes {
		if m == mode {
			return true
		}
	}
	return false
}
