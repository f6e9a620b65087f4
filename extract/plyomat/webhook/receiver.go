package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sync/atomic"
	"time"
)

// Path is where deliveries are received.
const Path = "/webhooks/plyomat"

// DefaultMaxBody is the largest delivery body accepted (1 MiB): a set
// with its reps is a few kilobytes.
const DefaultMaxBody = 1 << 20

// ReceiverOptions configures a Receiver.
type ReceiverOptions struct {
	Spool *Spool
	// Secret is the subscription's signing secret (whsec_...). It is
	// never logged.
	Secret    []byte
	Tolerance time.Duration // default DefaultTolerance
	MaxBody   int64         // default DefaultMaxBody
	Now       func() time.Time
	Log       *slog.Logger
	// Stored, if set, is called after a new event is durably spooled
	// (the applier's wake-up).
	Stored func()
}

// Receiver is the HTTP handler of deliveries (POST Path) and of probes
// (GET /healthz). It acknowledges a delivery with 200 only once its record
// is durable in the spool; everything refused is answered with a 4xx
// before anything is written.
type Receiver struct {
	o ReceiverOptions

	accepted, duplicates, refused, failed atomic.Int64
}

// ReceiverStats counts what a receiver answered.
type ReceiverStats struct {
	Accepted   int64 `json:"accepted"`   // new events spooled
	Duplicates int64 `json:"duplicates"` // events already in the spool, acknowledged
	Refused    int64 `json:"refused"`    // 4xx
	Failed     int64 `json:"failed"`     // 5xx: the spool could not be written
}

// NewReceiver returns a receiver.
func NewReceiver(o ReceiverOptions) *Receiver {
	if o.Tolerance <= 0 {
		o.Tolerance = DefaultTolerance
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Receiver{o: o}
}

// Stats returns the counts so far.
func (rc *Receiver) Stats() ReceiverStats {
	return ReceiverStats{Accepted: rc.accepted.Load(), Duplicates: rc.duplicates.Load(), Refused: rc.refused.Load(), Failed: rc.failed.Load()}
}

// ServeHTTP routes a request.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case Path:
		rc.deliver(w, r)
	case "/healthz":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			reply(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		b, _ := json.Marshal(struct {
			Status string `json:"status"`
			ReceiverStats
		}{"ok", rc.Stats()})
		w.Write(append(b, '\n'))
	default:
		reply(w, http.StatusNotFound, "not found")
	}
}

func reply(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"status": http.StatusText(status), "message": msg})
	w.Write(append(b, '\n'))
}

// refuse answers a 4xx and logs why, at Info (the delivery id only: no
// header value, body or secret).
func (rc *Receiver) refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	rc.refused.Add(1)
	rc.o.Log.Info("webhook delivery refused", "status", status, "reason", msg,
		"delivery_id", limit(r.Header.Get("X-Plyomat-Delivery-Id")), "remote", r.RemoteAddr)
	reply(w, status, msg)
}

func limit(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

func (rc *Receiver) deliver(w http.ResponseWriter, r *http.Request) {
	received := rc.o.Now().UTC()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		rc.refuse(w, r, http.StatusMethodNotAllowed, "deliveries are POSTed")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		rc.refuse(w, r, http.StatusUnsupportedMediaType, "want Content-Type: application/json")
		return
	}
	if r.ContentLength > rc.o.MaxBody {
		rc.refuse(w, r, http.StatusRequestEntityTooLarge, "body over the limit")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, rc.o.MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		rc.refuse(w, r, http.StatusRequestEntityTooLarge, "body over the limit")
		return
	case err != nil:
		// Cut short or timed out: whatever arrived is not the delivery.
		rc.refuse(w, r, http.StatusBadRequest, "body incomplete: "+err.Error())
		return
	}
	signed, err := Verify(rc.o.Secret, r.Header.Get(SignatureHeader), body, rc.o.Now(), rc.o.Tolerance)
	switch {
	case errors.Is(err, ErrNoSignature) || errors.Is(err, ErrMalformed):
		rc.refuse(w, r, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		rc.refuse(w, r, http.StatusUnauthorized, err.Error())
		return
	}
	verified := rc.o.Now().UTC()
	var d Delivery
	if err := json.Unmarshal(body, &d); err != nil {
		rc.refuse(w, r, http.StatusBadRequest, "body is not a delivery: "+err.Error())
		return
	}
	switch {
	case d.EventID == "" || d.EventType == "":
		rc.refuse(w, r, http.StatusBadRequest, "body is not a delivery: event_id and event_type are required")
		return
	case len(d.EventID) > 200 || len(d.DeliveryID) > 200:
		rc.refuse(w, r, http.StatusBadRequest, "event_id or delivery_id over 200 bytes")
		return
	}
	if h := r.Header.Get("X-Plyomat-Delivery-Id"); h != "" && d.DeliveryID != "" && h != d.DeliveryID {
		rc.refuse(w, r, http.StatusBadRequest, "X-Plyomat-Delivery-Id disagrees with the body's delivery_id")
		return
	}
	if h := r.Header.Get("X-Plyomat-Event"); h != "" && h != d.EventType {
		rc.refuse(w, r, http.StatusBadRequest, "X-Plyomat-Event disagrees with the body's event_type")
		return
	}
	// The write finishes even when the client goes away or the server
	// shuts down: a record is whole or absent, and an acknowledged one is
	// durable.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	stored, err := rc.o.Spool.Add(ctx, Record{
		EventID: d.EventID, EventType: d.EventType, DeliveryID: d.DeliveryID,
		SignedAt: signed, ReceivedAt: received, VerifiedAt: verified, Body: body,
	})
	if err != nil {
		rc.failed.Add(1)
		rc.o.Log.Error("webhook delivery not stored", "event_id", d.EventID, "err", err)
		reply(w, http.StatusServiceUnavailable, "not stored; retry later")
		return
	}
	status := "stored"
	if stored {
		rc.accepted.Add(1)
		rc.o.Log.Debug("webhook delivery stored", "event_id", d.EventID, "event_type", d.EventType, "delivery_id", d.DeliveryID)
		if rc.o.Stored != nil {
			rc.o.Stored()
		}
	} else {
		rc.duplicates.Add(1)
		status = "duplicate"
		rc.o.Log.Debug("webhook delivery already stored", "event_id", d.EventID, "delivery_id", d.DeliveryID)
	}
	w.Header().Set("Content-Type", "application/json")
	b, _ := json.Marshal(map[string]string{"status": status, "event_id": d.EventID})
	w.Write(append(b, '\n'))
}
