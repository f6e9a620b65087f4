package transform

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/athlake/athlake/schemas"
)

// BenchmarkJSONSets decodes 500-set pages (the API's largest) with 6 reps
// each into Arrow, as a sync does.
func BenchmarkJSONSets(b *testing.B) {
	reg := schemas.All()
	sets, _ := reg.Lookup("plyomat", "sets")
	var recs []json.RawMessage
	var size int
	for i := range 500 {
		var reps []string
		for r := range 6 {
			reps = append(reps, fmt.Sprintf(`{"rep_index":%d,"flight_time_ms":%d,"contact_time_ms":%d,"jump_height_cm":%.2f,"rsi":%.2f,"side":"both","is_kept":true,"captured_at":"2026-05-03T09:12:%02d.123Z"}`,
				r, 400+r, 200+r, 30.5+float64(r), 1.5, r))
		}
		rec := fmt.Sprintf(`{"id":"set-%06d","session_id":"ses-%05d","athlete_id":"ath-%04d","mode":"drop_jump","drop_height_cm":30,"started_at":"2026-05-03T09:12:00Z","created_at":"2026-05-03T10:00:00Z","updated_at":"2026-05-03T10:00:00Z","reps":[%s]}`,
			i, i/4, i/20, strings.Join(reps, ","))
		recs = append(recs, json.RawMessage(rec))
		size += len(rec)
	}
	mem := memory.NewGoAllocator()
	dec := NewJSON(mem, reg, sets)
	lin := Lineage{ExtractedAt: time.Now(), RunID: "bench"}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range recs {
			dec.Add(r, lin, nil)
		}
		out, rejects := dec.Flush()
		if len(rejects) != 0 {
			b.Fatal(rejects)
		}
		for _, r := range out {
			r.Record.Release()
		}
	}
	b.ReportMetric(float64(b.N*500*7)/b.Elapsed().Seconds(), "rows/s")
}
