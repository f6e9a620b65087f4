package stats

import (
	"sync"
	"testing"
)

type counts struct {
	Total int
	ByKey map[string]int
}

func TestCounter(t *testing.T) {
	c := New(func(c *counts) *map[string]int { return &c.ByKey })
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Count(func(s *counts) { s.Total++; s.ByKey["a"]++ })
			}
		})
	}
	wg.Wait()
	got := c.Get()
	if got.Total != 800 || got.ByKey["a"] != 800 {
		t.Fatalf("got %+v, want 800 of each", got)
	}
	got.ByKey["a"] = 0 // a copy: the counter keeps its own
	if c.Get().ByKey["a"] != 800 {
		t.Error("Get shares its map with the counter")
	}
	c.Reset()
	if got := c.Get(); got.Total != 0 || len(got.ByKey) != 0 || got.ByKey == nil {
		t.Errorf("after Reset: %+v", got)
	}
}
