// Package simtest holds what the simulators' tests share: a simulator
// mounted on a test server, requests to it, a fake clock and the check
// that a simulator is deterministic.
package simtest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Mount serves h under prefix on a test server closed when the test
// ends, the way the combined sandbox mounts a simulator: paths outside
// prefix are 404s, and no http.ServeMux cleans paths (an id ".." sent as
// %2E%2E must reach the simulator). The server's client does not follow
// redirects.
func Mount(t testing.TB, prefix string, h http.Handler) *httptest.Server {
	t.Helper()
	strip := http.StripPrefix(prefix, h)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.EscapedPath(), prefix+"/") {
			http.NotFound(w, r)
			return
		}
		strip.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	srv.Client().CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return srv
}

// Request returns a new request; a failure ends the test.
func Request(t testing.TB, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// AddQuery returns path (which may have a query) with query added to its
// query.
func AddQuery(path, query string) string {
	if strings.Contains(path, "?") {
		return path + "&" + query
	}
	return path + "?" + query
}

// Reply is a response read whole.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends req with c and reads the whole response; a failure ends the
// test.
func Do(t testing.TB, c *http.Client, req *http.Request) Reply {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return Reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Clock is a clock a test sets and moves, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Window checks what an Advance by d did to a simulator whose clock read
// start: it reported the window [from, to] = [start, start+d] and left the
// clock at now = to. A failure ends the test.
func Window(t testing.TB, d time.Duration, start, from, to, now time.Time) {
	t.Helper()
	if !from.Equal(start) || !to.Equal(start.Add(d)) || !now.Equal(to) {
		t.Fatalf("Advance(%v) from %v: window %v – %v, now %v", d, start, from, to, now)
	}
}

// Deterministic checks that fixtures a and b, made with the same seed,
// serve the same bytes (serve's), make the same report when advance moves
// their clocks and then serve the same bytes and hold the same truth
// (compared with opts); and that c, made with another seed, serves other
// bytes.
func Deterministic[F any](t *testing.T, a, b, c F, serve func(F) []string, advance, truth func(F) any, opts ...cmp.Option) {
	t.Helper()
	if d := cmp.Diff(serve(a), serve(b)); d != "" {
		t.Errorf("same seed, different bytes (-a +b):\n%s", d)
	}
	if cmp.Equal(serve(a), serve(c)) {
		t.Error("different seeds served the same bytes")
	}
	if d := cmp.Diff(advance(a), advance(b)); d != "" {
		t.Errorf("same seed, different Advance reports:\n%s", d)
	}
	if d := cmp.Diff(serve(a), serve(b)); d != "" {
		t.Errorf("same seed, different bytes after Advance (-a +b):\n%s", d)
	}
	if d := cmp.Diff(truth(a), truth(b), opts...); d != "" {
		t.Errorf("same seed, different truth:\n%s", d)
	}
}
