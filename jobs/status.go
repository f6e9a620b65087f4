package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/pipeline"
)

// Status prints each source's stream state, the last runs and the lock.
func Status(ctx context.Context, env *Env, cfg *Config) error {
	st, err := openStore(ctx, env, cfg)
	if err != nil {
		return err
	}
	w := env.Stdout
	fmt.Fprintf(w, "output: %s\n", st.URL())
	states := &load.StateStore{Store: st}
	for _, src := range cfg.sourceNames() {
		streams, err := states.Load(ctx, src)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\n%s:\n", src)
		if len(streams) == 0 {
			fmt.Fprintln(w, "  never synced")
		}
		for _, name := range slices.Sorted(maps.Keys(streams)) {
			fmt.Fprintf(w, "  %-14s %s\n", name, summarizeState(streams[name]))
		}
		// A stream may leave a warning in its state for the user (e.g. an
		// Optimo list whose records carry no cursor field).
		for _, name := range slices.Sorted(maps.Keys(streams)) {
			var s struct {
				Warning string `json:"warning"`
			}
			if json.Unmarshal(streams[name], &s) == nil && s.Warning != "" {
				fmt.Fprintf(w, "  warning: %s: %s\n", name, s.Warning)
			}
		}
	}
	for _, name := range cfg.sourceNames() {
		if r, ok := cfg.Sources[name].(connector.Reporter); ok {
			cenv := sourceEnv(env, cfg, name, env.Log)
			cenv.Lake = st
			if err := r.Report(ctx, cenv, w); err != nil {
				return err
			}
		}
	}
	runs, err := st.List(ctx, load.RunsDir+"/")
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\nlast runs:")
	if len(runs) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, r := range runs[max(0, len(runs)-5):] {
		b, _, err := st.Get(ctx, r.Key)
		if err != nil {
			return err
		}
		var s Summary
		if err := json.Unmarshal(b, &s); err != nil {
			fmt.Fprintf(w, "  %s: unreadable summary\n", r.Key)
			continue
		}
		var rows int64
		for _, n := range s.Rows {
			rows += n
		}
		fmt.Fprintf(w, "  %s  %-8s %-7s %6.1fs %9d rows %5d rejects\n", s.RunID, s.Command, s.Status, s.Duration, rows, s.Rejects)
	}
	c, err := load.ListCommitted(ctx, st, tables())
	if err != nil {
		return err
	}
	var files int
	var bytes int64
	for _, o := range c.Objects {
		if _, ok := load.CommitOf(o.Key); ok {
			files++
			bytes += o.Size
		}
	}
	fmt.Fprintf(w, "\nfiles: %d committed (%.1f MB)", files, float64(bytes)/1e6)
	if n := len(c.Uncommitted); n > 0 {
		fmt.Fprintf(w, ", %d uncommitted (a sync in progress, or left by killed runs: no reader sees them; a sync an hour later deletes them)", n)
	}
	fmt.Fprintln(w)
	b, _, err := st.Get(ctx, load.LockKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		fmt.Fprintln(w, "\nlock: free")
	case err != nil:
		return err
	default:
		var h pipeline.Holder
		switch {
		case json.Unmarshal(b, &h) != nil:
			fmt.Fprintln(w, "\nlock: unreadable")
		case !env.now().Before(h.ExpiresAt):
			fmt.Fprintf(w, "\nlock: free (last held by run %s, %s on %s, until %s)\n", h.RunID, h.Command, h.Host, h.ExpiresAt.UTC().Format(time.RFC3339))
		default:
			fmt.Fprintf(w, "\nlock: %s\n", (&pipeline.LockedError{Holder: h}).Error())
		}
	}
	return nil
}

// summarizeState shows a stream's state compactly: its scalar fields, and
// list lengths instead of lists.
func summarizeState(raw []byte) string {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return string(raw)
	}
	var parts []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			switch v := m[k].(type) {
			case map[string]any:
				walk(prefix+k+".", v)
			case []any:
				parts = append(parts, fmt.Sprintf("%s%s=%d items", prefix, k, len(v)))
			default:
				parts = append(parts, fmt.Sprintf("%s%s=%v", prefix, k, v))
			}
		}
	}
	walk("", m)
	return strings.Join(parts, " ")
}
