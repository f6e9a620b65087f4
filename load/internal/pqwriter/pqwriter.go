// Package pqwriter holds the one configuration of arrow-go's Parquet writer
// that load writes the lake with and writerbench measures.
package pqwriter

import (
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// RowGroupRows is the target row group length.
const RowGroupRows = 128 * 1024

// New returns a writer of one Parquet file of schema to w: zstd, row groups
// of RowGroupRows, dictionary encoding off for float columns (it only costs
// time and space on measurements), the Arrow schema stored in the footer
// (so timestamps keep their unit and zone: TIMESTAMP(MICROS) with
// isAdjustedToUTC set exactly for zoned columns).
func New(w io.Writer, mem memory.Allocator, schema *arrow.Schema) (*pqarrow.FileWriter, error) {
	opts := []parquet.WriterProperty{
		parquet.WithAllocator(mem),
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithMaxRowGroupLength(RowGroupRows),
		parquet.WithCreatedBy("athlake"),
	}
	for _, f := range schema.Fields() {
		if f.Type.ID() == arrow.FLOAT64 || f.Type.ID() == arrow.FLOAT32 {
			opts = append(opts, parquet.WithDictionaryFor(f.Name, false))
		}
	}
	return pqarrow.NewFileWriter(schema, w, parquet.NewWriterProperties(opts...),
		pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem), pqarrow.WithStoreSchema()))
}
