package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
)

// RebuildOptions select what a rebuild covers.
type RebuildOptions struct {
	Sources []string // none: every configured source
	// Tables are view names (plyomat_sets); a table's family (its parent
	// and children, compacted together) comes with it. None: all.
	Tables []string
	// Since keeps the responses of runs started at or after it (zero:
	// all).
	Since time.Time
	// To is another lake to rebuild into (a folder or an s3:// URL of
	// the config's S3 settings); "" rebuilds the lake in place.
	To string
	// NoViews leaves the views database alone (a pipeline that builds it
	// elsewhere, a benchmark).
	NoViews bool
	// LockTTL overrides the lock's lease (tests).
	LockTTL time.Duration
}

// RebuildReport is what a rebuild did.
type RebuildReport struct {
	RunID     string           `json:"run_id"`
	Command   string           `json:"command"` // "rebuild", as in the syncs' summaries
	Status    string           `json:"status"`
	Error     string           `json:"error,omitempty"`
	Lake      string           `json:"lake"`
	Commits   int              `json:"commits_rebuilt"`
	Responses int              `json:"responses_decoded"`
	Rows      map[string]int64 `json:"rows"`
	Rejects   int              `json:"rejects"`
	Anomalies []string         `json:"anomalies"`
	Files     int              `json:"files"`
	Bytes     int64            `json:"bytes_written"`
	// Uncompacted counts the compactions undone in place: the files they
	// replaced are rewritten, and compacted again at the end.
	Uncompacted int `json:"compactions_undone"`
	// Compacted is the compaction at the end, as a sync's.
	Compacted *CompactReport `json:"compacted,omitempty"`
	Resumed   bool           `json:"resumed"`
	Seconds   float64        `json:"duration_seconds"`
	Views     *ViewsBuild    `json:"views,omitempty"`
}

// rebuildState is the progress of a rebuild, kept in the lake it writes:
// the commits up to Last (in name order) are rewritten. A run with the
// same parameters resumes after Last; once the rebuild is complete, the
// same command does it again.
type rebuildState struct {
	Params string `json:"params"`
	Last   string `json:"last,omitempty"`
	Done   bool   `json:"done,omitempty"`
}

// rebuildKey is the rebuild's progress in the lake it writes.
var rebuildKey = path.Join(load.StateDir, "rebuild.json")

