package transform

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
)

// checkedMem returns an allocator that must hold nothing when the test ends.
func checkedMem(t *testing.T) memory.Allocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

// table returns the declared table vendor/name and the registry.
func table(tb testing.TB, vendor, name string) (*schemas.Registry, *schemas.Table) {
	tb.Helper()
	reg := schemas.All()
	t, ok := reg.Lookup(vendor, name)
	if !ok {
		tb.Fatalf("no table %s/%s", vendor, name)
	}
	return reg, t
}

// flush flushes dec and releases its records when the test ends (before
// checkedMem's check, cleanups running last first).
func flush(t *testing.T, dec interface {
	Flush() ([]pipeline.Records, []pipeline.Reject)
}) ([]pipeline.Records, []pipeline.Reject) {
	recs, rejects := dec.Flush()
	t.Cleanup(func() {
		for _, r := range recs {
			r.Record.Release()
		}
	})
	return recs, rejects
}

// reasons renders rejects as "table key: reason".
func reasons(rejects []pipeline.Reject) []string {
	var out []string
	for _, r := range rejects {
		out = append(out, r.Table+" "+r.Key+": "+r.Reason)
	}
	return out
}

// wantDiff reports what differs between want and got.
func wantDiff(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s (-want +got):\n%s", what, d)
	}
}

// rows renders records as maps for comparison (column -> value as text).
func rows(t *testing.T, recs []pipeline.Records, table string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, r := range recs {
		if r.Table != table {
			continue
		}
		rec := r.Record
		for i := 0; i < int(rec.NumRows()); i++ {
			row := map[string]any{"_partition": r.Partition}
			for j, f := range rec.Schema().Fields() {
				col := rec.Column(j)
				if col.IsNull(i) {
					row[f.Name] = nil
					continue
				}
				switch c := col.(type) {
				case *array.String:
					row[f.Name] = c.Value(i)
				case *array.Int64:
					row[f.Name] = c.Value(i)
				case *array.Float64:
					row[f.Name] = c.Value(i)
				case *array.Boolean:
					row[f.Name] = c.Value(i)
				case *array.Timestamp:
					row[f.Name] = c.Value(i).ToTime(arrow.Microsecond).Format(time.RFC3339Nano)
				}
			}
			out = append(out, row)
		}
	}
	return out
}
