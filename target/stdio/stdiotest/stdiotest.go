// Package stdiotest inspects processes for tests that prove stdio servers leave no orphans. It
// reads /proc (Linux); elsewhere every process reads as gone, so tests should skip there (see
// Supported).
package stdiotest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Supported reports whether processes can be inspected here.
func Supported() bool {
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}

// stat returns a process's state letter and process group id; ok is false when it is gone.
func stat(pid int) (state byte, pgid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid pgrp …; comm may hold spaces and parentheses, so read after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 3 {
		return 0, 0, false
	}
	pgid, _ = strconv.Atoi(f[2])
	return f[0][0], pgid, true
}

// Alive reports whether pid is a process that can still run: it exists and is not a zombie (a
// zombie has ended; only its exit status waits to be collected).
func Alive(pid int) bool {
	st, _, ok := stat(pid)
	return ok && st != 'Z' && st != 'X'
}

// Group lists the live processes of process group pgid.
func Group(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, g, ok := stat(pid); ok && g == pgid && st != 'Z' && st != 'X' {
			out = append(out, pid)
		}
	}
	return out
}

// WaitGone waits up to d for every process of group pgid to end, polling.
func WaitGone(pgid int, d time.Duration) error {
	end := time.Now().Add(d)
	for {
		left := Group(pgid)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("processes of group %d still alive after %s: %v", pgid, d, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// NodeModulesEnv names the variable that points at the node_modules directory where .ci/run
// installs the reference MCP servers (pinned in .ci/node/package-lock.json).
const NodeModulesEnv = "PERSONA_TEST_NODE_MODULES"

// ReferenceServer returns the command line that starts the npm package pkg (an official
// reference MCP server such as "@modelcontextprotocol/server-everything") with args, run by
// node from the directory NodeModulesEnv names. It skips tb with a clear message when the
// variable is unset (run .ci/run, or `npm ci --prefix .ci/node` and set it), or fails it when CI
// is set too, and fails it when the package is not installed there.
func ReferenceServer(tb testing.TB, pkg string, args ...string) []string {
	tb.Helper()
	dir := os.Getenv(NodeModulesEnv)
	if dir == "" {
		if os.Getenv("CI") != "" {
			tb.Fatalf("CI is set but %s is not: the reference MCP server tests would be skipped (.ci/run sets it)", NodeModulesEnv)
		}
		tb.Skipf("%s is unset: the reference MCP servers are not installed (bash .ci/run installs them; or npm ci --prefix .ci/node and export %s=$PWD/.ci/node/node_modules)", NodeModulesEnv, NodeModulesEnv)
	}
	main := filepath.Join(dir, filepath.FromSlash(pkg), "dist", "index.js")
	if _, err := os.Stat(main); err != nil {
		tb.Fatalf("%s: %s is not installed there: %v", NodeModulesEnv, pkg, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		tb.Fatalf("%s is set but node is not on PATH: %v", NodeModulesEnv, err)
	}
	return append([]string{node, main}, args...)
}

// Marked lists the live processes (not this one) whose command line or environment holds
// mark: a test puts a unique mark in a server's arguments or env and looks for it afterwards to
// prove no process of it outlived the run, whichever process group it ended up in.
func Marked(mark string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || !Alive(pid) {
			continue
		}
		for _, f := range []string{"cmdline", "environ"} {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), f))
			if err == nil && strings.Contains(string(b), mark) {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// WaitUnmarked waits up to d until no live process holds mark (see Marked).
func WaitUnmarked(mark string, d time.Duration) error {
	end := time.Now().Add(d)
	for {
		left := Marked(mark)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("processes marked %q still alive after %s: %v", mark, d, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
