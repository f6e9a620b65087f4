package views_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/load/store/s3store/s3test"
	"github.com/athlake/athlake/load/store/storetest"
	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
	"github.com/athlake/athlake/transform"
)

// commit decodes records of table into the lake as one run's commit.
func commit(t *testing.T, st store.Store, reg *schemas.Registry, table, runID string, at time.Time, recs ...string) {
	t.Helper()
	ctx := context.Background()
	tb, _ := reg.Lookup("plyomat", table)
	dec := transform.NewJSON(memory.DefaultAllocator, reg, tb)
	for _, r := range recs {
		dec.Add(json.RawMessage(r), transform.Lineage{ExtractedAt: at, RunID: runID}, nil)
	}
	out, rejects := dec.Flush()
	if len(rejects) > 0 {
		t.Fatalf("rejects: %+v", rejects)
	}
	sink := load.NewSink(st, reg, memory.DefaultAllocator, "plyomat", table, runID)
	defer sink.Close()
	if err := sink.Add(ctx, &pipeline.Batch{Records: out}); err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func set(id string, updated int, reps ...int) string {
	var rs []string
	for _, r := range reps {
		rs = append(rs, fmt.Sprintf(`{"rep_index":%d,"flight_time_ms":%d,"jump_height_cm":30.5,"side":"both","is_kept":true,"captured_at":"2026-05-03T09:00:00Z"}`, r, 400+updated))
	}
	var raw []json.RawMessage
	for _, r := range rs {
		raw = append(raw, json.RawMessage(r))
	}
	b, _ := json.Marshal(raw)
	return fmt.Sprintf(`{"id":%q,"session_id":"x","athlete_id":"a","mode":"cmj","started_at":"2026-0%d-03T09:00:00Z","created_at":"2026-05-03T09:00:00Z","updated_at":"2026-05-0%dT09:00:00Z","reps":%s}`,
		id, 4+updated%2, updated, b)
}

// newLake is an empty local lake in a test's folder (returned too).
func newLake(t *testing.T) (string, store.Store) {
	t.Helper()
	dir := t.TempDir()
	return dir, storetest.NewLocal(t, filepath.Join(dir, "lake"))
}

// inEachMode runs a test over a database of tables and one of views over
// the files.
func inEachMode(t *testing.T, test func(t *testing.T, mode views.Mode)) {
	for _, mode := range []views.Mode{views.Tables, views.Files} {
		t.Run(string(mode), func(t *testing.T) { test(t, mode) })
	}
}

func TestViewsCurrentState(t *testing.T) { inEachMode(t, testViewsCurrentState) }

func testViewsCurrentState(t *testing.T, mode views.Mode) {
	ctx := context.Background()
	dir, st := newLake(t)
	reg := schemas.All()
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	// Run 1: s1 v1 with reps 0,1,2; s2 v1.
	commit(t, st, reg, "sets", "run1", t0, set("s1", 1, 0, 1, 2), set("s2", 1, 0))
	// Run 2: s1 v2 edits rep 0 and drops rep 1 (and moves partition); s2 seen again unchanged (overlap).
	commit(t, st, reg, "sets", "run2", t0.Add(time.Hour), set("s1", 2, 0, 2), set("s2", 1, 0))
	// Athletes: snapshot 1 has a1,a2; snapshot 2 only a2 (a1 deleted at the vendor).
	commit(t, st, reg, "athletes", "run1", t0, `{"id":"a1","first_name":"A"}`, `{"id":"a2","first_name":"B","shoe":"42"}`)
	commit(t, st, reg, "athletes", "run2", t0.Add(time.Hour), `{"id":"a2","first_name":"B2","shoe":"43"}`)

	db := filepath.Join(dir, "athlake.duckdb")
	have := map[string]bool{"plyomat/sets": true, "plyomat/reps": true, "plyomat/athletes": true}
	var tables []*schemas.Table
	for _, tb := range reg.Tables() {
		if tb.Parent == nil {
			tables = append(tables, tb)
		}
	}
	for _, tb := range reg.Tables() {
		if tb.Parent != nil {
			tables = append(tables, tb)
		}
	}
	// The caller picks the files: every file of sets and reps, the newest
	// snapshot of athletes.
	files := func(tb *schemas.Table) []string {
		if !have[tb.ID()] {
			return nil
		}
		objs, err := st.List(ctx, tb.ID()+"/")
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range objs {
			if tb.Mode != schemas.Snapshot || strings.HasPrefix(path.Base(o.Key), "run2-") {
				keys = append(keys, o.Key)
			}
		}
		return keys
	}
	delta := func(tb *schemas.Table) ([]string, []string) { return nil, files(tb) }
	if _, err := views.Build(ctx, views.Options{DB: db, Lake: st.URL(), Tables: tables, Files: delta, Mode: mode}); err != nil {
		t.Fatal(err)
	}

	// Open from another working directory through a relative path.
	t.Chdir(dir)
	query := func(q string) [][]string {
		t.Helper()
		_, rows, err := views.Query(ctx, "athlake.duckdb", q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return rows
	}
	if d := cmp.Diff([][]string{{"s1", "2026-05-02T09:00:00Z", "run2"}, {"s2", "2026-05-01T09:00:00Z", "run2"}},
		query(`SELECT id, updated_at, _run_id FROM plyomat_sets ORDER BY id`)); d != "" {
		t.Errorf("sets (-want +got):\n%s", d)
	}
	if d := cmp.Diff([][]string{{"s1", "0", "402"}, {"s1", "2", "402"}, {"s2", "0", "401"}},
		query(`SELECT set_id, rep_index, flight_time_ms FROM plyomat_reps ORDER BY ALL`)); d != "" {
		t.Errorf("reps (-want +got):\n%s", d)
	}
	if d := cmp.Diff([][]string{{"a2", "B2", "43"}}, query(`SELECT id, first_name, _extra->>'shoe' FROM plyomat_athletes`)); d != "" {
		t.Errorf("athletes (-want +got):\n%s", d)
	}
	if d := cmp.Diff([][]string{{"0"}}, query(`SELECT count(*) FROM plyomat_devices`)); d != "" {
		t.Errorf("empty view (-want +got):\n%s", d)
	}
	if d := cmp.Diff([][]string{{"TIMESTAMP WITH TIME ZONE", "BIGINT", "JSON"}},
		query(`SELECT typeof(captured_at), typeof(rep_index), typeof(_extra) FROM plyomat_reps LIMIT 1`)); d != "" {
		t.Errorf("types (-want +got):\n%s", d)
	}
	// No temporary files left behind.
	left, _ := filepath.Glob(filepath.Join(dir, "*.tmp*"))
	if len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	if _, err := os.Stat(db + ".wal"); err == nil {
		t.Errorf("WAL left behind")
	}
}

// Views over s3:// read through httpfs with the configured endpoint; the
// credentials used to build them never reach the database file, and the
// notebook's setup line carries none.
func TestViewsOverS3(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	st := srv.Store(t, bucket, "lake")
	reg := schemas.All()
	commit(t, st, reg, "athletes", "run1", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), `{"id":"a1","first_name":"A"}`)
	tb, _ := reg.Lookup("plyomat", "athletes")

	key := "plyomat/athletes/run1-athletes-0001.parquet"
	stmt := views.CreateSQL(tb, st.URL(), nil, []string{key})
	if want := "read_parquet(['s3://" + bucket + "/lake/" + key + "']"; !strings.Contains(stmt, want) {
		t.Fatalf("view SQL %s\nlacks %s", stmt, want)
	}
	s3 := &views.S3{Region: "us-east-1", Endpoint: srv.Endpoint, PathStyle: true, KeyID: srv.AccessKey, Secret: srv.SecretKey}
	setup := s3.Setup()
	host := strings.TrimPrefix(srv.Endpoint, "http://")
	for _, want := range []string{"LOAD httpfs", "PROVIDER credential_chain", "ENDPOINT '" + host + "'", "USE_SSL false", "URL_STYLE 'path'", "REGION 'us-east-1'"} {
		if !strings.Contains(setup, want) {
			t.Errorf("setup %q lacks %q", setup, want)
		}
	}
	if strings.Contains(setup, srv.SecretKey) || strings.Contains(setup, srv.AccessKey) {
		t.Errorf("setup line carries credentials: %s", setup)
	}

	db := filepath.Join(t.TempDir(), "athlake.duckdb")
	_, err := views.Build(ctx, views.Options{DB: db, Lake: st.URL(), S3: s3, Tables: []*schemas.Table{tb}, Mode: views.Files,
		Files: func(*schemas.Table) ([]string, []string) { return nil, []string{key} }})
	if errors.Is(err, views.ErrNoHTTPFS) {
		// Offline (as here): a clear error, and no database left behind.
		if !strings.Contains(err.Error(), "athlake mirror") {
			t.Errorf("error does not point to mirror: %v", err)
		}
		if _, statErr := os.Stat(db); statErr == nil {
			t.Error("a database was written")
		}
		t.Logf("httpfs unavailable, as expected offline: %v", err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(db)
	if bytes.Contains(b, []byte(srv.SecretKey)) {
		t.Fatal("the S3 secret key is in the database file")
	}
}

// TestViewsCompactedAndDelta: a compacted (base) row gives way to the
// delta's version of its key when that is newer, and only then (a writer
// whose clock lags commits an older-stamped version later); reps follow
// the chosen version of their set.
func TestViewsCompactedAndDelta(t *testing.T) { inEachMode(t, testViewsCompactedAndDelta) }

func testViewsCompactedAndDelta(t *testing.T, mode views.Mode) {
	ctx := context.Background()
	dir, st := newLake(t)
	reg := schemas.All()
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	// Base: s1 v2 and s2 v2, stamped t0+1h. Delta: s1 v3 (newer), s2 v1
	// stamped t0 (older, committed later by a lagging clock), s3 (new).
	commit(t, st, reg, "sets", "20260601T130000.000Z-aaaaaa", t0.Add(time.Hour), set("s1", 2, 0, 1), set("s2", 2, 0, 1, 2))
	commit(t, st, reg, "sets", "20260601T140000.000Z-bbbbbb", t0.Add(2*time.Hour), set("s1", 3, 0))
	commit(t, st, reg, "sets", "20260601T150000.000Z-cccccc", t0, set("s2", 1, 0), set("s3", 1, 0, 1))
	objs, err := st.List(ctx, "plyomat/")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]string{}
	for _, o := range objs {
		if strings.Contains(o.Key, "-aaaaaa-") {
			files["base"] = append(files["base"], o.Key)
		} else {
			files["delta"] = append(files["delta"], o.Key)
		}
	}
	byTable := func(tb *schemas.Table) ([]string, []string) {
		var base, delta []string
		for _, k := range files["base"] {
			if strings.HasPrefix(k, tb.ID()+"/") {
				base = append(base, k)
			}
		}
		for _, k := range files["delta"] {
			if strings.HasPrefix(k, tb.ID()+"/") {
				delta = append(delta, k)
			}
		}
		return base, delta
	}
	sets, _ := reg.Lookup("plyomat", "sets")
	reps, _ := reg.Lookup("plyomat", "reps")
	db := filepath.Join(dir, "athlake.duckdb")
	if _, err := views.Build(ctx, views.Options{DB: db, Lake: st.URL(), Tables: []*schemas.Table{sets, reps}, Files: byTable, Mode: mode}); err != nil {
		t.Fatal(err)
	}
	_, got, err := views.Query(ctx, db, "SELECT id, strftime(updated_at, '%d') FROM plyomat_sets ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([][]string{{"s1", "03"}, {"s2", "02"}, {"s3", "01"}}, got); d != "" {
		t.Errorf("sets (-want +got):\n%s", d)
	}
	_, got, err = views.Query(ctx, db, "SELECT set_id, count(*) FROM plyomat_reps GROUP BY ALL ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([][]string{{"s1", "1"}, {"s2", "3"}, {"s3", "2"}}, got); d != "" {
		t.Errorf("reps per set (-want +got):\n%s", d)
	}
}
