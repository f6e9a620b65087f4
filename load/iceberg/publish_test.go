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
