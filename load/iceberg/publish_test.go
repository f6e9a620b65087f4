package iceberg

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	ice "github.com/apache/iceberg-go"
	"github.com/google/go-cmp/cmp"

	"github.com/athlake/athlake/load/iceberg/pgtest"
	"github.com/athlake/athlake/schemas"
)

var testTable = &schemas.Table{
	Source: "s", Name: "t", Key: []string{"id"},
	Columns: []schemas.Column{
		{Name: "id", Type: schemas.String}, {Name: "started_at", Type: schemas.Timestamp}, {Name: "v", Type: schemas.Int64},
	},
	Partition: schemas.Partitioning{Key: "month", Column: "started_at", Granularity: schemas.Month},
}

// row is a row of testTable: its key, month (1 or 2, of 2026) and value.
type row struct {
	id    string
	month int
	v     int64
}

// writeFile writes rows as the lake would (pqarrow, no field ids) under
// root, at key, and returns key.
func writeFile(t *testing.T, root, key string, rows ...row) string {
	t.Helper()
	sc := testTable.ArrowSchema()
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	for _, r := range rows {
		b.Field(0).(*array.StringBuilder).Append(r.id)
		ts, _ := arrow.TimestampFromTime(time.Date(2026, time.Month(r.month), 3, 10, 0, 0, 0, time.UTC), arrow.Microsecond)
		b.Field(1).(*array.TimestampBuilder).Append(ts)
		b.Field(2).(*array.Int64Builder).Append(r.v)
		b.Field(3).(*array.TimestampBuilder).Append(ts)
		b.Field(4).(*array.StringBuilder).Append("run")
		b.Field(5).AppendNull()
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	p := filepath.Join(root, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(sc, f, nil, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return key
}

// scan reads the table with iceberg-go's scan: "id=v" sorted.
func scan(t *testing.T, c *Catalog) []string {
	t.Helper()
	tbl, err := c.Load(context.Background(), testTable.ViewName())
	if err != nil {
		t.Fatal(err)
	}
	at, err := tbl.Scan().ToArrowTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	var out []string
	tr := array.NewTableReader(at, 0)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		ids, vs := rec.Column(0).(*array.String), rec.Column(2).(*array.Int64)
		for i := 0; i < int(rec.NumRows()); i++ {
			out = append(out, fmt.Sprintf("%s=%d", ids.Value(i), vs.Value(i)))
		}
	}
	slices.Sort(out)
	return out
}

// sqliteCatalog opens a SQL catalog on SQLite in a new folder, the lake
// (root) beside it and the tables' metadata in its _iceberg; closed at
// the test's end.
func sqliteCatalog(t *testing.T) (c *Catalog, root string, o SQLiteOptions) {
	t.Helper()
	dir := t.TempDir()
	o = SQLiteOptions{Path: filepath.Join(dir, "catalog.db"), Options: Options{Namespace: "athlake", Warehouse: filepath.Join(dir, "lake", "_iceberg")}}
	c, err := OpenSQLite(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, filepath.ToSlash(filepath.Join(dir, "lake")), o
}

// TestPublishReconciles drives every path of Publish on hand-made files:
// a first publish, a republish that changes nothing, new files whose rows
// hide older ones (deletes that only grow), a compaction that replaces
// files while new rows must be hidden (a replace and deletes), rows shown
// again (deletes rewritten), and expiry, which deletes no lake file.
func TestPublishReconciles(t *testing.T) {
	testPublishReconciles(t, func(ctx context.Context, dir string, o Options) (*Catalog, error) {
		return OpenSQLite(ctx, SQLiteOptions{Path: filepath.Join(dir, "catalog.db"), Options: o})
	})
}

// TestPublishReconcilesPostgres: the same, the catalog on a real
// PostgreSQL server.
func TestPublishReconcilesPostgres(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.URL(srv.NewDatabase(t))
	testPublishReconciles(t, func(ctx context.Context, dir string, o Options) (*Catalog, error) {
		return OpenPostgres(ctx, PostgresOptions{Options: o, URL: url})
	})
}

func testPublishReconciles(t *testing.T, openCat func(ctx context.Context, dir string, o Options) (*Catalog, error)) {
	ctx := context.Background()
	dir := t.TempDir()
	root := filepath.ToSlash(filepath.Join(dir, "lake"))
	c, err := openCat(ctx, dir, Options{Namespace: "athlake", Warehouse: filepath.Join(dir, "lake", "_iceberg")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	publish := func(step string, w Want, want []string, snaps int) Result {
		t.Helper()
		w.Table = testTable
		r, err := c.Publish(ctx, root, w)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if r.Snapshots != snaps {
			t.Errorf("%s: %d snapshots, want %d (%+v)", step, r.Snapshots, snaps, r)
		}
		if d := cmp.Diff(want, scan(t, c)); d != "" {
			t.Errorf("%s: scan (-want +got):\n%s", step, d)
		}
		return r
	}
	jan, feb := "s/t/month=2026-01/", "s/t/month=2026-02/"
	name := func(stream string, seq int) string {
		return fmt.Sprintf("20261122T183353.123Z-1a2b3c-%s-%04d.parquet", stream, seq)
	}
	a := writeFile(t, root, jan+name("sets", 1), row{"k1", 1, 1}, row{"k2", 1, 1})
	b := writeFile(t, root, jan+name("sets", 2), row{"k1", 1, 2})
	f := writeFile(t, root, feb+name("sets", 3), row{"k9", 2, 1})
	r := publish("first", Want{Files: []string{a, b, f}, Hidden: map[string][]int64{a: {0}}}, []string{"k1=2", "k2=1", "k9=1"}, 1)
	if r.Added != 3 || r.DeleteFiles != 1 {
		t.Errorf("first: %+v", r)
	}
	tbl, _ := c.Load(ctx, testTable.ViewName())
	if got := tbl.CurrentSnapshot().Summary.Properties[SummaryCommits]; !strings.Contains(got, "1a2b3c-sets-0001") {
		t.Errorf("summary %s = %q, want the commits of the files", SummaryCommits, got)
	}
	if r := publish("again", Want{Files: []string{f, b, a}, Hidden: map[string][]int64{a: {0}}}, []string{"k1=2", "k2=1", "k9=1"}, 0); r.Changed {
		t.Errorf("again: %+v, want nothing changed", r)
	}
	cc := writeFile(t, root, jan+name("sets", 4), row{"k2", 1, 2})
	r = publish("deletes grow", Want{Files: []string{a, b, f, cc}, Hidden: map[string][]int64{a: {0, 1}}}, []string{"k1=2", "k2=2", "k9=1"}, 1)
	if r.DeleteFiles != 1 || r.DeletesGone != 0 {
		t.Errorf("deletes grow: %+v, want one more delete file", r)
	}
	d := writeFile(t, root, jan+name("compact", 1), row{"k1", 1, 2}, row{"k2", 1, 2}, row{"k3", 1, 1})
	e := writeFile(t, root, jan+name("sets", 5), row{"k3", 1, 2})
	r = publish("compaction and deletes", Want{Files: []string{d, e, f}, Hidden: map[string][]int64{d: {2}}}, []string{"k1=2", "k2=2", "k3=2", "k9=1"}, 2)
	if r.Removed != 3 || r.DeletesGone != 2 || r.DeleteFiles != 1 {
		t.Errorf("compaction and deletes: %+v", r)
	}
	r = publish("shown again", Want{Files: []string{d, e, f}}, []string{"k1=2", "k2=2", "k3=1", "k3=2", "k9=1"}, 1)
	if r.DeletesGone != 1 || r.DeleteFiles != 0 {
		t.Errorf("shown again: %+v", r)
	}

	c.retention = 0
	r = publish("expiry", Want{Files: []string{d, f}}, []string{"k1=2", "k2=2", "k3=1", "k9=1"}, 1)
	tbl, _ = c.Load(ctx, testTable.ViewName())
	if n := len(tbl.Metadata().Snapshots()); n != 1 || r.Expired == 0 {
		t.Errorf("after expiry: %d snapshots (%d expired), want 1", n, r.Expired)
	}
	// The expired snapshots' own files are gone (the scans below read
	// what the kept one needs).
	if r.FilesRemoved == 0 {
		t.Errorf("expiry removed no manifest list, manifest or delete file: %+v", r)
	}
	if tbl.Properties()[gcEnabled] != "false" {
		t.Errorf("gc.enabled = %q after expiry, want false", tbl.Properties()[gcEnabled])
	}
	// A file rewritten in place (a rebuild) with another size is
	// registered again: its new rows, its positions.
	writeFile(t, root, d, row{"k1", 1, 3}, row{"k3", 1, 3}, row{"k2", 1, 3}, row{"k4", 1, 3})
	sizes := map[string]int64{}
	for _, k := range []string{d, f} {
		fi, err := os.Stat(filepath.Join(root, k))
		if err != nil {
			t.Fatal(err)
		}
		sizes[k] = fi.Size()
	}
	publish("rewritten in place", Want{Files: []string{d, f}, Hidden: map[string][]int64{d: {1}}, Sizes: sizes}, []string{"k1=3", "k2=3", "k4=3", "k9=1"}, 2)

	// A column declared later gets the next id; the others keep theirs,
	// and the files without it read it as null.
	evolved := *testTable
	evolved.Columns = append(slices.Clone(testTable.Columns), schemas.Column{Name: "w", Type: schemas.Float64})
	if _, err := c.Publish(ctx, root, Want{Table: &evolved, Files: []string{d, f}, Hidden: map[string][]int64{d: {1}}, Sizes: sizes}); err != nil {
		t.Fatal(err)
	}
	tbl, _ = c.Load(ctx, testTable.ViewName())
	ids := map[string]int{}
	for _, fd := range tbl.Schema().Fields() {
		ids[fd.Name] = fd.ID
	}
	if want := map[string]int{"id": 1, "started_at": 2, "v": 3, "_extracted_at": 4, "_run_id": 5, "_extra": 6, "w": 7}; !maps.Equal(ids, want) {
		t.Errorf("field ids after adding w: %v, want %v", ids, want)
	}
	if d := cmp.Diff([]string{"k1=3", "k2=3", "k4=3", "k9=1"}, scan(t, c)); d != "" {
		t.Errorf("after adding w: scan (-want +got):\n%s", d)
	}
	for _, k := range []string{a, b, cc, d, e, f} {
		if _, err := os.Stat(filepath.Join(root, k)); err != nil {
			t.Errorf("lake file %s: %v", k, err)
		}
	}
}

// TestPublishNeverTurnsBack: two publishers of one lake beside each other
// (`iceberg register` beside a sync's publish). A publish from an older
// listing leaves a table that holds a newer one alone, and publishers
// whose commits race all succeed, the newest listing's state last.
func TestPublishNeverTurnsBack(t *testing.T) {
	ctx := context.Background()
	c, root, opts := sqliteCatalog(t)
	jan := "s/t/month=2026-01/"
	a := writeFile(t, root, jan+"20261122T183353.123Z-1a2b3c-sets-0001.parquet", row{"k1", 1, 1})
	b := writeFile(t, root, jan+"20261123T183353.123Z-4d5e6f-sets-0001.parquet", row{"k1", 1, 2})
	older := Want{Table: testTable, Files: []string{a}, Frontier: "20261122T183353.123Z-1a2b3c"}
	newer := Want{Table: testTable, Files: []string{a, b}, Hidden: map[string][]int64{a: {0}}, Frontier: "20261123T183353.123Z-4d5e6f"}
	if _, err := c.Publish(ctx, root, newer); err != nil {
		t.Fatal(err)
	}
	r, err := c.Publish(ctx, root, older)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Behind || r.Changed {
		t.Errorf("an older listing's publish: %+v, want the table left alone", r)
	}
	if d := cmp.Diff([]string{"k1=2"}, scan(t, c)); d != "" {
		t.Errorf("after an older listing's publish: scan (-want +got):\n%s", d)
	}

	// A publisher whose commit loses to another's (the older listing's
	// commit lands between its load and its commit) starts again and
	// publishes its newer state.
	p, err := OpenSQLite(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c2 := writeFile(t, root, jan+"20261124T000000.000Z-aaaaaa-sets-0001.parquet", row{"k1", 1, 3})
	newest := Want{Table: testTable, Files: []string{a, b, c2}, Hidden: map[string][]int64{a: {0}, b: {0}}, Frontier: "20261124T000000.000Z-aaaaaa"}
	tbl, err := c.Load(ctx, testTable.ViewName())
	if err != nil {
		t.Fatal(err)
	}
	first := tbl.CurrentSnapshot().SnapshotID
	raced := 0
	p.beforeCommit = func() {
		if raced++; raced == 1 {
			// Not "older": it would be left alone. A listing as new as
			// the table's, with one row shown again.
			if _, err := c.Publish(ctx, root, Want{Table: testTable, Files: []string{a, b}, Frontier: newer.Frontier}); err != nil {
				t.Errorf("the racing publish: %v", err)
			}
		}
	}
	if _, err := p.Publish(ctx, root, newest); err != nil {
		t.Fatal(err)
	}
	if raced != 2 {
		t.Errorf("the publish committed %d times, want a lost commit and a second attempt", raced)
	}
	if d := cmp.Diff([]string{"k1=3"}, scan(t, c)); d != "" {
		t.Errorf("after a lost commit: scan (-want +got):\n%s", d)
	}
	tbl, _ = c.Load(ctx, testTable.ViewName())
	if n := len(tbl.Metadata().Snapshots()); tbl.CurrentSnapshot().SnapshotID == first || n != 3 {
		t.Errorf("%d snapshots, want the first, the racing one and the newest", n)
	}
}

// TestPublishTidiesManifests: a table published every day gains a data
// manifest and a delete manifest a day; past maxManifests of a kind, the
// publish merges the data manifests and writes the deletes anew, so
// what each publish and each reader's planning reads stays bounded —
// and the scan stays what the lake holds.
func TestPublishTidiesManifests(t *testing.T) {
	ctx := context.Background()
	c, root, opts := sqliteCatalog(t)
	jan := "s/t/month=2026-01/"
	var files []string
	hidden := map[string][]int64{}
	want := []string{}
	most := map[ice.ManifestContent]int{}
	for day := range 3 * maxManifests {
		if day == maxManifests {
			// From here every publish expires the snapshots before its
			// own and removes what only they read: the scans check
			// that nothing the current one reads went.
			c.retention = 0
		}
		// A day's file: a new version of k1 (hiding the last one) and a
		// new key.
		f := writeFile(t, root, jan+fmt.Sprintf("20261122T%06d.000Z-1a2b3c-sets-0001.parquet", day), row{"k1", 1, int64(day)}, row{fmt.Sprintf("u%02d", day), 1, 1})
		if len(files) > 0 {
			hidden[files[len(files)-1]] = []int64{0}
		}
		files = append(files, f)
		want = append(want, fmt.Sprintf("u%02d=1", day))
		if _, err := c.Publish(ctx, root, Want{Table: testTable, Files: slices.Clone(files), Hidden: maps.Clone(hidden)}); err != nil {
			t.Fatal(err)
		}
		tbl, err := c.Load(ctx, testTable.ViewName())
		if err != nil {
			t.Fatal(err)
		}
		fs, err := tbl.FS(ctx)
		if err != nil {
			t.Fatal(err)
		}
		mfs, err := tbl.CurrentSnapshot().Manifests(fs)
		if err != nil {
			t.Fatal(err)
		}
		n := map[ice.ManifestContent]int{}
		for _, mf := range mfs {
			n[mf.ManifestContent()]++
		}
		for k, v := range n {
			most[k] = max(most[k], v)
		}
		if day%3 == 2 || day == 3*maxManifests-1 {
			if d := cmp.Diff(append([]string{fmt.Sprintf("k1=%d", day)}, want...), scan(t, c)); d != "" {
				t.Fatalf("day %d: scan (-want +got):\n%s", day, d)
			}
		}
	}
	// With expiry, what is under the table's folder is what the current
	// snapshot reads (manifests and delete files, bounded by the tidying)
	// and the last metadata files: not a file a day.
	n := countFiles(t, opts.Warehouse)
	t.Logf("%d files under _iceberg after %d days", n, 3*maxManifests)
	if n > 4*maxManifests+20 {
		t.Errorf("%d files under _iceberg after %d days, want the current snapshot's and the last metadata files", n, 3*maxManifests)
	}
	if most[ice.ManifestContentData] > maxManifests+1 || most[ice.ManifestContentDeletes] > maxManifests+1 {
		t.Errorf("%d days: up to %d data and %d delete manifests in a snapshot, want at most %d", 3*maxManifests, most[ice.ManifestContentData], most[ice.ManifestContentDeletes], maxManifests+1)
	}
}

func countFiles(t *testing.T, dir string) (n int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestExpiryKeepsReadDeletes: a delete file that a manifest only an
// expired snapshot reads names, but that the current snapshot still reads
// through another manifest, stays.
func TestExpiryKeepsReadDeletes(t *testing.T) {
	ctx := context.Background()
	c, root, _ := sqliteCatalog(t)
	jan, feb := "s/t/month=2026-01/", "s/t/month=2026-02/"
	name := func(seq int) string { return fmt.Sprintf("20261122T183353.123Z-1a2b3c-sets-%04d.parquet", seq) }
	a := writeFile(t, root, jan+name(1), row{"k1", 1, 1})
	b := writeFile(t, root, jan+name(2), row{"k1", 1, 2})
	f := writeFile(t, root, feb+name(3), row{"k9", 2, 1})
	g := writeFile(t, root, feb+name(4), row{"k9", 2, 2})
	files := []string{a, b, f, g}
	// One commit adds both partitions' delete files: one manifest.
	if _, err := c.Publish(ctx, root, Want{Table: testTable, Files: files, Hidden: map[string][]int64{a: {0}, f: {0}}}); err != nil {
		t.Fatal(err)
	}
	// January's row shown again: its delete file goes, and the manifest
	// is rewritten, February's delete file in it still read.
	r, err := c.Publish(ctx, root, Want{Table: testTable, Files: files, Hidden: map[string][]int64{f: {0}}})
	if err != nil || r.DeletesGone != 1 {
		t.Fatalf("showing January's row again: %+v, %v", r, err)
	}
	c.retention = 0
	if r, err = c.Publish(ctx, root, Want{Table: testTable, Files: files, Hidden: map[string][]int64{f: {0}}}); err != nil || r.Expired == 0 || r.FilesRemoved == 0 {
		t.Fatalf("expiry: %+v, %v", r, err)
	}
	if d := cmp.Diff([]string{"k1=1", "k1=2", "k9=2"}, scan(t, c)); d != "" {
		t.Errorf("after expiry: scan (-want +got):\n%s", d)
	}
}
