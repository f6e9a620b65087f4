package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/pipeline"
)

// PlanOptions configure `athlake plan`.
type PlanOptions struct {
	Sources []string
	Format  string // text (default) or json
	// Run overrides the sections' HTTP tuning and clocks (tests).
	Run connector.Run
}

// Plan is what the next sync would do, by source.
type Plan struct {
	Sources map[string]*SourcePlan `json:"sources"`
}

// SourcePlan is what the next sync of one source would do.
type SourcePlan struct {
	// Requests, Seconds and Days: see connector.Estimate.
	Requests int     `json:"requests"`
	Seconds  float64 `json:"seconds"`
	Days     int     `json:"days,omitempty"`
	// Rows is the rows the sync would write, Tables the same by view.
	Rows   int64            `json:"rows"`
	Tables map[string]int64 `json:"tables"`
	// Bytes is what the sync would add to the lake (Parquet files and
	// raw responses), at the bytes per row of the source's last runs;
	// 0 when no earlier run wrote any.
	Bytes int64 `json:"bytes"`
	// Asked is the requests the plan itself sent to the vendor.
	Asked int      `json:"plan_requests"`
	Notes []string `json:"notes,omitempty"`
}

// planHistory is how many of the last runs give the bytes per row.
const planHistory = 20

// PlanRun estimates, for each configured source that can say, what the
// next sync would do, from the streams' states and a few cheap requests,
// and prints it. It refuses while a run holds the lake (exit 75), and
// writes nothing but what a vendor's quota counts (Optimo's day).
func PlanRun(ctx context.Context, env *Env, cfg *Config, o PlanOptions) (*Plan, error) {
	names, err := selectSources(cfg, o.Sources)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, env, cfg)
	if err != nil {
		return nil, err
	}
	// Not beside a run: the plan's Optimo requests would race its count
	// of the day's quota, and its states move under the plan.
	if err := notBesideARun(ctx, st); err != nil {
		return nil, err
	}
	states := &load.StateStore{Store: st}
	perRow, err := bytesPerRow(ctx, st)
	if err != nil {
		return nil, err
	}
	reg := tables()
	plan := &Plan{Sources: map[string]*SourcePlan{}}
	for _, n := range names {
		est, ok := cfg.Sources[n].(connector.Estimator)
		if !ok {
			continue
		}
		streams, err := states.Load(ctx, n)
		if err != nil {
			return nil, err
		}
		cenv := sourceEnv(env, cfg, n, env.Log)
		cenv.Lake, cenv.Registry, cenv.Run = st, reg, o.Run
		e, err := est.Estimate(ctx, cenv, streams)
		if errors.Is(err, pipeline.ErrStopEarly) {
			// A spent quota is an answer: the sync waits for it too.
			plan.Sources[n] = &SourcePlan{Days: 2, Tables: map[string]int64{}, Notes: []string{err.Error()}}
			continue
		}
		if err != nil {
			return nil, classify(sourceError(n, err), []string{n})
		}
		sp := &SourcePlan{Requests: e.Requests, Seconds: e.Seconds, Days: e.Days, Tables: map[string]int64{},
			Asked: e.Asked, Notes: e.Notes}
		for t, r := range e.Rows {
			sp.Tables[n+"_"+t] = r
			sp.Rows += r
		}
		sp.Bytes = int64(math.Round(float64(sp.Rows) * perRow[n]))
		plan.Sources[n] = sp
	}
	if o.Format == "json" {
		b, _ := json.MarshalIndent(plan, "", "  ")
		_, err = fmt.Fprintf(env.Stdout, "%s\n", b)
		return plan, err
	}
	return plan, printPlan(env, plan)
}

// bytesPerRow is, by source, the bytes its last runs' streams wrote per
// row.
func bytesPerRow(ctx context.Context, st store.Store) (map[string]float64, error) {
	runs, err := st.List(ctx, load.RunsDir+"/")
	if err != nil {
		return nil, err
	}
	bytes, rows := map[string]int64{}, map[string]int64{}
	for _, r := range runs[max(0, len(runs)-planHistory):] {
		b, _, err := st.Get(ctx, r.Key)
		if err != nil {
			return nil, err
		}
		var s Summary
		if json.Unmarshal(b, &s) != nil {
			continue
		}
		for _, sr := range s.Streams {
			bytes[sr.Source] += sr.Bytes
			for _, n := range sr.Rows {
				rows[sr.Source] += n
			}
		}
	}
	out := map[string]float64{}
	for src, n := range rows {
		if n > 0 {
			out[src] = float64(bytes[src]) / float64(n)
		}
	}
	return out, nil
}

func printPlan(env *Env, p *Plan) error {
	w := env.Stdout
	for _, n := range slices.Sorted(maps.Keys(p.Sources)) {
		sp := p.Sources[n]
		fmt.Fprintf(w, "%s: %d requests, %s", n, sp.Requests, time.Duration(sp.Seconds*float64(time.Second)).Round(time.Second))
		if sp.Days > 1 {
			fmt.Fprintf(w, " over %d days of quota", sp.Days)
		}
		fmt.Fprintf(w, ", %d rows", sp.Rows)
		if sp.Bytes > 0 {
			fmt.Fprintf(w, ", ~%.1f MB", float64(sp.Bytes)/1e6)
		}
		fmt.Fprintf(w, " (the plan sent %d requests)\n", sp.Asked)
		for _, t := range slices.Sorted(maps.Keys(sp.Tables)) {
			fmt.Fprintf(w, "  %-28s %10d rows\n", t, sp.Tables[t])
		}
		for _, note := range sp.Notes {
			fmt.Fprintf(w, "  note: %s\n", strings.TrimSpace(note))
		}
	}
	return nil
}
