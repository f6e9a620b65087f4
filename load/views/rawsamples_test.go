package views_test

// The raw-samples benchmark (issue 12, item 2): on the same raw Team Pro
// player-session responses (10 Hz columnar samples with nulls and ragged
// rows, as the sandbox serves them with samples=all), athlake's path from
// raw JSON to committed Parquet (`athlake rebuild` of the responses as a
// sync keeps them under _raw/) against DuckDB's own best path (the
// responses as files), each in a child process of the test binary so that
// its peak RSS is its own:
//
//	go test ./load/views -run '^$' -bench RawSamples -benchtime 1x
//
// With -cpuprofile FILE, each side's CPU profile goes to FILE.athlake and
// FILE.duckdb. ATHLAKE_RAWBENCH_SESSIONS (default 24) sets how many sessions, the
// longest of the sandbox's medium scale (45–90 minutes, up to 54,000 rows).

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/oauth2"

	"github.com/athlake/athlake/jobs"
	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/sandbox"
	sbt "github.com/athlake/athlake/sandbox/teampro"
	"github.com/athlake/athlake/schemas"
)

// rawInput is a directory of raw player-session responses.
type rawInput struct {
	Dir      string
	Sessions []rawSession
	Bytes    int64 // total size of the responses
}

// rawSession is one response file and what the stream knows besides its
// body: the session's timezone_offset comes from the player's list.
type rawSession struct {
	File           string `json:"file"`
	ID             string `json:"id"`
	TimezoneOffset *int64 `json:"timezone_offset"`
	Bytes          int64  `json:"bytes"`
}

// writeRawSessions fetches the n longest player sessions of the sandbox at
// sc with samples=all and writes each response body to a file in dir, with
// a manifest (manifest.json) the child processes read.
func writeRawSessions(tb testing.TB, dir string, sc sandbox.Scale, n int) rawInput {
	tb.Helper()
	sb := sandbox.New(sandbox.Options{Seed: 12, Scale: sc, TeamPro: sbt.Options{Rate: 1e6, Burst: -1}})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	cfg := oauth2.Config{
		ClientID: sandbox.TeamProClientID, ClientSecret: sandbox.TeamProClientSecret,
		Endpoint: oauth2.Endpoint{TokenURL: srv.URL + sandbox.TeamProPrefix + "/oauth/token"},
	}
	ctx := context.Background()
	tok, err := cfg.Exchange(ctx, sb.TeamPro.AuthorizeCode(""))
	if err != nil {
		tb.Fatal(err)
	}
	hc := cfg.Client(ctx, tok)

	pss := sb.TeamPro.TruthWithoutSamples().PlayerSessions
	slices.SortStableFunc(pss, func(a, b sbt.PlayerSession) int {
		if a.DurationMs != b.DurationMs {
			return int(b.DurationMs - a.DurationMs)
		}
		return strings.Compare(a.ID, b.ID)
	})
	in := rawInput{Dir: dir}
	for i, ps := range pss[:min(n, len(pss))] {
		resp, err := hc.Get(srv.URL + sandbox.TeamProPrefix + "/v1/training_sessions/" + ps.ID + "?samples=all")
		if err != nil {
			tb.Fatal(err)
		}
		var body bytes.Buffer
		_, err = body.ReadFrom(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			tb.Fatalf("session %s: %d %v", ps.ID, resp.StatusCode, err)
		}
		s := rawSession{File: fmt.Sprintf("session-%03d.json", i), ID: ps.ID, Bytes: int64(body.Len())}
		if ps.TimezoneOffset != nil {
			off := int64(*ps.TimezoneOffset)
			s.TimezoneOffset = &off
		}
		if err := os.WriteFile(filepath.Join(dir, s.File), body.Bytes(), 0o644); err != nil {
			tb.Fatal(err)
		}
		in.Sessions = append(in.Sessions, s)
		in.Bytes += s.Bytes
	}
	b, err := json.Marshal(in)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return in
}

