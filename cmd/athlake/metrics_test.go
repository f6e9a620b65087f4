package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/athlake/athlake/jobs"
	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store/storetest"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/sandbox"
)

// readMetrics parses a metrics file with Prometheus's own text parser and
// returns each sample by its name and labels, e.g.
// athlake_rows{command=sync,source=plyomat,table=plyomat_reps}.
func readMetrics(t *testing.T, path string) map[string]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("%s is not Prometheus text format: %v", path, err)
	}
	out := map[string]float64{}
	for name, fam := range families {
		if fam.GetType() != dto.MetricType_GAUGE {
			t.Errorf("%s: type %s, want gauge", name, fam.GetType())
		}
		for _, m := range fam.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out[name+"{"+strings.Join(labels, ",")+"}"] = m.GetGauge().GetValue()
		}
	}
	return out
}

// wantMetrics is what a metrics file must hold for a run summary.
func wantMetrics(s *jobs.Summary, status string, lastSuccess float64) map[string]float64 {
	cmd := "command=" + s.Command
	want := map[string]float64{
		"athlake_run_duration_seconds{" + cmd + "}":           s.Duration,
		"athlake_run_finished_timestamp_seconds{" + cmd + "}": float64(s.FinishedAt.UnixMilli()) / 1000,
		"athlake_rejects{" + cmd + "}":                        float64(s.Rejects),
		"athlake_files_written{" + cmd + "}":                  float64(s.Files),
		"athlake_bytes_written{" + cmd + "}":                  float64(s.Bytes),
	}
	for _, st := range []string{"ok", "stopped", "failed"} {
		v := 0.0
		if st == status {
			v = 1
		}
		want["athlake_run_status{"+cmd+",status="+st+"}"] = v
	}
	if lastSuccess > 0 {
		want["athlake_last_success_timestamp_seconds{"+cmd+"}"] = lastSuccess
	}
	for table, n := range s.Rows {
		source, _, _ := strings.Cut(table, "_")
		want["athlake_rows{"+cmd+",source="+source+",table="+table+"}"] = float64(n)
	}
	for src, r := range s.Requests {
		l := "{" + cmd + ",source=" + src + "}"
		want["athlake_requests"+l] = float64(r.Requests)
		want["athlake_retries"+l] = float64(r.Retries)
		want["athlake_rate_limited_responses"+l] = float64(r.RateLimitWaits)
		want["athlake_response_bytes"+l] = float64(r.BytesRead)
	}
	return want
}

// runSummaries reads the run summaries a lake's _runs/ holds, by run id.
func runSummaries(t *testing.T, lake string) map[string]*jobs.Summary {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(lake, load.RunsDir))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*jobs.Summary{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(lake, load.RunsDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var s jobs.Summary
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		out[s.RunID] = &s
	}
	return out
}