// Rebuild re-derives tables from the raw responses the lake keeps, with
// this version's decoders, without a request to any vendor. Each commit
// whose responses are decoded again is rewritten whole, under its own
// name, so its files replace the old ones key for key (in place) or
// appear in the other lake as a sync would have written them (--to). Rows
// keep their lineage: the run that fetched them and when.
//
// In place, a commit whose files a compaction replaced is rewritten with
// every commit that compaction covered, and the compaction is then undone,
// so the views read the rewritten files; then it compacts as a sync does.
// Killed at any moment, the same command resumes it. In place, a commit
// killed midway may show its rewritten files beside old ones until then
// (the same rows and lineage; a file of another partition layout beside
// the one it replaces).
//
// The report is returned once the rebuild has started (its status and
// error say how a failed one ended); a lake locked by another run returns
// none, as Run does.
func Rebuild(ctx context.Context, env *Env, cfg *Config, o RebuildOptions) (*RebuildReport, error) {
	names, err := selectSources(cfg, o.Sources)
	if err != nil {
		return nil, err
	}
	reg := tables()
	family, err := rebuildTables(reg, names, o.Tables)
	if err != nil {
		return nil, err
	}
	if len(o.Sources) == 0 && len(o.Tables) > 0 {
		names = nil // the sources of the tables named
		for id := range family {
			if s, _, _ := strings.Cut(id, "/"); !slices.Contains(names, s) {
				names = append(names, s)
			}
		}
		slices.Sort(names)
	}
	from, err := openStore(ctx, env, cfg)
	if err != nil {
		return nil, err
	}
	to, toCfg := from, cfg
	if o.To != "" {
		if to, toCfg, err = rebuildTarget(ctx, env, cfg, o.To); err != nil {
			return nil, err
		}
		if to.URL() == from.URL() {
			return nil, &UsageError{Msg: "--to: that is the lake itself; leave --to out to rebuild in place"}
		}
	}
	if err := prepareWrite(ctx, to); err != nil {
		return nil, err
	}
	start := env.now().UTC()
	runID := newRunID(start)
	log := env.Log.With("run_id", runID)
	// A commit's responses are decoded on as many goroutines as the
	// budget runs streams (and there are cores), each with decoders of
	// its own.
	mem := cfg.Memory()
	workers := min(mem.Parallel, runtime.GOMAXPROCS(0))
	replays := map[string][]connector.Replay{}
	for _, n := range names {
		r, ok := cfg.Sources[n].(connector.Replayer)
		if !ok {
			return nil, &UsageError{Msg: fmt.Sprintf("--source %s: its responses cannot be decoded again", n)}
		}
		cenv := sourceEnv(env, cfg, n, log)
		cenv.Lake, cenv.Registry, cenv.RunID = from, reg, runID
		for range workers {
			rp, err := r.Replay(cenv)
			if err != nil {
				return nil, sourceError(n, err)
			}
			replays[n] = append(replays[n], rp)
		}
	}
	b := &rebuilder{
		from: from, to: to, reg: reg, mem: env.mem(), replays: replays, buffer: mem.CommitBytes, family: family, since: o.Since,
		inPlace: o.To == "", whole: len(o.Tables) == 0 && o.Since.IsZero(), params: fmt.Sprintf("since=%s tables=%s", o.Since.UTC().Format(time.RFC3339), strings.Join(slices.Sorted(maps.Keys(family)), ",")),
		rep: &RebuildReport{RunID: runID, Command: "rebuild", Status: "ok", Lake: to.URL(), Rows: map[string]int64{}, Anomalies: []string{}},
	}
	host, _ := os.Hostname()
	runner := &pipeline.Runner{
		Log: log, State: &load.StateStore{Store: to}, Lock: &load.Lock{Store: to, TTL: o.LockTTL},
		Holder:  pipeline.Holder{RunID: runID, Command: "rebuild", Host: host, PID: os.Getpid(), StartedAt: start},
		Recover: recoverOutput(to, reg, log),
		// Then compacted as a sync's end compacts (in place, the
		// compactions the rebuild undid are made again).
		After: func(ctx context.Context) (err error) {
			if err := b.run(ctx); err != nil {
				return err
			}
			debug.FreeOSMemory() // before DuckDB takes its share
			k := &compactor{st: to, reg: reg, runID: runID, log: log, now: env.now, seq: map[string]int{},
				o: CompactOptions{Auto: true}, work: cfg.compactWork(), mem: mem}
			b.rep.Compacted, err = k.run(ctx, names)
			return err
		},
	}
	log.Info("rebuild starting", "sources", names, "from", from.URL(), "to", to.URL())
	_, err = runner.Run(ctx, nil)
	var locked *pipeline.LockedError
	if errors.As(err, &locked) {
		return nil, err // it never started, as a sync of a locked lake
	}
	rep := b.rep
	// A rebuild that ends early says why in its report.
	failed := func(err error) (*RebuildReport, error) {
		rep.Status, rep.Error = RunStatus(err), err.Error()
		return rep, err
	}
	if err == nil && !b.finished {
		err = cmp.Or(ctx.Err(), errors.New("the rebuild did not run"))
	}
	if err != nil {
		return failed(err)
	}
	anew := ""
	if b.inPlace && rep.Commits > 0 {
		anew = "files rewritten by a rebuild"
	}
	if !o.NoViews && !toCfg.IsS3() {
		if rep.Views, err = buildViews(ctx, toCfg, to, reg, viewsRun{anew: anew, log: log}); err != nil {
			return failed(fmt.Errorf("building views: %w", err))
		}
	}
	rep.Seconds = env.now().Sub(start).Seconds()
	// Beside the syncs' summaries.
	rec, err := summaryJSON(rep)
	if err == nil {
		err = to.Put(ctx, path.Join(load.RunsDir, runID+".json"), rec)
	}
	if err != nil {
		return failed(fmt.Errorf("writing the rebuild's summary: %w", err))
	}
	fmt.Fprintf(env.Stdout, "rebuilt %d commits of %s from %d raw responses into %s in %.1fs: %d files, %d rejects",
		rep.Commits, strings.Join(names, ", "), rep.Responses, to.URL(), rep.Seconds, rep.Files, rep.Rejects)
	if rep.Resumed {
		fmt.Fprint(env.Stdout, " (resumed)")
	}
	fmt.Fprintln(env.Stdout)
	for _, t := range slices.Sorted(maps.Keys(rep.Rows)) {
		fmt.Fprintf(env.Stdout, "  %-32s %d rows\n", t, rep.Rows[t])
	}
	for _, a := range rep.Anomalies {
		fmt.Fprintf(env.Stdout, "  anomaly: %s\n", a)
	}
	if rep.Uncompacted > 0 {
		fmt.Fprintf(env.Stdout, "  %d compactions undone\n", rep.Uncompacted)
	}
	if c := rep.Compacted; c != nil && len(c.Tables) > 0 {
		fmt.Fprintf(env.Stdout, "  %d table families compacted\n", len(c.Tables))
	}
	return rep, nil
}

