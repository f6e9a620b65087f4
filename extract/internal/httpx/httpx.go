// Package httpx is the HTTP machinery the vendor clients share: transport
// layers for authentication, bounded concurrency, logging and retries, and the
// JSON and XML call helpers built on them.
package httpx

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/athlake/athlake/pipeline"
)

// Options configures a Client. Zero values give sensible defaults.
type Options struct {
	Source      string        // names the vendor in errors and logs
	BaseURL     string        // endpoint paths are joined to it
	UserAgent   string        // sent on every request
	Timeout     time.Duration // per attempt, headers and body (default 60 s)
	MaxAttempts int           // per request (default 6)
	Concurrency int           // requests in flight at once (default 4)
	Backoff     time.Duration // first retry's backoff ceiling (default 500 ms)
	MaxBackoff  time.Duration // backoff cap (default 30 s)
	MaxBody     int64         // largest response body accepted, not retried when over (default 512 MiB)
	// Authorize sets credentials on each outgoing request.
	Authorize func(*http.Request) error
	// Validate checks a 2xx body; an error means the response is broken
	// (truncated, HTML instead of JSON) and is retried like a 5xx.
	Validate func(body []byte) error
	// Limiter, if set, is waited on before every attempt (client-side rate
	// limit shared by all workers).
	Limiter interface {
		Wait(ctx context.Context) error
	}
	// OnRateLimited is called on every 429 (e.g. to drain the Limiter).
	OnRateLimited func()
	// FinalStatuses are statuses that are not retried even though they
	// usually are (Optimo's 429 means the daily quota is spent).
	FinalStatuses []int
	Transport     http.RoundTripper // base transport (default: a clone of http.DefaultTransport)
	Log           *slog.Logger
	// Sleep waits between attempts (tests replace it); default is a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Stats counts what a Client did.
type Stats = pipeline.RequestStats

type counters struct{ requests, retries, rateLimited, bytes atomic.Int64 }

// Client sends requests through the layered transport.
type Client struct {
	opts  Options
	base  *url.URL
	hc    *http.Client
	stats *counters
}

// New builds the transport stack: retry( limit( log( auth( base )))).
func New(o Options) (*Client, error) {
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 6
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 512 << 20
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	base, err := url.Parse(o.BaseURL)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("%s: base_url %q is not an absolute URL", o.Source, redactURL(o.BaseURL))
	}
	rt := o.Transport
	if rt == nil {
		rt = http.DefaultTransport.(*http.Transport).Clone()
	}
	c := &Client{opts: o, base: base, stats: &counters{}}
	rt = &authTransport{next: rt, authorize: o.Authorize, userAgent: o.UserAgent}
	rt = &logTransport{next: rt, log: o.Log}
	rt = &limitTransport{next: rt, sem: make(chan struct{}, o.Concurrency), limiter: o.Limiter}
	rt = &retryTransport{next: rt, opts: &c.opts, stats: c.stats}
	c.hc = &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return c, nil
}

// Stats returns the counters so far.
func (c *Client) Stats() Stats {
	return Stats{
		Requests: c.stats.requests.Load(), Retries: c.stats.retries.Load(),
		RateLimitWaits: c.stats.rateLimited.Load(), BytesRead: c.stats.bytes.Load(),
	}
}

// Response is a completed response with its whole body.
type Response struct {
	Endpoint   string // method, path and query, for errors and lineage
	Status     int
	Header     http.Header
	Body       []byte
	Received   time.Time // when the body was complete (client clock)
	ServerTime time.Time // the server's Date header (zero when absent)
}

