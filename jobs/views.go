package jobs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/schemas"
)

// ViewsOptions override where the views are written and what they read.
type ViewsOptions struct {
	DB   string // default: the config's duckdb
	Lake string // default: the config's output
}

// Views brings the DuckDB database up to date from the Parquet files
// alone, without calling any API. For views over an s3:// output's files it
// prints the setup a notebook runs before querying.
func Views(ctx context.Context, env *Env, cfg *Config, o ViewsOptions) error {
	if o.Lake != "" {
		cfg.Output = o.Lake
		if cfg.IsS3() {
			return &UsageError{Msg: "--lake: want a local folder (a mirror of the lake); the config's output is the S3 lake"}
		}
	}
	if o.DB != "" {
		cfg.DuckDB = o.DB
	}
	st, err := openStore(ctx, env, cfg)
	if err != nil {
		return err
	}
	b, err := buildViews(ctx, cfg, st, tables(), viewsRun{log: env.Log})
	if err != nil {
		return err
	}
	switch db := cfg.DuckDBPath(); {
	case b.Mode == views.Files:
		fmt.Fprintf(env.Stdout, "views over the files of %s written to %s\n", st.URL(), db)
	case b.Full:
		fmt.Fprintf(env.Stdout, "%s built from the %d files of %s in %.1fs (%s)\n", db, b.Files, st.URL(), b.Seconds, b.Reason)
	case b.Copied:
		fmt.Fprintf(env.Stdout, "%s brought up to date with %s in %.1fs (%d new files applied to a copy: %s)\n", db, st.URL(), b.Seconds, b.Files, b.Reason)
	default:
		fmt.Fprintf(env.Stdout, "%s brought up to date with %s in %.1fs (%d new files applied)\n", db, st.URL(), b.Seconds, b.Files)
	}
	if b.s3 != nil {
		fmt.Fprintf(env.Stdout, "in a notebook, run once per connection before querying:\n  %s\n", b.s3.Setup())
	}
	return nil
}

// ViewsBuild is what a views build did.
type ViewsBuild struct {
	views.Report
	Seconds float64   `json:"seconds"`
	s3      *views.S3 // how DuckDB reaches an s3:// lake's files (Files mode)
}

// viewsRun says how a views build runs.
type viewsRun struct {
	listed *load.Committed // the lake as listed already (nil: listed now)
	anew   string          // why the database is built from every file instead of updated ("": it is updated)
	log    *slog.Logger
}

// buildViews brings the views database up to date with the committed
// files of the lake.
func buildViews(ctx context.Context, cfg *Config, st store.Store, reg *schemas.Registry, r viewsRun) (*ViewsBuild, error) {
	c := r.listed
	start := time.Now()
	var err error
	if c == nil {
		if c, err = load.ListCommitted(ctx, st, reg); err != nil {
			return nil, err
		}
	}
	files := viewFiles(c, reg)
	o := views.Options{
		DB: cfg.DuckDBPath(), Lake: st.URL(), Tables: orderedTables(reg), Mode: views.Mode(cfg.Views), Anew: r.anew,
		MemoryLimit: cfg.Memory().Views, Threads: cfg.Memory().DuckDBThreads, People: cfg.people(),
		Files: func(t *schemas.Table) ([]string, []string) {
			if f := files[t.ID()]; f != nil {
				return f.base, f.delta
			}
			return nil, nil
		},
	}
	b := &ViewsBuild{}
	switch {
	case o.Mode == views.Files:
		if b.s3, err = viewsS3(ctx, cfg, st); err != nil {
			return nil, err
		}
		o.S3 = b.s3
	default:
		o.Replaced, o.Compacted = c.Replaced, compactedFrom(c)
		if strings.HasPrefix(st.URL(), "s3://") {
			o.Stage = func(ctx context.Context, key, dir string) (string, error) { return stage(ctx, st, key, dir) }
		}
	}
	r.log.Debug("building views", "mode", o.Mode, "anew", o.Anew, "duckdb_memory_limit", o.MemoryLimit)
	err = withDuckDBMemory(r.log, "views", o.MemoryLimit, func(limit int64) error {
		o.MemoryLimit = limit
		rep, err := views.Build(ctx, o)
		if rep != nil {
			b.Report = *rep
		}
		return err
	})
	b.Seconds = time.Since(start).Seconds()
	return b, err
}

// compactedFrom maps each live file a compaction wrote to the files that
// compaction replaced.
func compactedFrom(c *load.Committed) map[string][]string {
	replaces := map[string][]string{}
	for _, cp := range c.Compactions {
		replaces[cp.Marker] = cp.Replaces
	}
	out := map[string][]string{}
	for _, o := range c.Objects {
		if cm, ok := load.CommitOf(o.Key); ok && cm.Compacted() && !c.Replaced[o.Key] {
			out[o.Key] = replaces[cm.Marker()]
		}
	}
	return out
}

// stage copies a lake file into dir (under its key) and returns its path.
func stage(ctx context.Context, st store.Store, key, dir string) (string, error) {
	p := filepath.Join(dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	r, err := st.Open(ctx, key)
	if err != nil {
		return "", err
	}
	defer r.Close()
	f, err := os.Create(p)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return "", err
	}
	return p, f.Close()
}

// viewFiles picks the files each view reads, by table ID: a table's live
// files (liveFiles), split into the files compactions wrote (base) and the
// others (delta); for a snapshot table, those of the newest complete
// snapshot — the run whose commit marker the store wrote last (the store's
// clock, not the writers', which may disagree across hosts) — and the
// records pulled one by one after it (connector.OverlayStream).
func viewFiles(c *load.Committed, reg *schemas.Registry) map[string]*tableFiles {
	out := map[string]*tableFiles{}
	for id, files := range liveFiles(c, reg) {
		source, name, _ := strings.Cut(id, "/")
		t, _ := reg.Lookup(source, name)
		// A snapshot table reads its newest snapshot, and the records
		// pulled one by one since (connector.OverlayStream), which its
		// views deduplicate by key.
		newest, overlay := "", false
		var at time.Time
		if t.Mode == schemas.Snapshot && t.Parent == nil {
			overlay = true
			for _, f := range files {
				cm, _ := load.CommitOf(f.key)
				if cm.Stream == connector.OverlayStream {
					continue
				}
				if a := c.Markers[cm.Marker()]; newest == "" || a.After(at) || a.Equal(at) && cm.RunID > newest {
					at, newest = a, cm.RunID
				}
			}
		}
		tf := &tableFiles{}
		for _, f := range files {
			switch cm, _ := load.CommitOf(f.key); {
			case overlay && cm.Stream == connector.OverlayStream:
				if newest == "" || c.Markers[cm.Marker()].After(at) {
					tf.delta = append(tf.delta, f.key)
				}
			case newest != "" && cm.RunID != newest:
			case f.base:
				tf.base = append(tf.base, f.key)
			default:
				tf.delta = append(tf.delta, f.key)
			}
		}
		out[id] = tf
	}
	return out
}

// tableFiles are the files a table's view reads.
type tableFiles struct{ base, delta []string }

// orderedTables puts parents before their children, as child views read
// their parent's view.
func orderedTables(reg *schemas.Registry) []*schemas.Table {
	var out, children []*schemas.Table
	for _, t := range reg.Tables() {
		if t.Parent != nil {
			children = append(children, t)
		} else {
			out = append(out, t)
		}
	}
	return append(out, children...)
}
