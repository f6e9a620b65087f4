// Package writerbench measures which Parquet writer athlake should use, on
// the product's own data shape: Arrow record batches (arrow-go v18) as the
// transform step produces them, 500 rows per API page, written as one
// Parquet file with zstd, row groups of 128Ki rows, dictionary encoding off
// for float columns and timestamps as TIMESTAMP(MICROS), isAdjustedToUTC
// set exactly for zoned columns. Every column is nullable, as in
// schemas.Table.ArrowSchema.
//
// Two synthetic tables, generated deterministically with math/rand/v2, stand
// in for the real ones: reps (narrow: uuid-like set ids shared by ~8 rows,
// int32 and float64 measurements, half of them null, a three-valued side, a
// bool, two UTC timestamps, a constant run id and a mostly null JSON column)
// and samples (a 10 Hz time series: a session id constant for 54,000 rows,
// offsets, a zone-less timestamp, smooth random walks for heart rate, speed,
// distance, position, altitude and acceleration, with nullable int32s).
//
// BenchmarkWrite writes 500,000 rows of each table to a byte-counting
// writer with:
//
//   - pqarrow-buffered-pages: arrow-go pqarrow, WriteBuffered per 500-row
//     record (what load.Sink does);
//   - pqarrow-concat-pages: pqarrow, the 500-row records concatenated into
//     ~128Ki-row records first, then WriteBuffered;
//   - pqarrow-write-1batch: pqarrow, Write of one 500,000-row record;
//   - pgo-structs-*: parquet-go GenericWriter[T], each record converted to a
//     hand-written struct per table (pointer fields, since every column is
//     nullable);
//   - pgo-columns-*: parquet-go, schema-driven: the parquet-go schema is
//     derived from the Arrow schema and each Arrow column is turned into
//     parquet.Values for ColumnWriter.WriteRowValues, row groups cut by hand.
//
// The parquet-go writers are configured to match pqarrow's file layout
// (zstd level, row group and page size, data page v1, dictionaries on for
// all but floats and booleans, 1 MiB dictionary limit). The input conversion
// from Arrow is part of what is timed. MB/s is over the Arrow buffer bytes of
// the input, file-bytes is the Parquet file size, cpu-ms/op the process's CPU
// time per file including garbage collection (which ns/op, wall time, hides
// on a multi-core machine). Timings on a shared two-core VM vary by ±20%
// from run to run; use -count and compare medians.
//
// TestRoundTrip writes every table with every writer and reads each file
// back with both libraries: pqarrow must return exactly the input records
// (types, nulls and timestamp values), parquet-go exactly the rows the struct
// converters build from them. It also checks the layout (zstd, row group
// lengths, no dictionary on floats, timestamp logical types, column order)
// and that pqarrow releases all the memory it allocates. TestDuckDB (build
// tag duckdb, as linking DuckDB is slow) reads every file with DuckDB and
// checks column names, SQL types, null counts and timestamp values.
//
// Run it with
//
//	go test ./load/internal/writerbench/ -run . -bench . -benchtime 3x -benchmem
//
// (about a minute on two cores: the test ~40 s, the benchmarks ~25 s), and
//
//	go test ./load/internal/writerbench/ -run '^$' -bench . -benchtime 10x -count 3 -benchmem
//	go test -tags duckdb -run DuckDB ./load/internal/writerbench/
package writerbench
