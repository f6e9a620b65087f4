package transform

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestSamples(t *testing.T) {
	_, tb := table(t, "teampro", "samples")
	dec := NewSamples(checkedMem(t), tb)
	lin := Lineage{ExtractedAt: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), RunID: "r1", Endpoint: "GET /v1/training_sessions/p1"}
	start := time.Date(2026, 5, 3, 9, 20, 6, 0, time.UTC) // wall clock
	offset := int64(120)
	raw := `{"fields":["time","hr","lat","lon","temperature","power"],"values":[
		["PT0S",94,55.5,12.25,21.5,250],
		["PT0.1S",null,null,null],
		["PT1M2.3S",95.5,55.6,12.3,null,251,7,8],
		["PT1M2.4S","high",1,1,1,1],
		["PT1M2.5S",96,1,1,1,2.5],
		[5,96,1,1,1,1]
	]}`
	anomalies := dec.Add([]byte(raw), "p1", start, &offset, "2026-05-03", lin)
	wantDiff(t, "anomalies", []string{"player session p1: 1 sample rows longer than fields (extra values kept in _raw)"}, anomalies)
	recs, rejects := flush(t, dec)
	got := rows(t, recs, "samples")
	ts := "2026-06-01T12:00:00Z"
	base := map[string]any{"_partition": "2026-05-03", "player_session_id": "p1", "_extracted_at": ts, "_run_id": "r1",
		"distance": nil, "speed": nil, "cadence": nil, "altitude": nil, "forward_acceleration": nil}
	row := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	want := []map[string]any{
		row("offset_ms", int64(0), "sample_time", "2026-05-03T09:20:06Z", "sample_time_utc", "2026-05-03T07:20:06Z",
			"hr", 94.0, "lat", 55.5, "lon", 12.25, "power", int64(250), "_extra", `{"temperature":21.5}`),
		row("offset_ms", int64(100), "sample_time", "2026-05-03T09:20:06.1Z", "sample_time_utc", "2026-05-03T07:20:06.1Z",
			"hr", nil, "lat", nil, "lon", nil, "power", nil, "_extra", nil),
		row("offset_ms", int64(62300), "sample_time", "2026-05-03T09:21:08.3Z", "sample_time_utc", "2026-05-03T07:21:08.3Z",
			"hr", 95.5, "lat", 55.6, "lon", 12.3, "power", int64(251), "_extra", nil),
	}
	wantDiff(t, "rows", want, got)
	wantDiff(t, "rejects", []string{
		`samples player_session_id=p1,row 3: hr: want a number, got a string "high"`,
		"samples player_session_id=p1,row 4: power: want a whole number, got 2.5",
		"samples player_session_id=p1,row 5: time: want an ISO-8601 duration, got a number 5",
	}, reasons(rejects))
}

func TestSamplesWithoutOffset(t *testing.T) {
	_, tb := table(t, "teampro", "samples")
	dec := NewSamples(checkedMem(t), tb)
	dec.Add([]byte(`{"fields":["time","speed"],"values":[["PT0S",1.5]]}`), "p2", time.Date(2026, 5, 3, 9, 0, 0, 0, time.UTC), nil, "2026-05-03", Lineage{})
	recs, _ := flush(t, dec)
	got := rows(t, recs, "samples")
	if len(got) != 1 || got[0]["sample_time_utc"] != nil || got[0]["speed"] != 1.5 {
		t.Errorf("rows = %v", got)
	}
}

// BenchmarkSamples decodes one 90-minute 10 Hz session (54,000 rows, all
// fields).
func BenchmarkSamples(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"fields":["time","distance","hr","speed","cadence","lat","lon","altitude","forward_acceleration","power"],"values":[`)
	for i := range 54000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `["PT%dM%d.%dS",%.1f,%d,%.2f,%d,%.6f,%.6f,%.1f,%.2f,%d]`,
			i/600, (i/10)%60, i%10, float64(i)*0.45, 120+i%60, 4.5+float64(i%20)/10, 80+i%10, 55.673366+float64(i)*1e-6, 12.493950+float64(i)*1e-6, 21.5, 0.04, 200+i%50)
	}
	sb.WriteString(`]}`)
	raw := []byte(sb.String())
	_, tb := table(b, "teampro", "samples")
	dec := NewSamples(memory.NewGoAllocator(), tb)
	off := int64(120)
	start := time.Date(2026, 5, 3, 9, 0, 0, 0, time.UTC)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		dec.Add(raw, "p1", start, &off, "2026-05-03", Lineage{RunID: "r"})
		recs, rejects := dec.Flush()
		if len(rejects) > 0 || recs[0].Record.NumRows() != 54000 {
			b.Fatalf("%d rejects", len(rejects))
		}
		for _, r := range recs {
			r.Record.Release()
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
}

func TestSamplesRepeatedOffsetRejected(t *testing.T) {
	_, tb := table(t, "teampro", "samples")
	dec := NewSamples(checkedMem(t), tb)
	start := time.Date(2026, 5, 3, 9, 0, 0, 0, time.UTC)
	lin := Lineage{ExtractedAt: start, RunID: "r1"}
	// 0.1 s repeated right away, 0 s repeated after the order broke, 0.3 s
	// out of order but new.
	dec.Add([]byte(`{"fields":["time","hr"],"values":[["PT0S",90],["PT0.1S",91],["PT0.1S",92],["PT0.2S",93],["PT0S",94],["PT0.3S",95],["PT0.25S",96]]}`), "p1", start, nil, "2026-05-03", lin)
	// Another session (another response) may use the same offsets.
	dec.Add([]byte(`{"fields":["time","hr"],"values":[["PT0S",80],["PT0.1S",81]]}`), "p2", start, nil, "2026-05-03", lin)
	recs, rejects := flush(t, dec)
	var got []string
	for _, r := range rows(t, recs, "samples") {
		got = append(got, fmt.Sprintf("%s@%d=%v", r["player_session_id"], r["offset_ms"], r["hr"]))
	}
	want := []string{"p1@0=90", "p1@100=91", "p1@200=93", "p1@300=95", "p1@250=96", "p2@0=80", "p2@100=81"}
	wantDiff(t, "rows", want, got)
	wantDiff(t, "rejects", []string{
		"samples player_session_id=p1,row 2: time: the response repeats offset 100 ms: the first row with it is kept",
		"samples player_session_id=p1,row 4: time: the response repeats offset 0 ms: the first row with it is kept",
	}, reasons(rejects))
}
