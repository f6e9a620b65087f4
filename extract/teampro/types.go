package teampro

import (
	"encoding/json"
	"time"

	"github.com/athlake/athlake/extract/internal/httpx"
	"github.com/athlake/athlake/extract/internal/paging"
)

// MaxPageSize is the largest page the API serves.
const MaxPageSize = 100

// listEnvelope is the shape of every list response.
type listEnvelope struct {
	Data []json.RawMessage `json:"data"`
	Page struct {
		PerPage       int `json:"per_page"`
		TotalElements int `json:"total_elements"`
		PageNumber    int `json:"page_number"`
		TotalPages    int `json:"total_pages"`
	} `json:"page"`
}

func (e *listEnvelope) Rows() []json.RawMessage { return e.Data }
func (e *listEnvelope) TotalRows() int          { return e.Page.TotalElements }
func (e *listEnvelope) Check() error            { return nil }

func (e *listEnvelope) Last(index int) (bool, error) {
	return index+1 >= e.Page.TotalPages || len(e.Data) == 0, nil
}

// Page is one page of a list endpoint.
type Page = paging.Page

// Item is a single record (details, summary).
type Item struct {
	Data     json.RawMessage
	Endpoint string
	Body     []byte
	Received time.Time
}

// itemEnvelope wraps a single record.
type itemEnvelope struct {
	Data json.RawMessage `json:"data"`
}

// listed is the part of a list item the streams look at.
type listed struct {
	ID             string `json:"id"`
	Type           string `json:"type"`
	Modified       string `json:"modified"`
	StartTime      string `json:"start_time"`
	RecordStart    string `json:"record_start_time"`
	TimezoneOffset *int64 `json:"timezone_offset"`
	// Duration is duration_ms: a number, or an ISO-8601 duration.
	Duration     json.RawMessage `json:"duration_ms"`
	Players      []ref           `json:"players"`
	Participants []ref           `json:"participants"`
}

// ref is a player or participant within a record.
type ref struct {
	PlayerID        string `json:"player_id"`
	PlayerSessionID string `json:"player_session_id"`
}

// APIError is an error response of the API.
type APIError = httpx.APIError
