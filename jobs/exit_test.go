package jobs

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/athlake/athlake/pipeline"
)

// exitCases are errors a command can return, with the exit code the README
// documents for each. cmd/athlake's tests run the same kinds of error
// through the binary's own exit path.
var exitCases = []struct {
	name string
	err  error
	want int
}{
	{"nil", nil, 0},
	{"usage", &UsageError{Msg: "--since: bad"}, 2},
	{"config", fmt.Errorf("load: %w", &ConfigError{Key: "sources.plyomat.api_key", Msg: "unset"}), 2},
	{"locked", fmt.Errorf("sync: %w", &pipeline.LockedError{Holder: pipeline.Holder{RunID: "r", Host: "h"}}), 75},
	{"quota", pipeline.StopEarly("optimo: daily request budget spent"), 75},
	{"lock lost", fmt.Errorf("plyomat: %w", pipeline.ErrLockLost), 75},
	{"interrupted", fmt.Errorf("plyomat sets: %w", context.Canceled), 75},
	{"all stopped", errors.Join(pipeline.StopEarly("quota"), context.Canceled), 75},
	{"failure beside a quota", errors.Join(pipeline.StopEarly("quota"), errors.New("teampro: 500")), 1},
	{"failed", errors.New("plyomat: 503 after 5 attempts"), 1},
	{"deadline", context.DeadlineExceeded, 1},
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	for _, c := range exitCases {
		if got := ExitCode(c.err); got != c.want {
			t.Errorf("%s: ExitCode(%v) = %d, want %d", c.name, c.err, got, c.want)
		}
	}
	if ExitOK != 0 || ExitFailed != 1 || ExitUsage != 2 || ExitStopped != 75 {
		t.Errorf("exit codes %d %d %d %d, the README documents 0 1 2 75", ExitOK, ExitFailed, ExitUsage, ExitStopped)
	}
}
