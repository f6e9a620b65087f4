// Package jobs holds the user-facing jobs: sync, backfill, views, status,
// schemas, sandbox and demo. It builds the sources from the configuration and
// drives them through the pipeline into the lake.
package jobs

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/load/store/s3store"
	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
)

// Version is athlake's version when the binary does not carry a stamped
// one (Env.Version).
const Version = "0.1.0"

// Env is what a job needs from its surroundings.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	Log    *slog.Logger
	// Version is the version the binary reports (athlake version), sent
	// in User-Agent headers; default Version.
	Version string
	// Progress shows a live status line on Stderr (a terminal).
	Progress bool
	// Transport, if set, carries every vendor request (tests inject faults).
	Transport http.RoundTripper
	Now       func() time.Time
	// S3, if set, adjusts the options of an s3:// output (tests give the
	// test server's keys without touching the process environment).
	S3 func(*s3store.Options)
	// Glue, if set, adjusts the AWS configuration a glue catalog is
	// reached with (tests give the simulator's keys without touching the
	// process environment).
	Glue func(*aws.Config)
	// WrapStore, if set, wraps the output's store (tests inject faults).
	WrapStore func(store.Store) store.Store
	// Mem, if set, allocates the Arrow memory of syncs and backfills, from
	// the decoders to the Parquet writers (tests check it for leaks);
	// default memory.DefaultAllocator.
	Mem memory.Allocator
}

func (e *Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Env) mem() memory.Allocator {
	if e.Mem != nil {
		return e.Mem
	}
	return memory.DefaultAllocator
}

// UsageError is a bad command line; it names the flag.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// RunOptions select what a sync or backfill covers.
type RunOptions struct {
	Command string   // "sync", "backfill", "demo"
	Sources []string // none: every configured source
	// Run is what each source covers (backfill, athletes, time range)
	// and its HTTP tuning (tests shorten timeouts and backoff, and run
	// client-side rate limits on a fake clock); zero values are the
	// configured limits and the real clock.
	connector.Run
	// LockTTL and CommitBytes override defaults (tests; CommitBytes is
	// otherwise the config's Memory).
	LockTTL     time.Duration
	CommitBytes int64
	// CompactGrace overrides how long files a compaction replaced stay
	// (tests, benchmarks; negative: none).
	CompactGrace time.Duration
}

// Summary is what a run did; it is printed and written under _runs/.
type Summary struct {
	RunID      string                           `json:"run_id"`
	Command    string                           `json:"command"`
	StartedAt  time.Time                        `json:"started_at"`
	FinishedAt time.Time                        `json:"finished_at"`
	Duration   float64                          `json:"duration_seconds"`
	Status     string                           `json:"status"`
	Error      string                           `json:"error,omitempty"`
	Rows       map[string]int64                 `json:"rows"`
	Requests   map[string]pipeline.RequestStats `json:"requests"`
	Rejects    int                              `json:"rejects"`
	Anomalies  []string                         `json:"anomalies"`
	Files      int                              `json:"files"`
	Bytes      int64                            `json:"bytes_written"`
	Streams    []pipeline.StreamResult          `json:"streams"`
	// Compacted is the compaction at the end of the run.
	Compacted *CompactReport `json:"compacted,omitempty"`
	// Views is the views build at the end of the run.
	Views *ViewsBuild `json:"views,omitempty"`
	// Iceberg is the publish to the Iceberg catalog, when configured.
	Iceberg *IcebergPublish `json:"iceberg,omitempty"`
}

// requester is a source that reports its HTTP requests.
type requester interface {
	Stats() pipeline.RequestStats
}