// rebuildTarget opens the lake of --to, with the config of the first
// one but its output. A folder gets its views database inside; an S3
// lake gets none (athlake views with a config whose output it is builds
// one).
func rebuildTarget(ctx context.Context, env *Env, cfg *Config, to string) (store.Store, *Config, error) {
	c := *cfg
	c.Output, c.DuckDB = to, ""
	if !c.IsS3() {
		c.Output = filepath.Clean(to)
		c.DuckDB = filepath.Join(c.Output, "athlake.duckdb")
	}
	st, err := openStore(ctx, env, &c)
	if ce := (*ConfigError)(nil); errors.As(err, &ce) {
		return nil, nil, &UsageError{Msg: "--to: " + ce.Msg}
	}
	return st, &c, err
}

// rebuildTables resolves --table to the table IDs rebuilt: whole families
// of the chosen sources.
func rebuildTables(reg *schemas.Registry, sources, names []string) (map[string]bool, error) {
	out := map[string]bool{}
	root := func(t *schemas.Table) string {
		if t.Parent != nil {
			return t.Source + "/" + t.Parent.Table
		}
		return t.ID()
	}
	for _, name := range names {
		i := slices.IndexFunc(reg.Tables(), func(t *schemas.Table) bool { return name == t.ViewName() || name == t.ID() })
		if i < 0 {
			return nil, &UsageError{Msg: fmt.Sprintf("--table %s: no such table (see athlake schemas; e.g. %s)", name, reg.Tables()[0].ViewName())}
		}
		if t := reg.Tables()[i]; !slices.Contains(sources, t.Source) {
			return nil, &UsageError{Msg: fmt.Sprintf("--table %s: not a table of %s", name, strings.Join(sources, ", "))}
		}
		r := root(reg.Tables()[i])
		for _, t := range reg.Tables() {
			if root(t) == r {
				out[t.ID()] = true
			}
		}
	}
	if len(names) == 0 {
		for _, t := range reg.Tables() {
			if slices.Contains(sources, t.Source) {
				out[t.ID()] = true
			}
		}
	}
	return out, nil
}

// rebuilder rewrites a lake's commits under the lock.
type rebuilder struct {
	from, to store.Store
	reg      *schemas.Registry
	mem      memory.Allocator
	replays  map[string][]connector.Replay // a source's, one a decoding goroutine
	buffer   int64                         // what a commit's sink holds before it writes row groups
	family   map[string]bool               // table IDs rebuilt
	since    time.Time
	inPlace  bool
	whole    bool // every table of the sources, every run
	params   string
	rep      *RebuildReport
	finished bool
}

