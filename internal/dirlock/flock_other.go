//go:build !unix

package dirlock

import (
	"errors"
	"os"
)

func flock(f *os.File, wait bool) (bool, error) {
	return false, errors.New("locking a folder needs a Unix system")
}

func unflock(f *os.File) error { return nil }
