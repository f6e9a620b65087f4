// Package load makes extracted batches durable: Parquet files in the lake,
// raw responses and rejects beside them, stream state and the run lock.
package load

import "github.com/athlake/athlake/load/internal/pqwriter"

// RowGroupRows is the row group length: the sink writes a table
// partition's file a whole row group at a time (pqwriter.Writer: zstd, the
// encodings of pqwriter's properties, timestamps as TIMESTAMP(MICROS) with
// isAdjustedToUTC set exactly for zoned columns, each row group's columns
// encoded in parallel).
const RowGroupRows = pqwriter.RowGroupRows

// The writer is arrow-go's pqarrow rather than parquet-go, chosen by
// measurement (load/internal/writerbench; 500k rows of reps and of 10 Hz
// samples, 500-row input records, 2 cores):
//
//	reps     pqarrow 129 MB/s, 7.28 MB file, 341 MB allocated
//	         parquet-go (column adapter) 162 MB/s, 7.30 MB, 75 MB
//	samples  pqarrow  93 MB/s, 13.47 MB file, 367 MB allocated
//	         parquet-go (column adapter) 124 MB/s, 13.79 MB, 69 MB
//
// parquet-go is 20-30% faster and allocates 5x less, but from Arrow input it
// needs a ~250-line adapter with several traps (alphabetical column order,
// pointer-only optional fields, row groups cut by hand, the date bug), writes
// files 0.3-2.4% larger and drops the Arrow schema. Writing is a small share
// of a sync (decoding pages dominates), so pqarrow's exact types and
// simplicity win. The adapter stays tested in writerbench should the writer
// ever dominate a profile.