// commit is a commit of the lake read: its marker and files.
type commit struct {
	load.Commit
	seq    int
	raw    *store.Object
	files  []store.Object // present, but the raw file
	listed []string       // what its marker lists (files deleted since included)
}

// rebuilt says whether a data file's table is rebuilt.
func (b *rebuilder) rebuilt(key string) bool { return b.family[tableID(key)] }

func (b *rebuilder) run(ctx context.Context) error {
	var st rebuildState
	switch data, _, err := b.to.Get(ctx, rebuildKey); {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("reading %s: %w", rebuildKey, err)
	default:
		if err := json.Unmarshal(data, &st); err != nil {
			return fmt.Errorf("%s: %w", rebuildKey, err)
		}
	}
	if st.Params != b.params || st.Done {
		st = rebuildState{Params: b.params}
	}
	b.rep.Resumed = st.Last != ""
	// A whole lake rebuilt elsewhere gets its sources' states as they are
	// now, before its commits are listed: a sync of the old lake meanwhile
	// moves them past commits this rebuild does not see.
	var states []stateFile
	var err error
	if !b.inPlace && b.whole {
		if states, err = b.states(ctx); err != nil {
			return err
		}
	}
	c, err := load.ListCommitted(ctx, b.from, b.reg)
	if err != nil {
		return err
	}
	commits, err := b.commits(ctx, c)
	if err != nil {
		return err
	}
	todo, undo, err := b.plan(c, commits)
	if err != nil {
		return err
	}
	todo = slices.DeleteFunc(todo, func(cm *commit) bool { return cm.Name <= st.Last })
	// A commit is decoded while the one before it is written (its
	// columns encoded in parallel): two commits in memory at most. One
	// decoded but never written (the write before it failed) is closed.
	var mu sync.Mutex
	unwritten := map[*decoded]bool{}
	defer func() {
		for d := range unwritten {
			d.sink.Close()
		}
	}()
	err = pipeline.Ordered(ctx, pipeline.OrderedOptions{Parallel: 1, Ahead: 1}, todo,
		func(ctx context.Context, cm *commit, send func(*decoded) error) error {
			d, err := b.decode(ctx, cm)
			if err != nil {
				return fmt.Errorf("rebuilding %s: %w", cm.Name, err)
			}
			mu.Lock()
			unwritten[d] = true
			mu.Unlock()
			return send(d)
		},
		func(cm *commit, d *decoded) error {
			mu.Lock()
			delete(unwritten, d)
			mu.Unlock()
			if err := b.commit(ctx, cm, d); err != nil {
				return fmt.Errorf("rebuilding %s: %w", cm.Name, err)
			}
			st.Last = cm.Name
			return b.save(ctx, st)
		}, func(*commit) error { return nil })
	if err != nil {
		return err
	}
	// The compactions undone, newest first: each step leaves the views
	// reading one row per key, from the rewritten files or from what a
	// compaction still holds.
	for _, m := range undo {
		if err := b.to.Delete(ctx, m); err != nil {
			return fmt.Errorf("undoing the compaction %s: %w", m, err)
		}
		b.rep.Uncompacted++
	}
	if err := b.putStates(ctx, states); err != nil {
		return err
	}
	st.Done = true
	if err := b.save(ctx, st); err != nil {
		return err
	}
	b.finished = true
	return nil
}

// stateFile is a state object of a source.
type stateFile struct {
	key  string
	data []byte
}

// states reads the states of the sources rebuilt (streams, quotas), each
// source's stream states last.
func (b *rebuilder) states(ctx context.Context) ([]stateFile, error) {
	objs, err := b.from.List(ctx, load.StateDir+"/")
	if err != nil {
		return nil, err
	}
	var out, streams []stateFile
	for _, o := range objs {
		base := path.Base(o.Key)
		for source := range b.replays {
			if !strings.HasPrefix(base, source+".") && !strings.HasPrefix(base, source+"-") {
				continue
			}
			data, _, err := b.from.Get(ctx, o.Key)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", o.Key, err)
			}
			if base == source+".json" {
				streams = append(streams, stateFile{o.Key, data})
			} else {
				out = append(out, stateFile{o.Key, data})
			}
		}
	}
	return append(out, streams...), nil
}

