package load

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/athlake/athlake/pipeline"
)

// TestParseRawLine: the one-pass reading of a raw line gives what a full
// JSON decoding gives, for lines as the sink writes them (escapes of every
// kind, HTML-escaped characters, surrogate pairs, skip and with or not) and
// for lines in another shape.
func TestParseRawLine(t *testing.T) {
	at := time.Date(2026, 12, 6, 10, 0, 0, 123, time.UTC)
	bodies := []string{
		``, `{}`, `{"data":{"samples":{"hr":[1,2,null]}}}`,
		"<response status=\"ok\">\n\t<a b='1'>x &amp; y</a>\r\n</response>",
		`{"name":"Jürgen \"JJ\" Müller","emoji":"😀","path":"a\\b/c","ctl":"` + "\x01\x1f" + `"}`,
		`"\u2028\u2029 <script>&`,
		`lone \ud800 surrogate and \u00e9`, // escapes in the body's own text, escaped again in the line
	}
	for _, body := range bodies {
		for _, r := range []pipeline.Raw{
			{Endpoint: "GET /v1/x?a=1&b=\"2\"", FetchedAt: at, Body: []byte(body)},
			{Endpoint: "POST workout.list athlete_id=\"a,\\\"body\\\":\"", FetchedAt: at, Body: []byte(body), Skip: []int{0, 3}, With: map[string]string{"player_id": "p\"1"}},
		} {
			var buf bytes.Buffer
			if err := json.NewEncoder(&buf).Encode(rawLine{r.Endpoint, r.FetchedAt, string(r.Body), r.Skip, r.With}); err != nil {
				t.Fatal(err)
			}
			got, err := parseRawLine(buf.Bytes())
			if err != nil {
				t.Fatalf("%s: %v", buf.String(), err)
			}
			want := r
			if want.Body == nil {
				want.Body = []byte{}
			}
			if got.Body == nil {
				got.Body = []byte{}
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("%s:\n%s", buf.String(), d)
			}
		}
	}
	// Members in another order: decoded in full.
	got, err := parseRawLine([]byte(`{"body":"{\"a\":1}","fetched_at":"2026-12-06T10:00:00Z","endpoint":"GET /x"}` + "\n"))
	if err != nil || string(got.Body) != `{"a":1}` || got.Endpoint != "GET /x" {
		t.Errorf("reordered line: %+v, %v", got, err)
	}
	// Escapes only a hand-written line has, unescaped in place as
	// encoding/json reads them (a lone surrogate is U+FFFD).
	line := `{"endpoint":"GET /x","fetched_at":"2026-12-06T10:00:00Z","body":"a\ud800b\u00e9\ud83d\ude00\/"}`
	var want rawLine
	if err := json.Unmarshal([]byte(line), &want); err != nil {
		t.Fatal(err)
	}
	if got, err := parseRawLine([]byte(line)); err != nil || string(got.Body) != want.Body {
		t.Errorf("%s: body %q (%v), want %q", line, got.Body, err, want.Body)
	}
	if _, err := parseRawLine([]byte(`{"endpoint":"GET /x","body":"\q"}`)); err == nil {
		t.Error("a line with a bad escape was read")
	}
}
