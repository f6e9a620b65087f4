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

func TestJSONSetsAndReps(t *testing.T) {
	reg, sets := table(t, "plyomat", "sets")
	dec := NewJSON(checkedMem(t), reg, sets)
	lin := Lineage{ExtractedAt: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), RunID: "run1", Endpoint: "GET /sets"}

	good := `{"id":"s1","session_id":"x1","athlete_id":"a1","mode":"drop_jump","drop_height_cm":30,
	  "started_at":"2026-05-03T09:12:45.123Z","created_at":"2026-05-03T10:00:00Z","updated_at":"2026-05-03T10:00:00Z",
	  "firmware":{"v":2},
	  "reps":[
	    {"rep_index":0,"flight_time_ms":512.0,"contact_time_ms":201,"jump_height_cm":32.14,"rsi":1.6,"side":"both","is_kept":true,"captured_at":"2026-05-03T09:12:46Z"},
	    {"rep_index":1,"flight_time_ms":"fast","contact_time_ms":null,"jump_height_cm":30,"side":"left","is_kept":false,"captured_at":"2026-05-03T09:12:50Z"},
	    {"rep_index":2,"flight_time_ms":480,"jump_height_cm":28.25,"side":"right","is_kept":true,"captured_at":"2026-05-03T09:12:55Z","tempo":3}
	  ]}`
	badSet := `{"id":"s2","session_id":"x1","athlete_id":"a1","mode":"cmj","started_at":"yesterday","created_at":"2026-05-03T10:00:00Z","updated_at":"2026-05-03T10:00:00Z","reps":[{"rep_index":0,"flight_time_ms":400}]}`
	noStart := `{"id":"s3","mode":"cmj","reps":null}`
	for _, r := range []string{good, badSet, noStart, `[1,2]`} {
		dec.Add(json.RawMessage(r), lin, nil)
	}
	recs, rejects := flush(t, dec)

	ts := "2026-06-01T12:00:00Z"
	wantSets := []map[string]any{
		{"_partition": "2026-05", "id": "s1", "session_id": "x1", "athlete_id": "a1", "mode": "drop_jump", "drop_height_cm": 30.0,
			"started_at": "2026-05-03T09:12:45.123Z", "created_at": "2026-05-03T10:00:00Z", "updated_at": "2026-05-03T10:00:00Z",
			"_extracted_at": ts, "_run_id": "run1", "_extra": `{"firmware":{"v":2}}`},
		{"_partition": schemas.DefaultPartition, "id": "s3", "session_id": nil, "athlete_id": nil, "mode": "cmj", "drop_height_cm": nil,
			"started_at": nil, "created_at": nil, "updated_at": nil, "_extracted_at": ts, "_run_id": "run1", "_extra": nil},
	}
	wantDiff(t, "sets", wantSets, rows(t, recs, "sets"))
	wantReps := []map[string]any{
		{"_partition": "2026-05", "set_id": "s1", "rep_index": int64(0), "flight_time_ms": int64(512), "contact_time_ms": int64(201),
			"jump_height_cm": 32.14, "rsi": 1.6, "side": "both", "is_kept": true, "captured_at": "2026-05-03T09:12:46Z",
			"_extracted_at": ts, "_run_id": "run1", "_extra": nil},
		{"_partition": "2026-05", "set_id": "s1", "rep_index": int64(2), "flight_time_ms": int64(480), "contact_time_ms": nil,
			"jump_height_cm": 28.25, "rsi": nil, "side": "right", "is_kept": true, "captured_at": "2026-05-03T09:12:55Z",
			"_extracted_at": ts, "_run_id": "run1", "_extra": `{"tempo":3}`},
	}
	wantDiff(t, "reps", wantReps, rows(t, recs, "reps"))
	wantDiff(t, "rejects", []string{
		`sets id=s2: started_at: bad timestamp "yesterday" (want RFC 3339 with a zone)`,
		"sets : record is not a JSON object",
		`reps set_id=s1,rep_index=1: flight_time_ms: want a number, got a string "fast"`,
	}, reasons(rejects))
	if !strings.Contains(string(rejects[2].Record), `"fast"`) {
		t.Errorf("reject does not carry the record: %s", rejects[2].Record)
	}
}