// Run syncs (or backfills) the configured sources into the output, then
// rebuilds the views. The summary is returned even when the run failed.
func Run(ctx context.Context, env *Env, cfg *Config, o RunOptions) (*Summary, error) {
	names, err := selectSources(cfg, o.Sources)
	if err != nil {
		return nil, err
	}
	if len(o.Athletes) > 0 && len(names) > 1 {
		return nil, &UsageError{Msg: fmt.Sprintf("--athlete: an id belongs to one vendor; name it with --source (configured: %s)", strings.Join(names, ", "))}
	}
	st, err := openStore(ctx, env, cfg)
	if err != nil {
		return nil, err
	}
	if err := prepareWrite(ctx, st); err != nil {
		return nil, err
	}
	reg := tables()
	start := env.now().UTC()
	runID := newRunID(start)
	log := env.Log.With("run_id", runID)
	sources, err := buildSources(ctx, cfg, st, names, env, log, reg, runID, o)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	prog := newProgress(env)
	mem := cfg.Memory()
	k := &compactor{st: st, reg: reg, runID: runID, log: log, now: env.now, seq: map[string]int{},
		o: CompactOptions{Auto: true, Grace: o.CompactGrace}, work: cfg.compactWork(), mem: mem}
	var compacted *CompactReport
	runner := &pipeline.Runner{
		Log:    log,
		State:  &load.StateStore{Store: st},
		Lock:   &load.Lock{Store: st, TTL: o.LockTTL},
		Holder: pipeline.Holder{RunID: runID, Command: o.Command, Host: host, PID: os.Getpid(), StartedAt: start},
		NewSink: func(source, stream string) pipeline.Sink {
			return load.NewSink(st, reg, env.mem(), source, stream, runID)
		},
		CommitBytes: cmp.Or(o.CommitBytes, mem.CommitBytes),
		Parallel:    mem.Parallel,
		Progress:    prog.committed,
		Recover:     recoverOutput(st, reg, log),
		After: func(ctx context.Context) (err error) {
			// The streams' heap is garbage now: give it back to the
			// system before DuckDB takes its share of the budget.
			log.Debug("streams finished")
			debug.FreeOSMemory()
			compacted, err = k.run(ctx, names)
			return err
		},
	}
	log.Info("run starting", "command", o.Command, "sources", names, "output", st.URL(),
		"memory_limit", mem.Limit, "commit_bytes", mem.CommitBytes, "parallel", mem.Parallel, "duckdb_threads", mem.DuckDBThreads)
	results, runErr := runner.Run(ctx, sources)
	prog.done()
	var locked *pipeline.LockedError
	if errors.As(runErr, &locked) {
		return nil, runErr
	}

	sum := &Summary{
		RunID: runID, Command: o.Command, StartedAt: start, Rows: map[string]int64{},
		Requests: map[string]pipeline.RequestStats{}, Anomalies: []string{}, Streams: results,
		Compacted: compacted,
	}
	sort.Slice(sum.Streams, func(i, j int) bool {
		return sum.Streams[i].Source+"/"+sum.Streams[i].Stream < sum.Streams[j].Source+"/"+sum.Streams[j].Stream
	})
	for _, r := range results {
		for t, n := range r.Rows {
			sum.Rows[r.Source+"_"+t] += n
		}
		sum.Rejects += r.Rejects
		sum.Anomalies = append(sum.Anomalies, r.Anomalies...)
		sum.Files += r.Files
		sum.Bytes += r.Bytes
	}
	for _, s := range sources {
		if rq, ok := s.(requester); ok {
			sum.Requests[s.Name()] = rq.Stats()
		}
	}
	runErr = classify(runErr, names)
	var viewsErr error
	debug.FreeOSMemory()
	sum.Views, viewsErr = buildViews(context.WithoutCancel(ctx), cfg, st, reg, viewsRun{listed: k.unchanged, log: log})
	if b := sum.Views; viewsErr == nil && (b.Full || b.Copied) && b.Mode == views.Tables {
		log.Info("views database not updated in place", "rebuilt", b.Full, "reason", b.Reason, "files", b.Files, "seconds", b.Seconds)
	}
	switch {
	case errors.Is(viewsErr, views.ErrNoHTTPFS):
		// The data is committed; views over S3 are a convenience that
		// needs httpfs, so a pod without it does not fail its sync.
		log.Warn("views not rebuilt", "reason", viewsErr.Error())
		sum.Anomalies = append(sum.Anomalies, "views not rebuilt: "+viewsErr.Error())
	case viewsErr != nil:
		runErr = errors.Join(runErr, fmt.Errorf("building views: %w", viewsErr))
	}
	if cfg.Iceberg != nil {
		// After the views, from the same listing: the Iceberg tables
		// follow the commits; a run that fails here leaves them behind,
		// and the next publish catches up.
		var iceErr error
		sum.Iceberg, iceErr = publishIceberg(context.WithoutCancel(ctx), env, cfg, st, reg, k.unchanged, log)
		if iceErr != nil {
			runErr = errors.Join(runErr, fmt.Errorf("publishing to iceberg: %w", iceErr))
		}
	}
	sum.FinishedAt = env.now().UTC()
	sum.Duration = sum.FinishedAt.Sub(start).Seconds()
	sum.Status = "ok"
	switch {
	case runErr == nil:
	case errors.Is(runErr, context.Canceled) || errors.Is(runErr, pipeline.ErrStopEarly):
		sum.Status = "stopped"
	default:
		sum.Status = "failed"
	}
	if runErr != nil {
		sum.Error = runErr.Error()
	}
	b, err := summaryJSON(sum)
	if err == nil {
		err = st.Put(context.WithoutCancel(ctx), path.Join(load.RunsDir, runID+".json"), b)
	}
	if err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("writing the run summary: %w", err))
	}
	printSummary(env.Stdout, sum)
	log.Info("run finished", "status", sum.Status, "duration", time.Duration(sum.Duration*float64(time.Second)).Round(time.Millisecond).String())
	return sum, runErr
}

