//go:build !unix

package sqlitelock

import (
	"errors"
	"os"
)

// Without flock(2) the lock is the lock file's own creation: tryLock opens f's name anew with
// O_EXCL beside the handle Lock opened, and unlock removes it. A process killed while migrating
// leaves the file behind; the next start then waits until its context ends, naming the file.
func tryLock(f *os.File) (bool, error) {
	g, err := os.OpenFile(f.Name()+".held", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, g.Close()
}

func unlock(f *os.File) error { return os.Remove(f.Name() + ".held") }
