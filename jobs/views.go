package jobs

import (
	"context"
	"fmt"
	"strings"
	"time"

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

// Views (re)creates the DuckDB database of views from the Parquet files
// alone, without calling any API. For an s3:// output it prints the setup a
// notebook runs before querying.
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
	s3, err := buildViews(ctx, cfg, st, schemas.All())
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "views over %s written to %s\n", st.URL(), cfg.DuckDBPath())
	if s3 != nil {
		fmt.Fprintf(env.Stdout, "in a notebook, run once per connection before querying:\n  %s\n", s3.Setup())
	}
	return nil
}

// buildViews writes the views over the committed files of the lake; it
// returns how DuckDB reaches an s3:// lake (nil for a local one).
func buildViews(ctx context.Context, cfg *Config, st store.Store, reg *schemas.Registry) (*views.S3, error) {
	c, err := load.ListCommitted(ctx, st, reg)
	if err != nil {
		return nil, err
	}
	files := viewFiles(c, reg)
	s3, err := viewsS3(ctx, cfg, st)
	if err != nil {
		return nil, err
	}
	return s3, views.Build(ctx, views.Options{
		DB: cfg.DuckDBPath(), Lake: st.URL(), S3: s3, Tables: orderedTables(reg),
		Files: func(t *schemas.Table) ([]string, []string) {
			if f := files[t.ID()]; f != nil {
				return f.base, f.delta
			}
			return nil, nil
		},
	})
}

// viewFiles picks the files each view reads, by table ID: a table's live
// files (liveFiles), split into the files compactions wrote (base) and the
// others (delta); for a snapshot table, those of the newest complete
// snapshot — the run whose commit marker the store wrote last (the store's
// clock, not the writers', which may disagree across hosts).
func viewFiles(c *load.Committed, reg *schemas.Registry) map[string]*tableFiles {
	out := map[string]*tableFiles{}
	for id, files := range liveFiles(c, reg) {
		source, name, _ := strings.Cut(id, "/")
		t, _ := reg.Lookup(source, name)
		newest := ""
		if t.Mode == schemas.Snapshot && t.Parent == nil {
			var at time.Time
			for _, f := range files {
				cm, _ := load.CommitOf(f.key)
				if a := c.Markers[cm.Marker()]; newest == "" || a.After(at) || a.Equal(at) && cm.RunID > newest {
					at, newest = a, cm.RunID
				}
			}
		}
		tf := &tableFiles{}
		for _, f := range files {
			switch cm, _ := load.CommitOf(f.key); {
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
