// Command athlake exports training data from vendor APIs into a lake of
// Parquet files with DuckDB views over them.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // Optimo's account zone must load on machines without a zone database

	"golang.org/x/term"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/jobs"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/sandbox"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

const usage = `athlake exports sports-training data from vendor APIs into a Parquet lake with DuckDB views.

Usage:
  athlake demo      [--out DIR]
  athlake sync      [--config FILE] [--source NAME]... [--metrics-file FILE] [--summary-file FILE]
  athlake backfill  [--config FILE] [--source NAME]... [--athlete ID]... [--since T] [--until T] [--metrics-file FILE] [--summary-file FILE]
  athlake views     [--config FILE] [--db FILE] [--lake DIR]
  athlake mirror    [--config FILE] --to DIR
  athlake compact   [--config FILE] [--source NAME]... [--table VIEW]... [--dry-run]
  athlake rebuild   [--config FILE] [--source NAME]... [--table VIEW]... [--since T] [--to DIR] [--no-views] [--metrics-file FILE] [--summary-file FILE]
  athlake sandbox   [--addr 127.0.0.1:8765] [--seed N] [--scale small|medium|large] [--latency D]
  athlake webhooks serve [--config FILE] [--addr 127.0.0.1:8080]
  athlake auth teampro [--config FILE] [--no-browser]
  athlake schemas   [--format md|json] [--config FILE]
  athlake status    [--config FILE]
  athlake plan      [--config FILE] [--source NAME]... [--format text|json]
  athlake people suggest [--config FILE] [--format text|csv] [--min-confidence X]
  athlake export    --to DIR [--config FILE] [--tables VIEW,...] [--since D] [--until D] [--people ID,...] [--format parquet|csv] [--shift-dates]
  athlake iceberg register [--config FILE]
  athlake version

Common flags: --log-format text|json, --log-level debug|info|warn|error.
--config defaults to ./athlake.yaml, then $ATHLAKE_CONFIG.
--metrics-file writes the run's summary in Prometheus text format, --summary-file
as JSON (as under _runs/), whatever the outcome.
Exit codes: 0 done, 1 failed (retrying may help), 2 bad usage or configuration,
75 stopped early with state saved (run again later).
`

// run is the whole program but for the process exit.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return &jobs.UsageError{Msg: "no command given"}
		}
		return nil
	}
	commands := map[string]func(context.Context, *command) error{
		"demo": runDemo, "sync": runSync, "backfill": runSync, "views": runViews, "mirror": runMirror,
		"compact": runCompact, "rebuild": runRebuild, "auth": runAuth, "status": runStatus, "schemas": runSchemas, "sandbox": runSandbox,
		"webhooks": runWebhooks, "version": runVersion, "plan": runPlan, "people": runPeople, "export": runExport,
		"iceberg": runIceberg,
	}
	runCmd, ok := commands[args[0]]
	if !ok {
		return &jobs.UsageError{Msg: fmt.Sprintf("unknown command %q (see athlake --help)", args[0])}
	}
	return runCmd(ctx, newCommand(args[0], args[1:], stdin, stdout, stderr, getenv))
}

// command is one command line: its flags, the common ones included, and
// the surroundings its job gets.
type command struct {
	name      string
	args      []string
	fs        *flag.FlagSet
	logFormat *string
	logLevel  *string
	stdin     io.Reader
	stdout    io.Writer
	getenv    func(string) string
	env       *jobs.Env // its logger is set by parse
}

