package jsonw

import (
	"encoding/json"
	"math"
	"testing"
)

func TestAppendFloatIsEncodingJSON(t *testing.T) {
	vals := []float64{0, 1, -1, 94, 3.21, -0.4, 1.0 / 3, 2.0 / 3 * 1e-9, 1e-6, 9.99e-7, 1e20, 1e21, -1e-7, 123456789.5,
		0.30000000000000004, 55.67336654663086, 5e-324, math.MaxFloat64}
	for _, v := range vals {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendFloat(nil, v); string(got) != string(want) {
			t.Errorf("AppendFloat(%v) = %s, encoding/json gives %s", v, got, want)
		}
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got := string(AppendFloat(nil, v)); got != "null" {
			t.Errorf("AppendFloat(%v) = %s, want null", v, got)
		}
	}
}

func TestAppendArray(t *testing.T) {
	for n, want := range []string{"[]", "[0]", "[0,1]", "[0,1,2]"} {
		got := AppendArray([]byte("x"), n, func(b []byte, i int) []byte { return append(b, byte('0'+i)) })
		if string(got) != "x"+want {
			t.Errorf("AppendArray(%d) = %s, want x%s", n, got, want)
		}
	}
}
