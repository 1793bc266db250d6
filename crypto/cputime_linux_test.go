package crypto

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time the process has used (user and system): on
// a machine shared with other work, a benchmark's CPU time is what does not
// depend on how often it was descheduled.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
