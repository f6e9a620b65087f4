//go:build duckdb

package writerbench

// go test -tags duckdb -run DuckDB ./load/internal/writerbench/
// checks that DuckDB reads every writer's file with the intended SQL types and
// values. It is behind a tag because linking DuckDB is slow.

import (
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" driver
)

func duckType(dt arrow.DataType) string {
	switch t := dt.(type) {
	case *arrow.StringType:
		return "VARCHAR"
	case *arrow.Int32Type:
		return "INTEGER"
	case *arrow.Int64Type:
		return "BIGINT"
	case *arrow.Float64Type:
		return "DOUBLE"
	case *arrow.BooleanType:
		return "BOOLEAN"
	case *arrow.TimestampType:
		if t.TimeZone != "" {
			return "TIMESTAMP WITH TIME ZONE"
		}
		return "TIMESTAMP"
	}
	return "?"
}

func TestDuckDB(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := t.TempDir()
	for _, d := range datasets() {
		for _, w := range writers {
			t.Run(d.name+"/"+w.name, func(t *testing.T) {
				path := filepath.Join(dir, d.name+"-"+w.name+".parquet")
				f, err := os.Create(path)
				if err != nil {
					t.Fatal(err)
				}
				// Hide f's Close: pqarrow closes a sink that has one (as
				// load.Sink's countingWriter does not).
				if err := w.write(struct{ io.Writer }{f}, memory.DefaultAllocator, d, w.input(d)); err != nil {
					t.Fatal(err)
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
				src := "read_parquet('" + path + "')"

				rows, err := db.Query("DESCRIBE SELECT * FROM " + src)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for rows.Next() {
					var name, typ string
					var null, key, def, extra sql.NullString
					if err := rows.Scan(&name, &typ, &null, &key, &def, &extra); err != nil {
						t.Fatal(err)
					}
					got = append(got, name+" "+typ)
				}
				rows.Close()
				var want []string
				for _, f := range d.schema.Fields() {
					want = append(want, f.Name+" "+duckType(f.Type))
				}
				if strings.Join(got, ", ") != strings.Join(want, ", ") {
					t.Errorf("DuckDB columns:\n got %s\nwant %s", strings.Join(got, ", "), strings.Join(want, ", "))
				}

				// Row and non-null counts per column, and the timestamps' sum
				// in microseconds, against the Arrow input.
				rec := d.whole[0]
				for c, f := range d.schema.Fields() {
					q := `SELECT count(*), count("` + f.Name + `") FROM ` + src
					var n, nonNull int64
					if err := db.QueryRow(q).Scan(&n, &nonNull); err != nil {
						t.Fatal(err)
					}
					if n != rec.NumRows() || nonNull != rec.NumRows()-int64(rec.Column(c).NullN()) {
						t.Errorf("%s: %d rows, %d non-null; want %d, %d", f.Name, n, nonNull, rec.NumRows(), rec.NumRows()-int64(rec.Column(c).NullN()))
					}
					if ts, ok := rec.Column(c).(*array.Timestamp); ok {
						const m = 1_000_003
						var lo, hi, sum, wantSum int64
						wantLo, wantHi := int64(ts.Value(0)), int64(ts.Value(0))
						for _, v := range ts.TimestampValues() {
							wantSum = (wantSum + int64(v)%m) % m
							wantLo, wantHi = min(wantLo, int64(v)), max(wantHi, int64(v))
						}
						q := `SELECT min(epoch_us("` + f.Name + `")), max(epoch_us("` + f.Name + `")), (sum(epoch_us("` + f.Name + `") % 1000003) % 1000003)::BIGINT FROM ` + src
						if err := db.QueryRow(q).Scan(&lo, &hi, &sum); err != nil {
							t.Fatal(err)
						}
						if lo != wantLo || hi != wantHi || sum != wantSum {
							t.Errorf("%s: epoch_us min %d max %d sum%%m %d, want %d %d %d", f.Name, lo, hi, sum, wantLo, wantHi, wantSum)
						}
					}
				}
			})
		}
	}
}