// Do sends a request to path (relative to the base URL, already escaped:
// ids go in through Segment) and returns the
// response once its body is complete. Non-2xx statuses that are not worth
// retrying come back as *APIError; retries exhausted as *RetryError; a body
// over MaxBody fails at once.
func (c *Client) Do(ctx context.Context, method, path string, q url.Values, body []byte, header http.Header) (*Response, error) {
	u, err := c.url(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s %s: %w", c.opts.Source, method, path, err)
	}
	u.RawQuery = q.Encode()
	endpoint := method + " " + u.EscapedPath()
	if u.RawQuery != "" {
		endpoint += "?" + u.RawQuery
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", c.opts.Source, endpoint, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	resp, err := c.hc.Do(req)
	if err != nil {
		var re *RetryError
		if errors.As(err, &re) {
			re.Source, re.Endpoint = c.opts.Source, endpoint
			return nil, re
		}
		var tl *tooLargeError
		if errors.As(err, &tl) {
			return nil, tl // names the endpoint already, without the query
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, fmt.Errorf("%s %s: %w", c.opts.Source, endpoint, unwrapURLError(err))
	}
	b, _ := io.ReadAll(resp.Body) // already buffered by the retry layer
	resp.Body.Close()
	out := &Response{Endpoint: endpoint, Status: resp.StatusCode, Header: resp.Header, Body: b, Received: time.Now().UTC()}
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		out.ServerTime = d.UTC()
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return out, newAPIError(c.opts.Source, endpoint, resp.StatusCode, b)
	}
	return out, nil
}

// url joins an escaped path (built with Segment) to the base URL as it is:
// no dot-segment is removed and no escape is undone, so an id such as
// "a/../b" or ".." stays one segment.
func (c *Client) url(escaped string) (*url.URL, error) {
	raw := strings.TrimSuffix(c.base.EscapedPath(), "/") + escaped
	if !strings.HasPrefix(raw, "/") {
		raw = "/" + raw
	}
	p, err := url.PathUnescape(raw)
	if err != nil {
		return nil, fmt.Errorf("path is not escaped: %w", err)
	}
	u := *c.base
	u.Path, u.RawPath = p, raw
	return &u, nil
}

// Segment escapes a value (a vendor id) as exactly one path segment: "/",
// "?", "#", "%" and every other reserved byte are percent-escaped, and so are
// the dots of "." and "..", which would otherwise be taken as dot-segments.
func Segment(v string) string {
	switch v {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return url.PathEscape(v)
}

// GetJSON fetches path and decodes the JSON body into v.
func (c *Client) GetJSON(ctx context.Context, path string, q url.Values, v any) (*Response, error) {
	resp, err := c.Do(ctx, http.MethodGet, path, q, nil, http.Header{"Accept": {"application/json"}})
	if err != nil {
		return resp, err
	}
	if err := json.Unmarshal(resp.Body, v); err != nil {
		return resp, fmt.Errorf("%s %s: decoding the response: %w", c.opts.Source, resp.Endpoint, err)
	}
	return resp, nil
}

// PostXML posts an XML document to path and returns the response with its
// (validated) body.
func (c *Client) PostXML(ctx context.Context, path string, body []byte) (*Response, error) {
	return c.Do(ctx, http.MethodPost, path, nil, body, http.Header{"Content-Type": {"application/xml; charset=utf-8"}, "Accept": {"application/xml"}})
}

// ValidXML returns a Validate function accepting well-formed XML whose root
// element is one of roots (an HTML error page is not).
func ValidXML(roots ...string) func(body []byte) error {
	return func(body []byte) error {
		d := xml.NewDecoder(bytes.NewReader(body))
		root := ""
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("response body is not well-formed XML: %w", err)
			}
			if se, ok := tok.(xml.StartElement); ok && root == "" {
				root = se.Name.Local
				if !slices.Contains(roots, root) {
					return fmt.Errorf("response root element is <%s>, want one of %v", root, roots)
				}
			}
		}
		if root == "" {
			return errors.New("response body holds no XML element")
		}
		return nil
	}
}

// ValidJSON is a Validate function for JSON APIs.
func ValidJSON(body []byte) error {
	if !json.Valid(body) {
		return errors.New("response body is not valid JSON")
	}
	return nil
}

// APIError is a non-2xx response the vendor meant (not retried).
type APIError struct {
	Source   string
	Endpoint string
	Status   int
	Code     string
	Message  string
}

func (e *APIError) Error() string {
	msg := e.Message
	if e.Code != "" {
		msg = e.Code + ": " + msg
	}
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Source, e.Endpoint, e.Status, msg)
}

func newAPIError(source, endpoint string, status int, body []byte) *APIError {
	e := &APIError{Source: source, Endpoint: endpoint, Status: status, Message: http.StatusText(status)}
	// {"error": {"code", "message"}} (Plyomat), {"error": "...",
	// "message": "..."} (Spring Boot, Team Pro), {"error",
	// "error_description"} (OAuth2).
	var env struct {
		Error       json.RawMessage `json:"error"`
		Message     string          `json:"message"`
		Description string          `json:"error_description"`
	}
	if json.Unmarshal(body, &env) != nil {
		return e
	}
	var nested struct{ Code, Message string }
	var flat string
	switch {
	case json.Unmarshal(env.Error, &nested) == nil && (nested.Code != "" || nested.Message != ""):
		e.Code, e.Message = nested.Code, nested.Message
	case json.Unmarshal(env.Error, &flat) == nil && flat != "":
		e.Code, e.Message = flat, cmp.Or(env.Message, env.Description, e.Message)
	case env.Message != "":
		e.Message = env.Message
	}
	return e
}

// RetryError is a request that kept failing in a retryable way.
type RetryError struct {
	Source   string
	Endpoint string
	Attempts int // attempts made: fewer than MaxAttempts when the retry budget ran out
	Last     error
}

func (e *RetryError) Error() string {
	attempts := "attempts"
	if e.Attempts == 1 {
		attempts = "attempt"
	}
	return fmt.Sprintf("%s %s: gave up after %d %s: %v", e.Source, e.Endpoint, e.Attempts, attempts, e.Last)
}

func (e *RetryError) Unwrap() error { return e.Last }

// retryableStatus is true for statuses worth another try.
func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// retryAfter parses a Retry-After header (seconds or an HTTP date).
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// backoff is "full jitter" exponential backoff.
func backoff(base, ceiling time.Duration, attempt int) time.Duration {
	d := base << min(attempt, 20)
	if d <= 0 || d > ceiling {
		d = ceiling
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redactURL drops user info from a URL before it is shown.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}
