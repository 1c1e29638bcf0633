package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/persona-runner/persona-runner/httpjson"
	"github.com/persona-runner/persona-runner/jwtauth"
	"github.com/persona-runner/persona-runner/persona"
)

// SpaceHeader names the space a request works in.
const SpaceHeader = "X-Mana-Space"

// Handler serves the app: the MCP endpoint at /mcp (authenticated), GET /health and GET /metrics.
// Every error response is JSON.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	// The verifier (with its own clock) is the one judge of expiry, so the SDK's middleware only
	// carries the identity on and does not check the expiry again against the wall clock.
	passOn := auth.RequireBearerToken(tokenInfoFromContext, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})
	mux.Handle("/mcp", jsonErrors(a.authenticate(a.limitSessions(passOn(a.mcpHTTP)))))
	mux.HandleFunc("GET /health", a.health)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.WriteError(w, http.StatusNotFound, "NOT_FOUND", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

func (a *App) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	body := map[string]any{"status": "ok", "service": "persona-runner-mcp", "server": ServerName, "tools": len(a.Tools())}
	status := http.StatusOK
	if err := a.db.db.PingContext(ctx); err != nil {
		body["status"], body["error"] = "error", "database unreachable"
		status = http.StatusServiceUnavailable
	}
	httpjson.Write(w, status, body)
}

// identity is who a request to /mcp comes from and which space it works in, once checked.
type identity struct {
	userID  string
	spaceID string
}

type identityKey struct{}

// authenticate checks every request to /mcp before MCP sees it: a valid access token (401
// otherwise) and a space the token's user is a member of (403 otherwise). It passes the identity
// on in the request's context.
func (a *App) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reject := func(status int, code, msg string) {
			a.metrics.rejected.WithLabelValues(strconv.Itoa(status)).Inc()
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="mana"`)
			}
			httpjson.WriteError(w, status, code, msg)
		}
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			reject(http.StatusUnauthorized, "UNAUTHORIZED", "an Authorization: Bearer <access token> header is required")
			return
		}
		claims, ok := a.auth.token(token)
		if !ok {
			var err error
			claims, err = a.verifier.Verify(r.Context(), token)
			if err != nil {
				if errors.Is(err, jwtauth.ErrInvalidToken) {
					// The reason, never the token: a wrong issuer or audience is otherwise found
					// only by reading the client's side.
					a.log.WarnContext(r.Context(), "rejected access token", "reason", err.Error(), "remote", r.RemoteAddr)
					reject(http.StatusUnauthorized, "INVALID_TOKEN", err.Error())
					return
				}
				a.log.ErrorContext(r.Context(), "verify access token", "error", err)
				reject(http.StatusServiceUnavailable, "AUTH_UNAVAILABLE", "the access token cannot be checked right now; try again later")
				return
			}
			a.auth.rememberToken(token, claims)
		}
		space := strings.TrimSpace(r.Header.Get(SpaceHeader))
		if space == "" {
			reject(http.StatusForbidden, "SPACE_REQUIRED", "an "+SpaceHeader+" header naming one of your spaces is required")
			return
		}
		// A space id no store can look up alike (PostgreSQL refuses a NUL or invalid UTF-8 where
		// SQLite would search for it) is bad input, refused the same way on both.
		if msg := persona.TextProblem(space); msg != "" {
			httpjson.WriteError(w, http.StatusBadRequest, "INVALID_SPACE", SpaceHeader+": "+msg)
			return
		}
		if !a.auth.member(space, claims.Subject) {
			ok, err := a.cfg.Store.IsMember(r.Context(), space, claims.Subject)
			if err == nil && !ok && a.cfg.TrustIssuerSpaces {
				ok, err = a.issuerSpace(r.Context(), space)
			}
			if err != nil {
				a.log.ErrorContext(r.Context(), "check space membership", "space", space, "user", claims.Subject, "error", err)
				httpjson.WriteError(w, http.StatusInternalServerError, "INTERNAL", "space membership could not be checked")
				return
			}
			if !ok {
				reject(http.StatusForbidden, "FORBIDDEN", fmt.Sprintf("you are not a member of space %q", space))
				return
			}
			a.auth.rememberMember(space, claims.Subject)
		}
		info := &auth.TokenInfo{
			// UserID makes the MCP handler bind a session to the user who opened it and refuse
			// the session to anyone else (403).
			UserID: claims.Subject,
			Extra:  map[string]any{"space": space},
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, info)))
	})
}

// tokenInfoFromContext hands the identity authenticate established to the SDK's bearer-token
// middleware, which puts it where the MCP handler and the tool handlers find it. The token was
// verified already; this only passes it on.
func tokenInfoFromContext(_ context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
	info, ok := r.Context().Value(identityKey{}).(*auth.TokenInfo)
	if !ok {
		return nil, fmt.Errorf("%w: request was not authenticated", auth.ErrInvalidToken)
	}
	return info, nil
}

// identityOf reads the caller of a tool call from the request's token info.
func identityOf(req *mcp.CallToolRequest) (identity, bool) {
	if req.Extra == nil || req.Extra.TokenInfo == nil {
		return identity{}, false
	}
	space, _ := req.Extra.TokenInfo.Extra["space"].(string)
	return identity{userID: req.Extra.TokenInfo.UserID, spaceID: space}, space != ""
}

// jsonErrors turns the SDK's plain-text error responses (http.Error: session not found, session
// user mismatch, bad Accept header …) into the JSON error body, so that every error from /mcp is
// JSON. Successful responses, JSON-RPC errors and event streams pass through untouched.
func jsonErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jw := &jsonErrorWriter{ResponseWriter: w}
		next.ServeHTTP(jw, r)
		jw.finish()
	})
}

type jsonErrorWriter struct {
	http.ResponseWriter
	status    int
	capturing bool
	buf       bytes.Buffer
}

func (w *jsonErrorWriter) WriteHeader(status int) {
	if w.status != 0 {
		return
	}
	w.status = status
	if status >= 400 && strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		w.capturing = true
		return
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *jsonErrorWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.capturing {
		return w.buf.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

// Flush lets event streams through.
func (w *jsonErrorWriter) Flush() {
	if w.capturing {
		return
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *jsonErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *jsonErrorWriter) finish() {
	if !w.capturing {
		return
	}
	w.Header().Del("Content-Length")
	w.Header().Del("X-Content-Type-Options")
	code := strings.ToUpper(strings.ReplaceAll(http.StatusText(w.status), " ", "_"))
	httpjson.WriteError(w.ResponseWriter, w.status, code, strings.TrimSpace(w.buf.String()))
}
