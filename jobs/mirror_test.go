package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
	"github.com/athlake/athlake/transform"
)

// A mirror writes only into an empty folder or its own earlier mirror, and
// deletes only what it copied: the user's files beside it survive.
func TestMirrorTouchesOnlyItsOwnFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, 31)
	h.sync()
	env := h.env()

	var usage *UsageError
	busy := filepath.Join(h.dir, "busy")
	os.MkdirAll(filepath.Join(busy, "notes"), 0o755)
	os.WriteFile(filepath.Join(busy, "notes", "thesis.txt"), []byte("mine"), 0o644)
	for name, to := range map[string]string{
		"non-empty folder":   busy,
		"the output itself":  h.cfg.Output,
		"inside the output":  filepath.Join(h.cfg.Output, "copy"),
		"holding the output": h.dir,
	} {
		if _, err := Mirror(ctx, env, h.cfg, MirrorOptions{To: to}); !errors.As(err, &usage) {
			t.Errorf("mirror into %s: %v, want a usage error", name, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(busy, "notes", "thesis.txt")); string(b) != "mine" {
		t.Fatal("a refused mirror touched the user's file")
	}

	to := filepath.Join(h.dir, "copy")
	first, err := Mirror(ctx, env, h.cfg, MirrorOptions{To: to})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(to, "athlake.duckdb"), []byte("views"), 0o644)
	os.MkdirAll(filepath.Join(to, "analysis"), 0o755)
	os.WriteFile(filepath.Join(to, "analysis", "plot.py"), []byte("mine"), 0o644)

	// The lake changes: a new run adds files, and one file goes away.
	h.sb.Plyomat.Advance(36 * time.Hour)
	h.sync()
	st, _ := store.NewLocal(h.cfg.Output)
	runs, _ := st.List(ctx, load.RunsDir+"/")
	st.Delete(ctx, runs[0].Key)
	second, err := Mirror(ctx, env, h.cfg, MirrorOptions{To: to})
	if err != nil {
		t.Fatal(err)
	}
	if second.Copied == 0 || second.Deleted != 1 || second.Unchanged != first.Copied-1 {
		t.Errorf("second mirror %+v after a first of %d objects: want the new ones copied, the one gone deleted, the rest kept", second, first.Copied)
	}
	for _, f := range []string{"athlake.duckdb", "analysis/plot.py"} {
		if _, err := os.Stat(filepath.Join(to, f)); err != nil {
			t.Errorf("the user's %s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(to, runs[0].Key)); !os.IsNotExist(err) {
		t.Errorf("a file gone from the lake is still mirrored: %v", err)
	}
	if _, err := os.Stat(filepath.Join(to, load.StateDir)); !os.IsNotExist(err) {
		t.Errorf("_state/ was mirrored: %v", err)
	}
	// A copy deleted by hand comes back.
	os.Remove(filepath.Join(to, runs[1].Key))
	if third, err := Mirror(ctx, env, h.cfg, MirrorOptions{To: to}); err != nil || third.Copied != 1 {
		t.Errorf("mirror after a copy was deleted: %+v, %v; want it copied again", third, err)
	}
}

// Views read committed files only: a commit whose marker never came (a run
// killed between its files and its marker) is invisible, though its rows
// are newer.
func TestViewsSkipUncommittedFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, 32)
	h.sync()
	before := h.query("SELECT id, mode, _run_id FROM plyomat_sets ORDER BY id LIMIT 1")
	id := before[0][0]

	st, _ := store.NewLocal(h.cfg.Output)
	reg := schemas.All()
	tb, _ := reg.Lookup("plyomat", "sets")
	dec := transform.NewJSON(memory.DefaultAllocator, reg, tb)
	run := "29991231T000000.000Z-ffffff"
	rec, _ := json.Marshal(map[string]any{"id": id, "session_id": "x", "athlete_id": "a", "mode": "changed-by-a-killed-run",
		"started_at": "2026-05-03T09:00:00Z", "created_at": "2026-05-03T09:00:00Z", "updated_at": "2999-01-01T00:00:00Z", "reps": []any{}})
	dec.Add(rec, transform.Lineage{ExtractedAt: time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC), RunID: run}, nil)
	out, _ := dec.Flush()
	sink := load.NewSink(st, reg, memory.DefaultAllocator, "plyomat", "sets", run)
	if err := sink.Add(ctx, &pipeline.Batch{Records: out}); err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	markers, _ := st.List(ctx, load.CommitsDir+"/plyomat/"+run)
	if len(markers) != 1 {
		t.Fatalf("markers: %v", markers)
	}
	st.Delete(ctx, markers[0].Key) // as if killed before the marker
	var status strings.Builder
	env := h.env()
	env.Stdout = &status
	if err := Status(ctx, env, h.cfg); err != nil || !strings.Contains(status.String(), ", 1 uncommitted (") || !strings.Contains(status.String(), "lock: free (last held by run ") {
		t.Errorf("status (%v) does not count the uncommitted file:\n%s", err, status.String())
	}

	if err := Views(ctx, h.env(), h.cfg, ViewsOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := h.query("SELECT id, mode, _run_id FROM plyomat_sets ORDER BY id LIMIT 1"); got[0][1] != before[0][1] || got[0][2] != before[0][2] {
		t.Fatalf("view shows %v, want %v: an uncommitted file was read", got, before)
	}
	// With its marker, the same file is part of the lake.
	st.Put(ctx, markers[0].Key, []byte("{}"))
	if err := Views(ctx, h.env(), h.cfg, ViewsOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := h.query("SELECT mode FROM plyomat_sets WHERE id = '" + strings.ReplaceAll(id, "'", "''") + "'"); got[0][0] != "changed-by-a-killed-run" {
		t.Fatalf("committed file not read: %v", got)
	}
}

// A mirror cut short (here: the fifth copy fails, with a copy in flight
// beside it) is finished by the next one, which then equals the lake.
func TestInterruptedMirrorResumes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, 33)
	h.sync()
	to := filepath.Join(h.dir, "copy")
	var calls atomic.Int32
	failing := func(ctx context.Context, src store.Store, dst store.Store, obj store.Object) (int64, error) {
		if calls.Add(1) == 5 {
			return 0, errors.New("connection reset")
		}
		return copyObject(ctx, src, dst, obj)
	}
	if _, err := Mirror(ctx, h.env(), h.cfg, MirrorOptions{To: to, Parallel: 2, copy: failing}); err == nil {
		t.Fatal("the cut mirror reported success")
	}
	if markers, _ := filepath.Glob(filepath.Join(to, load.CommitsDir, "*", "*")); len(markers) != 0 {
		t.Errorf("markers copied before all data: %v", markers)
	}
	st, err := Mirror(ctx, h.env(), h.cfg, MirrorOptions{To: to})
	if err != nil {
		t.Fatalf("resuming: %v", err)
	}
	t.Logf("resumed: %+v", st)
	db := filepath.Join(h.dir, "copy.duckdb")
	local := *h.cfg
	if err := Views(ctx, h.env(), &local, ViewsOptions{Lake: to, DB: db}); err != nil {
		t.Fatal(err)
	}
	assertSameViews(t, dumpViews(t, h.cfg.DuckDB), dumpViews(t, db))
}

