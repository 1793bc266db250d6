// Package dirlock keeps two processes from using one data folder at once:
// an exclusive advisory lock (flock(2)) on a file in the folder, held for
// as long as the process holds the Lock. The operating system releases it
// when the process ends, however it ends, so a crash leaves no stale lock.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// File is the lock file's name in the folder.
const File = "lock"

// ErrLocked is wrapped by TryLock's error when another open of the lock
// file (another process, as a rule) holds it.
var ErrLocked = errors.New("the folder is in use by another process")

// Lock is a held lock on a folder.
type Lock struct {
	f *os.File
}

// TryLock takes the lock on dir (creating dir if needed), or fails at once
// with an error wrapping ErrLocked that names the holder's process id.
func TryLock(dir string) (*Lock, error) {
	return lock(dir, false)
}

// Wait takes the lock on dir, waiting for any other holder to release it.
func Wait(dir string) (*Lock, error) {
	return lock(dir, true)
}

func lock(dir string, wait bool) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, File)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	held, err := flock(f, wait)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("failed to lock %s: %w", dir, err)
	}
	if held {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		who := "another process"
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n]))); err == nil && pid > 0 {
			who = fmt.Sprintf("process %d", pid)
		}
		return nil, fmt.Errorf("%w: %s holds %s", ErrLocked, who, path)
	}
	// The holder's process id, for the message above; only informative.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unflock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
