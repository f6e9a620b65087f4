package optimo

import (
	"net/http"

	"github.com/athlake/athlake/sandbox/internal/fault"
)

// Faults are the misbehaviours the server injects, for tests. The zero
// value injects none. Fault decisions come from their own seeded random
// stream, so they never disturb the data's. Faults apply only to
// authenticated requests within the quota (which they spend).
type Faults struct {
	// ErrorRate is the fraction of requests answered with a 500 (an XML
	// fail body), a 502 or a 503 (HTML error pages).
	ErrorRate float64
	// MalformedOnce makes the next ok response a 200 with truncated XML;
	// it is cleared once used.
	MalformedOnce bool
	// MalformedAlways makes every ok response a 200 with truncated XML.
	MalformedAlways bool
	// HTMLOnce makes the next ok response an HTML error page with status
	// 200; it is cleared once used.
	HTMLOnce bool
	// RequestRootRate is the fraction of ok responses whose root element
	// is request instead of response, as in the vendor's own sample.
	RequestRootRate float64
}

// SetFaults replaces the faults to inject.
func (s *Server) SetFaults(f Faults) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = f
}

const (
	unavailablePage = "<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head>\n" +
		"<body><h1>Service Unavailable</h1><p>Optimo Sport is down for maintenance. Please try again shortly.</p></body></html>\n"
	errorPage200 = "<!DOCTYPE html>\n<html><head><title>Optimo Sport - Error</title></head>\n" +
		"<body><h1>We're sorry, but something went wrong.</h1><p>We've been notified about this issue &amp; we'll take a look at it shortly.</p></body></html>\n"
)

// serverError answers the request with a 5xx when ErrorRate says so: a 500
// with an XML fail body, or a 502 or 503 HTML page. It reports whether it
// did.
func (s *Server) serverError(w http.ResponseWriter) bool {
	s.faultMu.Lock()
	status, ok := fault.ServerError(s.frng, s.faults.ErrorRate)
	s.faultMu.Unlock()
	if !ok {
		return false
	}
	s.stats.Count(func(st *Stats) { st.ServerErrors++ })
	const html = "text/html; charset=utf-8"
	switch status {
	case http.StatusInternalServerError:
		s.write(w, fail(status, "Internal server error"), "response")
	case http.StatusBadGateway:
		s.writeBody(w, status, html, nil, []byte(fault.BadGatewayPage))
	default:
		s.writeBody(w, status, html, nil, []byte(unavailablePage))
	}
	return true
}

// respondOK writes an ok response, with the faults that apply to it.
func (s *Server) respondOK(w http.ResponseWriter, resp response) {
	const (
		none = iota
		truncated
		htmlPage
		requestRoot
	)
	s.faultMu.Lock()
	f := &s.faults
	kind := none
	switch {
	case f.MalformedAlways:
		kind = truncated
	case f.MalformedOnce:
		kind, f.MalformedOnce = truncated, false
	case f.HTMLOnce:
		kind, f.HTMLOnce = htmlPage, false
	case f.RequestRootRate > 0 && s.frng.Float64() < f.RequestRootRate:
		kind = requestRoot
	}
	s.faultMu.Unlock()
	switch kind {
	case truncated:
		s.stats.Count(func(st *Stats) { st.Malformed++ })
		body := document("response", resp.status, resp.inner)
		s.writeBody(w, http.StatusOK, "application/xml; charset=utf-8", nil, body[:len(body)/2])
	case htmlPage:
		s.stats.Count(func(st *Stats) { st.HTMLPages++ })
		s.writeBody(w, http.StatusOK, "text/html; charset=utf-8", nil, []byte(errorPage200))
	case requestRoot:
		s.stats.Count(func(st *Stats) { st.RequestRoots++ })
		s.write(w, resp, "request")
	default:
		s.write(w, resp, "response")
	}
}
