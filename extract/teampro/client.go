// Package teampro is the client of the Polar Team Pro API (OAuth2, 1
// request/s with a burst of 100) and the definition of its stream: teams and
// players refreshed, team and player training sessions through since/until
// with a lookback, and each player session's details, 10 Hz samples, RR
// intervals and summary fetched once (and again when modified); or, for
// `athlake backfill`, players' sessions over a window. A record deleted
// between the list that named it and its details is skipped with an
// anomaly.
package teampro

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"golang.org/x/oauth2"

	"github.com/athlake/athlake/extract/internal/httpx"
	"github.com/athlake/athlake/extract/internal/paging"
	"github.com/athlake/athlake/pipeline"
)

// The vendor's rate limit.
const (
	DefaultRate  = 1.0
	DefaultBurst = 100
)

// Options configures a Client.
type Options struct {
	BaseURL     string
	Tokens      Tokens
	UserAgent   string
	PageSize    int // 1–100 (default 100)
	Rate        float64
	Burst       int
	Timeout     time.Duration
	MaxAttempts int
	Backoff     time.Duration
	Transport   http.RoundTripper
	Log         *slog.Logger
	// Clock and Sleep drive the rate limiter (tests use a fake clock).
	Clock func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Tokens gives the access token for a request, giving up when ctx is done;
// *TokenSource is the one athlake uses.
type Tokens interface {
	TokenContext(ctx context.Context) (*oauth2.Token, error)
}

// Client calls the Team Pro API.
type Client struct {
	h        *httpx.Client
	bucket   *httpx.Bucket
	pageSize int
}

// New returns a client. It makes no request.
func New(o Options) (*Client, error) {
	if o.Tokens == nil {
		return nil, errors.New("teampro: no token source")
	}
	if o.PageSize <= 0 || o.PageSize > MaxPageSize {
		o.PageSize = MaxPageSize
	}
	if o.Rate <= 0 {
		o.Rate = DefaultRate
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	// Keep a little headroom below the vendor's bucket: its clock starts
	// elsewhere and requests arrive with jitter, so pacing at exactly its
	// rate would now and then land a request a few milliseconds early.
	headroom := 1
	if o.Burst >= 20 {
		headroom = 2
	}
	bucket := httpx.NewBucket(o.Rate, max(o.Burst-headroom, 1), o.Clock, o.Sleep)
	tokens := o.Tokens
	h, err := httpx.New(httpx.Options{
		Source: "teampro", BaseURL: o.BaseURL, UserAgent: o.UserAgent,
		Timeout: o.Timeout, MaxAttempts: o.MaxAttempts, Backoff: o.Backoff, Sleep: o.Sleep,
		// The stream is sequential; at one request per second more in
		// flight would only queue at the limiter.
		Concurrency: 1,
		Transport:   o.Transport, Log: o.Log, Validate: httpx.ValidJSON,
		Limiter: bucket, OnRateLimited: bucket.Drain,
		Authorize: func(r *http.Request) error {
			t, err := tokens.TokenContext(r.Context())
			if err != nil {
				return err
			}
			t.SetAuthHeader(r)
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	return &Client{h: h, bucket: bucket, pageSize: o.PageSize}, nil
}

// Stats reports the requests made so far.
func (c *Client) Stats() pipeline.RequestStats { return c.h.Stats() }

// Bucket is the client-side rate limiter (its state is kept between runs).
func (c *Client) Bucket() *httpx.Bucket { return c.bucket }

// list pages through path (pages from 0) until the last page; it returns an
// anomaly when the rows received disagree with total_elements.
func (c *Client) list(ctx context.Context, path string, q url.Values, fn func(*Page) error) ([]string, error) {
	return paging.List[listEnvelope](ctx, c.h, paging.Scheme{
		Source:    "teampro",
		TotalName: "total_elements",
		Query: func(q url.Values, index, _ int) {
			q.Set("page", strconv.Itoa(index))
			q.Set("per_page", strconv.Itoa(c.pageSize))
		},
	}, path, q, fn)
}

func (c *Client) item(ctx context.Context, path string, q url.Values) (*Item, error) {
	var env itemEnvelope
	resp, err := c.h.GetJSON(ctx, path, q, &env)
	if err != nil {
		return nil, err
	}
	if len(env.Data) == 0 || env.Data[0] != '{' {
		return nil, fmt.Errorf("teampro %s: response without a data object", resp.Endpoint)
	}
	return &Item{Data: env.Data, Endpoint: resp.Endpoint, Body: resp.Body, Received: resp.Received}, nil
}

// Teams lists the teams.
func (c *Client) Teams(ctx context.Context, fn func(*Page) error) ([]string, error) {
	return c.list(ctx, "/v1/teams", nil, fn)
}

// Team fetches a team with its players.
func (c *Client) Team(ctx context.Context, id string) (*Item, error) {
	return c.item(ctx, "/v1/teams/"+httpx.Segment(id), nil)
}

// Window bounds a session list by start time (wall clock, exclusive).
type Window struct{ Since, Until time.Time }

func (w Window) values() url.Values {
	q := url.Values{}
	if !w.Since.IsZero() {
		q.Set("since", w.Since.Format(queryTimeLayout))
	}
	if !w.Until.IsZero() {
		q.Set("until", w.Until.Format(queryTimeLayout))
	}
	return q
}

// queryTimeLayout writes the wall-clock bounds of the since and until
// query parameters (to the second, no zone).
const queryTimeLayout = "2006-01-02T15:04:05"

// TeamSessions lists a team's training sessions.
func (c *Client) TeamSessions(ctx context.Context, teamID string, w Window, fn func(*Page) error) ([]string, error) {
	return c.list(ctx, "/v1/teams/"+httpx.Segment(teamID)+"/training_sessions", w.values(), fn)
}

// TeamSession fetches a team session with participants and markers.
func (c *Client) TeamSession(ctx context.Context, id string) (*Item, error) {
	return c.item(ctx, "/v1/teams/training_sessions/"+httpx.Segment(id), nil)
}

// PlayerSessions lists a player's training sessions, TEAM and INDIVIDUAL.
func (c *Client) PlayerSessions(ctx context.Context, playerID string, w Window, fn func(*Page) error) ([]string, error) {
	q := w.values()
	q.Set("type", "ALL")
	return c.list(ctx, "/v1/players/"+httpx.Segment(playerID)+"/training_sessions", q, fn)
}

// PlayerSession fetches a player session's details; samples is "all", a
// comma-separated list of sample types, or "" for none.
func (c *Client) PlayerSession(ctx context.Context, id, samples string) (*Item, error) {
	q := url.Values{}
	if samples != "" {
		q.Set("samples", samples)
	}
	return c.item(ctx, "/v1/training_sessions/"+httpx.Segment(id), q)
}

// SessionSummary fetches a player's team-session summary. A session without
// one (INDIVIDUAL) answers 404, an *APIError: the caller knows whether a
// summary was due.
func (c *Client) SessionSummary(ctx context.Context, id string) (*Item, error) {
	return c.item(ctx, "/v1/training_sessions/"+httpx.Segment(id)+"/session_summary", nil)
}
