//go:build !unix

package stdio

import (
	"os"
	"syscall"
)

// Without process groups only the server itself can be ended; what it started may outlive it.
var (
	sigTerm = os.Kill
	sigKill = os.Kill
)

func signalGroup(pid int, sig os.Signal) {
	if p, err := os.FindProcess(pid); err == nil && pid > 0 {
		_ = p.Signal(sig)
	}
}

func groupAttr() *syscall.SysProcAttr { return nil }
