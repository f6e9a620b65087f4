//go:build unix

package writerbench

import (
	"syscall"
	"time"
)

// cpuTime is the user and system CPU time the process has used, GC workers
// included, which wall-clock ns/op hides on a multi-core machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
