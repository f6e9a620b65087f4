package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
)

// CompactDeltaFiles is the threshold of automatic compaction: at the end of
// a sync, a table family (an incremental table with its child tables) is
// compacted once it holds this many files committed since its last
// compaction; old dimension snapshots are dropped once this many files
// hold them.
const CompactDeltaFiles = 16

// CompactOptions select what a compaction covers.
type CompactOptions struct {
	Sources []string // none: every configured source
	Tables  []string // view names (plyomat_sets; a child names its family); none: all
	DryRun  bool     // say what would be compacted, write nothing
	// Auto compacts only what passed the thresholds (the end of a sync);
	// otherwise every family with a file committed since its last
	// compaction.
	Auto bool
	// Grace overrides load.ReplacedGrace (tests, benchmarks); negative:
	// none.
	Grace time.Duration
}

// CompactReport is what a compaction did (or, dry, would do).
type CompactReport struct {
	Tables  []CompactedTable `json:"tables"`
	Deleted int              `json:"replaced_files_deleted"`
}

// CompactedTable is one table family's compaction.
type CompactedTable struct {
	Table      string `json:"table"`
	Partitions int    `json:"partitions"`
	Replaced   int    `json:"files_replaced"`
	Written    int    `json:"files_written"`
	Rows       int64  `json:"rows"`
	// New counts the files committed since the family's last compaction
	// (a dry run reports only these: which partitions change is known
	// once the compaction reads them).
	New int `json:"new_files,omitempty"`
}

// compactor compacts a lake under the run lock.
type compactor struct {
	st    store.Store
	reg   *schemas.Registry
	runID string
	o     CompactOptions
	log   *slog.Logger
	now   func() time.Time
	seq   map[string]int // compaction commits so far, by source
	// work is the folder for a compaction's files before they are
	// committed (beside the views database, not a /tmp that may be
	// memory); a killed compaction's are removed by the next.
	work string
	// mem gives DuckDB's memory_limit (Compaction) and threads.
	mem Memory
	// unchanged is the lake as the last run listed it, when that run
	// changed nothing (nil otherwise): the views build of the same sync
	// need not list it again.
	unchanged *load.Committed
}

// run deletes the files replaced more than the grace ago, then compacts
// the families due. It returns what it did.
func (k *compactor) run(ctx context.Context, sources []string) (*CompactReport, error) {
	k.unchanged = nil
	rep := &CompactReport{}
	if !k.o.DryRun {
		if err := os.RemoveAll(k.work); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(k.work, 0o755); err != nil {
			return nil, err
		}
		defer os.RemoveAll(k.work)
	}
	c, err := load.ListCommitted(ctx, k.st, k.reg)
	if err != nil {
		return nil, err
	}
	if !k.o.DryRun {
		grace := load.ReplacedGrace
		if k.o.Grace != 0 {
			grace = max(k.o.Grace, 0)
		}
		if rep.Deleted, err = load.DeleteReplaced(ctx, k.st, c, k.now().Add(-grace)); err != nil {
			return rep, err
		}
	}
	files, read := liveFiles(c, k.reg), viewFiles(c, k.reg)
	for _, t := range k.reg.Tables() {
		if t.Parent != nil || !slices.Contains(sources, t.Source) || !k.wanted(t) {
			continue
		}
		var err error
		var done *CompactedTable
		if t.Mode == schemas.Snapshot {
			done, err = k.dropOldSnapshots(ctx, t, read[t.ID()], files)
		} else {
			done, err = k.compactFamily(ctx, t, files)
		}
		if err != nil {
			return rep, fmt.Errorf("compacting %s: %w", t.ViewName(), err)
		}
		if done != nil {
			rep.Tables = append(rep.Tables, *done)
		}
	}
	if rep.Deleted == 0 && len(rep.Tables) == 0 {
		k.unchanged = c
	}
	return rep, nil
}

func (k *compactor) wanted(t *schemas.Table) bool {
	if len(k.o.Tables) == 0 {
		return true
	}
	for _, name := range k.o.Tables {
		if name == t.ViewName() || name == t.ID() {
			return true
		}
	}
	// A child named asks for its family.
	for _, ct := range k.reg.Tables() {
		if ct.Parent != nil && ct.Source == t.Source && ct.Parent.Table == t.Name && slices.Contains(k.o.Tables, ct.ViewName()) {
			return true
		}
	}
	return false
}

// family is a root table and its child tables.
func (k *compactor) family(t *schemas.Table) []*schemas.Table {
	out := []*schemas.Table{t}
	for _, ct := range k.reg.Tables() {
		if ct.Parent != nil && ct.Source == t.Source && ct.Parent.Table == t.Name {
			out = append(out, ct)
		}
	}
	return out
}