// BenchmarkJSONSets decodes 500-set pages (the API's largest) with 6 reps
// each into Arrow, as a sync does.
func BenchmarkJSONSets(b *testing.B) {
	reg, sets := table(b, "plyomat", "sets")
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
	lin := Lineage{ExtractedAt: time.Now(), RunID: "bench"}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		// A decoder per response, as a stream uses it: it rejects a key the
		// response repeats.
		dec := NewJSON(mem, reg, sets)
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

func TestParseJSONNumbers(t *testing.T) {
	cases := []struct {
		raw  string
		typ  schemas.Type
		want value
		err  bool
	}{
		{"12", schemas.Int64, value{i: 12}, false},
		{"12.0", schemas.Int64, value{i: 12}, false},
		{"12.5", schemas.Int64, value{}, true},
		{"1e3", schemas.Int64, value{i: 1000}, false},
		{`"12"`, schemas.Int64, value{}, true},
		{"7", schemas.Float64, value{f: 7}, false},
		{"true", schemas.Float64, value{}, true},
		{"null", schemas.Float64, value{null: true}, false},
		{"", schemas.String, value{null: true}, false},
		{"3", schemas.String, value{}, true},
		{"1", schemas.Bool, value{}, true},
	}
	for _, c := range cases {
		got, err := parseJSON(json.RawMessage(c.raw), c.typ)
		if (err != nil) != c.err || (err == nil && got != c.want) {
			t.Errorf("parseJSON(%s, %v) = %+v, %v; want %+v, err=%v", c.raw, c.typ, got, err, c.want, c.err)
		}
	}
}

func FuzzJSONDecoder(f *testing.F) {
	f.Add(`{"id":"s1","started_at":"2026-05-03T09:12:45Z","reps":[{"rep_index":0,"flight_time_ms":500}]}`)
	f.Add(`{"id":1,"reps":{}}`)
	f.Add(`[]`)
	f.Add(`{"reps":[null,1,"x"]}`)
	reg := schemas.All()
	sets, _ := reg.Lookup("plyomat", "sets")
	f.Fuzz(func(t *testing.T, rec string) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		dec := NewJSON(mem, reg, sets)
		dec.Add(json.RawMessage(rec), Lineage{RunID: "r"}, nil)
		recs, rejects := dec.Flush()
		var n int64
		for _, r := range recs {
			n += r.Record.NumRows()
			r.Record.Release()
		}
		if n == 0 && len(rejects) == 0 {
			t.Fatalf("record %q neither decoded nor rejected", rec)
		}
		mem.AssertSize(t, 0)
	})
}

func TestJSONChildKeyRepeatedInAResponse(t *testing.T) {
	reg, sets := table(t, "plyomat", "sets")
	dec := NewJSON(checkedMem(t), reg, sets)
	page1 := Lineage{ExtractedAt: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), RunID: "run1", Endpoint: "GET /sets?offset=0"}
	page2 := Lineage{ExtractedAt: page1.ExtractedAt.Add(time.Second), RunID: "run1", Endpoint: "GET /sets?offset=500"}
	set := func(id string, reps ...int) json.RawMessage {
		var rs []string
		for _, r := range reps {
			rs = append(rs, fmt.Sprintf(`{"rep_index":%d,"flight_time_ms":%d}`, r, 400+r))
		}
		return json.RawMessage(fmt.Sprintf(`{"id":%q,"mode":"cmj","started_at":"2026-05-03T09:00:00Z","reps":[%s]}`, id, strings.Join(rs, ",")))
	}
	dec.Add(set("s1", 0, 1, 1, 2), page1, nil) // rep 1 twice
	dec.Add(set("s1", 0), page1, nil)          // the set twice in one page
	dec.Add(set("s1", 0, 1), page2, nil)       // the next page may repeat it
	recs, rejects := flush(t, dec)
	var got []string
	for _, r := range rows(t, recs, "reps") {
		got = append(got, fmt.Sprintf("%s/%d@%s=%d", r["set_id"], r["rep_index"], r["_extracted_at"], r["flight_time_ms"]))
	}
	want := []string{
		"s1/0@2026-06-01T12:00:00Z=400", "s1/1@2026-06-01T12:00:00Z=401", "s1/2@2026-06-01T12:00:00Z=402",
		"s1/0@2026-06-01T12:00:01Z=400", "s1/1@2026-06-01T12:00:01Z=401",
	}
	wantDiff(t, "reps", want, got)
	wantDiff(t, "rejects", []string{
		"reps set_id=s1,rep_index=1: the response repeats this key: the first record with it is kept",
		"reps set_id=s1,rep_index=0: the response repeats this key: the first record with it is kept",
	}, reasons(rejects))
}