// classify turns errors the user must fix into configuration errors
// naming the key: the vendor refused the credentials of a section.
func classify(err error, names []string) error {
	if err == nil {
		return nil
	}
	for _, n := range names {
		c, _ := lookup(n)
		if ke := c.AuthError(err); ke != nil {
			return errors.Join(err, sourceError(n, ke))
		}
	}
	return err
}

func selectSources(cfg *Config, want []string) ([]string, error) {
	have := cfg.sourceNames()
	if len(want) == 0 {
		if len(have) == 0 {
			return nil, &ConfigError{Key: "sources", Msg: "no source is configured"}
		}
		return have, nil
	}
	for _, w := range want {
		if !slices.Contains(have, w) {
			return nil, &UsageError{Msg: fmt.Sprintf("--source %s: not configured (configured: %s)", w, strings.Join(have, ", "))}
		}
	}
	return want, nil
}

func buildSources(ctx context.Context, cfg *Config, st store.Store, names []string, env *Env, log *slog.Logger, reg *schemas.Registry, runID string, o RunOptions) ([]pipeline.Source, error) {
	var out []pipeline.Source
	for _, n := range names {
		cenv := sourceEnv(env, cfg, n, log)
		cenv.Lake, cenv.Registry, cenv.RunID = st, reg, runID
		cenv.Run = o.Run
		s, err := cfg.Sources[n].Source(ctx, cenv)
		if err != nil {
			return nil, sourceError(n, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// sourceEnv is what every use of a source's section gets from the
// surroundings: the HTTP transport, paths, S3 buckets, the allocator, and
// log saying which source.
func sourceEnv(env *Env, cfg *Config, name string, log *slog.Logger) *connector.Env {
	return &connector.Env{
		Path: func(p string) (string, error) { return cfg.resolve(p, os.UserHomeDir) },
		OpenBucket: func(ctx context.Context, bucket string) (store.Store, error) {
			st, err := openS3(ctx, env, cfg, bucket, "")
			if err != nil {
				return nil, err // not a typed nil in the interface
			}
			return st, nil
		},
		Mem: env.mem(), Log: log.With("source", name), Transport: env.Transport, UserAgent: env.userAgent(),
	}
}

// userAgent is the User-Agent of every vendor request.
func (e *Env) userAgent() string {
	return "athlake/" + cmp.Or(e.Version, Version) + " (+https://github.com/athlake/athlake)"
}

// newRunID returns a run id that sorts by start time: 20261122T183353.123Z-1a2b3c.
func newRunID(t time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return t.UTC().Format("20060102T150405.000Z") + "-" + hex.EncodeToString(b[:])
}

func printSummary(w io.Writer, s *Summary) {
	fmt.Fprintf(w, "run %s (%s): %s in %.1fs\n", s.RunID, s.Command, s.Status, s.Duration)
	for _, t := range slices.Sorted(maps.Keys(s.Rows)) {
		fmt.Fprintf(w, "  %-28s %10d rows\n", t, s.Rows[t])
	}
	for _, src := range slices.Sorted(maps.Keys(s.Requests)) {
		r := s.Requests[src]
		fmt.Fprintf(w, "  %-28s %10d requests, %d retries, %d rate-limit waits\n", src, r.Requests, r.Retries, r.RateLimitWaits)
	}
	fmt.Fprintf(w, "  %d files, %d bytes written, %d rejects, %d anomalies\n", s.Files, s.Bytes, s.Rejects, len(s.Anomalies))
	if s.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", s.Error)
	}
}
