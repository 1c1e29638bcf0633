package app

// WaitSessionsClosed blocks until every MCP session open now has ended (for the idle-timeout
// test, which waits on this signal rather than on a timer).
func WaitSessionsClosed(a *App) {
	for ss := range a.server.Sessions() {
		_ = ss.Wait()
	}
}

// OpenSessions counts the open MCP sessions.
func OpenSessions(a *App) int {
	n := 0
	for range a.server.Sessions() {
		n++
	}
	return n
}