// Views pick a snapshot table's newest complete snapshot by the time the
// store wrote its commit marker, not by run ids, which come from the clocks
// of the hosts that ran them.
func TestSnapshotPickedByMarkerTime(t *testing.T) {
	t.Parallel()
	reg := schemas.All()
	early, late := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	ahead := "20261201T120000.000Z-aaaaaa" // a host whose clock runs an hour fast, synced first
	behind := "20261201T103000.000Z-bbbbbb"
	c := &load.Committed{
		Objects: []store.Object{
			{Key: "plyomat/athletes/" + ahead + "-athletes-0001.parquet"},
			{Key: "plyomat/athletes/" + behind + "-athletes-0001.parquet"},
			{Key: "plyomat/sets/month=2026-11/" + ahead + "-sets-0001.parquet"},
			{Key: "plyomat/sets/month=2026-11/" + behind + "-sets-0001.parquet"},
		},
		Markers: map[string]time.Time{
			"_commits/plyomat/" + ahead + "-athletes-0001.json":  early,
			"_commits/plyomat/" + behind + "-athletes-0001.json": late,
			"_commits/plyomat/" + ahead + "-sets-0001.json":      early,
			"_commits/plyomat/" + behind + "-sets-0001.json":     late,
		},
	}
	files := viewFiles(c, reg)
	if got := files["plyomat/athletes"].delta; len(got) != 1 || !strings.Contains(got[0], behind) {
		t.Errorf("athletes read %v, want the snapshot committed last (%s)", got, behind)
	}
	if got := files["plyomat/sets"].delta; len(got) != 2 {
		t.Errorf("sets (incremental) read %v, want both files", got)
	}
}
