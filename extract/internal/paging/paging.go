// Package paging reads a vendor's JSON list endpoint page by page: one loop
// for Plyomat's offset paging and Team Pro's page numbers, with the same
// checks of each envelope and the same anomaly when the rows received
// disagree with the total the envelope announced. (Optimo's XML lists are
// paged by its streams, a page per checkpoint.)
package paging

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/athlake/athlake/extract/internal/httpx"
)

// Page is one page of a list.
type Page struct {
	Records    []json.RawMessage
	Total      int // the rows of the whole list, by the envelope
	Endpoint   string
	Body       []byte
	Received   time.Time
	ServerTime time.Time // the server's clock (Date header), or Received
}

// Envelope is a list response as decoded.
type Envelope interface {
	// Rows are the page's records.
	Rows() []json.RawMessage
	// TotalRows is the rows of the whole list, by the envelope.
	TotalRows() int
	// Check rejects an envelope that cannot be read, before its rows are.
	Check() error
	// Last reports whether no page follows the index-th (from 0); an
	// error when the envelope contradicts itself.
	Last(index int) (bool, error)
}

// Scheme is how a vendor pages its lists.
type Scheme struct {
	// Source names the vendor in errors.
	Source string
	// Query sets the paging parameters of the index-th page (from 0),
	// offset rows having been received before it.
	Query func(q url.Values, index, offset int)
	// TotalName names the envelope's total in the anomaly.
	TotalName string
}

// List asks for path with q page by page, decoding each response into a
// new E, and hands each page to fn until the envelope says it is the last.
// It returns anomalies: a row count in all that disagrees with the last
// envelope's total (records created or deleted while paging).
func List[E any, PE interface {
	*E
	Envelope
}](ctx context.Context, h *httpx.Client, s Scheme, path string, q url.Values, fn func(*Page) error) ([]string, error) {
	seen := 0
	for index := 0; ; index++ {
		qq := url.Values{}
		for k, v := range q {
			qq[k] = v
		}
		s.Query(qq, index, seen)
		env := PE(new(E))
		resp, err := h.GetJSON(ctx, path, qq, env)
		if err != nil {
			return nil, err
		}
		if err := env.Check(); err != nil {
			return nil, fmt.Errorf("%s %s: %w", s.Source, resp.Endpoint, err)
		}
		p := &Page{Records: env.Rows(), Total: env.TotalRows(), Endpoint: resp.Endpoint, Body: resp.Body, Received: resp.Received, ServerTime: resp.ServerTime}
		if p.ServerTime.IsZero() {
			p.ServerTime = resp.Received
		}
		if err := fn(p); err != nil {
			return nil, err
		}
		seen += len(env.Rows())
		last, err := env.Last(index)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", s.Source, resp.Endpoint, err)
		}
		if last {
			if seen != env.TotalRows() {
				return []string{fmt.Sprintf("%s: received %d rows in all, %s says %d", path, seen, s.TotalName, env.TotalRows())}, nil
			}
			return nil, nil
		}
	}
}
