package jobs

import (
	"context"
	"fmt"
	"path"
	"strings"

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
// alone, without calling any API.
func Views(ctx context.Context, env *Env, cfg *Config, o ViewsOptions) error {
	if o.Lake != "" {
		cfg.Output = o.Lake
	}
	if o.DB != "" {
		cfg.DuckDB = o.DB
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	if err := buildViews(ctx, cfg, st, schemas.All()); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "views over %s written to %s\n", st.URL(), cfg.DuckDBPath())
	return nil
}

func buildViews(ctx context.Context, cfg *Config, st store.Store, reg *schemas.Registry) error {
	files := map[string]bool{}
	objs, err := st.List(ctx, "")
	if err != nil {
		return err
	}
	for _, o := range objs {
		if strings.HasSuffix(o.Key, ".parquet") {
			parts := strings.SplitN(o.Key, "/", 3)
			if len(parts) == 3 {
				files[path.Join(parts[0], parts[1])] = true
			}
		}
	}
	return views.Build(ctx, views.Options{
		DB: cfg.DuckDBPath(), Lake: st.URL(), Tables: orderedTables(reg),
		HasFiles: func(t *schemas.Table) bool { return files[t.ID()] },
	})
}

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
