package httpx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// script serves the listed behaviours in turn, then "ok".
func script(t *testing.T, steps ...func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if r.Header.Get("Authorization") != "Bearer k" {
			t.Errorf("request %d without credentials", i)
		}
		if i < len(steps) {
			steps[i](w, r)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func newTestClient(t *testing.T, url string, waits *[]time.Duration) *Client {
	var mu sync.Mutex
	c, err := New(Options{
		Source: "test", BaseURL: url, Timeout: 500 * time.Millisecond, MaxAttempts: 4,
		Validate:  ValidJSON,
		Authorize: func(r *http.Request) error { r.Header.Set("Authorization", "Bearer k"); return nil },
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			*waits = append(*waits, d)
			mu.Unlock()
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func status(code int, header ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		w.Write([]byte(`{"error":{"code":"x","message":"status"}}`))
	}
}

func reset(w http.ResponseWriter, r *http.Request) {
	conn, buf, _ := w.(http.Hijacker).Hijack()
	buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: application/json\r\n\r\n{\"ok\":")
	buf.Flush()
	conn.(*net.TCPConn).SetLinger(0)
	conn.Close()
}

func hang(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", "100")
	w.Write([]byte(`{"ok":`))
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

func malformed(w http.ResponseWriter, r *http.Request) {
	w.Write([]byte(`<html>Bad gateway</html>`))
}

func TestRetries(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		steps    []func(http.ResponseWriter, *http.Request)
		requests int32
		retryAft []time.Duration // waits that must be exact (Retry-After)
		limited  int64
	}{
		"503 then ok":          {steps: steps(status(503)), requests: 2},
		"429 honours seconds":  {steps: steps(status(429, "Retry-After", "7"), status(429, "Retry-After", "3")), requests: 3, retryAft: []time.Duration{7 * time.Second, 3*time.Second + 10*time.Millisecond}, limited: 2},
		"reset mid-body":       {steps: steps(reset), requests: 2},
		"hang mid-body":        {steps: steps(hang), requests: 2},
		"malformed body":       {steps: steps(malformed, malformed), requests: 3},
		"408 is retryable":     {steps: steps(status(408)), requests: 2},
		"three kinds in a row": {steps: steps(status(500), reset, malformed), requests: 4},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, n := script(t, c.steps...)
			var waits []time.Duration
			cl := newTestClient(t, srv.URL, &waits)
			var got struct{ OK bool }
			if _, err := cl.GetJSON(context.Background(), "/x", nil, &got); err != nil {
				t.Fatal(err)
			}
			if !got.OK || n.Load() != c.requests {
				t.Fatalf("ok=%v after %d requests, want %d", got.OK, n.Load(), c.requests)
			}
			if c.retryAft != nil {
				if d := cmp.Diff(c.retryAft, waits); d != "" {
					t.Errorf("waits (-want +got):\n%s", d)
				}
			}
			st := cl.Stats()
			if st.Requests != int64(c.requests) || st.Retries != int64(c.requests-1) || st.RateLimitWaits != c.limited {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

func steps(s ...func(http.ResponseWriter, *http.Request)) []func(http.ResponseWriter, *http.Request) {
	return s
}

func TestGivesUpNamingTheEndpoint(t *testing.T) {
	t.Parallel()
	srv, n := script(t, malformed, malformed, malformed, malformed, malformed)
	var waits []time.Duration
	cl := newTestClient(t, srv.URL, &waits)
	var v any
	_, err := cl.GetJSON(context.Background(), "/sets", map[string][]string{"offset": {"500"}}, &v)
	var re *RetryError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want *RetryError", err)
	}
	if !strings.Contains(err.Error(), "GET /sets?offset=500") || !strings.Contains(err.Error(), "malformed") {
		t.Errorf("error does not name the endpoint and cause: %v", err)
	}
	if n.Load() != 4 || len(waits) != 3 {
		t.Errorf("%d requests, %d waits; want 4 and 3", n.Load(), len(waits))
	}
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	t.Parallel()
	srv, n := script(t, status(401), status(404))
	var waits []time.Duration
	cl := newTestClient(t, srv.URL, &waits)
	var v any
	_, err := cl.GetJSON(context.Background(), "/athletes", nil, &v)
	var api *APIError
	if !errors.As(err, &api) || api.Status != 401 || api.Code != "x" || n.Load() != 1 {
		t.Fatalf("err = %v after %d requests; want one APIError 401", err, n.Load())
	}
}

// TestConcurrencyIsBounded: with Concurrency 3, twenty requests at once
// reach the server three at a time, never more. The server holds each
// request until three are in flight (or a second passes, when fewer get
// through), so a limit of 1 or 2 cannot pass for 3.
func TestConcurrencyIsBounded(t *testing.T) {
	t.Parallel()
	const limit = 3
	var cur, peak atomic.Int32
	full := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := cur.Add(1)
		for {
			p := peak.Load()
			if c <= p || peak.CompareAndSwap(p, c) {
				break
			}
		}
		if c >= limit {
			once.Do(func() { close(full) })
		}
		select {
		case <-full:
		case <-time.After(time.Second): // fewer get through: let the test end, and fail
			once.Do(func() { close(full) })
		}
		time.Sleep(5 * time.Millisecond) // give more a chance to overrun the limit
		cur.Add(-1)
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	cl, err := New(Options{Source: "t", BaseURL: srv.URL, Concurrency: limit})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			var v any
			if _, err := cl.GetJSON(context.Background(), "/", nil, &v); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p != limit {
		t.Errorf("peak concurrency %d, want the configured %d", p, limit)
	}
}

func TestRetryAfterDate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}
	if d, ok := retryAfter(h, now); !ok || d != 90*time.Second {
		t.Errorf("retryAfter = %v, %v", d, ok)
	}
	if _, ok := retryAfter(http.Header{"Retry-After": {"soon"}}, now); ok {
		t.Error("accepted a bad Retry-After")
	}
}

func TestVanished(t *testing.T) {
	notFound := &APIError{Source: "v", Endpoint: "GET /x/a%2Fb", Status: http.StatusNotFound}
	t.Run("a record deleted after a detail was found is skipped", func(t *testing.T) {
		var v Vanished
		if a, err := v.Check(nil); a != "" || err != nil {
			t.Fatalf("success: %q, %v", a, err)
		}
		for range 10 {
			a, err := v.Check(fmt.Errorf("wrapped: %w", notFound))
			if err != nil || !strings.Contains(a, "GET /x/a%2Fb") {
				t.Fatalf("404 after a success: anomaly %q, err %v", a, err)
			}
		}
	})
	t.Run("404s before any success fail", func(t *testing.T) {
		var v Vanished
		var err error
		for i := range vanishedBeforeAnySuccess {
			_, err = v.Check(notFound)
			if (err != nil) != (i == vanishedBeforeAnySuccess-1) {
				t.Fatalf("check %d: err %v", i, err)
			}
		}
		var api *APIError
		if !errors.As(err, &api) || !strings.Contains(err.Error(), "base_url") {
			t.Fatalf("err = %v, want the APIError naming base_url", err)
		}
	})
	t.Run("other errors are returned", func(t *testing.T) {
		var v Vanished
		v.Check(nil)
		forbidden := &APIError{Source: "v", Endpoint: "GET /x", Status: http.StatusForbidden}
		if _, err := v.Check(forbidden); err != forbidden {
			t.Fatalf("403: err %v", err)
		}
	})
}

func TestSegmentKeepsEveryIDOneSegment(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.EscapedPath())
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	c, err := New(Options{Source: "v", BaseURL: srv.URL + "/api/v1/", Validate: ValidJSON})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"a/b/c", "..", ".", "a/../b", "%2F", "?q=1#f", "k=v&x", "with space", "ünï✓", `quo"te'`}
	for _, id := range ids {
		resp, err := c.Do(context.Background(), http.MethodGet, "/things/"+Segment(id)+"/more", nil, nil, nil)
		if err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		if !strings.Contains(resp.Endpoint, "/things/"+Segment(id)+"/more") {
			t.Errorf("%q: endpoint %q does not show the escaped segment", id, resp.Endpoint)
		}
	}
	for i, p := range got {
		parts := strings.Split(strings.TrimPrefix(p, "/api/v1/things/"), "/")
		if len(parts) != 2 || parts[1] != "more" {
			t.Errorf("%q: server saw %q, not one segment", ids[i], p)
			continue
		}
		if id, err := url.PathUnescape(parts[0]); err != nil || id != ids[i] {
			t.Errorf("%q: server unescaped %q (%v)", ids[i], id, err)
		}
	}
}

func TestRetryErrorCountsTheAttemptsMade(t *testing.T) {
	t.Parallel()
	srv, n := script(t, status(503), status(503), status(503), status(503))
	var waits []time.Duration
	cl := newTestClient(t, srv.URL, &waits)
	cl.stats.retries.Store(1000) // the retry budget is spent: one attempt only
	var v any
	_, err := cl.GetJSON(context.Background(), "/x", nil, &v)
	var re *RetryError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want *RetryError", err)
	}
	if re.Attempts != 1 || n.Load() != 1 || !strings.Contains(err.Error(), "after 1 attempt:") {
		t.Errorf("%d requests made, error says %d: %v", n.Load(), re.Attempts, err)
	}
}

func TestOversizedBodyIsNotRetried(t *testing.T) {
	t.Parallel()
	big := func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"data":"` + strings.Repeat("x", 200) + `"}`))
	}
	srv, n := script(t, big, big, big, big)
	c, err := New(Options{
		Source: "test", BaseURL: srv.URL + "/api", MaxAttempts: 4, MaxBody: 100, Validate: ValidJSON,
		Authorize: func(r *http.Request) error { r.Header.Set("Authorization", "Bearer k"); return nil },
		Sleep:     func(context.Context, time.Duration) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	var v any
	_, err = c.GetJSON(context.Background(), "/things/"+Segment("a/b"), url.Values{"secret": {"s3cr3t"}}, &v)
	if err == nil {
		t.Fatal("an oversized body was accepted")
	}
	if n.Load() != 1 {
		t.Errorf("%d requests, want 1: an oversized body does not get smaller", n.Load())
	}
	msg := err.Error()
	for _, want := range []string{"GET /api/things/a%2Fb", "100 bytes"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %q", msg, want)
		}
	}
	if strings.Contains(msg, "s3cr3t") {
		t.Errorf("error %q shows the query string", msg)
	}
}