// rawResult is what a child process reports.
type rawResult struct {
	Rows     int64         `json:"rows"`
	Rejects  int           `json:"rejects"`
	Elapsed  time.Duration `json:"elapsed"`  // from reading the first response to the last file written
	PeakRSS  int64         `json:"peak_rss"` // VmHWM at the end
	OutBytes int64         `json:"-"`        // Parquet bytes written (counted by the parent)
}

// rawChild is the child-process side (see TestMain): it runs one path over
// the manifest in ATHLAKE_RAWBENCH_IN, writing under ATHLAKE_RAWBENCH_OUT,
// and prints a rawResult as JSON.
func rawChild(side string) error {
	b, err := os.ReadFile(filepath.Join(os.Getenv("ATHLAKE_RAWBENCH_IN"), "manifest.json"))
	if err != nil {
		return err
	}
	var in rawInput
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	out := os.Getenv("ATHLAKE_RAWBENCH_OUT")
	if prof := os.Getenv("ATHLAKE_RAWBENCH_CPUPROFILE"); prof != "" {
		f, err := os.Create(prof)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var res rawResult
	switch side {
	case "athlake":
		res, err = rawAthlake(out)
	case "duckdb":
		res, err = rawDuckDB(in, out)
	default:
		err = fmt.Errorf("unknown side %q", side)
	}
	if err != nil {
		return err
	}
	if res.PeakRSS, err = peakRSS(); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// rawRunID is the run id of the sync whose raw responses are rebuilt.
const rawRunID = "20261206T120000.000Z-12ab34"

// rawCommitSessions is how many responses one raw commit holds: about what
// a sync's 64 MiB commit holds of these sessions (their samples as Arrow
// records beside their raw bodies).
const rawCommitSessions = 8

// writeRawLake writes the responses into a lake at dir as a Team Pro sync
// commits them (their raw file and marker, a commit per
// rawCommitSessions), with the timezone_offset the player's list gave
// beside each, so that athlake rebuild can decode them.
func writeRawLake(tb testing.TB, in rawInput, dir string) {
	tb.Helper()
	ctx := context.Background()
	st, err := store.NewLocal(dir)
	if err != nil {
		tb.Fatal(err)
	}
	sink := load.NewSink(st, schemas.All(), memory.DefaultAllocator, "teampro", "training", rawRunID)
	defer sink.Close()
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for i, s := range in.Sessions {
		body, err := os.ReadFile(filepath.Join(in.Dir, s.File))
		if err != nil {
			tb.Fatal(err)
		}
		raw := pipeline.Raw{Endpoint: "GET /teampro/v1/training_sessions/" + s.ID + "?samples=all", FetchedAt: at, Body: body}
		if s.TimezoneOffset != nil {
			raw.With = map[string]string{"timezone_offset": strconv.FormatInt(*s.TimezoneOffset, 10)}
		}
		if err := sink.Add(ctx, &pipeline.Batch{Raw: []pipeline.Raw{raw}}); err != nil {
			tb.Fatal(err)
		}
		if (i+1)%rawCommitSessions == 0 || i == len(in.Sessions)-1 {
			if _, err := sink.Commit(ctx); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// rawAthlake is athlake's path: `athlake rebuild` of Team Pro in place on
// the lake at out (written by writeRawLake), without the views, as the
// command runs it: each commit's raw file read and decoded by the Team Pro
// decoders (player sessions, samples, RR intervals), the next commit
// decoded while one is written, its Parquet columns encoded in parallel.
func rawAthlake(out string) (rawResult, error) {
	var res rawResult
	cfg := jobs.SandboxConfig("http://127.0.0.1:1", out)
	cfg.Output = out
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	// As the command sets it from the config's budget.
	debug.SetMemoryLimit(cfg.Memory().GoLimit)
	env := &jobs.Env{Stdout: io.Discard, Stderr: io.Discard, Log: slog.New(slog.DiscardHandler)}
	start := time.Now()
	rep, err := jobs.Rebuild(context.Background(), env, cfg, jobs.RebuildOptions{Sources: []string{"teampro"}, NoViews: true})
	if err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	res.Rows, res.Rejects = rep.Rows["teampro_samples"], rep.Rejects
	return res, nil
}

// peakRSS is the process's peak resident set (VmHWM), in bytes.
func peakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}

// rawValueCols are the samples table's value columns and their SQL types.
var rawValueCols = []struct{ name, typ string }{
	{"distance", "DOUBLE"}, {"hr", "DOUBLE"}, {"speed", "DOUBLE"}, {"cadence", "DOUBLE"},
	{"lat", "DOUBLE"}, {"lon", "DOUBLE"}, {"altitude", "DOUBLE"},
	{"forward_acceleration", "DOUBLE"}, {"power", "BIGINT"},
}

// rawDuckDBSQL is DuckDB's best path over the same responses: read_json
// with the members it needs typed (each sample row a VARCHAR[] that keeps
// the numbers' text), the session's timezone_offset joined from the list,
// unnest, the ISO-8601 offset parsed with one regexp, each value found by
// its field's position in the session's fields (rows shorter than fields
// give NULL), cast, and COPY to one zstd Parquet file. The lineage columns
// (_extracted_at, _run_id: constants; _extra: null) are left out.
func rawDuckDBSQL(in rawInput, out string) string {
	var files, offs []string
	for _, s := range in.Sessions {
		files = append(files, rawLiteral(filepath.Join(in.Dir, s.File)))
		off := "NULL"
		if s.TimezoneOffset != nil {
			off = strconv.FormatInt(*s.TimezoneOffset, 10)
		}
		offs = append(offs, "("+rawLiteral(s.ID)+", "+off+")")
	}
	var vals []string
	for _, c := range rawValueCols {
		vals = append(vals, fmt.Sprintf("CAST(v[list_position(f, '%s')] AS %s) AS %s", c.name, c.typ, c.name))
	}
	return `COPY (
  WITH s AS (
    SELECT r.data.id AS id, r.data.start_time AS start, tz.off AS off,
      r.data.samples.fields AS f, unnest(r.data.samples."values") AS v
    FROM read_json([` + strings.Join(files, ", ") + `],
      columns = {data: 'STRUCT(id VARCHAR, start_time TIMESTAMP, samples STRUCT(fields VARCHAR[], "values" VARCHAR[][]))'},
      maximum_object_size = 1073741824) r
    LEFT JOIN (VALUES ` + strings.Join(offs, ", ") + `) tz(id, off) ON tz.id = r.data.id
  ), d AS (
    SELECT *, regexp_extract(v[1], '^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$', ['h', 'm', 's']) AS p FROM s
  ), o AS (
    SELECT *, coalesce(TRY_CAST(p.h AS BIGINT), 0) * 3600000 + coalesce(TRY_CAST(p.m AS BIGINT), 0) * 60000
      + CAST(round(coalesce(TRY_CAST(p.s AS DOUBLE), 0) * 1000) AS BIGINT) AS offset_ms FROM d
  )
  SELECT id AS player_session_id, offset_ms,
    start + to_milliseconds(offset_ms) AS sample_time,
    CAST(start + to_milliseconds(offset_ms) - to_minutes(off) AS TIMESTAMPTZ) AS sample_time_utc,
    ` + strings.Join(vals, ",\n    ") + `
  FROM o
) TO ` + rawLiteral(filepath.Join(out, "samples.parquet")) + ` (FORMAT parquet, COMPRESSION zstd)`
}

func rawLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// rawDuckDB runs rawDuckDBSQL in an in-memory database with DuckDB's
// defaults (every core, 80 % of the memory).
func rawDuckDB(in rawInput, out string) (rawResult, error) {
	var res rawResult
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return res, err
	}
	defer db.Close()
	if _, err := db.Exec("SET TimeZone = 'UTC'"); err != nil {
		return res, err
	}
	start := time.Now()
	r, err := db.Exec(rawDuckDBSQL(in, out))
	if err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	res.Rows, err = r.RowsAffected()
	return res, err
}

// runRawChild runs one side in a child process of the test binary.
func runRawChild(tb testing.TB, side string, in rawInput, out string) rawResult {
	tb.Helper()
	if err := os.MkdirAll(out, 0o755); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ATHLAKE_RAWBENCH_SIDE="+side, "ATHLAKE_RAWBENCH_IN="+in.Dir, "ATHLAKE_RAWBENCH_OUT="+out)
	// -cpuprofile FILE profiles each side too, into FILE.<side>: the
	// parent itself only waits.
	if f := flag.Lookup("test.cpuprofile"); f != nil && f.Value.String() != "" {
		cmd.Env = append(cmd.Env, "ATHLAKE_RAWBENCH_CPUPROFILE="+f.Value.String()+"."+side)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		tb.Fatalf("%s: %v\n%s%s", side, err, stdout, stderr.Bytes())
	}
	var res rawResult
	if err := json.Unmarshal(stdout, &res); err != nil {
		tb.Fatalf("%s: %v in %q", side, err, stdout)
	}
	err = filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".parquet") {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			res.OutBytes += fi.Size()
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// rawCompare runs both sides on in and checks they wrote the same rows:
// the same count, and no row of one missing from the other.
func rawCompare(tb testing.TB, in rawInput, out string) (athlake, duck rawResult) {
	tb.Helper()
	writeRawLake(tb, in, filepath.Join(out, "athlake"))
	athlake = runRawChild(tb, "athlake", in, filepath.Join(out, "athlake"))
	duck = runRawChild(tb, "duckdb", in, filepath.Join(out, "duckdb"))
	if athlake.Rows != duck.Rows || athlake.Rejects != 0 {
		tb.Fatalf("rows: athlake %d (%d rejects), DuckDB %d", athlake.Rows, athlake.Rejects, duck.Rows)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	cols := "player_session_id, offset_ms, sample_time, sample_time_utc"
	for _, c := range rawValueCols {
		cols += ", " + c.name
	}
	a := "SELECT " + cols + " FROM read_parquet(" + rawLiteral(filepath.Join(out, "athlake", "teampro", "samples", "*", "*.parquet")) + ", hive_partitioning = false)"
	d := "SELECT " + cols + " FROM read_parquet(" + rawLiteral(filepath.Join(out, "duckdb", "*.parquet")) + ")"
	for _, q := range [][2]string{{a, d}, {d, a}} {
		var diff string
		err := db.QueryRow("SELECT count(*)::VARCHAR || ' rows, first: ' || coalesce(CAST(first(x) AS VARCHAR), '') FROM (" + q[0] + " EXCEPT ALL " + q[1] + ") x").Scan(&diff)
		if err != nil {
			tb.Fatal(err)
		}
		if !strings.HasPrefix(diff, "0 rows") {
			tb.Fatalf("rows of one side missing from the other: %s\n%s\nEXCEPT ALL\n%s", diff, q[0], q[1])
		}
	}
	return athlake, duck
}

// TestRawSamplesBench runs the benchmark's two sides on two small
// sessions, so that it cannot rot.
func TestRawSamplesBench(t *testing.T) {
	in := writeRawSessions(t, t.TempDir(), sandbox.ScaleSmall, 2)
	a, d := rawCompare(t, in, t.TempDir())
	if a.Rows < 10000 || a.OutBytes == 0 || d.OutBytes == 0 || a.PeakRSS == 0 || d.PeakRSS == 0 {
		t.Fatalf("athlake %+v, DuckDB %+v", a, d)
	}
}

// BenchmarkRawSamples compares, in one run on the same responses, athlake's
// path from raw JSON to committed Parquet with DuckDB's, and reports each
// side's throughput, peak RSS and file size, and their ratios
// (athlake/DuckDB). The responses are written once per process.
func BenchmarkRawSamples(b *testing.B) {
	n := 24
	if v := os.Getenv("ATHLAKE_RAWBENCH_SESSIONS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	in := writeRawSessions(b, b.TempDir(), sandbox.ScaleMedium, n)
	var rows int64
	var a, d rawResult
	var out string
	b.ResetTimer()
	for b.Loop() {
		out = b.TempDir()
		a, d = rawCompare(b, in, out)
		rows = a.Rows
	}
	mb := float64(in.Bytes) / 1e6
	mbps := func(r rawResult) float64 { return mb / r.Elapsed.Seconds() }
	rps := func(r rawResult) float64 { return float64(r.Rows) / r.Elapsed.Seconds() }
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	b.Logf("input: %d sessions, %.1f MB of JSON, %d rows; GOMAXPROCS %d", len(in.Sessions), mb, rows, runtime.GOMAXPROCS(0))
	for _, s := range []struct {
		name string
		r    rawResult
	}{{"athlake", a}, {"duckdb", d}} {
		b.Logf("%-8s %6.2f s  %6.1f MB/s  %9.0f rows/s  peak RSS %6.1f MiB  file %6.2f MB",
			s.name, s.r.Elapsed.Seconds(), mbps(s.r), rps(s.r), mib(s.r.PeakRSS), float64(s.r.OutBytes)/1e6)
		b.ReportMetric(mbps(s.r), s.name+"-MB/s")
		b.ReportMetric(rps(s.r), s.name+"-rows/s")
		b.ReportMetric(mib(s.r.PeakRSS), s.name+"-peak-MiB")
		b.ReportMetric(float64(s.r.OutBytes)/1e6, s.name+"-file-MB")
	}
	ratio := func(x, y float64) float64 { return x / y }
	b.Logf("athlake/DuckDB: throughput %.2fx, peak RSS %.2fx, file %.2fx (target >= 8x, <= 0.25x, <= 1.1x)",
		ratio(mbps(a), mbps(d)), ratio(float64(a.PeakRSS), float64(d.PeakRSS)), ratio(float64(a.OutBytes), float64(d.OutBytes)))
	b.ReportMetric(ratio(mbps(a), mbps(d)), "x-throughput")
	b.ReportMetric(ratio(float64(a.PeakRSS), float64(d.PeakRSS)), "x-peak-rss")
	b.ReportMetric(ratio(float64(a.OutBytes), float64(d.OutBytes)), "x-file")
	b.ReportMetric(0, "ns/op")
	rawColumnSizes(b, out)
}

// rawColumnSizes prints each column's compressed bytes and encodings in
// the files both sides wrote under out.
func rawColumnSizes(b *testing.B, out string) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	meta := func(glob string) string {
		return `SELECT path_in_schema AS col, sum(total_compressed_size) AS bytes, string_agg(DISTINCT encodings, ' ') AS enc
			FROM parquet_metadata(` + rawLiteral(glob) + `) GROUP BY col`
	}
	rows, err := db.Query(`SELECT col, coalesce(a.bytes, 0), coalesce(a.enc, ''), coalesce(d.bytes, 0), coalesce(d.enc, '')
		FROM (` + meta(filepath.Join(out, "athlake", "teampro", "samples", "*", "*.parquet")) + `) a
		FULL JOIN (` + meta(filepath.Join(out, "duckdb", "*.parquet")) + `) d USING (col) ORDER BY col`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	// Printed, not logged: a benchmark's log is cut to 10 lines.
	fmt.Printf("%-22s %10s %-34s %10s %s\n", "column", "athlake B", "encodings", "DuckDB B", "encodings")
	for rows.Next() {
		var col, ae, de string
		var ab, dbytes int64
		if err := rows.Scan(&col, &ab, &ae, &dbytes, &de); err != nil {
			b.Fatal(err)
		}
		fmt.Printf("%-22s %10d %-34s %10d %s\n", col, ab, ae, dbytes, de)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
}
