package jobs

import (
	"context"
	"errors"

	"github.com/athlake/athlake/pipeline"
)

// Exit codes of the athlake command.
const (
	ExitOK      = 0
	ExitFailed  = 1  // failed; retrying may help
	ExitUsage   = 2  // bad usage or configuration
	ExitStopped = 75 // EX_TEMPFAIL: stopped early with state saved, run again later
)

// ExitCode is the process exit code for the error a command returned:
// ExitOK for nil, ExitUsage for a UsageError or ConfigError, ExitStopped
// when err (or, for joined errors, every one of them) means "stopped early
// with state saved" (the lock is held elsewhere or was lost, a quota ran
// out, the run was interrupted), else ExitFailed.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var usage *UsageError
	var cfg *ConfigError
	switch {
	case errors.As(err, &usage), errors.As(err, &cfg):
		return ExitUsage
	case onlyStopped(err):
		return ExitStopped
	}
	return ExitFailed
}

// onlyStopped reports whether err (or, for joined errors, every one of them)
// means "stopped early with state saved": a failure beside a spent quota
// must still exit 1.
func onlyStopped(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !onlyStopped(e) {
				return false
			}
		}
		return len(j.Unwrap()) > 0
	}
	var locked *pipeline.LockedError
	return errors.As(err, &locked) || errors.Is(err, pipeline.ErrStopEarly) || errors.Is(err, pipeline.ErrLockLost) || errors.Is(err, context.Canceled)
}
