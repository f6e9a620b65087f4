package fault

import (
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestServerError(t *testing.T) {
	a, b := rand.New(rand.NewPCG(1, 2)), rand.New(rand.NewPCG(1, 2))
	if _, ok := ServerError(a, 0); ok {
		t.Fatal("a rate of 0 gave a server error")
	}
	if a.Uint64() != b.Uint64() {
		t.Fatal("a rate of 0 drew from the stream")
	}
	seen := map[int]bool{}
	for range 100 {
		status, ok := ServerError(a, 1)
		if !ok {
			t.Fatal("a rate of 1 gave no server error")
		}
		seen[status] = true
	}
	if len(seen) != 3 || !seen[500] || !seen[502] || !seen[503] {
		t.Errorf("statuses %v, want 500, 502 and 503", seen)
	}
}

func TestDrawBody(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	if f := DrawBody(rng, false, 0, 0, 100); f.Kind != None {
		t.Errorf("no knobs: %v", f.Kind)
	}
	if f := DrawBody(rng, true, 1, 1, 100); f.Kind != Malformed {
		t.Errorf("malformed: %v", f.Kind)
	}
	if f := DrawBody(rng, false, 1, 1, 100); f.Kind != Reset || f.cut < 1 || f.cut > 98 {
		t.Errorf("reset: %+v", f)
	}
	if f := DrawBody(rng, false, 0, 1, 2); f.Kind != Hang || f.cut != 1 {
		t.Errorf("hang of a 2-byte body: %+v", f)
	}
}

// TestServe: what a client reads of each fault.
func TestServe(t *testing.T) {
	body := []byte(`{"data":[` + strings.Repeat(`{"id":"x"},`, 50) + `{"id":"y"}]}`)
	var f Body
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.Serve(w, r, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), body, time.Millisecond)
	}))
	defer srv.Close()
	get := func() (*http.Response, []byte, error) {
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}

	f = Body{Kind: Malformed}
	resp, b, err := get()
	if err != nil || resp.StatusCode != 200 || string(b) != string(body[:len(body)/2]) || resp.Header.Get("Date") != "Mon, 01 Jun 2026 00:00:00 GMT" {
		t.Errorf("truncated: %d %q %v %v", resp.StatusCode, b, err, resp.Header)
	}
	f = Body{Kind: Malformed, variant: 1}
	resp, b, err = get()
	if err != nil || resp.StatusCode != 200 || string(b) != BadGatewayPage || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("HTML page: %d %q %v %v", resp.StatusCode, b, err, resp.Header)
	}
	for _, k := range []Kind{Reset, Hang} {
		f = Body{Kind: k, cut: 17}
		resp, b, err = get()
		if err == nil || resp.StatusCode != 200 || string(b) != string(body[:17]) || resp.ContentLength != int64(len(body)) {
			t.Errorf("kind %d: %d %q %v, Content-Length %d", k, resp.StatusCode, b, err, resp.ContentLength)
		}
	}
}

func TestMalformedFor(t *testing.T) {
	is := func(p string) bool { return p == "/x" }
	once := "/x"
	if !MalformedFor("", &once, is) || once != "" {
		t.Errorf("once: not malformed or not cleared (%q)", once)
	}
	if MalformedFor("", &once, is) {
		t.Error("once: malformed twice")
	}
	once = "/x"
	if !MalformedFor("/x", &once, is) || once != "/x" {
		t.Errorf("always: not malformed or once cleared (%q)", once)
	}
}

func TestTally(t *testing.T) {
	var m, r, h int
	for _, k := range []Kind{None, Malformed, Reset, Reset, Hang, Hang, Hang} {
		Body{Kind: k}.Tally(&m, &r, &h)
	}
	if m != 1 || r != 2 || h != 3 {
		t.Errorf("tallies %d %d %d, want 1 2 3", m, r, h)
	}
}

// TestServeBody: no fault drawn leaves the response to the simulator and
// counts nothing; a drawn one is counted once and written.
func TestServeBody(t *testing.T) {
	var (
		mu     sync.Mutex
		rng    = rand.New(rand.NewPCG(5, 6))
		counts []Kind
		h      HTTP
	)
	count := func(f Body) { counts = append(counts, f.Kind) }
	now := func() time.Time { return time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) }
	body := []byte(`{"data":[]}`)
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	is := func(p string) bool { return p == "/x" }

	w := httptest.NewRecorder()
	if h.ServeBody(&mu, rng, is, count, w, r, now, body) || len(counts) != 0 || w.Body.Len() != 0 {
		t.Fatalf("no knobs: wrote %q, counted %v", w.Body, counts)
	}
	h.MalformedOnce = "/x"
	w = httptest.NewRecorder()
	if !h.ServeBody(&mu, rng, is, count, w, r, now, body) || len(counts) != 1 || counts[0] != Malformed || w.Code != http.StatusOK {
		t.Fatalf("malformed once: %d %q, counted %v", w.Code, w.Body, counts)
	}
	if h.MalformedOnce != "" {
		t.Errorf("MalformedOnce left at %q", h.MalformedOnce)
	}
}
