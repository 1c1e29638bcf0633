package main

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/runner"
	"github.com/persona-runner/persona-runner/web"
)

// storeAccounts signs admins in to the dashboard with the auth API's accounts, read from the
// store: a live account of role admin that is not a persona, with its password.
type storeAccounts struct {
	db interface {
		UserByEmail(ctx context.Context, email string) (persona.User, error)
	}
}

// dummyHash is compared against when the email is unknown, so that an unknown account costs the
// same bcrypt work as a wrong password (SPEC §4's login does the same).
const dummyHash = "$2a$10$hXG5l7OInsdIPn.J8OmuUOHg9AgOW7cZsHzzOk7/s3dmckKzrMQZC"

func (a storeAccounts) Authenticate(ctx context.Context, email, password string) (string, error) {
	u, err := a.db.UserByEmail(ctx, strings.TrimSpace(email))
	if errors.Is(err, persona.ErrNotFound) {
		persona.CheckPassword(dummyHash, password)
		return "", web.ErrBadCredentials
	}
	if err != nil {
		return "", err
	}
	if !persona.CheckPassword(u.PasswordHash, password) || u.Role != persona.RoleAdmin || u.Kind == persona.KindPersona {
		return "", web.ErrBadCredentials
	}
	return u.Email, nil
}

// runnerControl gives the dashboard's admin controls the in-process runner.
type runnerControl struct {
	ctx context.Context
	run *runner.Runner
}

func (c runnerControl) Pause()       { c.run.Pause() }
func (c runnerControl) Resume()      { c.run.Resume() }
func (c runnerControl) Paused() bool { return c.run.Paused() }

// StartTick runs a tick in the background; one already running makes it a no-op (the runner
// skips overlapping ticks and counts them).
func (c runnerControl) StartTick() {
	go func() { _, _ = c.run.Tick(c.ctx) }()
}

// dashboardEvent turns a runner event into the dashboard's (false for kinds it does not show).
func dashboardEvent(e runner.Event, due int) (web.Event, bool) {
	switch e.Kind {
	case runner.TickStarted:
		return web.Event{Kind: web.TickStarted, Due: due}, true
	case runner.RunFinished:
		return web.Event{Kind: web.RunFinished, Email: e.Email, Status: string(e.Status), ToolCalls: e.ToolCalls, Errors: e.Errors}, true
	case runner.TickFinished:
		return web.Event{Kind: web.TickFinished}, true
	}
	return web.Event{}, false
}

// isLoopback reports whether a listener's address is on loopback, where the dashboard is open.
func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP != nil && tcp.IP.IsLoopback()
}
