package authapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/persona-runner/persona-runner/httpjson"
	"github.com/persona-runner/persona-runner/jwtauth"
	"github.com/persona-runner/persona-runner/persona"
)

type ctxKey int

const (
	ctxRequestID ctxKey = iota
	ctxClaims
)

// HeaderRequestID carries the request id in and out.
const HeaderRequestID = "X-Request-Id"

// HeaderServiceKey carries the service key of internal requests.
const HeaderServiceKey = httpjson.HeaderServiceKey

// RequestID returns the id of the request ctx belongs to ("" outside a request).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxRequestID).(string)
	return id
}

// claimsOf returns the verified token claims of an authenticated request.
func claimsOf(ctx context.Context) *jwtauth.Claims {
	c, _ := ctx.Value(ctxClaims).(*jwtauth.Claims)
	return c
}

// requestID takes a caller's X-Request-Id when it is sane (so one id follows a call across
// services) or makes one, and echoes it in the response.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderRequestID)
		if !saneID(id) {
			var b [12]byte
			rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set(HeaderRequestID, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxRequestID, id)))
	})
}

// saneID accepts ids of 1–128 visible ASCII characters, so a caller cannot inject log lines.
func saneID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// statusWriter remembers the status and size of a response for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog writes one structured line per request. It logs the path but never headers or
// bodies: they carry passwords, tokens and the service key.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.log.LogAttrs(r.Context(), levelFor(sw.status), "http request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Int("bytes", sw.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr),
		)
	})
}

// levelFor logs server errors as errors and everything else as info.
func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}

// recoverPanics turns a panicking handler into a logged 500 instead of a dropped connection.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.ErrorContext(r.Context(), "handler panic",
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			writeError(w, http.StatusInternalServerError, "Internal Server Error", "")
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody caps every request body; reading past the cap fails with *http.MaxBytesError, which
// the decoders answer with 413 in the error shape of their route (login's differs), so a large
// Content-Length is not refused here up front.
func limitBody(next http.Handler, n int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, n)
		next.ServeHTTP(w, r)
	})
}

// jsonFallback answers unknown paths and wrong methods with JSON, as every endpoint must; the
// mux itself would answer in plain text.
func jsonFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			// Through the mux, not h: only the mux sets the request's path values.
			mux.ServeHTTP(w, r)
			return
		}
		// Let the mux decide between 404, 405 (with its Allow header) and redirects, then
		// replace its text body.
		cw := &captureWriter{header: http.Header{}}
		h.ServeHTTP(cw, r)
		for k, v := range cw.header {
			if k == "Content-Type" || k == "X-Content-Type-Options" || k == "Content-Length" {
				continue
			}
			w.Header()[k] = v
		}
		switch status := cw.status; {
		case status == http.StatusMethodNotAllowed:
			writeError(w, status, "Method Not Allowed", r.Method+" is not allowed on "+r.URL.Path)
		case status >= 300 && status < 400:
			writeError(w, status, "Redirect", "see Location")
		default:
			writeError(w, http.StatusNotFound, "Not Found", "no route for "+r.Method+" "+r.URL.Path)
		}
	})
}

type captureWriter struct {
	header http.Header
	status int
}

func (c *captureWriter) Header() http.Header { return c.header }
func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}
func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return len(b), nil
}

// requireServiceKey gates internal routes with the service key (httpjson.ServiceKey).
func (s *Server) requireServiceKey(next http.HandlerFunc) http.Handler {
	return httpjson.ServiceKey(string(s.serviceKey))(next)
}

// requireUser accepts a request with a valid Bearer access token and puts its claims into the
// request context.
func (s *Server) requireUser(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := bearer(r)
		if tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mana"`)
			writeError(w, http.StatusUnauthorized, codeUnauthorized, "missing Authorization: Bearer token")
			return
		}
		c, err := s.verifier.Verify(r.Context(), tok)
		if err != nil {
			if !errors.Is(err, jwtauth.ErrInvalidToken) {
				s.log.ErrorContext(r.Context(), "verify token", "err", err)
				writeError(w, http.StatusInternalServerError, "Internal Server Error", "")
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="mana", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, codeUnauthorized, "invalid or expired token")
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), ctxClaims, c)))
	})
}

// requireAdmin is requireUser plus role=admin (403 otherwise).
func (s *Server) requireAdmin(next http.HandlerFunc) http.Handler {
	return s.requireUser(func(w http.ResponseWriter, r *http.Request) {
		if c := claimsOf(r.Context()); c == nil || c.Role != "admin" {
			writeError(w, http.StatusForbidden, codeForbidden, "admin role required")
			return
		}
		next(w, r)
	})
}

// requestIDHandler adds the request id of the record's context to every log line, so error
// lines can be matched with their access-log line without each call site remembering it.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id := RequestID(ctx); id != "" {
		rec.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, rec)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// personaID refuses a route's {id} that no store can look up alike — a NUL or invalid UTF-8,
// which PostgreSQL cannot compare and SQLite would look for — with a 400 naming the field, before
// the handler reaches the store.
func personaID(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if msg := persona.TextProblem(r.PathValue("id")); msg != "" {
			writeValidation(w, []FieldDetail{{Field: "id", Message: msg}})
			return
		}
		next(w, r)
	}
}