func (k *compactor) compactFamily(ctx context.Context, t *schemas.Table, files map[string][]lakeFile) (*CompactedTable, error) {
	fam := k.family(t)
	delta := 0
	for _, ft := range fam {
		for _, f := range files[ft.ID()] {
			if !f.base {
				delta++
			}
		}
	}
	if delta == 0 || k.o.Auto && delta < CompactDeltaFiles {
		return nil, nil
	}
	done := &CompactedTable{Table: t.ViewName()}
	if k.o.DryRun {
		done.New = delta
		return done, nil
	}
	tmp, err := os.MkdirTemp(k.work, "family-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	in := views.CompactInput{Root: t, Children: fam[1:], Files: map[string][]views.PartFile{}, OutDir: tmp, Threads: k.mem.DuckDBThreads,
		Stage: func(ctx context.Context, key string) (string, error) { return k.localPath(ctx, tmp, key) }}
	for i, ft := range fam {
		for _, f := range files[ft.ID()] {
			pf := views.PartFile{Key: f.key, Part: f.part, Delta: !f.base}
			if i == 0 {
				// The root is read whole; children only where rewritten.
				var err error
				if pf.Path, err = k.localPath(ctx, tmp, f.key); err != nil {
					return nil, err
				}
			}
			in.Files[ft.ID()] = append(in.Files[ft.ID()], pf)
		}
	}
	// After a sync, its streams' buffers are garbage: hand their memory
	// back before DuckDB takes its own, so that the two do not add up.
	debug.FreeOSMemory()
	in.MemoryLimit = k.mem.DuckDB
	k.log.Debug("compacting", "table", t.ViewName(), "files", delta, "duckdb_memory_limit", in.MemoryLimit)
	var parts []string
	var outs []views.CompactOutput
	err = withDuckDBMemory(k.log, "compacting "+t.ViewName(), in.MemoryLimit, func(limit int64) (err error) {
		in.MemoryLimit = limit
		parts, outs, err = views.CompactFamily(ctx, in)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, nil
	}
	k.seq[t.Source]++
	seq := k.seq[t.Source]
	var written []load.CompactedFile
	for _, o := range outs {
		written = append(written, load.CompactedFile{Local: o.Path, Key: load.CompactionKey(t.Source, o.Table.Name, o.Part, k.runID, seq)})
		done.Rows += o.Rows
	}
	var replaces []string
	for _, ft := range fam {
		for _, f := range files[ft.ID()] {
			if slices.Contains(parts, f.part) {
				replaces = append(replaces, f.key)
			}
		}
	}
	slices.Sort(replaces)
	if err := load.CommitCompaction(ctx, k.st, t.Source, k.runID, seq, written, replaces); err != nil {
		return nil, err
	}
	done.Partitions, done.Replaced, done.Written = len(parts), len(replaces), len(written)
	k.log.Info("compacted", "table", t.ViewName(), "partitions", done.Partitions, "files_replaced", done.Replaced, "files_written", done.Written, "rows", done.Rows)
	return done, nil
}

// dropOldSnapshots replaces, with no file, the files of a snapshot table
// (and its children) that snapshots older than newest (the files its view
// reads: the newest snapshot's and the records pulled since) wrote, and
// the records pulled before it: no view reads them.
func (k *compactor) dropOldSnapshots(ctx context.Context, t *schemas.Table, newest *tableFiles, files map[string][]lakeFile) (*CompactedTable, error) {
	if newest == nil {
		return nil, nil
	}
	read := map[string]bool{}
	run := "" // the newest snapshot's
	for _, key := range newest.delta {
		read[key] = true
		if cm, _ := load.CommitOf(key); cm.Stream != connector.OverlayStream {
			run = cm.RunID
		}
	}
	if run == "" {
		return nil, nil
	}
	var old []string
	for _, ft := range k.family(t) {
		for _, f := range files[ft.ID()] {
			fc, _ := load.CommitOf(f.key)
			if root := ft.ID() == t.ID(); root && !read[f.key] || !root && fc.RunID != run && fc.Stream != connector.OverlayStream {
				old = append(old, f.key)
			}
		}
	}
	if len(old) == 0 || k.o.Auto && len(old) < CompactDeltaFiles {
		return nil, nil
	}
	done := &CompactedTable{Table: t.ViewName(), Replaced: len(old)}
	if k.o.DryRun {
		return done, nil
	}
	k.seq[t.Source]++
	if err := load.CommitCompaction(ctx, k.st, t.Source, k.runID, k.seq[t.Source], nil, old); err != nil {
		return nil, err
	}
	k.log.Info("dropped old snapshots", "table", t.ViewName(), "files_replaced", len(old))
	return done, nil
}

// localPath is where DuckDB reads a lake file: in place in a local lake,
// a copy in dir from any other store.
func (k *compactor) localPath(ctx context.Context, dir, key string) (string, error) {
	if u := k.st.URL(); !strings.HasPrefix(u, "s3://") {
		return filepath.Join(u, filepath.FromSlash(key)), nil
	}
	return stage(ctx, k.st, key, filepath.Join(dir, "in"))
}

// lakeFile is a committed Parquet file that views read or that an old
// snapshot left.
type lakeFile struct {
	key  string
	part string // partition folder, "" when the table has none
	base bool   // written by a compaction
}

// liveFiles lists each table's committed Parquet files but those a
// compaction replaced, by table ID.
func liveFiles(c *load.Committed, reg *schemas.Registry) map[string][]lakeFile {
	out := map[string][]lakeFile{}
	for _, o := range c.Objects {
		cm, ok := load.CommitOf(o.Key)
		if !ok || !strings.HasSuffix(o.Key, ".parquet") || c.Replaced[o.Key] {
			continue
		}
		parts := strings.SplitN(o.Key, "/", 3)
		t, ok := reg.Lookup(parts[0], parts[1])
		if !ok {
			continue // a table this version does not know
		}
		part := path.Dir(parts[2])
		if part == "." {
			part = ""
		}
		out[t.ID()] = append(out[t.ID()], lakeFile{key: o.Key, part: part, base: cm.Compacted()})
	}
	return out
}

// Compact compacts the lake under the run lock: it deletes the files that
// compactions replaced more than the grace ago, compacts every table
// family with files committed since its last compaction (or, with
// o.Auto, those past the thresholds) and drops old dimension snapshots,
// then rebuilds the views. A compaction killed at any moment leaves the
// views as they were; the next run cleans up after it.
func Compact(ctx context.Context, env *Env, cfg *Config, o CompactOptions) (*CompactReport, error) {
	names, err := selectSources(cfg, o.Sources)
	if err != nil {
		return nil, err
	}
	reg := tables()
	for _, name := range o.Tables {
		if !slices.ContainsFunc(reg.Tables(), func(t *schemas.Table) bool { return name == t.ViewName() || name == t.ID() }) {
			return nil, &UsageError{Msg: fmt.Sprintf("--table %s: no such table (see athlake schemas; e.g. %s)", name, reg.Tables()[0].ViewName())}
		}
	}
	st, err := openStore(ctx, env, cfg)
	if err != nil {
		return nil, err
	}
	if !o.DryRun {
		if err := prepareWrite(ctx, st); err != nil {
			return nil, err
		}
	}
	start := env.now().UTC()
	runID := newRunID(start)
	log := env.Log.With("run_id", runID)
	k := &compactor{st: st, reg: reg, runID: runID, o: o, log: log, now: env.now, seq: map[string]int{}, work: cfg.compactWork(), mem: cfg.Memory()}
	var rep *CompactReport
	if o.DryRun {
		rep, err = k.run(ctx, names)
	} else {
		host, _ := os.Hostname()
		runner := &pipeline.Runner{
			Log: log, State: &load.StateStore{Store: st}, Lock: &load.Lock{Store: st},
			Holder:  pipeline.Holder{RunID: runID, Command: "compact", Host: host, PID: os.Getpid(), StartedAt: start},
			Recover: recoverOutput(st, reg, log),
			After: func(ctx context.Context) (err error) {
				rep, err = k.run(ctx, names)
				return err
			},
		}
		_, err = runner.Run(ctx, nil)
	}
	if err == nil && rep == nil {
		err = cmp.Or(ctx.Err(), errors.New("the compaction did not run"))
	}
	if err != nil {
		return rep, err
	}
	if !o.DryRun {
		if _, err := buildViews(ctx, cfg, st, reg, viewsRun{log: log}); err != nil && !errors.Is(err, views.ErrNoHTTPFS) {
			return rep, fmt.Errorf("building views: %w", err)
		}
		if cfg.Iceberg != nil {
			// A compaction is a replace snapshot of the tables it
			// rewrote.
			if _, err := publishIceberg(ctx, env, cfg, st, reg, nil, log); err != nil {
				return rep, fmt.Errorf("publishing to iceberg: %w", err)
			}
		}
	}
	for _, t := range rep.Tables {
		switch {
		case o.DryRun && t.New > 0:
			fmt.Fprintf(env.Stdout, "would compact %-30s %d files committed since its last compaction\n", t.Table, t.New)
		case o.DryRun:
			fmt.Fprintf(env.Stdout, "would drop    %-30s %d files of older snapshots\n", t.Table, t.Replaced)
		default:
			fmt.Fprintf(env.Stdout, "compacted %-30s %d partitions: %d files -> %d, %d rows\n", t.Table, t.Partitions, t.Replaced, t.Written, t.Rows)
		}
	}
	if len(rep.Tables) == 0 {
		fmt.Fprintln(env.Stdout, "nothing to compact")
	}
	if rep.Deleted > 0 {
		fmt.Fprintf(env.Stdout, "deleted %d files replaced more than the grace ago\n", rep.Deleted)
	}
	return rep, nil
}
