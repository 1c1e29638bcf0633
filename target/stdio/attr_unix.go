//go:build unix && !linux

package stdio

import "syscall"

// groupAttr starts the server as the leader of a new process group, so that signalling the
// group reaches everything it starts.
func groupAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
