package transform

import (
	"maps"
	"slices"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
)

// parts holds a table's record builders, one per partition, until a flush.
type parts struct {
	mem   memory.Allocator
	table *schemas.Table
	m     map[string]*array.RecordBuilder
}

func newParts(mem memory.Allocator, t *schemas.Table) parts {
	return parts{mem: mem, table: t, m: map[string]*array.RecordBuilder{}}
}

// builder returns the builder of partition part, creating it if need be.
func (p *parts) builder(part string) *array.RecordBuilder {
	b, ok := p.m[part]
	if !ok {
		b = array.NewRecordBuilder(p.mem, p.table.ArrowSchema())
		p.m[part] = b
	}
	return b
}

// flush returns one record per partition, in partition order, and releases
// the builders. The caller releases the records.
func (p *parts) flush() []pipeline.Records {
	var out []pipeline.Records
	for _, part := range slices.Sorted(maps.Keys(p.m)) {
		b := p.m[part]
		out = append(out, pipeline.Records{Table: p.table.Name, Partition: part, Record: b.NewRecordBatch()})
		b.Release()
	}
	clear(p.m)
	return out
}
