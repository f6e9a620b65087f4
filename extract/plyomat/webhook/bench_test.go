package webhook_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/athlake/athlake/extract/plyomat/webhook"
	"github.com/athlake/athlake/internal/webhooktest"
	"github.com/athlake/athlake/load/store"
)

// BenchmarkReceiver measures the receiver on loopback: b.N signed
// deliveries (a set of 6 reps each, ~1.5 KB) from 20 concurrent senders,
// each acknowledged once durable in a local spool (fsync'd). It reports
// deliveries/s, the p50 and p99 acknowledgement latency and the process's
// peak RSS (senders included):
//
//	go test ./extract/plyomat/webhook -run '^$' -bench Receiver -benchtime 2000x
func BenchmarkReceiver(b *testing.B) {
	const senders = 20
	st, err := store.NewLocal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	rc := webhook.NewReceiver(webhook.ReceiverOptions{Spool: webhook.NewSpool(st, "plyomat"), Secret: []byte(secret)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- webhook.Serve(ctx, ln, rc, webhook.ServerOptions{}) }()
	defer func() {
		cancel()
		<-done
	}()
	url := "http://" + ln.Addr().String() + webhook.Path
	var reps []string
	for i := range 6 {
		reps = append(reps, fmt.Sprintf(`{"rep_index":%d,"flight_time_ms":512,"contact_time_ms":null,"jump_height_cm":32.15,"rsi":null,"side":"both","is_kept":true,"captured_at":"2026-06-01T10:00:0%d.000Z"}`, i, i))
	}
	payload := `{"id":"set-%d","session_id":"s","athlete_id":"a","mode":"cmj","drop_height_cm":null,"started_at":"2026-06-01T10:00:00.000Z","created_at":"2026-06-01T10:00:00.000Z","updated_at":"2026-06-01T10:00:00.000Z","reps":[` + strings.Join(reps, ",") + `]}`
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	work := make(chan int)
	var (
		mu  sync.Mutex
		lat []time.Duration
	)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				body := []byte(fmt.Sprintf(`{"event_type":"set.completed","event_id":"bench-%d-%d","source_version":1,"delivery_id":"d-%d","payload":`+payload+`}`, b.N, n, n, n))
				req := webhooktest.Request(url, []byte(secret), body)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
				}
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	for n := range b.N {
		work <- n
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if s := rc.Stats(); s.Accepted != int64(b.N) {
		b.Fatalf("accepted %d of %d", s.Accepted, b.N)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	if kb := peakRSSKiB(); kb > 0 {
		b.ReportMetric(float64(kb)/1024, "peak-RSS-MiB")
	}
}

// peakRSSKiB is the process's peak resident set (VmHWM), 0 where /proc is
// missing.
func peakRSSKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
