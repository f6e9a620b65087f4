package views_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/schemas"
)

// TestManyFiles: a table with more files than one statement reads (a
// Team Pro backfill commits a file per player session) is read a chunk of
// files at a time, by the views build and by a compaction, with the same
// current state as a few files give: 260 commits of 40 sets, each commit
// a new version of one set (its reps' flight times tell the version), in
// one partition.
func TestManyFiles(t *testing.T) {
	ctx := context.Background()
	dir, st := newLake(t)
	reg := schemas.All()
	sets, _ := reg.Lookup("plyomat", "sets")
	reps, _ := reg.Lookup("plyomat", "reps")
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	const commits, ids = 260, 40
	want := map[string][]string{} // set id -> its newest version's run and flight time
	for i := range commits {
		id, version := fmt.Sprintf("s%02d", i%ids), i/ids+1
		run := fmt.Sprintf("20260601T%02d%02d00.000Z-%06d", i/60, i%60, i)
		rs, _ := json.Marshal([]map[string]any{
			{"rep_index": 0, "flight_time_ms": 400 + version, "side": "both", "is_kept": true, "captured_at": "2026-05-03T09:00:00Z"},
			{"rep_index": version, "flight_time_ms": 500 + version, "side": "both", "is_kept": true, "captured_at": "2026-05-03T09:00:01Z"},
		})
		rec := fmt.Sprintf(`{"id":%q,"session_id":"x","athlete_id":"a","mode":"cmj","started_at":"2026-05-03T09:00:00Z","created_at":"2026-05-03T09:00:00Z","updated_at":"2026-05-04T09:%02d:00Z","reps":%s}`,
			id, version, rs)
		commit(t, st, reg, "sets", run, t0.Add(time.Duration(i)*time.Minute), rec)
		want[id] = []string{run, fmt.Sprint(400 + version), fmt.Sprint(500 + version)}
	}
	var wantRows [][]string
	for i := range ids {
		id := fmt.Sprintf("s%02d", i)
		wantRows = append(wantRows, append([]string{id}, want[id]...))
	}
	const q = `SELECT s.id, s._run_id, string_agg(r.flight_time_ms, ',' ORDER BY r.rep_index) FROM %s s JOIN %s r ON r.set_id = s.id GROUP BY ALL ORDER BY 1`
	check := func(what string, rows [][]string) {
		t.Helper()
		var got [][]string
		for _, r := range rows {
			got = append(got, append(r[:2:2], strings.Split(r[2], ",")...))
		}
		if d := cmp.Diff(wantRows, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", what, d)
		}
	}

	keys := func(tb *schemas.Table) []string {
		objs, err := st.List(ctx, tb.ID()+"/")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range objs {
			out = append(out, o.Key)
		}
		if len(out) != commits {
			t.Fatalf("%s: %d files, want %d", tb.ID(), len(out), commits)
		}
		return out
	}
	db := filepath.Join(dir, "athlake.duckdb")
	files := func(tb *schemas.Table) ([]string, []string) { return nil, keys(tb) }
	if rep, err := views.Build(ctx, views.Options{DB: db, Lake: st.URL(), Tables: []*schemas.Table{sets, reps}, Files: files}); err != nil {
		t.Fatal(err)
	} else if !rep.Full || rep.Files != 2*commits {
		t.Errorf("build: %+v, want a full build of %d files", rep, 2*commits)
	}
	_, rows, err := views.Query(ctx, db, fmt.Sprintf(q, "plyomat_sets", "plyomat_reps"))
	if err != nil {
		t.Fatal(err)
	}
	check("views", rows)

	in := views.CompactInput{Root: sets, Children: []*schemas.Table{reps}, Files: map[string][]views.PartFile{}, OutDir: t.TempDir()}
	lake := filepath.Join(dir, "lake")
	for _, tb := range []*schemas.Table{sets, reps} {
		for _, k := range keys(tb) {
			in.Files[tb.ID()] = append(in.Files[tb.ID()], views.PartFile{Path: filepath.Join(lake, filepath.FromSlash(k)), Key: k, Part: path.Base(path.Dir(k)), Delta: true})
		}
	}
	parts, outs, err := views.CompactFamily(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 1 || len(outs) != 2 {
		t.Fatalf("compaction rewrote %v into %d files, want one partition into 2", parts, len(outs))
	}
	read := map[string]string{}
	for _, o := range outs {
		read[o.Table.Name] = fmt.Sprintf("read_parquet(%q)", filepath.ToSlash(o.Path))
	}
	_, rows, err = views.Query(ctx, db, strings.ReplaceAll(fmt.Sprintf(q, read["sets"], read["reps"]), `"`, "'"))
	if err != nil {
		t.Fatal(err)
	}
	check("compaction", rows)
}
