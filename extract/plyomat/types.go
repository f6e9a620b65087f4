package plyomat

import (
	"encoding/json"

	"github.com/athlake/athlake/extract/internal/httpx"
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

// ref is the part of a record the streams look at.
type ref struct {
	ID string `json:"id"`
}

// APIError is an error response of the API
// (`{"error": {"code": "...", "message": "..."}}`).
type APIError = httpx.APIError
