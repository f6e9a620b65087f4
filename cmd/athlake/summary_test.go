package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/athlake/athlake/jobs"
	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store/storetest"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/sandbox"
)

// sandboxConfig writes a config syncing the sandbox's Plyomat at url
// into dir/lake, and returns its path, the lake and the environment its
// ${SANDBOX_KEY} needs.
func sandboxConfig(t *testing.T, dir, url string) (string, string, map[string]string) {
	t.Helper()
	lake := filepath.Join(dir, "lake")
	cfg := filepath.Join(dir, "athlake.yaml")
	body := fmt.Sprintf("output: %s\nsources:\n  plyomat:\n    base_url: %s%s\n    api_key: ${SANDBOX_KEY}\n", lake, url, sandbox.PlyomatPrefix)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, lake, map[string]string{"SANDBOX_KEY": sandbox.PlyomatKey}
}

// runRecord is the bytes of the lake's _runs/ record of a run.
func runRecord(t *testing.T, lake, runID string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(lake, load.RunsDir, runID+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSummaryFile runs sync, backfill and rebuild through the command
// line against the sandbox with --summary-file: each file holds the same
// JSON as the run's record under _runs/, written beside the metrics file
// when both are asked for; a run that never started (a bad config, a
// locked lake) still writes one, saying its command, status and error.
func TestSummaryFile(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(sandbox.New(sandbox.Options{Seed: 7}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	cfg, lake, env := sandboxConfig(t, dir, srv.URL)

	// A sync, with a metrics file too: both written.
	summary, metrics := filepath.Join(dir, "sync.json"), filepath.Join(dir, "sync.prom")
	code, _, stderr := runCLI(t, env, "sync", "--config", cfg, "--summary-file", summary, "--metrics-file", metrics)
	if code != 0 {
		t.Fatalf("sync: exit %d\n%s", code, stderr)
	}
	runs := runSummaries(t, lake)
	first := newSummary(t, nil, runs)
	if first.Status != "ok" || first.Rows["plyomat_reps"] == 0 {
		t.Fatalf("the sync did little: %+v", first)
	}
	if diff := cmp.Diff(runRecord(t, lake, first.RunID), readFile(t, summary)); diff != "" {
		t.Errorf("summary file of a sync (-_runs +file):\n%s", diff)
	}
	if got := readMetrics(t, metrics)["athlake_run_status{command=sync,status=ok}"]; got != 1 {
		t.Errorf("the metrics file beside it: status ok = %v, want 1", got)
	}

	// A backfill.
	summary = filepath.Join(dir, "backfill.json")
	code, _, stderr = runCLI(t, env, "backfill", "--config", cfg, "--summary-file", summary)
	if code != 0 {
		t.Fatalf("backfill: exit %d\n%s", code, stderr)
	}
	after := runSummaries(t, lake)
	backfill := newSummary(t, runs, after)
	if diff := cmp.Diff(runRecord(t, lake, backfill.RunID), readFile(t, summary)); diff != "" {
		t.Errorf("summary file of a backfill (-_runs +file):\n%s", diff)
	}
	var s jobs.Summary
	if err := json.Unmarshal([]byte(readFile(t, summary)), &s); err != nil || s.Command != "backfill" || s.Status != "ok" {
		t.Errorf("summary file of a backfill: %+v, %v", s, err)
	}

	// A rebuild: its report.
	summary = filepath.Join(dir, "rebuild.json")
	code, _, stderr = runCLI(t, env, "rebuild", "--config", cfg, "--summary-file", summary)
	if code != 0 {
		t.Fatalf("rebuild: exit %d\n%s", code, stderr)
	}
	rebuild := newSummary(t, after, runSummaries(t, lake))
	if diff := cmp.Diff(runRecord(t, lake, rebuild.RunID), readFile(t, summary)); diff != "" {
		t.Errorf("summary file of a rebuild (-_runs +file):\n%s", diff)
	}
	var rep jobs.RebuildReport
	if err := json.Unmarshal([]byte(readFile(t, summary)), &rep); err != nil || rep.Command != "rebuild" || rep.Status != "ok" ||
		rep.Rows["plyomat_reps"] != first.Rows["plyomat_reps"]+backfill.Rows["plyomat_reps"] {
		t.Errorf("summary file of a rebuild: %+v, %v", rep, err)
	}

	// A bad config: exit 2, and a file saying so.
	bad := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(bad, []byte("outptu: ./x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	summary = filepath.Join(dir, "bad.json")
	start := time.Now()
	code, _, stderr = runCLI(t, env, "sync", "--config", bad, "--summary-file", summary)
	if code != 2 {
		t.Fatalf("sync with a bad config: exit %d, want 2\n%s", code, stderr)
	}
	checkNotStarted(t, summary, "sync", "failed", "unknown key outptu", start)

	// Another run holds the lock: exit 75, stopped.
	st := storetest.NewLocal(t, lake)
	if _, err := (&load.Lock{Store: st}).Acquire(context.Background(), pipeline.Holder{RunID: "20261201T090000.000Z-abcdef", Command: "sync", Host: "elsewhere", PID: 1}); err != nil {
		t.Fatal(err)
	}
	summary = filepath.Join(dir, "locked.json")
	start = time.Now()
	code, _, stderr = runCLI(t, env, "sync", "--config", cfg, "--summary-file", summary)
	if code != 75 {
		t.Fatalf("sync of a locked lake: exit %d, want 75\n%s", code, stderr)
	}
	checkNotStarted(t, summary, "sync", "stopped", "elsewhere", start)
	start = time.Now()
	code, _, stderr = runCLI(t, env, "rebuild", "--config", cfg, "--summary-file", summary)
	if code != 75 {
		t.Fatalf("rebuild of a locked lake: exit %d, want 75\n%s", code, stderr)
	}
	checkNotStarted(t, summary, "rebuild", "stopped", "elsewhere", start)
}

// checkNotStarted checks the summary file of a run that never started:
// its command, status, error (containing errPart), end time and duration,
// and nothing else.
func checkNotStarted(t *testing.T, path, command, status, errPart string, start time.Time) {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal([]byte(readFile(t, path)), &got); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	keys := []string{}
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if diff := cmp.Diff([]string{"command", "duration_seconds", "error", "finished_at", "status"}, keys); diff != "" {
		t.Errorf("%s: keys (-want +got):\n%s", path, diff)
	}
	if got["command"] != command || got["status"] != status {
		t.Errorf("%s: command %v status %v, want %s %s", path, got["command"], got["status"], command, status)
	}
	if e, _ := got["error"].(string); !strings.Contains(e, errPart) {
		t.Errorf("%s: error %q, want it to name %q", path, e, errPart)
	}
	finished, err := time.Parse(time.RFC3339Nano, fmt.Sprint(got["finished_at"]))
	if err != nil || finished.Before(start.Truncate(time.Millisecond)) || finished.After(time.Now()) {
		t.Errorf("%s: finished_at %v (%v), not during the run", path, got["finished_at"], err)
	}
	if d, _ := got["duration_seconds"].(float64); d <= 0 || d > time.Since(start).Seconds() {
		t.Errorf("%s: duration_seconds %v", path, got["duration_seconds"])
	}
}
