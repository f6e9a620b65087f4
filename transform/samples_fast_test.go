package transform

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

// randomSamples is a samples object of ragged rows: nulls, short and long
// rows, unknown fields, values of the wrong kind, odd numbers, white
// space, escapes, repeated offsets and, now and then, malformed rows.
func randomSamples(rng *rand.Rand) string {
	fields := []string{`"time"`, `"hr"`, `"speed"`, `"lat"`, `"temperature"`, `"power"`, `"distance"`}
	numbers := []string{"0", "-0", "12", "-7", "0.5", "55.1234567", "-12.25", "1e3", "2.5E-2", "007", "1.",
		"123456789012345678", "0.1000000000000000055511151231257827", "9007199254740993", "4.35", "-0.0", "1-2", "1.2.3", "250", "251.0"}
	other := []string{"null", "null", "null", `"high"`, "true", "false", `"PT1S"`, `"P\u0054"`, "[1]", "{}", `""`}
	ws := []string{"", "", "", " ", "\n\t", "  "}
	var b strings.Builder
	fmt.Fprintf(&b, `{"fields":[%s],"values":[`, strings.Join(fields, ","))
	rows := 1 + rng.IntN(60)
	offset := 0
	for r := range rows {
		if r > 0 {
			b.WriteString("," + ws[rng.IntN(len(ws))])
		}
		b.WriteString("[" + ws[rng.IntN(len(ws))])
		n := rng.IntN(len(fields) + 3)
		for p := range n {
			if p > 0 {
				b.WriteString(ws[rng.IntN(len(ws))] + "," + ws[rng.IntN(len(ws))])
			}
			switch {
			case p == 0 && rng.IntN(20) > 0:
				if rng.IntN(10) > 0 {
					offset += 100
				}
				fmt.Fprintf(&b, `"PT%d.%dS"`, offset/1000, offset%1000/100)
			case rng.IntN(3) == 0:
				b.WriteString(other[rng.IntN(len(other))])
			default:
				b.WriteString(numbers[rng.IntN(len(numbers))])
			}
		}
		switch rng.IntN(100) {
		case 0:
			b.WriteString(",") // a trailing comma
		case 1:
			b.WriteString(" 1") // a missing comma
		}
		b.WriteString(ws[rng.IntN(len(ws))] + "]")
	}
	b.WriteString("]}")
	return b.String()
}

// TestSamplesOnePass checks that decoding each row in one pass
// (decodeRowAt) gives exactly the rows, rejects and anomalies of decoding
// it after finding its end (decodeRow), on random ragged input.
func TestSamplesOnePass(t *testing.T) {
	_, tb := table(t, "teampro", "samples")
	rng := rand.New(rand.NewPCG(12, 2))
	lin := Lineage{ExtractedAt: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), RunID: "r1", Endpoint: "GET /x"}
	start := time.Date(2026, 5, 3, 9, 20, 6, 0, time.UTC)
	offset := int64(120)
	fast, slow := NewSamples(checkedMem(t), tb), NewSamples(checkedMem(t), tb)
	slow.rowByRow = true
	var rowsSeen, rejectsSeen int
	for i := range 400 {
		raw := randomSamples(rng)
		id := "p" + strconv.Itoa(i)
		af := fast.Add([]byte(raw), id, start, &offset, "d", lin)
		as := slow.Add([]byte(raw), id, start, &offset, "d", lin)
		wantDiff(t, "anomalies", as, af)
		rf, jf := flush(t, fast)
		rs, js := flush(t, slow)
		// fmt tells -0 from 0, unlike cmp.
		if g, w := fmt.Sprint(rows(t, rf, "samples")), fmt.Sprint(rows(t, rs, "samples")); g != w {
			t.Fatalf("session %d: rows differ\n%s\nfast: %s\nslow: %s", i, raw, g, w)
		}
		wantDiff(t, "rejects", js, jf)
		rowsSeen += len(rows(t, rf, "samples"))
		rejectsSeen += len(jf)
	}
	if rowsSeen < 1000 || rejectsSeen < 1000 {
		t.Errorf("%d rows, %d rejects: the input exercises too little", rowsSeen, rejectsSeen)
	}
}

// TestParseFloat checks parseFloat against strconv.ParseFloat, bit for bit.
func TestParseFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	cases := []string{"0", "-0", "0.0", "-0.0", "1", "1.", ".5", "-.5", "-", "1.2.3", "1e5", "00012.500",
		"999999999999999", "9999999999999999", "0.000000000000001", "123456.789012345", "9007199254740993", "1-2", "--1"}
	for range 200000 {
		var b strings.Builder
		if rng.IntN(2) == 0 {
			b.WriteByte('-')
		}
		for range 1 + rng.IntN(9) {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		if rng.IntN(4) > 0 {
			b.WriteByte('.')
			for range rng.IntN(12) {
				b.WriteByte(byte('0' + rng.IntN(10)))
			}
		}
		cases = append(cases, b.String())
	}
	for _, c := range cases {
		checkParseFloat(t, c)
	}
}

func FuzzParseFloat(f *testing.F) {
	for _, c := range []string{"0", "-0.0", "55.1234567", "1e3", "1.", "123456789012345678"} {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s != "" {
			checkParseFloat(t, s)
		}
	})
}

func checkParseFloat(t *testing.T, s string) {
	t.Helper()
	got, gerr := parseFloat([]byte(s))
	want, werr := strconv.ParseFloat(s, 64)
	if (gerr == nil) != (werr == nil) || strconv.FormatFloat(got, 'g', -1, 64) != strconv.FormatFloat(want, 'g', -1, 64) {
		t.Fatalf("parseFloat(%q) = %v, %v; strconv: %v, %v", s, got, gerr, want, werr)
	}
}
