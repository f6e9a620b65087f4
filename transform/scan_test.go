package transform

import (
	"encoding/json"
	"testing"
)

// FuzzScan checks the scanner against encoding/json: on valid objects it
// finds the same members with the same values; on anything else it fails
// cleanly.
func FuzzScan(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"b":[1,{"c":"}"}],"d":"\"x"}`, `{"a":}`, `[1,2]`, `{"a":1}x`, ` { "k" : null } `, `{"a":"\u00e9"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var want map[string]json.RawMessage
		wantErr := json.Unmarshal([]byte(in), &want) != nil || want == nil
		var keys, vals []string
		err := eachMember([]byte(in), func(k, v []byte) {
			keys, vals = append(keys, string(k)), append(vals, string(v))
		})
		if wantErr {
			return // the scanner may accept some invalid input; the decoder validates values
		}
		if err != nil {
			t.Fatalf("eachMember(%q) = %v on valid JSON", in, err)
		}
		got := map[string]string{}
		for i, k := range keys {
			var key string
			if json.Unmarshal([]byte(k), &key) != nil {
				t.Fatalf("bad key %q", k)
			}
			got[key] = vals[i]
		}
		if len(got) != len(want) {
			t.Fatalf("eachMember(%q) found %v, want %v", in, got, want)
		}
		for k, v := range want {
			if got[k] != string(v) {
				t.Fatalf("member %q = %q, want %q", k, got[k], v)
			}
		}
	})
}