// newSummary is the one summary in after that is not in before.
func newSummary(t *testing.T, before, after map[string]*jobs.Summary) *jobs.Summary {
	t.Helper()
	var got []*jobs.Summary
	for id, s := range after {
		if before[id] == nil {
			got = append(got, s)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d new run summaries, want 1", len(got))
	}
	return got[0]
}

// TestMetricsFile runs sync and backfill through the command line against
// the sandbox with --metrics-file: each file, read by Prometheus's parser,
// holds exactly the run summary's numbers; a failed run says so and keeps
// the last success time of the run before; a run that found the lake
// locked says stopped; the file is replaced whole.
func TestMetricsFile(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(sandbox.New(sandbox.Options{Seed: 5}))
	t.Cleanup(srv.Close)
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error": {"code": "bad_request", "message": "no"}}`, http.StatusBadRequest)
	}))
	t.Cleanup(refusing.Close)
	dir := t.TempDir()
	cfg, lake := plyomatConfig(t, dir, "athlake.yaml", srv.URL, "")
	env := map[string]string{"SANDBOX_KEY": sandbox.PlyomatKey}
	metrics := filepath.Join(dir, "textfile", "athlake_sync.prom")
	if err := os.Mkdir(filepath.Dir(metrics), 0o755); err != nil {
		t.Fatal(err)
	}

	// A successful sync.
	code, _, stderr := runCLI(t, env, "sync", "--config", cfg, "--metrics-file", metrics)
	if code != 0 {
		t.Fatalf("sync: exit %d\n%s", code, stderr)
	}
	runs := runSummaries(t, lake)
	first := newSummary(t, nil, runs)
	if first.Status != "ok" || first.Rows["plyomat_reps"] == 0 || first.Requests["plyomat"].Requests == 0 {
		t.Fatalf("the first sync did little: %+v", first)
	}
	success := float64(first.FinishedAt.UnixMilli()) / 1000
	if diff := cmp.Diff(wantMetrics(first, "ok", success), readMetrics(t, metrics)); diff != "" {
		t.Errorf("metrics of a successful sync (-want +got):\n%s", diff)
	}

	// A failed sync of the same lake into the same file: the vendor
	// refuses every request.
	failCfg, _ := plyomatConfig(t, dir, "fail.yaml", refusing.URL, "")
	code, _, stderr = runCLI(t, env, "sync", "--config", failCfg, "--metrics-file", metrics)
	if code != 1 {
		t.Fatalf("sync with a refusing vendor: exit %d, want 1\n%s", code, stderr)
	}
	after := runSummaries(t, lake)
	failed := newSummary(t, runs, after)
	if failed.Status != "failed" || failed.Requests["plyomat"].Requests == 0 {
		t.Fatalf("the failed sync's summary: %+v", failed)
	}
	if diff := cmp.Diff(wantMetrics(failed, "failed", success), readMetrics(t, metrics)); diff != "" {
		t.Errorf("metrics of a failed sync (-want +got):\n%s", diff)
	}

	// A backfill into a file of its own.
	bmetrics := filepath.Join(dir, "textfile", "athlake_backfill.prom")
	code, _, stderr = runCLI(t, env, "backfill", "--config", cfg, "--metrics-file", bmetrics)
	if code != 0 {
		t.Fatalf("backfill: exit %d\n%s", code, stderr)
	}
	backfill := newSummary(t, after, runSummaries(t, lake))
	if diff := cmp.Diff(wantMetrics(backfill, "ok", float64(backfill.FinishedAt.UnixMilli())/1000), readMetrics(t, bmetrics)); diff != "" {
		t.Errorf("metrics of a backfill (-want +got):\n%s", diff)
	}

	// A rebuild: its report, beside the summaries, has no end time.
	rmetrics := filepath.Join(dir, "textfile", "athlake_rebuild.prom")
	before := runSummaries(t, lake)
	start := time.Now()
	code, _, stderr = runCLI(t, env, "rebuild", "--config", cfg, "--metrics-file", rmetrics)
	if code != 0 {
		t.Fatalf("rebuild: exit %d\n%s", code, stderr)
	}
	rebuild := newSummary(t, before, runSummaries(t, lake))
	if rebuild.Command != "rebuild" || rebuild.Rows["plyomat_reps"] != first.Rows["plyomat_reps"]+backfill.Rows["plyomat_reps"] {
		t.Errorf("the rebuild's report: %+v; want the reps of the sync and the backfill", rebuild)
	}
	got := readMetrics(t, rmetrics)
	end := got["athlake_run_finished_timestamp_seconds{command=rebuild}"]
	if end < float64(start.Unix()) || end > float64(time.Now().Unix()+1) {
		t.Errorf("rebuild: finished at %v, not during the run", end)
	}
	rebuild.FinishedAt = time.UnixMilli(int64(end * 1000))
	if diff := cmp.Diff(wantMetrics(rebuild, "ok", end), got); diff != "" {
		t.Errorf("metrics of a rebuild (-want +got):\n%s", diff)
	}

	// Another run holds the lock: exit 75, status stopped, the last
	// success kept.
	st := storetest.NewLocal(t, lake)
	if _, err := (&load.Lock{Store: st}).Acquire(context.Background(), pipeline.Holder{RunID: "20261201T090000.000Z-abcdef", Command: "sync", Host: "elsewhere", PID: 1}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	code, _, stderr = runCLI(t, env, "sync", "--config", cfg, "--metrics-file", metrics)
	if code != 75 {
		t.Fatalf("sync of a locked lake: exit %d, want 75\n%s", code, stderr)
	}
	got = readMetrics(t, metrics)
	for k, v := range map[string]float64{
		"athlake_run_status{command=sync,status=ok}":           0,
		"athlake_run_status{command=sync,status=stopped}":      1,
		"athlake_run_status{command=sync,status=failed}":       0,
		"athlake_last_success_timestamp_seconds{command=sync}": success,
		"athlake_rejects{command=sync}":                        0,
		"athlake_run_finished_timestamp_seconds{command=sync}": got["athlake_run_finished_timestamp_seconds{command=sync}"],
		"athlake_run_duration_seconds{command=sync}":           got["athlake_run_duration_seconds{command=sync}"],
		"athlake_files_written{command=sync}":                  0,
		"athlake_bytes_written{command=sync}":                  0,
	} {
		if got[k] != v {
			t.Errorf("locked: %s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != 9 {
		t.Errorf("locked: %d samples, want 9: %v", len(got), got)
	}
	if f := got["athlake_run_finished_timestamp_seconds{command=sync}"]; f < float64(start.Unix()) || f > float64(time.Now().Unix()+1) {
		t.Errorf("locked: finished at %v, not during the run (%v)", f, start.Unix())
	}
	if d := got["athlake_run_duration_seconds{command=sync}"]; d <= 0 || d > time.Since(start).Seconds() {
		t.Errorf("locked: duration %v", d)
	}
	// Replaced by rename: no temporary files are left beside it.
	ents, _ := os.ReadDir(filepath.Dir(metrics))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"athlake_backfill.prom", "athlake_rebuild.prom", "athlake_sync.prom"}, names); diff != "" {
		t.Errorf("files beside the metrics (-want +got):\n%s", diff)
	}
}