func newCommand(name string, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *command {
	fs := flag.NewFlagSet("athlake "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &command{
		name: name, args: args, fs: fs,
		logFormat: fs.String("log-format", "", "log format: text or json (default: text on a terminal, else json)"),
		logLevel:  fs.String("log-level", "info", "log level: debug, info, warn or error"),
		stdin:     stdin, stdout: stdout, getenv: getenv,
		env: &jobs.Env{Stdout: stdout, Stderr: stderr, Version: binaryVersion()},
	}
}

// configFlag defines --config.
func (c *command) configFlag() *string {
	return c.fs.String("config", "", "config file (default ./athlake.yaml, then $ATHLAKE_CONFIG)")
}

// sourceFlag defines --source, repeatable.
func (c *command) sourceFlag() *multiFlag {
	var m multiFlag
	c.fs.Var(&m, "source", "only this source (repeatable)")
	return &m
}

// tableFlag defines --table, repeatable, with its usage text.
func (c *command) tableFlag(usage string) *multiFlag {
	var m multiFlag
	c.fs.Var(&m, "table", usage)
	return &m
}

// parse reads the flags, which take no arguments after them, and sets up
// logging.
func (c *command) parse() error {
	if err := c.fs.Parse(c.args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return &jobs.UsageError{Msg: err.Error()}
	}
	if c.fs.NArg() > 0 {
		return &jobs.UsageError{Msg: fmt.Sprintf("unexpected argument %q", c.fs.Arg(0))}
	}
	log, progress, err := newLogger(c.env.Stderr, *c.logFormat, *c.logLevel)
	if err != nil {
		return err
	}
	c.env.Log, c.env.Progress = log, progress
	return nil
}

// loadConfig loads the config that --config (flagValue) names or implies,
// and sets Go's soft memory limit from its memory budget.
func (c *command) loadConfig(flagValue string) (*jobs.Config, error) {
	p, err := jobs.FindConfig(flagValue, c.getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := jobs.LoadConfig(p, c.getenv)
	if err != nil {
		return nil, err
	}
	debug.SetMemoryLimit(cfg.Memory().GoLimit)
	return cfg, nil
}

// parseWithConfig parses the flags and loads the config.
func (c *command) parseWithConfig(cfgFlag *string) (*jobs.Config, error) {
	if err := c.parse(); err != nil {
		return nil, err
	}
	return c.loadConfig(*cfgFlag)
}

func runDemo(ctx context.Context, c *command) error {
	out := c.fs.String("out", "athlake-demo", "folder for the demo's lake and DuckDB file")
	seed := c.fs.Int64("seed", 1, "sandbox data seed")
	scale := c.fs.String("scale", "small", "sandbox scale: small, medium or large")
	if err := c.parse(); err != nil {
		return err
	}
	sc, err := sandbox.ParseScale(*scale)
	if err != nil {
		return &jobs.UsageError{Msg: "--scale: " + err.Error()}
	}
	return jobs.Demo(ctx, c.env, jobs.DemoOptions{Out: *out, Seed: *seed, Scale: sc})
}

// runSync runs sync and backfill.
func runSync(ctx context.Context, c *command) error {
	backfill := c.name == "backfill"
	cfgFlag := c.configFlag()
	sources := c.sourceFlag()
	var athletes multiFlag
	var since, until *string
	if backfill {
		c.fs.Var(&athletes, "athlete", "only this athlete (Plyomat, Optimo) or player (Team Pro) id (repeatable)")
		since = c.fs.String("since", "", "only records from this time, inclusive (RFC 3339, or YYYY-MM-DD for the start of that day in UTC)")
		until = c.fs.String("until", "", "only records up to this time, inclusive (RFC 3339, or YYYY-MM-DD for the end of that day in UTC)")
	}
	files := c.reportFlags()
	if err := c.parse(); err != nil {
		return err
	}
	return c.withReports(files, func() (*runReport, error) {
		sum, err := c.sync(ctx, backfill, *cfgFlag, *sources, athletes, since, until)
		if sum == nil {
			return nil, err
		}
		return &runReport{metrics: sum.Metrics(), summary: sum}, err
	})
}

// sync runs sync or backfill once the flags are parsed.
func (c *command) sync(ctx context.Context, backfill bool, cfgFlag string, sources, athletes []string, since, until *string) (*jobs.Summary, error) {
	o := jobs.RunOptions{Command: c.name, Sources: sources, Run: connector.Run{Backfill: backfill, Athletes: athletes}}
	if backfill {
		var err error
		if o.Since, err = parseTimeFlag("--since", *since, false); err != nil {
			return nil, err
		}
		if o.Until, err = parseTimeFlag("--until", *until, true); err != nil {
			return nil, err
		}
		if !o.Since.IsZero() && !o.Until.IsZero() && o.Until.Before(o.Since) {
			return nil, &jobs.UsageError{Msg: "--until is before --since"}
		}
	}
	cfg, err := c.loadConfig(cfgFlag)
	if err != nil {
		return nil, err
	}
	return jobs.Run(ctx, c.env, cfg, o)
}

func runViews(ctx context.Context, c *command) error {
	cfgFlag := c.configFlag()
	db := c.fs.String("db", "", "DuckDB file to write (default: the config's duckdb)")
	lake := c.fs.String("lake", "", "lake folder to read (default: the config's output)")
	cfg, err := c.parseWithConfig(cfgFlag)
	if err != nil {
		return err
	}
	return jobs.Views(ctx, c.env, cfg, jobs.ViewsOptions{DB: *db, Lake: *lake})
}

func runMirror(ctx context.Context, c *command) error {
	cfgFlag := c.configFlag()
	to := c.fs.String("to", "", "local folder to copy the committed lake into")
	cfg, err := c.parseWithConfig(cfgFlag)
	if err != nil {
		return err
	}
	_, err = jobs.Mirror(ctx, c.env, cfg, jobs.MirrorOptions{To: *to})
	return err
}

func runCompact(ctx context.Context, c *command) error {
	cfgFlag := c.configFlag()
	sources := c.sourceFlag()
	tables := c.tableFlag("only this table, by its view name, e.g. plyomat_sets (repeatable)")
	dry := c.fs.Bool("dry-run", false, "say what would be compacted, write nothing")
	cfg, err := c.parseWithConfig(cfgFlag)
	if err != nil {
		return err
	}
	_, err = jobs.Compact(ctx, c.env, cfg, jobs.CompactOptions{Sources: *sources, Tables: *tables, DryRun: *dry})
	return err
}

func runRebuild(ctx context.Context, c *command) error {
	cfgFlag := c.configFlag()
	sources := c.sourceFlag()
	tables := c.tableFlag("only this table and its family, by its view name, e.g. teampro_samples (repeatable)")
	since := c.fs.String("since", "", "only the responses of runs started at or after this time (RFC 3339, or YYYY-MM-DD)")
	to := c.fs.String("to", "", "rebuild into this other lake (a folder or s3:// URL) instead of in place")
	noViews := c.fs.Bool("no-views", false, "leave the views database alone")
	files := c.reportFlags()
	if err := c.parse(); err != nil {
		return err
	}
	return c.withReports(files, func() (*runReport, error) {
		start := time.Now()
		o := jobs.RebuildOptions{Sources: *sources, Tables: *tables, To: *to, NoViews: *noViews}
		var err error
		if o.Since, err = parseTimeFlag("--since", *since, false); err != nil {
			return nil, err
		}
		cfg, err := c.loadConfig(*cfgFlag)
		if err != nil {
			return nil, err
		}
		rep, err := jobs.Rebuild(ctx, c.env, cfg, o)
		if rep == nil {
			return nil, err
		}
		// A failed rebuild's report has no duration.
		m := rep.Metrics(jobs.RunStatus(err), time.Now(), cmp.Or(rep.Seconds, time.Since(start).Seconds()))
		return &runReport{metrics: m, summary: rep}, err
	})
}

// reportFlags are --metrics-file and --summary-file, the files a sync,
// backfill or rebuild reports its run in.
type reportFlags struct{ metrics, summary *string }

// reportFlags defines --metrics-file and --summary-file.
func (c *command) reportFlags() reportFlags {
	return reportFlags{
		metrics: c.fs.String("metrics-file", "", "after the run, write its summary to this file in Prometheus text format (e.g. for node_exporter's textfile collector)"),
		summary: c.fs.String("summary-file", "", "after the run, write its summary to this file as JSON, as under _runs/ (e.g. /airflow/xcom/return.json for an Airflow XCom)"),
	}
}

// runReport is what a sync, backfill or rebuild that started reports:
// its metrics, and its summary as written under _runs/.
type runReport struct {
	metrics jobs.RunMetrics
	summary any // *jobs.Summary or *jobs.RebuildReport
}

// withReports runs a sync, backfill or rebuild and writes its metrics
// and its summary to the files the flags name, whatever its outcome: a
// run that did not start (bad config, lake locked) has its status,
// duration and end time only, and its error. The metrics' status follows
// the exit code: ok (0), stopped (75), failed (1, 2).
func (c *command) withReports(files reportFlags, run func() (*runReport, error)) error {
	start := time.Now()
	r, err := run()
	if *files.metrics == "" && *files.summary == "" {
		return err
	}
	if r == nil {
		ns := jobs.NewNotStarted(c.name, start, time.Now(), err)
		r = &runReport{metrics: ns.Metrics(), summary: ns}
	}
	r.metrics.Status = jobs.RunStatus(err)
	var werrs []error
	if *files.metrics != "" {
		werrs = append(werrs, jobs.WriteMetricsFile(*files.metrics, r.metrics))
	}
	if *files.summary != "" {
		werrs = append(werrs, jobs.WriteSummaryFile(*files.summary, r.summary))
	}
	if werr := errors.Join(werrs...); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}

func runAuth(ctx context.Context, c *command) error {
	if len(c.args) == 0 || strings.HasPrefix(c.args[0], "-") {
		return &jobs.UsageError{Msg: "usage: athlake auth SOURCE [--config FILE] [--no-browser] (e.g. athlake auth teampro)"}
	}
	source := c.args[0]
	c.args = c.args[1:]
	cfgFlag := c.configFlag()
	noBrowser := c.fs.Bool("no-browser", false, "do not open a browser; paste the code instead")
	cfg, err := c.parseWithConfig(cfgFlag)
	if err != nil {
		return err
	}
	o := connector.AuthOptions{Input: c.stdin}
	if !*noBrowser && (c.getenv("DISPLAY") != "" || c.getenv("WAYLAND_DISPLAY") != "") {
		o.Open = openBrowser
	}
	return jobs.Authorize(ctx, c.env, cfg, source, o)
}

func runStatus(ctx context.Context, c *command) error {
	cfg, err := c.parseWithConfig(c.configFlag())
	if err != nil {
		return err
	}
	return jobs.Status(ctx, c.env, cfg)
}

// runPeople runs `athlake people suggest`: links to review between the
// vendors' athletes.
func runPeople(ctx context.Context, c *command) error {
	if len(c.args) == 0 || c.args[0] != "suggest" {
		return &jobs.UsageError{Msg: "usage: athlake people suggest [--config FILE] [--format text|csv] [--min-confidence X]"}
	}
	c.args = c.args[1:]
	cfgFlag := c.configFlag()
	format := c.fs.String("format", "text", "text, or csv in the columns of people.mapping")
	minConf := c.fs.Float64("min-confidence", 0, "leave out suggestions below this confidence (0 to 1)")
	if err := c.parse(); err != nil {
		return err
	}
	if *format != "text" && *format != "csv" {
		return &jobs.UsageError{Msg: fmt.Sprintf("--format %s: want text or csv", *format)}
	}
	cfg, err := c.loadConfig(*cfgFlag)
	if err != nil {
		return err
	}
	_, err = jobs.SuggestPeople(ctx, c.env, cfg, jobs.SuggestOptions{Format: *format, MinConfidence: *minConf})
	return err
}

// runIceberg runs `athlake iceberg register`: publish the lake to the
// configured Iceberg catalog.
func runIceberg(ctx context.Context, c *command) error {
	if len(c.args) == 0 || c.args[0] != "register" {
		return &jobs.UsageError{Msg: "usage: athlake iceberg register [--config FILE]"}
	}
	c.args = c.args[1:]
	cfg, err := c.parseWithConfig(c.configFlag())
	if err != nil {
		return err
	}
	_, err = jobs.IcebergRegister(ctx, c.env, cfg)
	return err
}

// runExport runs `athlake export`: a de-identified research dataset.
func runExport(ctx context.Context, c *command) error {
	cfgFlag := c.configFlag()
	to := c.fs.String("to", "", "folder of the dataset")
	tables := c.fs.String("tables", "", "comma-separated views to export (default: every table of the configured sources and athlake_people)")
	since := c.fs.String("since", "", "only rows of this day or later (YYYY-MM-DD), by the table's time column")
	until := c.fs.String("until", "", "only rows of this day or earlier (YYYY-MM-DD)")
	people := c.fs.String("people", "", "comma-separated person ids (athlake_people) to export (default: everyone)")
	format := c.fs.String("format", "parquet", "parquet or csv")
	shift := c.fs.Bool("shift-dates", false, "move each person's dates and times by a keyed offset of up to 182 days")
	if err := c.parse(); err != nil {
		return err
	}
	o := jobs.ExportOptions{To: *to, Tables: splitList(*tables), People: splitList(*people), Format: *format,
		ShiftDates: *shift, StudyKey: c.getenv(jobs.StudyKeyEnv)}
	if o.Format != "parquet" && o.Format != "csv" {
		return &jobs.UsageError{Msg: fmt.Sprintf("--format %s: want parquet or csv", o.Format)}
	}
	var err error
	if o.Since, err = parseDateFlag("--since", *since); err != nil {
		return err
	}
	if o.Until, err = parseDateFlag("--until", *until); err != nil {
		return err
	}
	cfg, err := c.loadConfig(*cfgFlag)
	if err != nil {
		return err
	}
	_, err = jobs.Export(ctx, c.env, cfg, o)
	return err
}

// splitList splits a comma-separated flag value.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseDateFlag parses a YYYY-MM-DD flag ("" is no date).
func parseDateFlag(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	d, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, &jobs.UsageError{Msg: fmt.Sprintf("%s %s: want a date like 2026-05-01", name, v)}
	}
	return d, nil
}

// runPlan runs `athlake plan`: what the next sync would do.
func runPlan(ctx context.Context, c *command) error {
	cfgFlag := c.configFlag()
	sources := c.sourceFlag()
	format := c.fs.String("format", "text", "text or json")
	if err := c.parse(); err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return &jobs.UsageError{Msg: fmt.Sprintf("--format %s: want text or json", *format)}
	}
	cfg, err := c.loadConfig(*cfgFlag)
	if err != nil {
		return err
	}
	_, err = jobs.PlanRun(ctx, c.env, cfg, jobs.PlanOptions{Sources: *sources, Format: *format})
	return err
}

func runSchemas(ctx context.Context, c *command) error {
	format := c.fs.String("format", "md", "md or json")
	cfgFlag := c.configFlag()
	if err := c.parse(); err != nil {
		return err
	}
	// With a config, also report the fields vendors sent that the
	// schemas do not know; without one, just the dictionary.
	db := ""
	if p, err := jobs.FindConfig(*cfgFlag, c.getenv); err == nil {
		cfg, err := c.loadConfig(p)
		if err != nil {
			return err
		}
		db = cfg.DuckDBPath()
	}
	return jobs.Schemas(ctx, c.stdout, *format, db)
}

func runSandbox(ctx context.Context, c *command) error {
	addr := c.fs.String("addr", "127.0.0.1:8765", "listen address")
	seed := c.fs.Int64("seed", 1, "data seed")
	scale := c.fs.String("scale", "small", "small, medium or large")
	latency := c.fs.Duration("latency", 0, "delay added to every response, like a vendor's round trip (e.g. 50ms)")
	if err := c.parse(); err != nil {
		return err
	}
	sc, err := sandbox.ParseScale(*scale)
	if err != nil {
		return &jobs.UsageError{Msg: "--scale: " + err.Error()}
	}
	if *latency < 0 {
		return &jobs.UsageError{Msg: "--latency: must not be negative"}
	}
	return jobs.Sandbox(ctx, c.env, jobs.SandboxOptions{Addr: *addr, Seed: *seed, Scale: sc, Latency: *latency})
}

// runWebhooks runs `athlake webhooks serve`: the receiver of Plyomat
// webhook deliveries, until SIGTERM or SIGINT.
func runWebhooks(ctx context.Context, c *command) error {
	if len(c.args) == 0 || c.args[0] != "serve" {
		return &jobs.UsageError{Msg: "usage: athlake webhooks serve [--config FILE] [--addr HOST:PORT]"}
	}
	c.args = c.args[1:]
	cfgFlag := c.configFlag()
	addr := c.fs.String("addr", jobs.DefaultWebhookAddr, "listen address, HOST:PORT (0.0.0.0:8080 in a pod)")
	cfg, err := c.parseWithConfig(cfgFlag)
	if err != nil {
		return err
	}
	return jobs.ServeWebhooks(ctx, c.env, cfg, jobs.WebhooksOptions{Addr: *addr})
}

var errHelp = errors.New("help requested")

// exitCode maps an error to the process exit code and prints it once.
func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, errHelp) {
		return jobs.ExitOK
	}
	code := jobs.ExitCode(err)
	msg := err.Error()
	if errors.Is(err, context.Canceled) && !errors.Is(err, pipeline.ErrLockLost) {
		msg = "interrupted; what was complete is committed and the state saved: run again to continue"
	}
	fmt.Fprintf(stderr, "athlake: %s\n", strings.ReplaceAll(msg, "\n", "\n  "))
	return code
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, bool, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, false, &jobs.UsageError{Msg: fmt.Sprintf("--log-level %s: want debug, info, warn or error", level)}
	}
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	switch format {
	case "":
		if tty {
			format = "text"
		} else {
			format = "json"
		}
	case "text", "json":
	default:
		return nil, false, &jobs.UsageError{Msg: fmt.Sprintf("--log-format %s: want text or json", format)}
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), false, nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), tty, nil
}

// parseTimeFlag reads an instant, or a date: its first instant in UTC, or
// with endOfDay its last (an inclusive --until names the whole day).
func parseTimeFlag(name, v string, endOfDay bool) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		if endOfDay {
			t = t.Add(24*time.Hour - time.Nanosecond)
		}
		return t, nil
	}
	return time.Time{}, &jobs.UsageError{Msg: fmt.Sprintf("%s %q: want RFC 3339 (2026-05-01T00:00:00Z) or a date (2026-05-01)", name, v)}
}

// openBrowser opens a URL with the desktop's opener.
func openBrowser(ctx context.Context, u string) error {
	return exec.CommandContext(ctx, "xdg-open", u).Run()
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }

func (m *multiFlag) Set(v string) error {
	*m = append(*m, v)
	return nil
}
