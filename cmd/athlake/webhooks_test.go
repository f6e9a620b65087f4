package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/athlake/athlake/extract/plyomat/webhook"
	"github.com/athlake/athlake/internal/webhooktest"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/sandbox"
)

const loadSecret = "whsec_load_test_8d1e5a3c"

// receiverProc is `athlake webhooks serve` as a child process.
type receiverProc struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

func startReceiverProc(t *testing.T, config, addr string) *receiverProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "--", "webhooks", "serve", "--config", config, "--addr", addr, "--log-level", "warn")
	cmd.Env = append(os.Environ(), "ATHLAKE_TEST_AS_BINARY=1", "SANDBOX_KEY="+sandbox.PlyomatKey, "PLYOMAT_WEBHOOK_SECRET="+loadSecret)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &receiverProc{cmd: cmd, out: out}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return p
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the receiver did not start: %v\n%s", err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hookedBinary runs athlake to completion with the webhook secret in its
// environment.
func hookedBinary(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "ATHLAKE_TEST_AS_BINARY=1", "SANDBOX_KEY="+sandbox.PlyomatKey, "PLYOMAT_WEBHOOK_SECRET="+loadSecret)
	out, _ := cmd.CombinedOutput()
	return cmd.ProcessState.ExitCode(), string(out)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// loadEvent is one delivery the load test sends until it is acknowledged.
type loadEvent struct {
	id, setID string
	body      []byte
}

