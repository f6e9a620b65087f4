package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// authTransport sets credentials and the User-Agent.
type authTransport struct {
	next      http.RoundTripper
	authorize func(*http.Request) error
	userAgent string
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	if t.userAgent != "" {
		req.Header.Set("User-Agent", t.userAgent)
	}
	if t.authorize != nil {
		if err := t.authorize(req); err != nil {
			// Credentials that cannot be had now will not come by retrying
			// (a refresh token the vendor refused): fail at once.
			return nil, &permanentError{err}
		}
	}
	return t.next.RoundTrip(req)
}

// logTransport logs each attempt at Debug: method, path, status, duration.
// It never logs headers, so credentials stay out of logs.
type logTransport struct {
	next http.RoundTripper
	log  *slog.Logger
}

func (t *logTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	if t.log.Enabled(req.Context(), slog.LevelDebug) {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.log.Debug("http", "method", req.Method, "path", req.URL.Path, "query", req.URL.RawQuery,
			"status", status, "duration", time.Since(start).String(), "err", err)
	}
	return resp, err
}

// limitTransport bounds the requests in flight and applies the client-side
// rate limit. The slot is held until the response body is closed.
type limitTransport struct {
	next    http.RoundTripper
	sem     chan struct{}
	limiter interface {
		Wait(ctx context.Context) error
	}
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	select {
	case t.sem <- struct{}{}:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	if t.limiter != nil {
		if err := t.limiter.Wait(req.Context()); err != nil {
			<-t.sem
			return nil, &permanentError{err} // a spent budget does not come back by retrying
		}
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		<-t.sem
		return nil, err
	}
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: func() { <-t.sem }}
	return resp, nil
}

type releaseBody struct {
	io.ReadCloser
	release func()
	done    bool
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	if !b.done {
		b.done = true
		b.release()
	}
	return err
}

// retryTransport retries network errors, resets and stalls mid-body
// (every attempt reads the whole body under its own timeout), retryable
// statuses (408, 429, 5xx) honouring Retry-After, and 2xx bodies that fail
// validation. It hands back responses with their body fully buffered.
type retryTransport struct {
	next  http.RoundTripper
	opts  *Options
	stats *counters
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var last error
	made := 0 // attempts sent: fewer than MaxAttempts once the retry budget is spent
	for attempt := 0; attempt < t.opts.MaxAttempts; attempt++ {
		if attempt > 0 {
			if !t.budgetLeft() {
				last = fmt.Errorf("retry budget exhausted; last error: %w", last)
				break
			}
			t.stats.retries.Add(1)
		}
		resp, wait, err := t.attempt(req, attempt)
		made++
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return nil, perm.error
		}
		last = err
		if attempt == t.opts.MaxAttempts-1 {
			break
		}
		if wait == 0 {
			wait = backoff(t.opts.Backoff, t.opts.MaxBackoff, attempt)
		}
		t.opts.Log.Debug("retrying", "path", req.URL.Path, "query", req.URL.RawQuery, "attempt", attempt+1, "wait", wait, "err", err)
		if err := t.opts.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
	return nil, &RetryError{Attempts: made, Last: last}
}

// budgetLeft keeps retries to a fraction of the requests made, so a failing
// vendor is not hammered: at most 20 retries plus one per five requests.
func (t *retryTransport) budgetLeft() bool {
	return t.stats.retries.Load() < 20+t.stats.requests.Load()/5
}

// attempt sends one try. A retryable failure comes back as an error, with the
// server's Retry-After as wait when it gave one.
func (t *retryTransport) attempt(req *http.Request, n int) (*http.Response, time.Duration, error) {
	actx, cancel := context.WithTimeout(req.Context(), t.opts.Timeout)
	defer cancel()
	r := req.Clone(actx)
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, 0, err
		}
		r.Body = body
	}
	t.stats.requests.Add(1)
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, 0, fmt.Errorf("attempt %d: %w", n+1, unwrapURLError(err))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, t.opts.MaxBody+1))
	resp.Body.Close()
	t.stats.bytes.Add(int64(len(body)))
	if err != nil {
		return nil, 0, fmt.Errorf("attempt %d: reading the body: %w", n+1, err)
	}
	if int64(len(body)) > t.opts.MaxBody {
		// It would not get smaller on another try.
		return nil, 0, &permanentError{&tooLargeError{
			source: t.opts.Source, endpoint: r.Method + " " + r.URL.EscapedPath(), limit: t.opts.MaxBody,
		}}
	}
	if retryableStatus(resp.StatusCode) && !slices.Contains(t.opts.FinalStatuses, resp.StatusCode) {
		wait, ok := retryAfter(resp.Header, time.Now())
		if resp.StatusCode == http.StatusTooManyRequests {
			t.stats.rateLimited.Add(1)
			if t.opts.OnRateLimited != nil {
				t.opts.OnRateLimited()
			}
		}
		if ok {
			wait = min(wait, 10*time.Minute) + time.Duration(n)*10*time.Millisecond
		}
		return nil, wait, fmt.Errorf("attempt %d: HTTP %d", n+1, resp.StatusCode)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 && t.opts.Validate != nil {
		if err := t.opts.Validate(body); err != nil {
			return nil, 0, fmt.Errorf("attempt %d: malformed response: %w", n+1, err)
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, 0, nil
}

// tooLargeError is a response body over Options.MaxBody. It names the
// endpoint by method and path alone: a query string may hold secrets.
type tooLargeError struct {
	source, endpoint string
	limit            int64
}

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("%s %s: the response body is larger than the limit of %d bytes", e.source, e.endpoint, e.limit)
}

// permanentError is a failure that retrying cannot fix.
type permanentError struct{ error }

func (e *permanentError) Unwrap() error { return e.error }
