//go:build unix

package command

import (
	"os/exec"
	"syscall"
)

// setProcessGroup starts the command as the leader of its own process group and makes its
// cancellation (the timeout) kill the whole group: a script's children die with it.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
