package jobs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/pipeline"
)

// RunMetrics is what --metrics-file writes of a sync, backfill or rebuild:
// the run summary as Prometheus gauges.
type RunMetrics struct {
	Command  string
	Status   string // ok, stopped or failed
	Finished time.Time
	Duration float64 // seconds
	// Rows are the rows written per table, by view name (plyomat_reps).
	Rows map[string]int64
	// Requests are the HTTP requests per source (a rebuild makes none).
	Requests map[string]pipeline.RequestStats
	Rejects  int
	Files    int
	Bytes    int64
}

// Metrics is the summary's metrics.
func (s *Summary) Metrics() RunMetrics {
	return RunMetrics{Command: s.Command, Status: s.Status, Finished: s.FinishedAt, Duration: s.Duration,
		Rows: s.Rows, Requests: s.Requests, Rejects: s.Rejects, Files: s.Files, Bytes: s.Bytes}
}

// Metrics is the rebuild's metrics; its report does not know when it
// finished, or whether it failed.
func (r *RebuildReport) Metrics(status string, finished time.Time, seconds float64) RunMetrics {
	return RunMetrics{Command: r.Command, Status: status, Finished: finished, Duration: seconds,
		Rows: r.Rows, Rejects: r.Rejects, Files: r.Files, Bytes: r.Bytes}
}

// RunStatus is the status of a run that returned err, as a summary
// says it: ok, stopped (exit 75: run again later) or failed.
func RunStatus(err error) string {
	switch ExitCode(err) {
	case ExitOK:
		return "ok"
	case ExitStopped:
		return "stopped"
	}
	return "failed"
}

// runStatuses are the values of athlake_run_status's status label, each
// written every time so that exactly one is 1.
var runStatuses = []string{"ok", "stopped", "failed"}

const lastSuccessMetric = "athlake_last_success_timestamp_seconds"

// WriteMetricsFile writes m in Prometheus's text format to path, for the
// node exporter's textfile collector or a push to a Pushgateway. The file
// is replaced atomically (a temporary file beside it, then a rename), so a
// collector reads the old file or the new one, never half of one.
// athlake_last_success_timestamp_seconds is the end of this run if it
// succeeded, else the value in the file it replaces (absent if no run
// written there has succeeded).
func WriteMetricsFile(path string, m RunMetrics) error {
	last := ""
	if m.Status == "ok" {
		last = formatFloat(float64(m.Finished.UnixMilli()) / 1000)
	} else {
		old, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("metrics file: %w", err)
		}
		last = previousSample(old, lastSuccessMetric, m.Command)
	}
	var b bytes.Buffer
	writeMetrics(&b, m, last)
	if err := writeFileAtomic(path, b.Bytes()); err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	return nil
}

func writeMetrics(b *bytes.Buffer, m RunMetrics, lastSuccess string) {
	cmd := `command="` + escapeLabel(m.Command) + `"`
	gauge := func(name, help string) {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
	}
	gauge("athlake_run_status", "1 for the status of the last run (ok, stopped: exit 75, run again later; failed), 0 for the others.")
	for _, s := range runStatuses {
		v := 0
		if s == m.Status {
			v = 1
		}
		fmt.Fprintf(b, "athlake_run_status{%s,status=\"%s\"} %d\n", cmd, s, v)
	}
	gauge("athlake_run_duration_seconds", "How long the last run took.")
	fmt.Fprintf(b, "athlake_run_duration_seconds{%s} %s\n", cmd, formatFloat(m.Duration))
	gauge("athlake_run_finished_timestamp_seconds", "When the last run finished, in Unix seconds.")
	fmt.Fprintf(b, "athlake_run_finished_timestamp_seconds{%s} %s\n", cmd, formatFloat(float64(m.Finished.UnixMilli())/1000))
	if lastSuccess != "" {
		gauge(lastSuccessMetric, "When the last successful run finished, in Unix seconds.")
		fmt.Fprintf(b, "%s{%s} %s\n", lastSuccessMetric, cmd, lastSuccess)
	}
	gauge("athlake_rows", "Rows the last run wrote, per table (its view's name).")
	for _, t := range slices.Sorted(maps.Keys(m.Rows)) {
		source, _, _ := strings.Cut(t, "_")
		fmt.Fprintf(b, "athlake_rows{%s,source=\"%s\",table=\"%s\"} %d\n", cmd, escapeLabel(source), escapeLabel(t), m.Rows[t])
	}
	sources := slices.Sorted(maps.Keys(m.Requests))
	for _, g := range []struct {
		name, help string
		v          func(pipeline.RequestStats) int64
	}{
		{"athlake_requests", "HTTP requests the last run sent to the vendor, retries included.", func(r pipeline.RequestStats) int64 { return r.Requests }},
		{"athlake_retries", "Requests of the last run that were retries.", func(r pipeline.RequestStats) int64 { return r.Retries }},
		{"athlake_rate_limited_responses", "HTTP 429 answers the last run got from the vendor.", func(r pipeline.RequestStats) int64 { return r.RateLimitWaits }},
		{"athlake_response_bytes", "Bytes of the vendor's responses the last run read.", func(r pipeline.RequestStats) int64 { return r.BytesRead }},
	} {
		gauge(g.name, g.help)
		for _, s := range sources {
			fmt.Fprintf(b, "%s{%s,source=\"%s\"} %d\n", g.name, cmd, escapeLabel(s), g.v(m.Requests[s]))
		}
	}
	gauge("athlake_rejects", "Records the last run rejected (kept under _rejects/).")
	fmt.Fprintf(b, "athlake_rejects{%s} %d\n", cmd, m.Rejects)
	gauge("athlake_files_written", "Parquet files the last run wrote.")
	fmt.Fprintf(b, "athlake_files_written{%s} %d\n", cmd, m.Files)
	gauge("athlake_bytes_written", "Bytes of the Parquet files the last run wrote.")
	fmt.Fprintf(b, "athlake_bytes_written{%s} %d\n", cmd, m.Bytes)
}

// previousSample is the value of name{command="..."} in an earlier
// metrics file, or "".
func previousSample(old []byte, name, command string) string {
	prefix := name + `{command="` + escapeLabel(command) + `"} `
	sc := bufio.NewScanner(bytes.NewReader(old))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			if _, err := strconv.ParseFloat(v, 64); err == nil {
				return v
			}
		}
	}
	return ""
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// escapeLabel escapes a label value's backslashes, quotes and newlines as
// the text format wants.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// writeFileAtomic replaces path with data as the local lake writes its
// files: a hidden temporary file in the same folder, synced, renamed over
// it, and the folder synced.
func writeFileAtomic(path string, data []byte) error {
	dir, err := store.NewLocal(filepath.Dir(path))
	if err != nil {
		return err
	}
	return dir.Put(context.Background(), filepath.Base(path), data)
}
