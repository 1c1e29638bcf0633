package stdio

import "syscall"

// groupAttr starts the server as the leader of a new process group, so that signalling the
// group reaches everything it starts. Pdeathsig kills the server should the runner itself die
// without a chance to close it (SIGKILL, a crash).
func groupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
