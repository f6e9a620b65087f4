package load

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
	"github.com/athlake/athlake/transform"
)

// The sink owns a batch's records once Add is called, even when Add fails:
// it releases the records it did not keep.
func TestSinkAddReleasesRecordsOnError(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	reg := schemas.All()
	tab, _ := reg.Lookup("plyomat", "athletes")
	record := func() pipeline.Records {
		dec := transform.NewJSON(mem, reg, tab)
		dec.Add(json.RawMessage(`{"id":"a1","first_name":"Ann"}`), transform.Lineage{ExtractedAt: time.Now()}, nil)
		recs, _ := dec.Flush()
		return recs[0]
	}
	undeclared := record()
	undeclared.Table = "no_such_table"
	sink := NewSink(newStore(t), reg, mem, "plyomat", "athletes", "run")
	defer sink.Close()
	if err := sink.Add(context.Background(), &pipeline.Batch{Records: []pipeline.Records{record(), undeclared, record()}}); err == nil {
		t.Fatal("Add took a record of an undeclared table")
	}
}
