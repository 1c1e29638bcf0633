package main

import (
	"net/url"
	"strings"
	"testing"

	"github.com/persona-runner/persona-runner/store/postgres/pgtest"
)

// TestUpNeverPrintsTheDatabasePassword runs up on PostgreSQL with a password in the store's URL,
// given as --db, as DATABASE_URL and as an unreachable server: nothing up prints, on stdout or
// stderr, carries the password (issue 13.11: the store line, the next: hint, errors).
func TestUpNeverPrintsTheDatabasePassword(t *testing.T) {
	t.Parallel()
	const password = "Pa55w0rd-never-printed"
	u, err := url.Parse(pgtest.DSN(t)) // the test server trusts any password
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), password)
	dsn := u.String()
	unreachable := "postgres://postgres:" + password + "@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"
	args := []string{"up", "--once", "--auth-addr", "127.0.0.1:0", "--mcp-addr", "127.0.0.1:0",
		"--runner-addr", "127.0.0.1:0", "--provider", "sim", "--seed", "1", "--start-time", upStart}
	for _, tt := range []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int    // -1: any failure
		want     string // in stdout
	}{
		{"--db", nil, append(args, "--db", dsn), 0, "next: persona-runner report --db "},
		{"DATABASE_URL", map[string]string{"DATABASE_URL": dsn}, args, 0, "next: persona-runner report"},
		{"unreachable", nil, append(args, "--db", unreachable), -1, ""},
	} {
		code, out, errOut := run(t, tt.env, tt.args...)
		if (code != tt.wantCode && (tt.wantCode >= 0 || code == 0)) || !strings.Contains(out, tt.want) {
			t.Errorf("%s: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", tt.name, code, tt.wantCode, out, errOut)
		}
		if strings.Contains(out+errOut, password) {
			t.Errorf("%s: the output carries the database password:\nstdout:\n%s\nstderr:\n%s", tt.name, out, errOut)
		}
	}
}
