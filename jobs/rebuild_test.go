package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/athlake/athlake/internal/testlog"
	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/schemas"
)

// noRequests fails a test on any vendor request: a rebuild makes none.
type noRequests struct{ t *testing.T }

func (n noRequests) RoundTrip(r *http.Request) (*http.Response, error) {
	n.t.Errorf("a rebuild sent a request: %s %s", r.Method, r.URL)
	return nil, fmt.Errorf("no requests in a rebuild")
}

// testRebuild: after a backfill and an incremental sync, a rebuild from
// _raw/ into a fresh lake gives the same views, lineage included, without
// a request; a lake whose files lack a column (written by a version that
// did not decode it) gets it filled by a rebuild in place, and rebuilds
// killed with SIGKILL at several points converge to the same views.
func testRebuild(t *testing.T, source string) {
	l := newLake(t, source, 106, simOptions{})
	l.sync()
	l.sim.advance()
	l.sync()
	want := dumpViewsExcept(t, l.cfg.DuckDBPath())
	ctx := context.Background()
	env := l.env()
	env.Transport = noRequests{t}

	to := filepath.Join(l.dir, "rebuilt")
	var writes *cutStore // the target's: opened last
	env.WrapStore = func(st store.Store) store.Store { writes = &cutStore{Store: st}; return writes }
	rep, err := Rebuild(ctx, env, l.cfg, RebuildOptions{To: to})
	env.WrapStore = nil
	if err != nil {
		t.Fatalf("rebuild --to: %v", err)
	}
	if rep.Commits == 0 || rep.Responses == 0 || len(rep.Rows) == 0 {
		t.Errorf("rebuild --to report = %+v", rep)
	}
	// Its summary sits beside the syncs' in the new lake.
	if _, err := os.Stat(filepath.Join(to, "_runs", rep.RunID+".json")); err != nil {
		t.Errorf("no run summary: %v", err)
	}
	assertSameViews(t, want, dumpViewsExcept(t, filepath.Join(to, "athlake.duckdb")))
	// The rebuilt lake is a lake: it can be rebuilt in turn, and its
	// sync goes on where the old lake's would: nothing new.
	if _, err := os.Stat(filepath.Join(to, "_raw", source)); err != nil {
		t.Errorf("the rebuilt lake has no raw responses: %v", err)
	}
	old, moved := l.cfg, *l.cfg
	moved.Output, moved.DuckDB = to, filepath.Join(to, "athlake.duckdb")
	l.cfg = &moved
	if sum := l.sync(); sum.Files != 0 {
		t.Errorf("the first sync of the rebuilt lake wrote %d files (rows %v)", sum.Files, sum.Rows)
	}
	l.cfg = old
	assertSameViews(t, want, dumpViewsExcept(t, moved.DuckDB))

	// An older version's files: one column of one table never decoded.
	table, col := strippable(t, source)
	stripColumn(t, l.cfg.Output, table, col)
	l.viewsAnew()
	view := table.ViewName()
	if got := l.query(fmt.Sprintf("SELECT count(%q) FROM %s", col, view)); got[0][0] != "0" {
		t.Fatalf("%s.%s after stripping: %s values, want none", view, col, got[0][0])
	}
	// Rebuilds killed at points spread over the writes of a whole one,
	// then one to the end.
	cfgPath := writeChildConfig(t, l.dir, "rebuild.yaml", l.cfg)
	killed := 0
	for _, die := range []string{
		"ATHLAKE_CHILD_DIE_AFTER_WRITES=" + strconv.Itoa(max(writes.n/8, 1)), // mid-commit
		"ATHLAKE_CHILD_DIE_AFTER_MARKERS=2",                                  // a commit rewritten, its progress saved, the next rewritten
		"ATHLAKE_CHILD_DIE_AFTER_MARKERS=1",                                  // the resumed rebuild's first commit rewritten
	} {
		var out testlog.Buffer
		if err := childCmd(cfgPath, &out, "ATHLAKE_CHILD_REBUILD=1", die).Run(); err == nil {
			t.Fatalf("rebuild meant to die (%s) finished:\n%s", die, out.String())
		}
		killed++
	}
	rep, err = Rebuild(ctx, env, l.cfg, RebuildOptions{})
	if err != nil {
		t.Fatalf("rebuild in place: %v", err)
	}
	if !rep.Resumed || killed != 3 {
		t.Errorf("the rebuild after %d killed ones did not resume", killed)
	}
	assertSameViews(t, want, dumpViewsExcept(t, l.cfg.DuckDBPath()))
	l.assertNoKeyDoubled()
	// A sync after the rebuild finds nothing new and keeps the views.
	l.sync()
	assertSameViews(t, want, dumpViewsExcept(t, l.cfg.DuckDBPath()))
}