// putStates gives a whole lake rebuilt elsewhere the states read when it
// started, unless it has states of its own by now: its first sync goes on
// where the old lake's would have. A source's stream states go last, and
// they say whether it has any: a copy cut short is made again.
func (b *rebuilder) putStates(ctx context.Context, states []stateFile) error {
	own := map[string]bool{}
	for source := range b.replays {
		key := path.Join(load.StateDir, source+".json")
		if _, _, err := b.to.Get(ctx, key); !errors.Is(err, store.ErrNotFound) {
			own[key] = true
		}
	}
	for _, f := range states {
		source, _, _ := strings.Cut(strings.TrimPrefix(f.key, load.StateDir+"/"), ".")
		source, _, _ = strings.Cut(source, "-")
		if own[path.Join(load.StateDir, source+".json")] {
			continue
		}
		if err := b.to.Put(ctx, f.key, f.data); err != nil {
			return fmt.Errorf("writing %s: %w", f.key, err)
		}
	}
	return nil
}

func (b *rebuilder) save(ctx context.Context, st rebuildState) error {
	data, _ := json.Marshal(st)
	if err := b.to.Put(ctx, rebuildKey, data); err != nil {
		return fmt.Errorf("saving the rebuild's progress: %w", err)
	}
	return nil
}

// commits lists the lake's sync commits of the rebuilt sources (not
// compactions) with their files, in name order: by run, then stream, then
// sequence.
func (b *rebuilder) commits(ctx context.Context, c *load.Committed) (map[string]*commit, error) {
	out := map[string]*commit{}
	for key := range c.Markers {
		cm, ok := load.CommitOfMarker(key)
		if _, rebuilt := b.replays[cm.Source]; !ok || !rebuilt || cm.Compacted() {
			continue
		}
		seq, _ := strconv.Atoi(cm.Name[strings.LastIndex(cm.Name, "-")+1:])
		out[cm.Name] = &commit{Commit: cm, seq: seq}
	}
	for _, o := range c.Objects {
		cm, ok := load.CommitOf(o.Key)
		x := out[cm.Name]
		if !ok || x == nil || x.Source != cm.Source {
			continue
		}
		if strings.HasPrefix(o.Key, load.RawDir+"/") {
			x.raw = &o
		} else {
			x.files = append(x.files, o)
		}
	}
	for _, x := range out {
		data, _, err := b.from.Get(ctx, x.Marker())
		if errors.Is(err, store.ErrNotFound) {
			delete(out, x.Name) // a compaction's or a run's, gone since the listing
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", x.Marker(), err)
		}
		var m struct {
			Files []struct {
				Key string `json:"key"`
			} `json:"files"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", x.Marker(), err)
		}
		for _, f := range m.Files {
			x.listed = append(x.listed, f.Key)
		}
		for _, f := range x.files {
			if !slices.Contains(x.listed, f.Key) {
				x.listed = append(x.listed, f.Key) // an adopted commit's marker may list none
			}
		}
	}
	return out, nil
}

// plan picks the commits to rewrite, in name order, and (in place) the
// compaction markers to delete afterwards, newest first.
func (b *rebuilder) plan(c *load.Committed, commits map[string]*commit) ([]*commit, []string, error) {
	picked := map[string]bool{}
	for name, x := range commits {
		if b.since.IsZero() || !runStart(x.RunID).Before(b.since.Truncate(time.Millisecond)) {
			if x.raw != nil && b.whole || slices.ContainsFunc(x.listed, b.rebuilt) && b.decodable(x) {
				picked[name] = true
			}
		}
	}
	var undo []string
	if b.inPlace {
		// The two rules pick more commits for each other: until neither
		// does.
		for n := -1; n != len(picked); {
			n = len(picked)
			undo = b.undone(c, commits, picked)
			b.keepSnapshotOrder(commits, picked)
		}
		for name := range picked {
			if x := commits[name]; !b.decodable(x) {
				return nil, nil, fmt.Errorf("commit %s holds files of the tables rebuilt but no raw responses to decode them from, and a compaction covers it with commits rebuilt: rebuild --to another lake instead", name)
			}
		}
	}
	var out []*commit
	for _, name := range slices.Sorted(maps.Keys(picked)) {
		out = append(out, commits[name])
	}
	return out, undo, nil
}

// decodable says whether a commit can be written again: from its raw
// responses, or, without any, when all it holds of the tables rebuilt are
// snapshots (a snapshot found empty).
func (b *rebuilder) decodable(x *commit) bool {
	return x.raw != nil || !slices.ContainsFunc(x.listed, func(k string) bool {
		return b.rebuilt(k) && b.tableOf(tableID(k)).Mode != schemas.Snapshot
	})
}

// undone returns the compactions a rebuild in place undoes, newest first:
// those that replaced a file rewritten, and those whose files an undone one
// replaced. Every commit of their tables is picked to be rewritten, even
// one before --since.
func (b *rebuilder) undone(c *load.Committed, commits map[string]*commit, picked map[string]bool) []string {
	dropped := map[string]bool{}
	for again := true; again; {
		again = false
		for _, cp := range c.Compactions {
			if dropped[cp.Marker] || !slices.ContainsFunc(cp.Replaces, func(k string) bool {
				cm, ok := load.CommitOf(k)
				return ok && b.rebuilt(k) && (picked[cm.Name] || dropped[cm.Marker()])
			}) {
				continue
			}
			dropped[cp.Marker], again = true, true
			// What it holds may come from commits it does not name (an
			// earlier compaction's file, deleted with its marker): every
			// commit of its tables is written again.
			tables := map[string]bool{}
			for _, k := range cp.Replaces {
				tables[tableID(k)] = true
			}
			for name, x := range commits {
				if slices.ContainsFunc(x.listed, func(k string) bool { return tables[tableID(k)] }) {
					picked[name] = true
				}
			}
		}
	}
	var undo []string
	for i := len(c.Compactions) - 1; i >= 0; i-- {
		if m := c.Compactions[i].Marker; dropped[m] {
			undo = append(undo, m)
		}
	}
	return undo
}

// keepSnapshotOrder picks, for each snapshot table rebuilt, every commit
// of it after the first one picked: the newest snapshot is the one whose
// marker the store wrote last, so the rewritten ones keep their order
// only if all after them are rewritten after them.
func (b *rebuilder) keepSnapshotOrder(commits map[string]*commit, picked map[string]bool) {
	for id := range b.family {
		if b.tableOf(id).Mode != schemas.Snapshot {
			continue
		}
		holds := func(x *commit) bool {
			return slices.ContainsFunc(x.listed, func(k string) bool { return tableID(k) == id })
		}
		first := ""
		for name, x := range commits {
			if picked[name] && holds(x) && (first == "" || name < first) {
				first = name
			}
		}
		for name, x := range commits {
			if first != "" && name > first && holds(x) {
				picked[name] = true
			}
		}
	}
}

func (b *rebuilder) tableOf(id string) *schemas.Table {
	source, name, _ := strings.Cut(id, "/")
	t, _ := b.reg.Lookup(source, name)
	return t
}

// tableID is the table of a data file (a table's Parquet file or a
// rejects file), "" for others.
func tableID(key string) string {
	parts := strings.Split(key, "/")
	switch {
	case parts[0] == load.RejectsDir && len(parts) == 4:
		return parts[1] + "/" + parts[2]
	case !strings.HasPrefix(parts[0], "_") && len(parts) >= 3:
		return parts[0] + "/" + parts[1]
	}
	return ""
}

// runStart is when a run started, by its id (to the millisecond).
func runStart(runID string) time.Time {
	t, _ := time.Parse("20060102T150405.000Z", strings.SplitN(runID, "-", 2)[0])
	return t
}

// decoded is a commit's responses decoded again, waiting in its sink.
type decoded struct {
	sink      *load.Sink
	responses int
	anomalies []string
}

// decode decodes a commit's raw responses again into a sink that will
// commit under the commit's name: its files of rebuilt tables replace the
// old ones (in place), the others stay as they are.
func (b *rebuilder) decode(ctx context.Context, cm *commit) (*decoded, error) {
	d := &decoded{sink: load.NewSink(b.to, b.reg, b.mem, cm.Source, cm.Stream, cm.RunID)}
	var keep []store.Object
	if cm.raw != nil {
		keep = append(keep, *cm.raw)
	}
	if b.inPlace {
		for _, f := range cm.files {
			if !b.rebuilt(f.Key) {
				keep = append(keep, f)
			}
		}
	}
	d.sink.Redo(cm.seq, keep)
	d.sink.Buffer(b.buffer)
	if cm.raw != nil {
		// The responses are decoded in parallel and added in order.
		replays := b.replays[cm.Source]
		err := pipeline.OrderedMap(ctx, len(replays),
			func(ctx context.Context, emit func(pipeline.Raw) error) error {
				return load.ReadRaw(ctx, b.from, cm.raw.Key, emit)
			},
			func(_ context.Context, w int, raw pipeline.Raw) (*pipeline.Batch, error) {
				batch, err := replays[w].Decode(cm.Stream, cm.RunID, raw)
				if err == nil {
					b.keepRebuilt(cm.Source, batch)
				}
				return batch, err
			},
			func(batch *pipeline.Batch) error {
				d.responses++
				d.anomalies = append(d.anomalies, batch.Anomalies...)
				return d.sink.Add(ctx, batch)
			}, pipeline.ReleaseBatch)
		if err != nil {
			d.sink.Close()
			return nil, err
		}
	}
	// A snapshot's commit holds a file of the table even when the
	// snapshot is empty.
	var snaps []string
	for _, k := range cm.listed {
		if id := tableID(k); b.family[id] && !strings.HasPrefix(k, load.RejectsDir+"/") {
			if t := b.tableOf(id); t.Mode == schemas.Snapshot && !slices.Contains(snaps, t.Name) {
				snaps = append(snaps, t.Name)
			}
		}
	}
	if err := d.sink.Add(ctx, &pipeline.Batch{Snapshots: snaps}); err != nil {
		d.sink.Close()
		return nil, err
	}
	return d, nil
}

// commit writes a decoded commit (to another lake, its raw file first),
// then deletes, in place, the files of the old commit the new one did not
// write again (a record now rejected no more, a partition of another
// layout).
func (b *rebuilder) commit(ctx context.Context, cm *commit, d *decoded) error {
	defer d.sink.Close()
	if cm.raw != nil && !b.inPlace {
		if _, err := copyObject(ctx, b.from, b.to, *cm.raw); err != nil {
			return fmt.Errorf("copying %s: %w", cm.raw.Key, err)
		}
	}
	st, err := d.sink.Commit(ctx)
	if err != nil {
		return err
	}
	for t, n := range st.Rows {
		b.rep.Rows[cm.Source+"_"+t] += n
	}
	b.rep.Commits++
	b.rep.Responses += d.responses
	b.rep.Anomalies = append(b.rep.Anomalies, d.anomalies...)
	b.rep.Rejects += st.Rejects
	b.rep.Files += st.Files
	b.rep.Bytes += st.Bytes
	if b.inPlace {
		for _, f := range cm.files {
			if b.rebuilt(f.Key) && !slices.Contains(st.Keys, f.Key) {
				if err := b.to.Delete(ctx, f.Key); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// keepRebuilt drops from a batch what belongs to tables not rebuilt.
func (b *rebuilder) keepRebuilt(source string, batch *pipeline.Batch) {
	recs := batch.Records[:0]
	for _, r := range batch.Records {
		if b.family[source+"/"+r.Table] {
			recs = append(recs, r)
		} else {
			r.Record.Release()
		}
	}
	batch.Records = recs
	batch.Rejects = slices.DeleteFunc(batch.Rejects, func(r pipeline.Reject) bool { return !b.family[source+"/"+r.Table] })
}
