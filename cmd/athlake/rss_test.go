package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/jobs"
	"github.com/athlake/athlake/sandbox"
	"github.com/athlake/athlake/sandbox/optimo"
	"github.com/athlake/athlake/sandbox/teampro"
)

// rssCommands are the commands BenchmarkPeakRSS runs, in this order, on
// one fresh lake per source and scale; another command is one more entry.
// -rss.commands runs the first few only (Team Pro large's backfill alone
// takes half an hour on 2 cores).
var (
	rssCommands = [][]string{{"backfill"}, {"sync"}, {"rebuild"}}
	rssFirst    = flag.Int("rss.commands", len(rssCommands), "BenchmarkPeakRSS: run the first N of backfill, sync, rebuild")
)

// rssSources and rssScales are what BenchmarkPeakRSS covers; pick with
// -bench, e.g. -bench 'PeakRSS/teampro/medium'.
var (
	rssSources = []string{"plyomat", "optimo", "teampro"}
	rssScales  = []string{"medium", "large"}
)

// BenchmarkPeakRSS runs the real athlake commands in a child process per
// source and scale against the sandbox (itself in another child process,
// so the simulator's memory is not counted) and reports each command's
// peak resident set, with a table and the large/medium ratio at the end:
//
//	go test ./cmd/athlake -run '^$' -bench PeakRSS -benchtime 1x -timeout 60m
//	go test ./cmd/athlake -run '^$' -bench PeakRSS/teampro/large -benchtime 1x -timeout 0 -args -rss.commands=1
//
// The children inherit the environment: GOMEMLIMIT=… or GOGC=… in front
// of the command measures those settings.
func BenchmarkPeakRSS(b *testing.B) {
	var results []rssResult
	for _, src := range rssSources {
		for _, sc := range rssScales {
			b.Run(src+"/"+sc, func(b *testing.B) {
				var rs []rssResult
				for range b.N {
					rs = peakRSS(b, src, sc)
				}
				for _, r := range rs {
					b.ReportMetric(r.peakMiB, "MiB-"+r.command)
				}
				results = append(results, rs...)
			})
		}
	}
	if len(results) > 0 {
		fmt.Printf("peak RSS per command:\n%s", rssTable(results))
	}
}

// rssResult is one command's measurement.
type rssResult struct {
	command, source, scale string
	peakMiB                float64
	rows                   int64
	seconds                float64
}

