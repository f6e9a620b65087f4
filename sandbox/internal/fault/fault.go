// Package fault draws and writes the misbehaviours the simulators inject
// for tests: server errors, and successful responses whose body is not
// what it claims, is cut off or stalls. The draws come from the
// simulator's own fault stream, in a fixed order, so that a seed gives the
// same faults.
package fault

import (
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/athlake/athlake/sandbox/internal/httpw"
)

// BadGatewayPage is the HTML page a proxy in front of a vendor answers
// when the vendor's server fails.
const BadGatewayPage = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n" +
	"<body><h1>Bad Gateway</h1><p>The upstream server returned an invalid response.</p></body></html>\n"

// HTTP are the faults the JSON simulators (Plyomat, Team Pro) share; each
// one's Faults embeds them and says which requests they apply to, and how
// a path names responses. The zero value injects none.
type HTTP struct {
	// ErrorRate is the fraction of requests answered with a 500, 502 or
	// 503 JSON error.
	ErrorRate float64
	// Storm429 is the number of next requests answered with 429 and
	// "Retry-After: <RetryAfter>".
	Storm429 int
	// RetryAfter is the 429s' Retry-After in seconds (0: 1).
	RetryAfter int
	// ResetRate is the fraction of responses whose connection is cut
	// mid-body: status line, headers with the full Content-Length and part
	// of the body, then the connection is closed.
	ResetRate float64
	// HangRate is the fraction of responses that send the headers and
	// part of the body, then stall until the request's context is done or
	// HangFor elapses (and then the connection is cut).
	HangRate float64
	// HangFor bounds a stall (0: 30 s).
	HangFor time.Duration
	// MalformedOnce is a path whose next successful response is a 200
	// whose body is not JSON (truncated JSON or an HTML error page); it is
	// cleared once used.
	MalformedOnce string
	// MalformedAlways is a path whose successful responses are always a
	// 200 whose body is not JSON.
	MalformedAlways string
}

// ServerError decides whether a request is answered with a server error:
// with probability rate, a 500, 502 or 503, equally likely.
func ServerError(rng *rand.Rand, rate float64) (status int, ok bool) {
	if !(rate > 0 && rng.Float64() < rate) {
		return 0, false
	}
	return []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}[rng.IntN(3)], true
}

// Kind is a fault of a successful JSON response.
type Kind int

// The kinds of Body faults.
const (
	None      Kind = iota
	Malformed      // a 200 whose body is not JSON: truncated, or an HTML error page
	Reset          // the connection cut mid-body
	Hang           // the body stalled mid-way, then the connection cut
)

// Body is the fault drawn for one successful response.
type Body struct {
	Kind    Kind
	variant int // Malformed: 0 truncated JSON, 1 an HTML page
	cut     int // Reset, Hang: the bytes sent
}

// DrawBody decides the fault of a successful response whose body is n
// bytes long: Malformed when malformed is true (the simulator's knobs
// name the request), else Reset with probability resetRate, else Hang with
// probability hangRate.
func DrawBody(rng *rand.Rand, malformed bool, resetRate, hangRate float64, n int) Body {
	f := Body{cut: n / 2}
	switch {
	case malformed:
		f.Kind = Malformed
	case resetRate > 0 && rng.Float64() < resetRate:
		f.Kind = Reset
	case hangRate > 0 && rng.Float64() < hangRate:
		f.Kind = Hang
	}
	switch f.Kind {
	case Malformed:
		f.variant = rng.IntN(2)
	case Reset, Hang:
		if n > 2 {
			f.cut = 1 + rng.IntN(n-2)
		}
	}
	return f
}

// Serve answers r with body and the fault f (not None), dated date:
// Malformed sends a 200 with the first half of body or BadGatewayPage;
// Reset cuts the connection mid-body; Hang sends part of body and stalls
// until r is done or hangFor (0: 30 s) has passed, then cuts it.
func (f Body) Serve(w http.ResponseWriter, r *http.Request, date time.Time, body []byte, hangFor time.Duration) {
	switch f.Kind {
	case Malformed:
		if f.variant == 1 {
			httpw.Write(w, date, http.StatusOK, map[string]string{"Content-Type": "text/html; charset=utf-8"}, []byte(BadGatewayPage))
			return
		}
		httpw.Write(w, date, http.StatusOK, nil, body[:len(body)/2])
	case Reset:
		httpw.Cut(w, date, body, f.cut)
	case Hang:
		if hangFor <= 0 {
			hangFor = 30 * time.Second
		}
		httpw.Partial(w, date, body, f.cut)
		t := time.NewTimer(hangFor)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-t.C:
		}
		// Returning short of the declared length makes the server drop the
		// connection.
	}
}

// MalformedFor reports whether a response is to be malformed: always when
// matches(always), once when matches(*once) (which then clears *once). The
// simulators name the requests by path or path prefix (matches says how).
func MalformedFor(always string, once *string, matches func(string) bool) bool {
	switch {
	case matches(always):
		return true
	case matches(*once):
		*once = ""
		return true
	}
	return false
}

// DrawBody decides the fault of a successful response whose body is n
// bytes long with h's knobs: matches says whether a MalformedAlways or
// MalformedOnce path names the response (MalformedOnce is then cleared);
// see the function DrawBody.
func (h *HTTP) DrawBody(rng *rand.Rand, matches func(path string) bool, n int) Body {
	malformed := MalformedFor(h.MalformedAlways, &h.MalformedOnce, matches)
	return DrawBody(rng, malformed, h.ResetRate, h.HangRate, n)
}

// ServeBody draws the fault of a successful response with h's knobs (see
// the method DrawBody) while holding mu, the lock that guards h and rng.
// When one is drawn, count is called with it and it answers r (see
// Body.Serve) with body, dated now(). It reports whether it wrote the
// response.
func (h *HTTP) ServeBody(mu *sync.Mutex, rng *rand.Rand, matches func(path string) bool, count func(Body),
	w http.ResponseWriter, r *http.Request, now func() time.Time, body []byte) bool {
	mu.Lock()
	f := h.DrawBody(rng, matches, len(body))
	hangFor := h.HangFor
	mu.Unlock()
	if f.Kind == None {
		return false
	}
	count(f)
	f.Serve(w, r, now(), body, hangFor)
	return true
}

// Tally adds one to the count of f's kind: malformed, resets or hangs.
func (f Body) Tally(malformed, resets, hangs *int) {
	switch f.Kind {
	case Malformed:
		*malformed++
	case Reset:
		*resets++
	case Hang:
		*hangs++
	}
}
