package optimo

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/athlake/athlake/extract/internal/stream"
	"github.com/athlake/athlake/pipeline"
	sbo "github.com/athlake/athlake/sandbox/optimo"
	"github.com/athlake/athlake/schemas"
)

type memStates struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memStates) Load(context.Context, string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	for k, v := range s.m {
		out[k] = v
	}
	return out, nil
}

func (s *memStates) Save(_ context.Context, _ string, m map[string][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m = m
	return nil
}

// discard is a sink that keeps nothing.
type discard struct{}

func (discard) Add(_ context.Context, b *pipeline.Batch) error {
	for _, r := range b.Records {
		r.Record.Release()
	}
	return nil
}
func (discard) Buffered() int64 { return 0 }
func (discard) Commit(context.Context) (pipeline.CommitStats, error) {
	return pipeline.CommitStats{}, nil
}
func (discard) Close() {}

// TestUnfinishedFirstWithOneSlot: with a single runner slot, the stream
// whose pass is unfinished runs first and the others after it, without
// waiting on each other forever; with four, the finished ones make no
// request before the unfinished one is done.
func TestUnfinishedFirstWithOneSlot(t *testing.T) {
	for _, slots := range []int{1, 4} {
		sb := sbo.New(sbo.Options{Seed: 10, AdminToken: "tok", RecordCalls: true})
		srv := httptest.NewServer(sb)
		defer srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		b, _ := NewBudget(ctx, &memQuota{}, sb.Zone(), 1000, nil)
		c, err := New(Options{BaseURL: srv.URL + sbo.Endpoint, Token: "tok", Budget: b})
		if err != nil {
			t.Fatal(err)
		}
		src := NewSource(c, SourceOptions{Options: stream.Options{Registry: schemas.All(), Mem: memory.DefaultAllocator}, Zone: sb.Zone()})
		done := []byte(`{"watermark":"2026-05-31T00:00:00Z"}`)
		states := &memStates{m: map[string][]byte{
			"athletes": done, "coaches": done, "assessments": done,
			"workouts": []byte(`{"pass":{"pages_done":1}}`), // cut short on an earlier day
		}}
		r := &pipeline.Runner{Log: slog.New(slog.DiscardHandler), State: states, Parallel: slots,
			NewSink: func(string, string) pipeline.Sink { return discard{} }}
		if _, err := r.Run(ctx, []pipeline.Source{src}); err != nil {
			t.Fatalf("%d slots: %v", slots, err)
		}
		var order []string
		for _, call := range sb.Calls() {
			order = append(order, call.Method)
		}
		last := 0
		for i, m := range order {
			if m == "workout.list" {
				last = i
			}
		}
		for _, m := range order[:last] {
			if m != "workout.list" {
				t.Errorf("%d slots: calls %v: %s before the unfinished pass was done", slots, order, m)
				break
			}
		}
		if len(order) <= last+1 {
			t.Errorf("%d slots: calls %v: the finished streams never ran", slots, order)
		}
	}
}
