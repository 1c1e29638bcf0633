package app

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/persona-runner/persona-runner/httpjson"
	"github.com/persona-runner/persona-runner/httpserver"
)

// Session limits (issue 13.4). One token could open sessions without end (50,000 in 17 s grew
// the app from 71 MB to 965 MB), so the gateway counts them:
//
//   - per user at most MaxSessionsPerUser: a user at the cap who opens another has its least
//     recently used idle session (no request under way) closed to make room; when every one of
//     its sessions is serving a request, the new one is refused with 429 TOO_MANY_SESSIONS.
//     A well-behaved client (the runner: one session per run, ended with DELETE) never meets
//     the cap; a leaking one loses only its own oldest idle sessions.
//   - overall at most MaxSessions: past it a new session is refused with 503 SESSIONS_FULL
//     (another user's session is never closed to make room), until one ends or expires.
//   - per session: the initialize that opens it may be at most initializeBodyLimit bytes (the
//     session keeps its parameters), any other request at most requestBodyLimit.
const (
	DefaultMaxSessionsPerUser = 16
	DefaultMaxSessions        = 4096
	// initializeBodyLimit bounds the request that opens a session: the session keeps the
	// client's initialize parameters for its lifetime.
	initializeBodyLimit = 16 << 10
	// requestBodyLimit bounds any request to /mcp (the SDK's default is 4 MiB): the longest tool
	// input (10,000 characters) fits many times over.
	requestBodyLimit = 512 << 10
	// sessionHeader is the streamable HTTP transport's session id header.
	sessionHeader = "Mcp-Session-Id"
)

// sessionLimits tracks the open MCP sessions by user and enforces the caps. It learns of a session
// in two steps: the initialize request, inside MCP, hands over the *mcp.ServerSession (attach);
// the HTTP request that opened it, once answered, claims it for its user by the session id the
// response carries (settle). A session leaves when it closes for any reason (DELETE, idle
// expiry, eviction, shutdown). Safe for concurrent use.
type sessionLimits struct {
	perUser, total int
	now            func() time.Time

	mu       sync.Mutex
	sessions map[string]*liveSession // by session id, claimed by a user
	users    map[string]*userSessions
	// pending are sessions initialised but not yet claimed by their request.
	pending map[string]*mcp.ServerSession
	// reserved counts the new-session requests under way (they hold a place under both caps).
	reserved int
}

type userSessions struct {
	open     map[string]*liveSession
	reserved int
}

type liveSession struct {
	id, user string
	ss       *mcp.ServerSession
	lastUsed time.Time
	busy     int // requests under way
}

func newSessionLimits(perUser, total int, now func() time.Time) *sessionLimits {
	return &sessionLimits{perUser: perUser, total: total, now: now,
		sessions: map[string]*liveSession{}, users: map[string]*userSessions{}, pending: map[string]*mcp.ServerSession{}}
}

// refusal is why a new session was refused, as the HTTP answer.
type refusal struct {
	status int
	code   string
	msg    string
}

// reserve holds a place for a new session of user. When the user is at its cap, its least
// recently used idle session is taken out (the caller closes it: victim); when it has none idle,
// or the overall cap is reached, the session is refused.
func (l *sessionLimits) reserve(user string) (victim *liveSession, refused *refusal) {
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.users[user]
	if u == nil {
		u = &userSessions{open: map[string]*liveSession{}}
	}
	if l.perUser > 0 && len(u.open)+u.reserved >= l.perUser {
		for _, s := range u.open {
			if s.busy == 0 && (victim == nil || s.lastUsed.Before(victim.lastUsed)) {
				victim = s
			}
		}
		if victim == nil {
			return nil, &refusal{http.StatusTooManyRequests, "TOO_MANY_SESSIONS", fmt.Sprintf(
				"you have %d MCP sessions open or opening (the most one user may have) and none is idle: each is "+
					"serving a request or still opening; end one (DELETE /mcp with its %s) or wait for one to finish before opening another",
				l.perUser, sessionHeader)}
		}
		l.dropLocked(victim)
	}
	// A user that made room by closing its own session does not add to the total.
	if victim == nil && l.total > 0 && len(l.sessions)+len(l.pending)+l.reserved >= l.total {
		return nil, &refusal{http.StatusServiceUnavailable, "SESSIONS_FULL", fmt.Sprintf(
			"the app has %d MCP sessions open, the most it keeps; try again when one has ended", l.total)}
	}
	u.reserved++
	l.users[user] = u
	l.reserved++
	return victim, nil
}

