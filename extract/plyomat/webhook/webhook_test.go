package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/athlake/athlake/extract/plyomat/webhook"
	"github.com/athlake/athlake/internal/testlog"
	"github.com/athlake/athlake/load/store"
)

const secret = "whsec_test_0123456789abcdef"

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func delivery(eventID, deliveryID string) []byte {
	return []byte(fmt.Sprintf(`{"event_type":"set.completed","event_id":%q,"source_version":1,"delivery_id":%q,"payload":{"id":"set-1","reps":[{"rep_index":0}]}}`, eventID, deliveryID))
}

type fixture struct {
	st    store.Store
	spool *webhook.Spool
	rc    *webhook.Receiver
	logs  *testlog.Buffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	sp := webhook.NewSpool(st, "plyomat")
	rc := webhook.NewReceiver(webhook.ReceiverOptions{
		Spool: sp, Secret: []byte(secret), Now: func() time.Time { return now },
		Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	t.Cleanup(func() {
		if strings.Contains(logs.String(), secret) || strings.Contains(logs.String(), "whsec_") {
			t.Errorf("the secret is in the log:\n%s", logs.String())
		}
	})
	return &fixture{st: st, spool: sp, rc: rc, logs: logs}
}

func (f *fixture) spooled(t *testing.T) []webhook.Entry {
	t.Helper()
	es, bad, err := f.spool.List(context.Background(), 0)
	if err != nil || len(bad) > 0 {
		t.Fatalf("listing the spool: %v (bad %v)", err, bad)
	}
	return es
}

func request(method, ctype string, body []byte, sig string) *http.Request {
	r := httptest.NewRequest(method, webhook.Path, bytes.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	if sig != "" {
		r.Header.Set(webhook.SignatureHeader, sig)
	}
	r.Header.Set("X-Plyomat-Event", "set.completed")
	return r
}

func signed(body []byte, at time.Time) string {
	return webhook.Header([]byte(secret), at.Unix(), body)
}

func TestReceiverStoresAVerifiedDeliveryOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	body := delivery("ev-1", "dl-1")
	for i, dl := range []string{"dl-1", "dl-1", "dl-2"} { // a retry, then a duplicate delivery of the event
		b := delivery("ev-1", dl)
		if i == 0 {
			b = body
		}
		w := httptest.NewRecorder()
		f.rc.ServeHTTP(w, request(http.MethodPost, "application/json; charset=utf-8", b, signed(b, now.Add(-time.Minute))))
		want := map[bool]string{true: `"stored"`, false: `"duplicate"`}[i == 0]
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), want) {
			t.Fatalf("delivery %d: %d %s, want 200 %s", i, w.Code, w.Body, want)
		}
	}
	es := f.spooled(t)
	if len(es) != 1 {
		t.Fatalf("%d records spooled, want 1", len(es))
	}
	e := es[0]
	if e.EventID != "ev-1" || e.DeliveryID != "dl-1" || e.EventType != "set.completed" {
		t.Errorf("record %+v", e.Record)
	}
	if !e.SignedAt.Equal(now.Add(-time.Minute).Truncate(time.Second)) || !e.ReceivedAt.Equal(now) || !e.VerifiedAt.Equal(now) {
		t.Errorf("times: signed %s received %s verified %s", e.SignedAt, e.ReceivedAt, e.VerifiedAt)
	}
	var got, want any
	json.Unmarshal(e.Body, &got)
	json.Unmarshal(body, &want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("body %s, want %s", e.Body, body)
	}
	if s := f.rc.Stats(); s.Accepted != 1 || s.Duplicates != 2 || s.Refused != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestReceiverRefusesAndStoresNothing(t *testing.T) {
	t.Parallel()
	body := delivery("ev-1", "dl-1")
	other := webhook.Header([]byte("whsec_other"), now.Unix(), body)
	big := append(delivery("ev-big", "dl")[:0:0], `{"event_type":"set.completed","event_id":"ev-big","delivery_id":"d","payload":{"x":"`...)
	big = append(big, strings.Repeat("a", webhook.DefaultMaxBody)...)
	big = append(big, `"}}`...)
	cases := []struct {
		name   string
		req    *http.Request
		status int
	}{
		{"forged signature", request(http.MethodPost, "application/json", body, other), http.StatusUnauthorized},
		{"body changed after signing", request(http.MethodPost, "application/json", delivery("ev-1", "dl-X"), signed(body, now)), http.StatusUnauthorized},
		{"stale timestamp", request(http.MethodPost, "application/json", body, signed(body, now.Add(-5*time.Minute-time.Second))), http.StatusUnauthorized},
		{"future timestamp", request(http.MethodPost, "application/json", body, signed(body, now.Add(5*time.Minute+time.Second))), http.StatusUnauthorized},
		{"no signature", request(http.MethodPost, "application/json", body, ""), http.StatusBadRequest},
		{"malformed signature", request(http.MethodPost, "application/json", body, "v1=abc"), http.StatusBadRequest},
		{"signature over another timestamp", request(http.MethodPost, "application/json", body, "t="+strconv.FormatInt(now.Unix()-1, 10)+","+strings.SplitN(signed(body, now), ",", 2)[1]), http.StatusUnauthorized},
		{"wrong method", request(http.MethodGet, "application/json", nil, ""), http.StatusMethodNotAllowed},
		{"PUT", request(http.MethodPut, "application/json", body, signed(body, now)), http.StatusMethodNotAllowed},
		{"wrong content type", request(http.MethodPost, "text/plain", body, signed(body, now)), http.StatusUnsupportedMediaType},
		{"no content type", request(http.MethodPost, "", body, signed(body, now)), http.StatusUnsupportedMediaType},
		{"oversized", request(http.MethodPost, "application/json", big, signed(big, now)), http.StatusRequestEntityTooLarge},
		{"not JSON", request(http.MethodPost, "application/json", []byte("{"), signed([]byte("{"), now)), http.StatusBadRequest},
		{"no event id", request(http.MethodPost, "application/json", []byte(`{"event_type":"set.completed"}`), signed([]byte(`{"event_type":"set.completed"}`), now)), http.StatusBadRequest},
	}
	// Oversized without a Content-Length (chunked): cut at the limit.
	chunked := request(http.MethodPost, "application/json", big, signed(big, now))
	chunked.ContentLength = -1
	chunked.Body = io.NopCloser(bytes.NewReader(big))
	cases = append(cases, struct {
		name   string
		req    *http.Request
		status int
	}{"oversized, chunked", chunked, http.StatusRequestEntityTooLarge})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			w := httptest.NewRecorder()
			f.rc.ServeHTTP(w, c.req)
			if w.Code != c.status {
				t.Errorf("status %d (%s), want %d", w.Code, strings.TrimSpace(w.Body.String()), c.status)
			}
			if es := f.spooled(t); len(es) != 0 {
				t.Errorf("%d records spooled, want none", len(es))
			}
			if s := f.rc.Stats(); s.Refused != 1 || s.Accepted != 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

func TestVerifyAcceptsAnyV1(t *testing.T) {
	t.Parallel()
	body := delivery("ev", "dl")
	good := webhook.Sign([]byte(secret), now.Unix(), body)
	old := webhook.Sign([]byte("whsec_old"), now.Unix(), body)
	for _, h := range []string{
		fmt.Sprintf("t=%d,v1=%s,v1=%s", now.Unix(), old, good),
		fmt.Sprintf("t=%d, v1=%s, v0=zz", now.Unix(), good),
		fmt.Sprintf("v1=%s,t=%d", good, now.Unix()),
	} {
		if _, err := webhook.Verify([]byte(secret), h, body, now, webhook.DefaultTolerance); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	for h, want := range map[string]error{
		fmt.Sprintf("t=%d,v1=%s", now.Unix(), old):                                                    webhook.ErrBadSignature,
		fmt.Sprintf("t=%d,t=%d,v1=%s", now.Unix(), now.Unix(), good):                                  webhook.ErrMalformed,
		fmt.Sprintf("t=%d", now.Unix()):                                                               webhook.ErrBadSignature,
		fmt.Sprintf("t=%d,v1=%s", now.Unix()-301, webhook.Sign([]byte(secret), now.Unix()-301, body)): webhook.ErrStale,
		fmt.Sprintf("t=%d,v1=%s", now.Unix()+301, webhook.Sign([]byte(secret), now.Unix()+301, body)): webhook.ErrFuture,
		"t=abc,v1=00": webhook.ErrMalformed,
		"":            webhook.ErrNoSignature,
	} {
		if _, err := webhook.Verify([]byte(secret), h, body, now, webhook.DefaultTolerance); !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", h, err, want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	body := delivery("ev", "dl")
	f.Add(signed(body, now), body)
	f.Add("t=1,v1=zz,v1=", []byte("{}"))
	f.Add("t=,,==", []byte(nil))
	f.Fuzz(func(t *testing.T, header string, b []byte) {
		ts, err := webhook.Verify([]byte(secret), header, b, now, webhook.DefaultTolerance)
		if err != nil {
			return
		}
		// Accepted: the header must hold the true signature at a fresh time.
		if !strings.Contains(header, webhook.Sign([]byte(secret), ts.Unix(), b)) {
			t.Fatalf("accepted %q without its signature", header)
		}
		if d := now.Sub(ts); d > webhook.DefaultTolerance || -d > webhook.DefaultTolerance {
			t.Fatalf("accepted a timestamp %s away", d)
		}
	})
}

// serve runs the receiver on a real loopback listener with short timeouts.
func serve(t *testing.T, rc http.Handler) (addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- webhook.Serve(ctx, ln, rc, webhook.ServerOptions{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond, MaxConns: 4, ShutdownGrace: 2 * time.Second})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return ln.Addr().String()
}

// rawPost sends a request by hand: headers claiming len(body)+missing
// bytes, the body, then (after pause) closes or waits for the answer.
func rawPost(t *testing.T, addr string, body []byte, missing int, pause time.Duration) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n%s: %s\r\nContent-Length: %d\r\n\r\n", webhook.Path, webhook.SignatureHeader, signed(body, time.Now()), len(body)+missing)
	c.Write(body)
	time.Sleep(pause)
	if missing > 0 && pause == 0 {
		c.(*net.TCPConn).CloseWrite() // truncated: the client gives up mid-body
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, _ := io.ReadAll(c)
	return string(resp)
}

func TestReceiverRefusesTruncatedAndSlowBodies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rc := webhook.NewReceiver(webhook.ReceiverOptions{Spool: f.spool, Secret: []byte(secret), Log: slog.New(slog.NewJSONHandler(f.logs, nil))})
	addr := serve(t, rc)

	body := delivery("ev-cut", "dl")
	rawPost(t, addr, body[:len(body)/2], len(body)-len(body)/2, 0) // truncated
	resp := rawPost(t, addr, body, 10, 800*time.Millisecond)       // slow: 10 bytes never come, past the read timeout
	if strings.Contains(resp, "200 OK") {
		t.Errorf("slow client acknowledged: %q", resp)
	}
	// The server is still healthy and stores a whole delivery.
	if resp := rawPost(t, addr, body, 0, 0); !strings.HasPrefix(resp, "HTTP/1.1 200") {
		t.Fatalf("a whole delivery: %q", resp)
	}
	es := f.spooled(t)
	if len(es) != 1 || string(es[0].DeliveryID) != "dl" {
		t.Fatalf("spooled %+v, want the whole delivery only", es)
	}
	if s := rc.Stats(); s.Accepted != 1 || s.Refused != 2 {
		t.Errorf("stats %+v, want 1 accepted, 2 refused", s)
	}
	hz, err := http.Get("http://" + addr + "/healthz")
	if err != nil || hz.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", hz, err)
	}
	hz.Body.Close()
}
