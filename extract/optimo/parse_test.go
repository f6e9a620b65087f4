package optimo

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/athlake/athlake/schemas"
	"github.com/athlake/athlake/transform"
)

func converter(t testing.TB, table string) *transform.XML {
	reg := schemas.All()
	tb, ok := reg.Lookup("optimo", table)
	if !ok {
		t.Fatalf("no table %s", table)
	}
	return transform.NewXML(reg, tb)
}

func TestParseList(t *testing.T) {
	body := `<?xml version="1.0" encoding="utf-8"?>
<request status="ok"><assessments page="2" pages="3" per_page="100" total="245">
 <assessment><assessment_id>7</assessment_id><athlete_id>3</athlete_id><name>Sprint &amp; jump</name>
  <assessed_at>2026-05-01 10:00:00</assessed_at><notes/><custom_field>x</custom_field>
  <results><result><metric>sprint_20m</metric><value>3.12</value><unit>s</unit></result>
   <result><metric>cmj</metric><value>fast</value><unit>cm</unit></result></results></assessment>
</assessments></request>`
	var p Page
	if err := parseList([]byte(body), "assessment.list", converter(t, "assessments"), &p); err != nil {
		t.Fatal(err)
	}
	if p.Page != 2 || p.Pages != 3 || p.Total != 245 || len(p.Records) != 1 {
		t.Fatalf("page = %+v", p)
	}
	var got map[string]any
	if err := json.Unmarshal(p.Records[0], &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"assessment_id": "7", "athlete_id": "3", "name": "Sprint & jump", "assessed_at": "2026-05-01 10:00:00", "notes": nil,
		"custom_field": "x",
		"results": []any{
			map[string]any{"metric": "sprint_20m", "value": 3.12, "unit": "s"},
			map[string]any{"metric": "cmj", "value": "fast", "unit": "cm"}, // stays a string: the decoder rejects the result
		},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("record (-want +got):\n%s", d)
	}
}

func TestParseFail(t *testing.T) {
	body := `<response status="fail"><error>Request limit exceeded: 5000 requests per day</error><error>second</error></response>`
	var p Page
	err := parseList([]byte(body), "workout.list", converter(t, "workouts"), &p)
	var fail *FailError
	if !errors.As(err, &fail) || len(fail.Messages) != 2 || !fail.quotaFail() {
		t.Fatalf("err = %v", err)
	}
	body = `<response status="[fail]"><error>Coaches may not list coaches</error></response>`
	if err := parseList([]byte(body), "coach.list", converter(t, "coaches"), &p); !errors.As(err, &fail) || fail.quotaFail() {
		t.Fatalf("err = %v", err)
	}
}

// FuzzParseList: whatever the body, parsing neither panics nor yields a
// record that is not a JSON object.
func FuzzParseList(f *testing.F) {
	f.Add(`<response status="ok"><athletes page="1" pages="1" total="1"><athlete><athlete_id>1</athlete_id><active>1</active></athlete></athletes></response>`)
	f.Add(`<response status="fail"><error>x</error></response>`)
	f.Add(`<request status="[ok]"><athletes><athlete><a><b>1</b></a></athlete></athletes></request>`)
	f.Add(`<response status="ok"><athletes><athlete>`)
	conv := converter(f, "athletes")
	f.Fuzz(func(t *testing.T, body string) {
		var p Page
		if parseList([]byte(body), "athlete.list", conv, &p) != nil {
			return
		}
		for _, r := range p.Records {
			var m map[string]any
			if err := json.Unmarshal(r, &m); err != nil {
				t.Fatalf("record %s is not a JSON object: %v", r, err)
			}
		}
	})
}