// 2,000 deliveries from 20 concurrent senders to the real receiver
// process, SIGKILLed and restarted mid-load: every acknowledged event is
// applied exactly once, the views of sets and reps equal the sandbox's
// truth, and nothing the receiver acknowledged is lost.
func TestWebhooksLoadKillRestart(t *testing.T) {
	t.Parallel()
	const deliveries, senders = 2000, 20
	sb := sandbox.New(sandbox.Options{Seed: 5})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	config, lake := plyomatConfig(t, t.TempDir(), "athlake.yaml", srv.URL, "    webhook_secret: ${PLYOMAT_WEBHOOK_SECRET}\n")
	if code, out := hookedBinary(t, "sync", "--config", config); code != 0 {
		t.Fatalf("sync: exit %d\n%s", code, out)
	}
	// New and edited sets the lake does not have yet; then an event for
	// every set, over and over, up to the count.
	sb.Plyomat.Advance(48 * time.Hour)
	truth := sb.Plyomat.Truth()
	var events []loadEvent
	for n := 0; len(events) < deliveries; n++ {
		st := truth.Sets[n%len(truth.Sets)]
		id := fmt.Sprintf("evt-%05d", n)
		payload, _ := st.MarshalJSON()
		events = append(events, loadEvent{id: id, setID: st.ID, body: []byte(fmt.Sprintf(`{"event_type":"set.completed","event_id":%q,"source_version":1,"delivery_id":"dl-%s","payload":%s}`, id, id, payload))})
	}

	addr := freeAddr(t)
	url := "http://" + addr + webhook.Path
	rp := startReceiverProc(t, config, addr)
	var (
		mu        sync.Mutex
		acked     = map[string]bool{}
		latencies []time.Duration
		retries   atomic.Int64
	)
	work := make(chan loadEvent)
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	start := time.Now()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range work {
				for {
					req := webhooktest.Request(url, []byte(loadSecret), ev.body)
					t0 := time.Now()
					resp, err := client.Do(req)
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode == http.StatusOK {
							mu.Lock()
							acked[ev.id] = true
							latencies = append(latencies, time.Since(t0))
							mu.Unlock()
							break
						}
					}
					retries.Add(1)
					time.Sleep(20 * time.Millisecond) // the vendor's retry, compressed
				}
			}
		}()
	}
	var firstPeak int64 // the killed receiver's peak RSS, in KiB
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= deliveries*2/5 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		rp.cmd.Process.Signal(syscall.SIGKILL)
		rp.cmd.Wait()
		firstPeak = maxRSS(rp.cmd.ProcessState)
		rp = startReceiverProc(t, config, addr)
	}()
	for _, ev := range events {
		work <- ev
	}
	close(work)
	wg.Wait()
	<-killed
	elapsed := time.Since(start)
	if len(acked) != deliveries {
		t.Fatalf("%d acknowledged, want %d", len(acked), deliveries)
	}
	slices.Sort(latencies)
	t.Logf("%d deliveries from %d senders in %s (%.0f/s, receiver killed and restarted once, %d retries); ack latency p50 %s, p99 %s",
		deliveries, senders, elapsed.Round(time.Millisecond), float64(deliveries)/elapsed.Seconds(), retries.Load(),
		latencies[len(latencies)/2].Round(time.Microsecond), latencies[len(latencies)*99/100].Round(time.Microsecond))

	// The applier drains the spool; then a graceful stop.
	st, err := store.NewLocal(lake)
	if err != nil {
		t.Fatal(err)
	}
	spool := webhook.NewSpool(st, "plyomat")
	deadline := time.Now().Add(90 * time.Second)
	for {
		n, err := spool.Pending(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries still spooled after 90 s:\n%s", n, rp.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rp.cmd.Process.Signal(syscall.SIGTERM)
	if err := rp.cmd.Wait(); err != nil {
		t.Fatalf("the receiver's graceful stop: %v\n%s", err, rp.out)
	}
	// Each receiver's peak, its applier's runs (commits, views updates)
	// included.
	t.Logf("receiver peak RSS: %d MiB before the kill, %d MiB after the restart", firstPeak>>10, maxRSS(rp.cmd.ProcessState)>>10)
	if out := rp.out.String(); strings.Contains(out, loadSecret) || strings.Contains(out, "panic") {
		t.Errorf("a secret or a panic in the receiver's output:\n%s", out)
	}
	if code, out := hookedBinary(t, "views", "--config", config); code != 0 {
		t.Fatalf("views: exit %d\n%s", code, out)
	}

	db := filepath.Join(lake, "athlake.duckdb")
	query := func(q string) [][]string {
		_, rows, err := views.Query(context.Background(), db, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return rows
	}
	// Every acknowledged event applied exactly once.
	got := query("SELECT event_id, count(*) FROM plyomat_webhook_events GROUP BY ALL")
	if len(got) != deliveries {
		t.Errorf("%d events in plyomat_webhook_events, want %d", len(got), deliveries)
	}
	for _, r := range got {
		if !acked[r[0]] || r[1] != "1" {
			t.Errorf("event row %v: not acknowledged, or not once", r)
		}
	}
	if n := query("SELECT count(*) FROM plyomat_webhook_events WHERE action <> 'pulled'"); n[0][0] != "0" {
		t.Errorf("%s events not pulled", n[0][0])
	}
	// Sets and reps: the truth, value for value.
	var wantSets, wantReps [][]string
	for _, s := range truth.Sets {
		wantSets = append(wantSets, []string{s.ID, s.Mode, s.UpdatedAt.UTC().Format("2006-01-02T15:04:05.000Z")})
		for _, r := range s.Reps {
			wantReps = append(wantReps, []string{s.ID, strconv.Itoa(r.RepIndex), strconv.Itoa(r.FlightTimeMs), strconv.FormatFloat(r.JumpHeightCm, 'f', -1, 64)})
		}
	}
	sortCells := func(rows [][]string) [][]string {
		sort.Slice(rows, func(i, j int) bool { return slices.Compare(rows[i], rows[j]) < 0 })
		return rows
	}
	gotSets := sortCells(query("SELECT id, mode, strftime(updated_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ') FROM plyomat_sets"))
	gotReps := sortCells(query("SELECT set_id, rep_index, flight_time_ms, jump_height_cm FROM plyomat_reps"))
	if !slices.EqualFunc(sortCells(wantSets), gotSets, slices.Equal) {
		t.Errorf("plyomat_sets differs from the truth: %d rows, want %d; first difference: %v", len(gotSets), len(wantSets), firstDiff(wantSets, gotSets))
	}
	if !slices.EqualFunc(sortCells(wantReps), gotReps, slices.Equal) {
		t.Errorf("plyomat_reps differs from the truth: %d rows, want %d; first difference: %v", len(gotReps), len(wantReps), firstDiff(wantReps, gotReps))
	}
}

// firstDiff is the first row where want and got differ.
func firstDiff(want, got [][]string) string {
	for i := range min(len(want), len(got)) {
		if !slices.Equal(want[i], got[i]) {
			return fmt.Sprintf("want %v, got %v", want[i], got[i])
		}
	}
	return fmt.Sprintf("%d rows, want %d", len(got), len(want))
}

// maxRSS is an exited process's peak resident set, in KiB.
func maxRSS(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss
	}
	return 0
}
