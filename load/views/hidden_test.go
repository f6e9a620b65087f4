package views_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/schemas"
)

// TestHiddenManyFiles: Hidden reads a chunk of files at a time and skips
// the compacted partitions that cannot hide rows, and finds exactly the
// rows the straightforward computation finds (every file in one
// statement). The lake: 260 sets with two reps each, committed in 130
// runs over 130 months and compacted (130 files per table), then 150
// commits (150 files per table) of new versions of compacted sets in
// their month and in another, versions older than the compacted one,
// sets new twice over and sets new once.
func TestHiddenManyFiles(t *testing.T) {
	ctx := context.Background()
	dir, st := newLake(t)
	lake := filepath.Join(dir, "lake")
	reg := schemas.All()
	sets, _ := reg.Lookup("plyomat", "sets")
	reps, _ := reg.Lookup("plyomat", "reps")
	family := []*schemas.Table{sets, reps}
	rec := func(id string, month, version int) string {
		rs, _ := json.Marshal([]map[string]any{
			{"rep_index": 0, "flight_time_ms": 400 + version, "side": "both", "is_kept": true, "captured_at": "2026-05-03T09:00:00Z"},
			{"rep_index": version % 3, "flight_time_ms": 500 + version, "side": "both", "is_kept": true, "captured_at": "2026-05-03T09:00:01Z"},
		})
		started := time.Date(2015, time.Month(1+month), 3, 9, 0, 0, 0, time.UTC).Format(time.RFC3339)
		return fmt.Sprintf(`{"id":%q,"session_id":"x","athlete_id":"a","mode":"cmj","started_at":%q,"created_at":"2015-01-01T00:00:00Z","updated_at":"2026-05-04T09:00:00Z","reps":%s}`,
			id, started, rs)
	}
	list := func(tb *schemas.Table) map[string]bool {
		objs, err := st.List(ctx, tb.ID()+"/")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, o := range objs {
			if strings.HasSuffix(o.Key, ".parquet") {
				out[o.Key] = true
			}
		}
		return out
	}

	// The compacted state: 260 sets in 130 months.
	const months = 130
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for i := range months {
		commit(t, st, reg, "sets", fmt.Sprintf("run1-%03d", i), t0.Add(time.Duration(i)*time.Minute),
			rec(fmt.Sprintf("s%03d", 2*i), 2*i%months, 1), rec(fmt.Sprintf("s%03d", 2*i+1), (2*i+1)%months, 1))
	}
	in := views.CompactInput{Root: sets, Children: []*schemas.Table{reps}, Files: map[string][]views.PartFile{}, OutDir: t.TempDir()}
	old := map[string]map[string]bool{}
	for _, tb := range family {
		old[tb.ID()] = list(tb)
		for k := range old[tb.ID()] {
			in.Files[tb.ID()] = append(in.Files[tb.ID()], views.PartFile{Path: filepath.Join(lake, filepath.FromSlash(k)), Key: k, Part: path.Base(path.Dir(k)), Delta: true})
		}
	}
	_, outs, err := views.CompactFamily(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	base := map[string][]string{}
	for i, o := range outs {
		k := fmt.Sprintf("%s/%s/compacted-%04d.parquet", o.Table.ID(), o.Part, i)
		if err := os.Rename(o.Path, filepath.Join(lake, filepath.FromSlash(k))); err != nil {
			t.Fatal(err)
		}
		base[o.Table.ID()] = append(base[o.Table.ID()], k)
	}

	// The delta: 150 commits of one set each.
	t1 := t0.Add(24 * time.Hour)
	for i := range 150 {
		at, id, month, version := t1.Add(time.Duration(i)*time.Minute), fmt.Sprintf("s%03d", i), i%months, 2
		switch i % 5 {
		case 1: // moved to another month
			month = (i + 7) % months
		case 2: // older than the compacted version
			at = t0.Add(-time.Hour)
		case 3: // new, committed twice
			id, version = fmt.Sprintf("n%03d", i/2), i%2+1
		case 4: // new
			id = fmt.Sprintf("n%03d", i)
		}
		commit(t, st, reg, "sets", fmt.Sprintf("run2-%03d", i), at, rec(id, month, version))
	}
	delta := map[string][]string{}
	for _, tb := range family {
		for k := range list(tb) {
			if !old[tb.ID()][k] && !strings.Contains(k, "/compacted-") {
				delta[tb.ID()] = append(delta[tb.ID()], k)
			}
		}
		if len(base[tb.ID()]) != months || len(delta[tb.ID()]) != 150 {
			t.Fatalf("%s: %d compacted files and %d delta files, want %d and 150", tb.ID(), len(base[tb.ID()]), len(delta[tb.ID()]), months)
		}
	}

	hin := views.HiddenInput{Lake: lake, Tables: family, Files: func(tb *schemas.Table) ([]string, []string) { return base[tb.ID()], delta[tb.ID()] }}
	start := time.Now()
	want, err := views.HiddenWhole(ctx, hin)
	if err != nil {
		t.Fatal(err)
	}
	whole := time.Since(start)
	start = time.Now()
	got, err := views.Hidden(ctx, hin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("straightforward: %v; chunked: %v", whole.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("hidden rows (-straightforward +chunked):\n%s", d)
	}
	// The cases are all there: hidden rows in compacted and delta files
	// of both tables.
	for _, tb := range family {
		var inBase, inDelta int
		for k, pos := range want[tb.ID()] {
			if strings.Contains(k, "/compacted-") {
				inBase += len(pos)
			} else {
				inDelta += len(pos)
			}
		}
		if inBase == 0 || inDelta == 0 {
			t.Errorf("%s: %d hidden rows in compacted files, %d in delta files: want some of each", tb.ID(), inBase, inDelta)
		}
		t.Logf("%s: %d hidden rows in compacted files, %d in delta files", tb.ID(), inBase, inDelta)
	}
}
