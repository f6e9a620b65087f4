// Package plyomat is the client of the Plyomat Open API and the definition of
// its streams: dimension tables fully refreshed, sessions and sets through
// `since` with a lookback overlap, and a per-athlete backfill of sets.
package plyomat

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/athlake/athlake/extract/internal/httpx"
	"github.com/athlake/athlake/extract/internal/paging"
	"github.com/athlake/athlake/pipeline"
)

// Options configures a Client.
type Options struct {
	BaseURL     string
	APIKey      string
	UserAgent   string
	PageSize    int           // rows per page, 1–500 (default 500)
	Timeout     time.Duration // per attempt
	MaxAttempts int
	Concurrency int
	Backoff     time.Duration
	Transport   http.RoundTripper
	Log         *slog.Logger
}

// Client calls the Plyomat Open API.
type Client struct {
	h        *httpx.Client
	pageSize int
}

// New returns a client. It makes no request.
func New(o Options) (*Client, error) {
	if o.APIKey == "" {
		return nil, errors.New("plyomat: no API key")
	}
	if o.PageSize <= 0 || o.PageSize > MaxPageSize {
		o.PageSize = MaxPageSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	key := o.APIKey
	h, err := httpx.New(httpx.Options{
		Source: "plyomat", BaseURL: o.BaseURL, UserAgent: o.UserAgent,
		Timeout: o.Timeout, MaxAttempts: o.MaxAttempts, Concurrency: o.Concurrency, Backoff: o.Backoff,
		Transport: o.Transport, Log: o.Log, Validate: httpx.ValidJSON,
		Authorize: func(r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+key)
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	return &Client{h: h, pageSize: o.PageSize}, nil
}

// Stats reports the requests made so far.
func (c *Client) Stats() pipeline.RequestStats { return c.h.Stats() }

// list pages through path with offset paging until has_more is false. It
// returns anomalies: a final row count that disagrees with the envelope's
// total (records created or deleted while paging).
func (c *Client) list(ctx context.Context, path string, q url.Values, fn func(*Page) error) ([]string, error) {
	return paging.List[envelope](ctx, c.h, paging.Scheme{
		Source:    "plyomat",
		TotalName: "envelope total",
		Query: func(q url.Values, _, offset int) {
			q.Set("limit", strconv.Itoa(c.pageSize))
			q.Set("offset", strconv.Itoa(offset))
		},
	}, path, q, fn)
}

// Athletes lists athletes, optionally those of one group.
func (c *Client) Athletes(ctx context.Context, groupID string, fn func(*Page) error) ([]string, error) {
	q := url.Values{}
	if groupID != "" {
		q.Set("group_id", groupID)
	}
	return c.list(ctx, "/athletes", q, fn)
}

// Groups lists groups.
func (c *Client) Groups(ctx context.Context, fn func(*Page) error) ([]string, error) {
	return c.list(ctx, "/groups", nil, fn)
}

// Devices lists devices.
func (c *Client) Devices(ctx context.Context, fn func(*Page) error) ([]string, error) {
	return c.list(ctx, "/devices", nil, fn)
}

// Assessments lists assessments.
func (c *Client) Assessments(ctx context.Context, fn func(*Page) error) ([]string, error) {
	return c.list(ctx, "/assessments", nil, fn)
}

// OrgMembers lists the organisation's members.
func (c *Client) OrgMembers(ctx context.Context, includeArchived bool, fn func(*Page) error) ([]string, error) {
	q := url.Values{}
	if includeArchived {
		q.Set("include_archived", "true")
	}
	return c.list(ctx, "/org/members", q, fn)
}

// Filter selects sessions or sets.
type Filter struct {
	AthleteID string
	SessionID string    // sets only
	Mode      string    // sets only
	Since     time.Time // created or updated at or after (inclusive)
}

func (f Filter) values() url.Values {
	q := url.Values{}
	if f.AthleteID != "" {
		q.Set("athlete_id", f.AthleteID)
	}
	if f.SessionID != "" {
		q.Set("session_id", f.SessionID)
	}
	if f.Mode != "" {
		q.Set("mode", f.Mode)
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	return q
}

// Sessions lists sessions.
func (c *Client) Sessions(ctx context.Context, f Filter, fn func(*Page) error) ([]string, error) {
	return c.list(ctx, "/sessions", f.values(), fn)
}

// Sets lists sets with their embedded reps.
func (c *Client) Sets(ctx context.Context, f Filter, fn func(*Page) error) ([]string, error) {
	return c.list(ctx, "/sets", f.values(), fn)
}

// Get fetches one record of a resource with a detail endpoint ("athletes",
// "groups", "devices", "sessions", "sets").
func (c *Client) Get(ctx context.Context, resource, id string) (json.RawMessage, error) {
	var rec json.RawMessage
	_, err := c.h.GetJSON(ctx, "/"+resource+"/"+httpx.Segment(id), nil, &rec)
	return rec, err
}

// Count asks a list (path with q) for its first limit rows only, and
// returns its total and those rows: what a plan learns of a list for one
// request.
func (c *Client) Count(ctx context.Context, path string, q url.Values, limit int) (int, []json.RawMessage, error) {
	qq := url.Values{}
	for k, v := range q {
		qq[k] = v
	}
	qq.Set("limit", strconv.Itoa(limit))
	qq.Set("offset", "0")
	var env envelope
	if _, err := c.h.GetJSON(ctx, path, qq, &env); err != nil {
		return 0, nil, err
	}
	return env.Total, env.Data, nil
}
