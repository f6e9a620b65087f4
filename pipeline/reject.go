package pipeline

import "encoding/json"

// rawJSONOrString marshals a rejected record as JSON when it is JSON and as a
// string otherwise (XML, broken input).
type rawJSONOrString []byte

func (r rawJSONOrString) MarshalJSON() ([]byte, error) {
	if json.Valid(r) {
		return r, nil
	}
	return json.Marshal(string(r))
}

// MarshalJSON writes the reject as one JSON object.
func (r Reject) MarshalJSON() ([]byte, error) {
	type plain Reject
	p := plain(r)
	p.Raw = r.Record
	return json.Marshal(p)
}
