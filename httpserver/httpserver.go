// Package httpserver builds the HTTP servers of every component (auth API, MCP gateway, runner,
// dashboard) with the same defences against slow and stalled clients (issue 13.5): a deadline to
// send the headers, to send the whole request, to take the response and between requests on a
// kept-alive connection, and a cap on the connections served at once. A long-lived event stream
// of an authenticated session is the one exception (Stream).
package httpserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/net/netutil"
)

// Limits are a server's timeouts and connection cap.
type Limits struct {
	// ReadHeaderTimeout is how long a client has to send a request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout is how long a client has to send a whole request, headers and body: a client
	// that sends half a body is cut off when it passes.
	ReadTimeout time.Duration
	// WriteTimeout is how long the server may take to write a response, from the end of the
	// request's headers.
	WriteTimeout time.Duration
	// IdleTimeout is how long a kept-alive connection may wait for its next request.
	IdleTimeout time.Duration
	// MaxConns is the most connections served at once; more wait to be accepted until one
	// closes (0: no cap).
	MaxConns int
}

// Default values of Limits.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxConns          = 4096
	// maxHeaderBytes bounds a request's headers (the standard library's default is 1 MiB).
	maxHeaderBytes = 64 << 10
)

// Defaults are the limits every server starts from.
func Defaults() Limits {
	return Limits{DefaultReadHeaderTimeout, DefaultReadTimeout, DefaultWriteTimeout, DefaultIdleTimeout, DefaultMaxConns}
}

// Check reports every limit that is not positive, each by the flag that sets it.
func (l Limits) Check() error {
	var bad []string
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--read-header-timeout", l.ReadHeaderTimeout}, {"--read-timeout", l.ReadTimeout},
		{"--write-timeout", l.WriteTimeout}, {"--idle-timeout", l.IdleTimeout}} {
		if d.v <= 0 {
			bad = append(bad, fmt.Sprintf("%s must be positive (got %s)", d.flag, d.v))
		}
	}
	if l.MaxConns < 1 {
		bad = append(bad, fmt.Sprintf("--max-conns must be at least 1 (got %d)", l.MaxConns))
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// New wraps h in an http.Server with the timeouts of l. Serve it on Listen's listener, which
// applies the connection cap. Errors of the server itself (a timed-out TLS handshake, a
// malformed request) go to log at WARN.
func New(h http.Handler, l Limits, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Limit caps the connections ln hands out at once at l.MaxConns (none when 0): past it, Accept
// waits until a served connection closes, and the newcomers wait in the kernel's backlog.
func Limit(ln net.Listener, l Limits) net.Listener {
	if l.MaxConns <= 0 {
		return ln
	}
	return netutil.LimitListener(ln, l.MaxConns)
}

// Stream lifts the read and write deadlines of w's connection for a long-lived response (an
// event stream) that an authenticated caller asked for; the server's timeouts are meant for
// ordinary requests. The read deadline matters as much as the write one: once it passes, the
// server's background read of the connection fails and cancels the request's context.
func Stream(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
}
