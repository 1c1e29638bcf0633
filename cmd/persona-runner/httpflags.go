package main

import (
	"time"

	"github.com/persona-runner/persona-runner/httpserver"
)

// HTTPFlags are the timeouts and connection cap of a command's HTTP servers (issue 13.5): a
// client that is slow to send its request or to take the response is cut off, and past
// --max-conns new connections wait until one closes. The event streams of authenticated
// sessions (the MCP session's GET stream, the dashboard's live strip) are exempt.
type HTTPFlags struct {
	ReadHeaderTimeout time.Duration `name:"read-header-timeout" default:"5s" placeholder:"D" help:"Time a client has to send a request's headers."`
	ReadTimeout       time.Duration `name:"read-timeout" default:"30s" placeholder:"D" help:"Time a client has to send a whole request, body included."`
	WriteTimeout      time.Duration `name:"write-timeout" default:"60s" placeholder:"D" help:"Time the server has to write a response (event streams of signed-in sessions are exempt)."`
	IdleTimeout       time.Duration `name:"idle-timeout" default:"120s" placeholder:"D" help:"Time a kept-alive connection may wait for its next request."`
	MaxConns          int           `name:"max-conns" default:"4096" placeholder:"N" help:"Most connections served at once per server; more wait until one closes."`
}

// Limits checks the flags and returns them as httpserver.Limits.
func (f HTTPFlags) Limits() (httpserver.Limits, error) {
	l := httpserver.Limits{ReadHeaderTimeout: f.ReadHeaderTimeout, ReadTimeout: f.ReadTimeout,
		WriteTimeout: f.WriteTimeout, IdleTimeout: f.IdleTimeout, MaxConns: f.MaxConns}
	if err := l.Check(); err != nil {
		return l, usageError{err}
	}
	return l, nil
}