// rssTable renders the results with, per command and source, the ratio
// of large to medium.
func rssTable(rs []rssResult) string {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "command\tsource\tscale\tpeak RSS MiB\trows\tseconds\tlarge/medium\t")
	for _, r := range rs {
		ratio := ""
		if r.scale == "large" {
			for _, m := range rs {
				if m.scale == "medium" && m.command == r.command && m.source == r.source {
					ratio = fmt.Sprintf("%.2f", r.peakMiB/m.peakMiB)
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%d\t%.1f\t%s\t\n", r.command, r.source, r.scale, r.peakMiB, r.rows, r.seconds, ratio)
	}
	tw.Flush()
	return buf.String()
}

// peakRSS starts a sandbox at the scale, configures the source against it
// and runs rssCommands on one lake, each in its own process.
func peakRSS(b *testing.B, source, scale string) []rssResult {
	b.Helper()
	dir := b.TempDir()
	base := startSandbox(b, scale)
	cfg := filepath.Join(dir, "athlake.yaml")
	if err := os.WriteFile(cfg, []byte(rssConfig(dir, base, source)), 0o600); err != nil {
		b.Fatal(err)
	}
	if source == "teampro" {
		c, err := jobs.LoadConfig(cfg, os.Getenv)
		if err != nil {
			b.Fatal(err)
		}
		env := &jobs.Env{Stdout: io.Discard, Stderr: io.Discard, Log: slog.New(slog.DiscardHandler)}
		if err := jobs.Authorize(context.Background(), env, c, "teampro", connector.AuthOptions{Open: jobs.FollowRedirects}); err != nil {
			b.Fatal(err)
		}
	}
	var out []rssResult
	for _, c := range rssCommands[:min(max(*rssFirst, 1), len(rssCommands))] {
		level, trace := "warn", os.Getenv("ATHLAKE_TEST_RSS_TRACE")
		if trace != "" {
			level, trace = "debug", filepath.Join(trace, source+"-"+scale+"-"+strings.Join(c, "-"))
		}
		args := append(append([]string{}, c...), "--config", cfg, "--log-level", level, "--log-format", "json")
		start := time.Now()
		kib, stdout := rssChild(b, trace, args...)
		out = append(out, rssResult{
			command: strings.Join(c, " "), source: source, scale: scale,
			peakMiB: float64(kib) / 1024, rows: summaryRows(stdout), seconds: time.Since(start).Seconds(),
		})
	}
	return out
}

// rssConfig is a config of one source against the sandbox at base, with
// no rate limit or quota in the way.
func rssConfig(dir, base, source string) string {
	var sec string
	switch source {
	case "plyomat":
		sec = fmt.Sprintf("base_url: %s%s\n    api_key: %s", base, sandbox.PlyomatPrefix, sandbox.PlyomatKey)
	case "optimo":
		sec = fmt.Sprintf("base_url: %s%s\n    token: %s\n    timezone: %s\n    daily_request_budget: 100000000",
			base, sandbox.OptimoPath, sandbox.OptimoAdminToken, sandbox.OptimoTimezone)
	case "teampro":
		tp := base + sandbox.TeamProPrefix
		sec = fmt.Sprintf("base_url: %s\n    auth_url: %s/oauth/authorize\n    token_url: %s/oauth/token\n    client_id: %s\n    client_secret: %s\n    token_file: %s\n    rate: 100000\n    burst: 100000",
			tp, tp, tp, sandbox.TeamProClientID, sandbox.TeamProClientSecret, filepath.Join(dir, "teampro-token.json"))
	}
	return fmt.Sprintf("output: %s\nsources:\n  %s:\n    %s\n", filepath.Join(dir, "lake"), source, sec)
}

var rowsLine = regexp.MustCompile(`(?m)^\s+\S+\s+(\d+) rows$`)

// summaryRows adds up the rows a run's summary lists.
func summaryRows(stdout string) int64 {
	var n int64
	for _, m := range rowsLine.FindAllStringSubmatch(stdout, -1) {
		v, _ := strconv.ParseInt(m[1], 10, 64)
		n += v
	}
	return n
}

// rssChild runs athlake and returns its peak resident set in KiB and its
// standard output. With trace set, the child samples its resident set
// into trace+".rss" and its log (at debug level) goes to trace+".log". Go starts a child with vfork, and Linux counts the
// parent's peak into the child's ru_maxrss at exec: the sandbox runs in a
// process of its own so that this one stays small.
func rssChild(b *testing.B, trace string, args ...string) (int64, string) {
	b.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "-test.bench=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "ATHLAKE_TEST_AS_BINARY=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if trace != "" {
		cmd.Env = append(cmd.Env, "ATHLAKE_TEST_RSS_SAMPLE="+trace+".rss")
		defer func() { os.WriteFile(trace+".log", stderr.Bytes(), 0o644) }()
	}
	if err := cmd.Run(); err != nil {
		b.Fatalf("athlake %s: %v\n%s\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Skip("no rusage on this platform")
	}
	return ru.Maxrss, stdout.String() // KiB on Linux
}

// startSandbox starts the sandbox at the scale in a child process, without
// Team Pro's rate limit or Optimo's quota, and returns its base URL.
func startSandbox(b *testing.B, scale string) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), "ATHLAKE_TEST_AS_SANDBOX="+scale)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close() // the sandbox serves until its stdin closes
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("sandbox: %v", err)
	}
	return strings.TrimSpace(line)
}

// serveSandbox is the sandbox process of BenchmarkPeakRSS: it prints its
// base URL and serves until its stdin closes.
func serveSandbox(scale string) error {
	sc, err := sandbox.ParseScale(scale)
	if err != nil {
		return err
	}
	sb := sandbox.New(sandbox.Options{Seed: 1, Scale: sc,
		TeamPro: teampro.Options{Burst: -1}, Optimo: optimo.Options{DailyQuota: 100_000_000}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("http://%s\n", ln.Addr())
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// sampleRSS appends the process's resident set (VmRSS, KiB) to path
// every 20 ms, a line "unix-milliseconds KiB" each
// (ATHLAKE_TEST_RSS_SAMPLE: which phase of a command makes its peak, with
// ATHLAKE_TEST_RSS_TRACE=DIR on BenchmarkPeakRSS).
func sampleRSS(path string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	for range time.Tick(20 * time.Millisecond) {
		status, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				fmt.Fprintf(f, "%d %s\n", time.Now().UnixMilli(), strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			}
		}
	}
}

// profilePeakHeap writes a heap profile to path whenever the live heap
// reaches a new high, checked every 200 ms (ATHLAKE_TEST_HEAP_PROFILE: where
// a child's memory goes).
func profilePeakHeap(path string) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var peak uint64
	for range time.Tick(200 * time.Millisecond) {
		metrics.Read(s)
		if v := s[0].Value.Uint64(); v > peak+peak/20 {
			peak = v
			var buf bytes.Buffer
			if pprof.Lookup("heap").WriteTo(&buf, 0) == nil {
				os.WriteFile(path, buf.Bytes(), 0o644)
			}
		}
	}
}