// viewsAnew rebuilds the views database from every file.
func (l *lake) viewsAnew() {
	l.t.Helper()
	st, err := openStore(context.Background(), l.env(), l.cfg)
	if err != nil {
		l.t.Fatal(err)
	}
	if _, err := buildViews(context.Background(), l.cfg, st, tables(), viewsRun{anew: "test", log: slog.New(slog.DiscardHandler)}); err != nil {
		l.t.Fatal(err)
	}
}

// strippable picks a source's first incremental root table and its first
// column that is neither a key nor lineage.
func strippable(t *testing.T, source string) (*schemas.Table, string) {
	for _, tb := range tables().Tables() {
		if tb.Source != source || tb.Parent != nil || tb.Mode == schemas.Snapshot {
			continue
		}
		for _, c := range tb.Columns {
			if !slices.Contains(tb.Key, c.Name) && !strings.HasPrefix(c.Name, "_") {
				return tb, c.Name
			}
		}
	}
	t.Fatalf("%s: no column to strip", source)
	return nil, ""
}

// stripColumn rewrites every Parquet file of a table without col, as an
// older athlake that did not decode it would have written them.
func stripColumn(t *testing.T, lake string, tb *schemas.Table, col string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(lake, tb.Source, tb.Name, "*", "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join(lake, tb.Source, tb.Name, "*.parquet"))
	files = append(files, more...)
	if len(files) == 0 {
		t.Fatalf("%s: no files", tb.ViewName())
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, f := range files {
		tmp := f + ".stripped"
		q := fmt.Sprintf(`COPY (SELECT * EXCLUDE (%q) FROM read_parquet('%s')) TO '%s' (FORMAT parquet)`, col, f, tmp)
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if err := os.Rename(tmp, f); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRebuildOnS3 rebuilds a lake on a real S3-compatible server: in place
// for one table family, then into a local folder; both give the views of
// the synced lake, lineage included.
func TestRebuildOnS3(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, srv, _ := newS3Harness(t, 7)
	env := s3Env(h.env(), srv)
	var last *Summary
	for range 2 {
		sum, err := h.runEnv(env, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		last = sum
		h.sim.advance()
	}
	db := filepath.Join(h.dir, "mirror.duckdb")
	mirrorViews(t, env, h.cfg, filepath.Join(h.dir, "mirror"), db)
	want := dumpViewsExcept(t, db)

	rep, err := Rebuild(ctx, env, h.cfg, RebuildOptions{Tables: []string{"plyomat_reps"}})
	if err != nil {
		t.Fatalf("rebuild in place on S3: %v", err)
	}
	if rep.Rows["plyomat_sets"] == 0 || rep.Rows["plyomat_reps"] == 0 || rep.Rows["plyomat_athletes"] != 0 {
		t.Errorf("rebuilt rows %v: want sets and reps (the family of reps) only", rep.Rows)
	}
	mirrorViews(t, env, h.cfg, filepath.Join(h.dir, "mirror"), db)
	assertSameViews(t, want, dumpViewsExcept(t, db))

	to := filepath.Join(h.dir, "local")
	if _, err := Rebuild(ctx, env, h.cfg, RebuildOptions{To: to}); err != nil {
		t.Fatalf("rebuild from S3 --to a folder: %v", err)
	}
	assertSameViews(t, want, dumpViewsExcept(t, filepath.Join(to, "athlake.duckdb")))

	// --since: the commits of the last sync alone.
	to = filepath.Join(h.dir, "since")
	if _, err := Rebuild(ctx, env, h.cfg, RebuildOptions{To: to, Since: last.StartedAt}); err != nil {
		t.Fatalf("rebuild --since: %v", err)
	}
	_, runs, err := views.Query(ctx, filepath.Join(to, "athlake.duckdb"), "SELECT DISTINCT _run_id FROM plyomat_sets")
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0][0] != last.RunID {
		t.Errorf("sets rebuilt --since the last sync come from runs %v, want %s alone", runs, last.RunID)
	}
}

// A commit holding rows but no raw responses is never written again: a
// rebuild elsewhere leaves it out, and one in place that would have to
// rewrite it (a compaction covers it with a commit rebuilt) stops, saying
// which, before it writes anything.
func TestRebuildNeedsRawResponses(t *testing.T) {
	const withRaw, without = "20261201T000000.000Z-aaaaaa-sets-0001", "20261202T000000.000Z-bbbbbb-sets-0001"
	commits := map[string]*commit{withRaw: setsCommit(withRaw, true), without: setsCommit(without, false)}
	c := &load.Committed{Compactions: []load.Compaction{{
		Marker:   "_commits/plyomat/20261203T000000.000Z-cccccc-compact-0001.json",
		Replaces: []string{commits[withRaw].listed[0], commits[without].listed[0]},
	}}}
	b := setsRebuilder(t)
	todo, _, err := b.plan(c, commits)
	if err != nil || len(todo) != 1 || todo[0].Name != withRaw {
		t.Errorf("elsewhere: plan %v, %v; want %s alone", todo, err, withRaw)
	}
	b.inPlace = true
	if _, _, err := b.plan(c, commits); err == nil || !strings.Contains(err.Error(), without) {
		t.Errorf("in place: %v; want an error naming %s", err, without)
	}
}

// Undoing a compaction in place writes again every commit of its tables,
// before --since too: what it holds may come from an earlier compaction's
// file, deleted with its marker, that names none of them.
func TestRebuildUndoesCompactionsWhole(t *testing.T) {
	const old, recent = "20261201T000000.000Z-aaaaaa-sets-0001", "20261205T000000.000Z-bbbbbb-sets-0001"
	commits := map[string]*commit{old: setsCommit(old, true), recent: setsCommit(recent, true)}
	latest := "_commits/plyomat/20261206T000000.000Z-dddddd-compact-0001.json"
	c := &load.Committed{Compactions: []load.Compaction{{
		Marker: latest,
		// The first compaction's file (its marker gone) and the recent commit.
		Replaces: []string{"plyomat/sets/month=2026-12/20261203T000000.000Z-cccccc-compact-0001.parquet", commits[recent].listed[0]},
	}}}
	b := setsRebuilder(t)
	b.since, b.inPlace = time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), true
	todo, undo, err := b.plan(c, commits)
	if !slices.Equal(undo, []string{latest}) {
		t.Errorf("undo %v, want %s", undo, latest)
	}
	var names []string
	for _, x := range todo {
		names = append(names, x.Name)
	}
	if err != nil || !slices.Equal(names, []string{old, recent}) || !slices.Equal(undo, []string{latest}) {
		t.Errorf("plan: %v, undo %v, %v; want both commits and the compaction undone", names, undo, err)
	}
	b.inPlace = false
	if todo, _, _ := b.plan(c, commits); len(todo) != 1 || todo[0].Name != recent {
		t.Errorf("elsewhere --since: %d commits, want the recent one alone", len(todo))
	}
}

// setsRebuilder plans a rebuild of plyomat_sets and its family.
func setsRebuilder(t *testing.T) *rebuilder {
	t.Helper()
	reg := tables()
	family, err := rebuildTables(reg, []string{"plyomat"}, []string{"plyomat_sets"})
	if err != nil {
		t.Fatal(err)
	}
	return &rebuilder{reg: reg, family: family}
}

// setsCommit is the listed commit of plyomat's sets whose marker is name,
// with one file in December 2026 and, when raw, its raw responses.
func setsCommit(name string, raw bool) *commit {
	cm, _ := load.CommitOfMarker("_commits/plyomat/" + name + ".json")
	x := &commit{Commit: cm, seq: 1, listed: []string{"plyomat/sets/month=2026-12/" + name + ".parquet"}}
	if raw {
		x.raw = &store.Object{Key: "_raw/plyomat/sets/" + name + ".jsonl.zst"}
	}
	return x
}
