package plyomat

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Faults are the misbehaviours the server injects, for tests. The zero
// value injects none. Fault decisions come from their own seeded random
// stream, so they never disturb the data's.
type Faults struct {
	// ErrorRate is the fraction of (authorised) requests answered with a
	// 500, 502 or 503 JSON error.
	ErrorRate float64
	// Storm429 is the number of next (authorised) requests answered with
	// 429 and "Retry-After: <RetryAfter>".
	Storm429 int
	// RetryAfter is the 429s' Retry-After in seconds (0: 1).
	RetryAfter int
	// ResetRate is the fraction of list responses whose connection is cut
	// mid-body: status line, headers with the full Content-Length and part
	// of the body, then the connection is closed.
	ResetRate float64
	// HangRate is the fraction of list responses that send the headers and
	// part of the body, then stall until the request's context is done or
	// HangFor elapses (and then the connection is cut).
	HangRate float64
	// HangFor bounds a stall (0: 30 s).
	HangFor time.Duration
	// MalformedOnce is a list path ("/sets") whose next successful list
	// response is a 200 whose body is not JSON (truncated JSON or an HTML
	// error page); it is cleared once used.
	MalformedOnce string
	// MalformedAlways is a list path whose successful list responses are
	// always a 200 whose body is not JSON.
	MalformedAlways string
	// UnknownFilter404 answers a list filtered by a group_id, athlete_id
	// or session_id that names no record with the vendor's 404 for an
	// unknown id, instead of an empty page (the document does not say
	// which of the two a filter gets; a client must cope with both).
	UnknownFilter404 bool
}

// SetFaults replaces the faults to inject (and restarts any 429 storm).
func (s *Server) SetFaults(f Faults) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = f
}

func (s *Server) unknownFilter404() bool {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.faults.UnknownFilter404
}

// requestFault decides whether a request is answered with a 429 or a 5xx.
func (s *Server) requestFault() (response, bool) {
	s.faultMu.Lock()
	f := &s.faults
	var (
		resp response
		kind int // 0 none, 1 rate limited, 2 server error
	)
	switch {
	case f.Storm429 > 0:
		f.Storm429--
		ra := f.RetryAfter
		if ra <= 0 {
			ra = 1
		}
		resp = errorResponse(http.StatusTooManyRequests, "rate_limited", fmt.Sprintf("too many requests: retry after %d s", ra))
		resp.header = map[string]string{"Retry-After": strconv.Itoa(ra)}
		kind = 1
	case f.ErrorRate > 0 && s.frng.Float64() < f.ErrorRate:
		switch s.frng.IntN(3) {
		case 0:
			resp = errorResponse(http.StatusInternalServerError, "internal", "internal server error")
		case 1:
			resp = errorResponse(http.StatusBadGateway, "internal", "bad gateway")
		default:
			resp = errorResponse(http.StatusServiceUnavailable, "internal", "service temporarily unavailable")
		}
		kind = 2
	}
	s.faultMu.Unlock()
	switch kind {
	case 1:
		s.countFault(func(st *Stats) { st.RateLimited++ })
	case 2:
		s.countFault(func(st *Stats) { st.ServerErrors++ })
	}
	return resp, kind != 0
}

// samePath reports whether a fault's path names the request's path.
func samePath(fault, path string) bool {
	return fault != "" && strings.TrimSuffix(fault, "/") == strings.TrimSuffix(path, "/")
}

// List faults.
const (
	noFault = iota
	malformedFault
	resetFault
	hangFault
)

// listFault injects a fault into a list response. It reports whether it
// wrote the response.
func (s *Server) listFault(w http.ResponseWriter, r *http.Request, path string, resp response) bool {
	s.faultMu.Lock()
	f := &s.faults
	kind, variant, cut := noFault, 0, len(resp.body)/2
	hangFor := f.HangFor
	switch {
	case samePath(f.MalformedAlways, path):
		kind = malformedFault
	case samePath(f.MalformedOnce, path):
		kind = malformedFault
		f.MalformedOnce = ""
	case f.ResetRate > 0 && s.frng.Float64() < f.ResetRate:
		kind = resetFault
	case f.HangRate > 0 && s.frng.Float64() < f.HangRate:
		kind = hangFault
	}
	switch kind {
	case malformedFault:
		variant = s.frng.IntN(2)
	case resetFault, hangFault:
		if len(resp.body) > 2 {
			cut = 1 + s.frng.IntN(len(resp.body)-2)
		}
	}
	s.faultMu.Unlock()
	if hangFor <= 0 {
		hangFor = 30 * time.Second
	}

	now := s.Now()
	switch kind {
	case malformedFault:
		s.countFault(func(st *Stats) { st.Malformed++ })
		bad := response{status: http.StatusOK, body: resp.body[:len(resp.body)/2]}
		if variant == 1 {
			bad.body = []byte("<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n" +
				"<body><h1>Bad Gateway</h1><p>The upstream server returned an invalid response.</p></body></html>\n")
			bad.header = map[string]string{"Content-Type": "text/html; charset=utf-8"}
		}
		write(w, now, bad)
	case resetFault:
		s.countFault(func(st *Stats) { st.Resets++ })
		cutConnection(w, now, resp.body, cut)
	case hangFault:
		s.countFault(func(st *Stats) { st.Hangs++ })
		partial(w, now, resp.body, cut)
		t := time.NewTimer(hangFor)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-t.C:
		}
		// Returning short of the declared length makes the server drop the
		// connection.
	default:
		return false
	}
	return true
}

// partial sends the headers with the full Content-Length and the first cut
// bytes of body, flushed.
func partial(w http.ResponseWriter, now time.Time, body []byte, cut int) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Date", now.UTC().Format(http.TimeFormat))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body[:cut])
	http.NewResponseController(w).Flush()
}

// cutConnection takes over the connection, writes a 200 with the full
// Content-Length and the first cut bytes of body, and closes it.
func cutConnection(w http.ResponseWriter, now time.Time, body []byte, cut int) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not hijackable (HTTP/2): a short body ends the stream early.
		partial(w, now, body, cut)
		return
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: %s\r\nContent-Length: %d\r\n\r\n",
		now.UTC().Format(http.TimeFormat), len(body))
	buf.Write(body[:cut])
	buf.Flush()
}
