// Package httpw writes the simulators' HTTP responses: complete ones, and
// the ones cut short that their fault knobs ask for.
package httpw

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Write sends a complete response: header's fields, Content-Type
// application/json unless header names another, a Date of date and the
// Content-Length of body.
func Write(w http.ResponseWriter, date time.Time, status int, header map[string]string, body []byte) {
	h := w.Header()
	for k, v := range header {
		h.Set(k, v)
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Date", date.UTC().Format(http.TimeFormat))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// Partial sends a JSON 200's headers with the full Content-Length of body
// and only its first cut bytes, flushed. Once the handler returns, the
// server drops the connection (the response is short of its length).
func Partial(w http.ResponseWriter, date time.Time, body []byte, cut int) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Date", date.UTC().Format(http.TimeFormat))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body[:cut])
	http.NewResponseController(w).Flush()
}

// Cut takes over the connection, writes a JSON 200 with the full
// Content-Length of body and its first cut bytes, and closes it. A
// connection that cannot be taken over (HTTP/2, a recorder) gets Partial.
func Cut(w http.ResponseWriter, date time.Time, body []byte, cut int) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		Partial(w, date, body, cut)
		return
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: %s\r\nContent-Length: %d\r\n\r\n",
		date.UTC().Format(http.TimeFormat), len(body))
	buf.Write(body[:cut])
	buf.Flush()
}