// TestJSONMember: after Add, Member gives the raw value of a column's
// field and of a child list a dedicated decoder handles (Team Pro's
// samples), the last one where a record repeats a field, and nil for a
// field the record lacks; each record's own.
func TestJSONMember(t *testing.T) {
	reg, ps := table(t, "teampro", "player_sessions")
	dec := NewJSON(checkedMem(t), reg, ps)
	lin := Lineage{ExtractedAt: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), RunID: "run1"}
	for _, tc := range []struct {
		rec                  string
		start, samples, none string
	}{
		{`{"id":"p1","start_time":"2026-05-03T09:00:00","samples":{"fields":["offset"],"values":[["PT0S"]]},"rr_intervals":[800]}`,
			`"2026-05-03T09:00:00"`, `{"fields":["offset"],"values":[["PT0S"]]}`, ""},
		{`{"id":"p2","samples":null,"start_time":"2026-05-04T09:00:00","samples":[1]}`, `"2026-05-04T09:00:00"`, `[1]`, ""},
		{`{"id":"p3"}`, "", "", ""},
	} {
		if _, ok := dec.Add(json.RawMessage(tc.rec), lin, nil); !ok {
			t.Fatalf("%s rejected", tc.rec)
		}
		for name, want := range map[string]string{"start_time": tc.start, "samples": tc.samples, "no_such_field": tc.none} {
			if got := string(dec.Member(name)); got != want {
				t.Errorf("%s: Member(%q) = %q, want %q", tc.rec, name, got, want)
			}
		}
	}
	flush(t, dec)
}

// TestJSONAddDefaults: a default fills a field the record lacks; a field
// the record has, null included, keeps its own value.
func TestJSONAddDefaults(t *testing.T) {
	reg, ps := table(t, "teampro", "player_sessions")
	dec := NewJSON(checkedMem(t), reg, ps)
	lin := Lineage{ExtractedAt: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), RunID: "run1"}
	defaults := map[string]json.RawMessage{"timezone_offset": json.RawMessage("120")}
	for _, rec := range []string{
		`{"id":"p1","start_time":"2026-05-03T09:00:00"}`,
		`{"id":"p2","start_time":"2026-05-03T09:00:00","timezone_offset":-60}`,
		`{"id":"p3","start_time":"2026-05-03T09:00:00","timezone_offset":null}`,
	} {
		if _, ok := dec.AddDefaults(json.RawMessage(rec), lin, nil, defaults); !ok {
			t.Fatalf("%s rejected", rec)
		}
	}
	dec.Add(json.RawMessage(`{"id":"p4","start_time":"2026-05-03T09:00:00"}`), lin, nil) // no defaults after
	recs, _ := flush(t, dec)
	got := map[any]any{}
	for _, r := range rows(t, recs, "player_sessions") {
		got[r["id"]] = r["timezone_offset"]
	}
	want := map[any]any{"p1": int64(120), "p2": int64(-60), "p3": nil, "p4": nil}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("timezone_offset by id: %v, want %v", got, want)
	}
}
