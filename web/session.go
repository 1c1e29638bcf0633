package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// cookieName is the session cookie. A session is signed, not stored: {user, expiry, nonce} and an
// HMAC over it with the server's key, so replicas sharing a key share sessions.
const cookieName = "persona_dashboard"

// sessionTTL is how long a sign-in lasts.
const sessionTTL = 12 * time.Hour

// session is a visitor. User is empty for a visitor who has not signed in (it only carries the
// CSRF token of the sign-in form).
type session struct {
	User    string `json:"u"`
	Expires int64  `json:"e"`
	Nonce   string `json:"n"`
	raw     string
}

type ctxKey struct{}

func sessionOf(r *http.Request) *session {
	s, _ := r.Context().Value(ctxKey{}).(*session)
	return s
}

func (s *Server) sign(payload string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// readSession returns the request's valid, unexpired session, or nil.
func (s *Server) readSession(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	payload, sig, ok := strings.Cut(c.Value, ".")
	if !ok || subtle.ConstantTimeCompare([]byte(sig), []byte(s.sign(payload))) != 1 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil
	}
	var sess session
	if json.Unmarshal(b, &sess) != nil || s.now().Unix() >= sess.Expires {
		return nil
	}
	sess.raw = c.Value
	return &sess
}

// startSession sets a new session cookie for user ("" for an anonymous visitor).
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, user string) *session {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	sess := &session{User: user, Expires: s.now().Add(sessionTTL).Unix(), Nonce: base64.RawURLEncoding.EncodeToString(nonce)}
	b, _ := json.Marshal(sess)
	payload := base64.RawURLEncoding.EncodeToString(b)
	sess.raw = payload + "." + s.sign(payload)
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: sess.raw, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.cfg.SecureCookies || r.TLS != nil, MaxAge: int(sessionTTL / time.Second),
	})
	return sess
}

// csrf is the session's CSRF token: an HMAC of the session cookie, so it changes with every
// session and cannot be made without the key.
func (s *Server) csrf(sess *session) string {
	if sess == nil {
		return ""
	}
	return s.sign("csrf:" + sess.raw)
}

// checkCSRF reports whether the form's token belongs to the request's session.
func (s *Server) checkCSRF(r *http.Request, sess *session) bool {
	got := r.PostFormValue("csrf")
	return sess != nil && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf(sess))) == 1
}

// requireSession admits signed-in visitors; on an open dashboard a visitor without a session
// gets one (as "local"). Others are sent to the sign-in page (GET) or refused.
func (s *Server) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess := s.readSession(r)
		if (sess == nil || sess.User == "") && s.cfg.Open && r.Method == http.MethodGet {
			sess = s.startSession(w, r, "local")
		}
		if sess == nil || sess.User == "" {
			if r.Method == http.MethodGet && r.URL.Path != "/live" {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.fail(w, r, &httpError{status: http.StatusUnauthorized, msg: "Sign in first."})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess)))
	})
}

type loginPage struct {
	Next    string
	Email   string
	Error   string
	Methods string
}

func (s *Server) loginMethods() string {
	switch {
	case s.cfg.Accounts != nil && s.cfg.Password != "":
		return "an admin account of the auth API, or the dashboard password"
	case s.cfg.Accounts != nil:
		return "an admin account of the auth API"
	}
	return "the dashboard password"
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	sess := s.readSession(r)
	if sess == nil {
		sess = s.startSession(w, r, "")
	}
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess))
	s.render(w, r, "login", http.StatusOK, &loginPage{Next: safeNext(r.URL.Query().Get("next")), Methods: s.loginMethods()})
}

// login signs in with an admin account or the dashboard password. It needs the CSRF token of
// the sign-in form (a session made by GET /login), so no other site can sign a visitor in.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	sess := s.readSession(r)
	if !s.checkCSRF(r, sess) {
		s.fail(w, r, &httpError{status: http.StatusForbidden, msg: "The sign-in form expired or did not come from this dashboard; load it again."})
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess))
	email := strings.TrimSpace(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	page := &loginPage{Next: safeNext(r.PostFormValue("next")), Email: email, Methods: s.loginMethods()}
	key := strings.ToLower(email)
	now := s.now()
	if s.fails.locked(key, now) {
		page.Error = "Too many failed sign-ins for this name; try again in 15 minutes."
		s.render(w, r, "login", http.StatusTooManyRequests, page)
		return
	}
	user, err := s.authenticate(r.Context(), email, password)
	if err != nil {
		s.fails.add(key, now)
		if !errors.Is(err, ErrBadCredentials) {
			s.log.Error("dashboard sign-in", "err", err)
		}
		page.Error = "Wrong email or password (or not an admin account)."
		s.render(w, r, "login", http.StatusUnauthorized, page)
		return
	}
	s.fails.reset(key)
	s.startSession(w, r, user)
	http.Redirect(w, r, page.Next, http.StatusSeeOther)
}

func (s *Server) authenticate(ctx context.Context, email, password string) (string, error) {
	if password == "" {
		return "", ErrBadCredentials
	}
	if s.cfg.Password != "" && subtle.ConstantTimeCompare([]byte(password), []byte(s.cfg.Password)) == 1 {
		if email == "" {
			email = "admin"
		}
		return email, nil
	}
	if s.cfg.Accounts != nil && email != "" {
		return s.cfg.Accounts.Authenticate(ctx, email, password)
	}
	return "", ErrBadCredentials
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	sess := s.readSession(r)
	if !s.checkCSRF(r, sess) {
		s.fail(w, r, &httpError{status: http.StatusForbidden, msg: "Missing or wrong CSRF token."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a redirect target on this site: a path, never a URL of another host.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

// control runs an admin action: pause, resume or tick. It needs a session and its CSRF token.
func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	sess := sessionOf(r)
	if !s.checkCSRF(r, sess) {
		s.fail(w, r, &httpError{status: http.StatusForbidden, msg: "Missing or wrong CSRF token: reload the page and try again."})
		return
	}
	c := s.cfg.Controller
	if c == nil {
		s.fail(w, r, &httpError{status: http.StatusNotFound, msg: "This dashboard has no runner to control (it only reads the store)."})
		return
	}
	switch r.PathValue("action") {
	case "pause":
		c.Pause()
		s.log.Info("dashboard: runner paused", "by", sess.User)
	case "resume":
		c.Resume()
		s.log.Info("dashboard: runner resumed", "by", sess.User)
	case "tick":
		if s.live.snapshot().Running {
			s.fail(w, r, &httpError{status: http.StatusConflict, msg: "A tick is already running."})
			return
		}
		c.StartTick()
		s.log.Info("dashboard: tick started", "by", sess.User)
	default:
		s.fail(w, r, &httpError{status: http.StatusNotFound, msg: "Unknown action " + r.PathValue("action") + "."})
		return
	}
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}
