// Package jobs holds the user-facing jobs: sync, backfill, views, status,
// schemas, sandbox and demo. It builds the sources from the configuration and
// drives them through the pipeline into the lake.
package jobs

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/oauth2"

	"github.com/athlake/athlake/extract/optimo"
	"github.com/athlake/athlake/extract/plyomat"
	"github.com/athlake/athlake/extract/teampro"
	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/load/store/s3store"
	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
)

// Version is athlake's version, sent in User-Agent headers.
const Version = "0.1.0"

// Env is what a job needs from its surroundings.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	Log    *slog.Logger
	// Progress shows a live status line on Stderr (a terminal).
	Progress bool
	// Transport, if set, carries every vendor request (tests inject faults).
	Transport http.RoundTripper
	Now       func() time.Time
	// S3, if set, adjusts the options of an s3:// output (tests give the
	// test server's keys without touching the process environment).
	S3 func(*s3store.Options)
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
	Command  string   // "sync", "backfill", "demo"
	Sources  []string // none: every configured source
	Backfill bool
	Athletes []string
	Since    time.Time
	Until    time.Time
	// LockTTL and CommitBytes override defaults (tests).
	LockTTL     time.Duration
	CommitBytes int64
	// CompactGrace overrides how long files a compaction replaced stay
	// (tests, benchmarks; negative: none).
	CompactGrace time.Duration
	// HTTP tuning (tests shorten timeouts and backoff).
	Timeout time.Duration
	Backoff time.Duration
	// Team Pro's rate limiter: rate, burst and clock (tests run it on a
	// fake clock); zero values are the vendor's limits and the real clock.
	TeamProRate  float64
	TeamProBurst int
	Clock        func() time.Time
	Sleep        func(ctx context.Context, d time.Duration) error
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
	reg := schemas.All()
	start := env.now().UTC()
	runID := newRunID(start)
	log := env.Log.With("run_id", runID)
	sources, err := buildSources(ctx, cfg, st, names, env, log, reg, runID, o)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	prog := newProgress(env)
	k := &compactor{st: st, reg: reg, runID: runID, log: log, now: env.now, seq: map[string]int{},
		o: CompactOptions{Auto: true, Grace: o.CompactGrace}, work: cfg.DuckDBPath() + ".compact"}
	var compacted *CompactReport
	runner := &pipeline.Runner{
		Log:    log,
		State:  &load.StateStore{Store: st},
		Lock:   &load.Lock{Store: st, TTL: o.LockTTL},
		Holder: pipeline.Holder{RunID: runID, Command: o.Command, Host: host, PID: os.Getpid(), StartedAt: start},
		NewSink: func(source, stream string) pipeline.Sink {
			return load.NewSink(st, reg, env.mem(), source, stream, runID)
		},
		CommitBytes: o.CommitBytes,
		Progress:    prog.committed,
		Recover:     recoverOutput(st, reg, log),
		After: func(ctx context.Context) (err error) {
			compacted, err = k.run(ctx, names)
			return err
		},
	}
	log.Info("run starting", "command", o.Command, "sources", names, "output", st.URL())
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
	runErr = classify(runErr, cfg)
	var viewsErr error
	sum.Views, viewsErr = buildViews(context.WithoutCancel(ctx), cfg, st, reg)
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
	b, _ := json.MarshalIndent(sum, "", "  ")
	if err := st.Put(context.WithoutCancel(ctx), path.Join(load.RunsDir, runID+".json"), append(b, '\n')); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("writing the run summary: %w", err))
	}
	printSummary(env.Stdout, sum)
	log.Info("run finished", "status", sum.Status, "duration", time.Duration(sum.Duration*float64(time.Second)).Round(time.Millisecond).String())
	return sum, runErr
}