// attach records a session whose initialize request is being served.
func (l *sessionLimits) attach(ss *mcp.ServerSession) {
	id := ss.ID()
	if id == "" {
		return
	}
	l.mu.Lock()
	_, known := l.sessions[id]
	_, waiting := l.pending[id]
	if !known && !waiting {
		l.pending[id] = ss
	}
	l.mu.Unlock()
	if known || waiting {
		return
	}
	go func() {
		_ = ss.Wait()
		l.forget(id)
	}()
}

// settle ends the reservation of a new-session request of user; id is the session id its
// response carries ("" when it opened none). The session, if initialised and still open, is
// counted as the user's from now on.
func (l *sessionLimits) settle(user, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reserved--
	u := l.users[user]
	u.reserved--
	if ss, ok := l.pending[id]; ok && id != "" {
		delete(l.pending, id)
		s := &liveSession{id: id, user: user, ss: ss, lastUsed: l.now()}
		l.sessions[id] = s
		u.open[id] = s
	}
	if len(u.open) == 0 && u.reserved == 0 {
		delete(l.users, user)
	}
}

// forget removes a session that closed.
func (l *sessionLimits) forget(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.pending, id)
	if s, ok := l.sessions[id]; ok {
		l.dropLocked(s)
	}
}

func (l *sessionLimits) dropLocked(s *liveSession) {
	delete(l.sessions, s.id)
	if u := l.users[s.user]; u != nil {
		delete(u.open, s.id)
		if len(u.open) == 0 && u.reserved == 0 {
			delete(l.users, s.user)
		}
	}
}

// begin marks a request of user on session id under way; it returns nil for a session that is
// not user's (the MCP handler answers 404 or 403 to those).
func (l *sessionLimits) begin(user, id string) *liveSession {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sessions[id]
	if s == nil || s.user != user {
		return nil
	}
	s.busy++
	return s
}

// end marks a request on s finished.
func (l *sessionLimits) end(s *liveSession) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.busy--
	s.lastUsed = l.now()
}

// initializeMiddleware hands every session being initialised to the limits.
func (l *sessionLimits) initializeMiddleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if method == "initialize" {
			if ss, ok := req.GetSession().(*mcp.ServerSession); ok {
				l.attach(ss)
			}
		}
		return next(ctx, method, req)
	}
}

// limitSessions applies the session caps to requests to /mcp (after authenticate, which puts the
// user in the context). A POST without a session id opens a session: it needs a place under the
// caps. A request on one of the user's sessions keeps that session busy (not evictable) while it
// is served; a GET on it is the session's event stream, the one response allowed to outlive the
// server's read and write timeouts.
func (a *App) limitSessions(next http.Handler) http.Handler {
	l := a.sessions
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, _ := r.Context().Value(identityKey{}).(*auth.TokenInfo)
		if info == nil {
			next.ServeHTTP(w, r)
			return
		}
		user := info.UserID
		id := r.Header.Get(sessionHeader)
		if id == "" {
			if r.Method != http.MethodPost {
				next.ServeHTTP(w, r) // the MCP handler refuses it
				return
			}
			victim, refused := l.reserve(user)
			if victim != nil {
				_ = victim.ss.Close()
				a.metrics.sessionsEvicted.Inc()
				a.log.InfoContext(r.Context(), "closed the user's least recently used idle MCP session to open a new one",
					"user", user, "session", victim.id, "limit", l.perUser)
			}
			if refused != nil {
				a.metrics.sessionsRefused.WithLabelValues(strconv.Itoa(refused.status)).Inc()
				a.log.WarnContext(r.Context(), "refused a new MCP session", "user", user, "reason", refused.code)
				w.Header().Set("Retry-After", "5")
				httpjson.WriteError(w, refused.status, refused.code, refused.msg)
				return
			}
			opened := ""
			defer func() { l.settle(user, opened) }()
			if r.Body != nil {
				r.Body = http.MaxBytesReader(w, r.Body, initializeBodyLimit)
			}
			next.ServeHTTP(w, r)
			opened = w.Header().Get(sessionHeader)
			return
		}
		s := l.begin(user, id)
		if s == nil {
			next.ServeHTTP(w, r)
			return
		}
		defer l.end(s)
		if r.Method == http.MethodGet {
			httpserver.Stream(w)
		}
		next.ServeHTTP(w, r)
	})
}
