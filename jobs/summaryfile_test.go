package jobs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/athlake/athlake/pipeline"
)

// TestSummaryFileOfARunNotStarted: a run that never started gets a
// summary of its command, status (from its exit code), error, end time
// and duration, written whole; its metrics say the same.
func TestSummaryFileOfARunNotStarted(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 7, 1, 0, 0, 0, time.FixedZone("CET", 3600))
	end := start.Add(1500 * time.Millisecond)
	for _, c := range []struct {
		err    error
		status string
	}{
		{&UsageError{Msg: "--since: bad"}, "failed"},
		{&pipeline.LockedError{Holder: pipeline.Holder{RunID: "r1", Host: "elsewhere"}}, "stopped"},
		{errors.New("boom"), "failed"},
	} {
		dir := t.TempDir()
		p := filepath.Join(dir, "return.json")
		ns := NewNotStarted("backfill", start, end, c.err)
		if err := WriteSummaryFile(p, ns); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want := "{\n" +
			`  "command": "backfill",` + "\n" +
			`  "finished_at": "2026-12-07T00:00:01.5Z",` + "\n" +
			`  "duration_seconds": 1.5,` + "\n" +
			`  "status": "` + c.status + `",` + "\n" +
			`  "error": ` + string(mustJSON(t, c.err.Error())) + "\n}\n"
		if diff := cmp.Diff(want, string(b)); diff != "" {
			t.Errorf("%v: summary file (-want +got):\n%s", c.err, diff)
		}
		wantM := RunMetrics{Command: "backfill", Status: c.status, Finished: end.UTC(), Duration: 1.5}
		if diff := cmp.Diff(wantM, ns.Metrics()); diff != "" {
			t.Errorf("%v: metrics (-want +got):\n%s", c.err, diff)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Errorf("%d files beside the summary, want none", len(ents)-1)
		}
	}
	// A folder in the way: an error saying which file.
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "return.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteSummaryFile(filepath.Join(dir, "return.json"), NewNotStarted("sync", start, end, nil)); err == nil || !strings.HasPrefix(err.Error(), "summary file: ") {
		t.Errorf("writing over a folder: %v, want a summary file error", err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := summaryJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	return b[:len(b)-1]
}