// classify turns errors the user must fix into configuration errors.
func classify(err error, cfg *Config) error {
	var api *plyomat.APIError
	switch {
	case errors.Is(err, teampro.ErrReauthorize):
		return errors.Join(err, &ConfigError{Key: "sources.teampro.token_file", Msg: "the Team Pro authorization is missing, revoked or expired"})
	case errors.As(err, &api) && api.Source == "teampro" && api.Status == http.StatusUnauthorized:
		return errors.Join(err, &ConfigError{Key: "sources.teampro.token_file", Msg: "the vendor rejected the access token: run `athlake auth teampro` again"})
	case errors.As(err, &api) && api.Source == "teampro" && api.Status == http.StatusForbidden:
		return errors.Join(err, &ConfigError{Key: "sources.teampro.token_file", Msg: "the vendor refused access: authorize a user who can read the teams (scope team_read) with `athlake auth teampro`"})
	case errors.As(err, &api) && (api.Status == http.StatusUnauthorized || api.Status == http.StatusForbidden):
		key := map[string]string{"plyomat": "api_key", "optimo": "token"}[api.Source]
		return errors.Join(err, &ConfigError{Key: "sources." + api.Source + "." + key, Msg: "the vendor rejected the credentials"})
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
		switch n {
		case "plyomat":
			p := cfg.Sources.Plyomat
			c, err := plyomat.New(plyomat.Options{
				BaseURL: p.BaseURL, APIKey: p.APIKey.Reveal(), UserAgent: userAgent(),
				PageSize: p.PageSize, Concurrency: p.Concurrency, Timeout: cmp.Or(o.Timeout, time.Duration(p.Timeout)),
				Backoff: o.Backoff, Transport: env.Transport, Log: log.With("source", n),
			})
			if err != nil {
				return nil, &ConfigError{Key: "sources.plyomat", Msg: err.Error()}
			}
			out = append(out, plyomat.NewSource(c, plyomat.SourceOptions{
				Registry: reg, Mem: env.mem(), RunID: runID, Lookback: time.Duration(p.Lookback),
				Concurrency: p.Concurrency, Backfill: o.Backfill, Athletes: o.Athletes, Since: o.Since, Until: o.Until,
			}))
		case "optimo":
			oc := cfg.Sources.Optimo
			budget, err := optimo.NewBudget(ctx, &quotaStore{st: st, key: optimoQuotaKey}, oc.Zone(), oc.DailyRequestBudget, o.Clock)
			if err != nil {
				return nil, err
			}
			c, err := optimo.New(optimo.Options{
				BaseURL: oc.BaseURL, Token: oc.Token.Reveal(), UserAgent: userAgent(), Budget: budget,
				Timeout: cmp.Or(o.Timeout, time.Duration(oc.Timeout)), Backoff: o.Backoff,
				Transport: env.Transport, Log: log.With("source", n),
			})
			if err != nil {
				return nil, &ConfigError{Key: "sources.optimo", Msg: err.Error()}
			}
			out = append(out, optimo.NewSource(c, optimo.SourceOptions{
				Registry: reg, Mem: env.mem(), RunID: runID, Zone: oc.Zone(),
				Lookback: time.Duration(oc.Overlap), CursorFields: oc.CursorFields.ByMethod(), Log: log.With("source", n),
				Backfill: o.Backfill, Athletes: o.Athletes, Since: o.Since, Until: o.Until,
			}))
		case "teampro":
			t := cfg.Sources.TeamPro
			ts, err := tokenStore(ctx, env, cfg)
			if err != nil {
				return nil, err
			}
			tokens := &teampro.TokenSource{Config: oauthConfig(t), Store: ts}
			c, err := teampro.New(teampro.Options{
				BaseURL: t.BaseURL, Tokens: tokens, UserAgent: userAgent(),
				Timeout: cmp.Or(o.Timeout, time.Duration(t.Timeout)), Backoff: o.Backoff,
				Rate: cmp.Or(o.TeamProRate, t.Rate), Burst: cmp.Or(o.TeamProBurst, t.Burst), Clock: o.Clock, Sleep: o.Sleep,
				Transport: env.Transport, Log: log.With("source", n),
			})
			if err != nil {
				return nil, &ConfigError{Key: "sources.teampro", Msg: err.Error()}
			}
			out = append(out, teampro.NewSource(c, teampro.SourceOptions{
				Registry: reg, Mem: env.mem(), RunID: runID, Lookback: time.Duration(t.Lookback),
				Samples: t.Samples, Backfill: o.Backfill, Athletes: o.Athletes, Since: o.Since, Until: o.Until,
			}))
		}
	}
	return out, nil
}

// oauthConfig is the OAuth2 client of the Team Pro account: client
// credentials in HTTP basic auth, as the vendor requires.
func oauthConfig(t *TeamProConfig) *oauth2.Config {
	return &oauth2.Config{
		ClientID: t.ClientID, ClientSecret: t.ClientSecret.Reveal(), Scopes: []string{teampro.Scope},
		Endpoint: oauth2.Endpoint{AuthURL: t.AuthURL, TokenURL: t.TokenURL, AuthStyle: oauth2.AuthStyleInHeader},
	}
}

func userAgent() string { return "athlake/" + Version + " (+https://github.com/athlake/athlake)" }

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

// optimoQuotaKey is where Optimo's daily request count is kept.
var optimoQuotaKey = path.Join(load.StateDir, "optimo-quota.json")

// quotaStore keeps Optimo's daily request count in the lake's state folder.
type quotaStore struct {
	st  store.Store
	key string
}

func (q *quotaStore) Load(ctx context.Context) (optimo.Quota, error) {
	var out optimo.Quota
	b, _, err := q.st.Get(ctx, q.key)
	if errors.Is(err, store.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	return out, json.Unmarshal(b, &out)
}

func (q *quotaStore) Save(ctx context.Context, v optimo.Quota) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return q.st.Put(ctx, q.key, b)
}
