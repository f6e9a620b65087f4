package pipeline

import (
	"encoding/json"
	"time"
)

// MarshalJSON writes the reject as one JSON object; the record is embedded
// as JSON when it is JSON, and as a string otherwise (XML, broken input).
func (r Reject) MarshalJSON() ([]byte, error) {
	var rec any = string(r.Record)
	if json.Valid(r.Record) {
		rec = json.RawMessage(r.Record)
	}
	return json.Marshal(struct {
		Table    string    `json:"table"`
		Endpoint string    `json:"endpoint"`
		Key      string    `json:"key,omitempty"`
		Reason   string    `json:"reason"`
		At       time.Time `json:"extracted_at"`
		Record   any       `json:"record"`
	}{r.Table, r.Endpoint, r.Key, r.Reason, r.At, rec})
}
