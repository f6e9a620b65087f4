// Command athlake exports training data from vendor APIs into a lake of
// Parquet files with DuckDB views over them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // Optimo's account zone must load on machines without a zone database

	"golang.org/x/term"

	"github.com/athlake/athlake/jobs"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/sandbox"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitStopped = 75 // EX_TEMPFAIL: state saved, run again later
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
  athlake sync      [--config FILE] [--source NAME]...
  athlake backfill  [--config FILE] [--source NAME]... [--athlete ID]... [--since T] [--until T]
  athlake views     [--config FILE] [--db FILE] [--lake DIR]
  athlake mirror    [--config FILE] --to DIR
  athlake compact   [--config FILE] [--source NAME]... [--table VIEW]... [--dry-run]
  athlake sandbox   [--addr 127.0.0.1:8765] [--seed N] [--scale small|medium|large] [--latency D]
  athlake auth teampro [--config FILE] [--no-browser]
  athlake schemas   [--format md|json] [--config FILE]
  athlake status    [--config FILE]

Common flags: --log-format text|json, --log-level debug|info|warn|error.
--config defaults to ./athlake.yaml, then $ATHLAKE_CONFIG.
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
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("athlake "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	logFormat := fs.String("log-format", "", "log format: text or json (default: text on a terminal, else json)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	configPath := func() *string {
		return fs.String("config", "", "config file (default ./athlake.yaml, then $ATHLAKE_CONFIG)")
	}

	env := &jobs.Env{Stdout: stdout, Stderr: stderr}
	setup := func() error {
		log, progress, err := newLogger(stderr, *logFormat, *logLevel)
		if err != nil {
			return err
		}
		env.Log, env.Progress = log, progress
		return nil
	}
	loadConfig := func(flagValue string) (*jobs.Config, error) {
		p, err := jobs.FindConfig(flagValue, getenv)
		if err != nil {
			return nil, err
		}
		return jobs.LoadConfig(p, getenv)
	}
	parse := func() error {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return errHelp
			}
			return &jobs.UsageError{Msg: err.Error()}
		}
		if fs.NArg() > 0 {
			return &jobs.UsageError{Msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
		}
		return setup()
	}

	switch cmd {
	case "demo":
		out := fs.String("out", "athlake-demo", "folder for the demo's lake and DuckDB file")
		seed := fs.Int64("seed", 1, "sandbox data seed")
		scale := fs.String("scale", "small", "sandbox scale: small, medium or large")
		if err := parse(); err != nil {
			return err
		}
		sc, err := sandbox.ParseScale(*scale)
		if err != nil {
			return &jobs.UsageError{Msg: "--scale: " + err.Error()}
		}
		return jobs.Demo(ctx, env, jobs.DemoOptions{Out: *out, Seed: *seed, Scale: sc})

	case "sync", "backfill":
		cfgFlag := configPath()
		var sources, athletes multiFlag
		fs.Var(&sources, "source", "only this source (repeatable)")
		var since, until *string
		if cmd == "backfill" {
			fs.Var(&athletes, "athlete", "only this athlete (Plyomat, Optimo) or player (Team Pro) id (repeatable)")
			since = fs.String("since", "", "only records from this time, inclusive (RFC 3339, or YYYY-MM-DD for the start of that day in UTC)")
			until = fs.String("until", "", "only records up to this time, inclusive (RFC 3339, or YYYY-MM-DD for the end of that day in UTC)")
		}
		if err := parse(); err != nil {
			return err
		}
		o := jobs.RunOptions{Command: cmd, Sources: sources, Athletes: athletes, Backfill: cmd == "backfill"}
		if cmd == "backfill" {
			var err error
			if o.Since, err = parseTimeFlag("--since", *since, false); err != nil {
				return err
			}
			if o.Until, err = parseTimeFlag("--until", *until, true); err != nil {
				return err
			}
			if !o.Since.IsZero() && !o.Until.IsZero() && o.Until.Before(o.Since) {
				return &jobs.UsageError{Msg: "--until is before --since"}
			}
		}
		cfg, err := loadConfig(*cfgFlag)
		if err != nil {
			return err
		}
		_, err = jobs.Run(ctx, env, cfg, o)
		return err

	case "views":
		cfgFlag := configPath()
		db := fs.String("db", "", "DuckDB file to write (default: the config's duckdb)")
		lake := fs.String("lake", "", "lake folder to read (default: the config's output)")
		if err := parse(); err != nil {
			return err
		}
		cfg, err := loadConfig(*cfgFlag)
		if err != nil {
			return err
		}
		return jobs.Views(ctx, env, cfg, jobs.ViewsOptions{DB: *db, Lake: *lake})

	case "mirror":
		cfgFlag := configPath()
		to := fs.String("to", "", "local folder to copy the committed lake into")
		if err := parse(); err != nil {
			return err
		}
		cfg, err := loadConfig(*cfgFlag)
		if err != nil {
			return err
		}
		_, err = jobs.Mirror(ctx, env, cfg, jobs.MirrorOptions{To: *to})
		return err

	case "compact":
		cfgFlag := configPath()
		var sources, tables multiFlag
		fs.Var(&sources, "source", "only this source (repeatable)")
		fs.Var(&tables, "table", "only this table, by its view name, e.g. plyomat_sets (repeatable)")
		dry := fs.Bool("dry-run", false, "say what would be compacted, write nothing")
		if err := parse(); err != nil {
			return err
		}
		cfg, err := loadConfig(*cfgFlag)
		if err != nil {
			return err
		}
		_, err = jobs.Compact(ctx, env, cfg, jobs.CompactOptions{Sources: sources, Tables: tables, DryRun: *dry})
		return err

	case "auth":
		if len(args) == 0 || args[0] != "teampro" {
			return &jobs.UsageError{Msg: "usage: athlake auth teampro [--config FILE] [--no-browser]"}
		}
		args = args[1:]
		cfgFlag := configPath()
		noBrowser := fs.Bool("no-browser", false, "do not open a browser; paste the code instead")
		if err := parse(); err != nil {
			return err
		}
		cfg, err := loadConfig(*cfgFlag)
		if err != nil {
			return err
		}
		o := jobs.AuthOptions{Input: stdin}
		if !*noBrowser && (getenv("DISPLAY") != "" || getenv("WAYLAND_DISPLAY") != "") {
			o.Open = openBrowser
		}
		return jobs.AuthTeamPro(ctx, env, cfg, o)

	case "status":
		cfgFlag := configPath()
		if err := parse(); err != nil {
			return err
		}
		cfg, err := loadConfig(*cfgFlag)
		if err != nil {
			return err
		}
		return jobs.Status(ctx, env, cfg)

	case "schemas":
		format := fs.String("format", "md", "md or json")
		cfgFlag := configPath()
		if err := parse(); err != nil {
			return err
		}
		// With a config, also report the fields vendors sent that the
		// schemas do not know; without one, just the dictionary.
		db := ""
		if p, err := jobs.FindConfig(*cfgFlag, getenv); err == nil {
			cfg, err := jobs.LoadConfig(p, getenv)
			if err != nil {
				return err
			}
			db = cfg.DuckDBPath()
		}
		return jobs.Schemas(ctx, stdout, *format, db)

	case "sandbox":
		addr := fs.String("addr", "127.0.0.1:8765", "listen address")
		seed := fs.Int64("seed", 1, "data seed")
		scale := fs.String("scale", "small", "small, medium or large")
		latency := fs.Duration("latency", 0, "delay added to every response, like a vendor's round trip (e.g. 50ms)")
		if err := parse(); err != nil {
			return err
		}
		sc, err := sandbox.ParseScale(*scale)
		if err != nil {
			return &jobs.UsageError{Msg: "--scale: " + err.Error()}
		}
		if *latency < 0 {
			return &jobs.UsageError{Msg: "--latency: must not be negative"}
		}
		return jobs.Sandbox(ctx, env, jobs.SandboxOptions{Addr: *addr, Seed: *seed, Scale: sc, Latency: *latency})
	}
	return &jobs.UsageError{Msg: fmt.Sprintf("unknown command %q (see athlake --help)", cmd)}
}

var errHelp = errors.New("help requested")

// exitCode maps an error to the process exit code and prints it once.
func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, errHelp) {
		return exitOK
	}
	var usage *jobs.UsageError
	var cfg *jobs.ConfigError
	code := exitFailed
	switch {
	case errors.As(err, &usage), errors.As(err, &cfg):
		code = exitUsage
	case onlyStopped(err):
		code = exitStopped
	}
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
