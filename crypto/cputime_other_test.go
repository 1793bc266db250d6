//go:build !linux

package crypto

import "time"

var processStart = time.Now()

// cpuTime falls back to wall time where the CPU time is not read.
func cpuTime() time.Duration { return time.Since(processStart) }
