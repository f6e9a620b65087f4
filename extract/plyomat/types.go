package plyomat

import (
	"encoding/json"
	"errors"

	"github.com/athlake/athlake/extract/internal/httpx"
	"github.com/athlake/athlake/extract/internal/paging"
)

// MaxPageSize is the largest page the API serves.
const MaxPageSize = 500

// DefaultConcurrency is how many requests are in flight at once when the
// configuration does not say (the vendor documents no rate limit).
const DefaultConcurrency = 4

// envelope is the shape of every list response.
type envelope struct {
	Data    []json.RawMessage `json:"data"`
	Total   int               `json:"total"`
	Limit   int               `json:"limit"`
	Offset  int               `json:"offset"`
	HasMore bool              `json:"has_more"`
}

func (e *envelope) Rows() []json.RawMessage { return e.Data }
func (e *envelope) TotalRows() int          { return e.Total }

func (e *envelope) Check() error {
	if e.Data == nil && e.Total > 0 {
		return errors.New("envelope without a data array")
	}
	return nil
}

func (e *envelope) Last(int) (bool, error) {
	if e.HasMore && len(e.Data) == 0 {
		return false, errors.New("has_more is true on an empty page")
	}
	return !e.HasMore, nil
}

// Page is one page of a list endpoint; its ServerTime is the server's
// clock (Date header), or Received.
type Page = paging.Page

// ref is the part of a record the streams look at.
type ref struct {
	ID string `json:"id"`
}

// ids are the ids of the records that have one (the decoder rejects the
// others with the reason).
func ids(records []json.RawMessage) []string {
	var out []string
	for _, r := range records {
		var a ref
		if json.Unmarshal(r, &a) == nil && a.ID != "" {
			out = append(out, a.ID)
		}
	}
	return out
}

// APIError is an error response of the API
// (`{"error": {"code": "...", "message": "..."}}`).
type APIError = httpx.APIError
