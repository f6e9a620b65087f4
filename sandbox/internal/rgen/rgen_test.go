package rgen

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestDurAndLater(t *testing.T) {
	g := Gen{R: rand.New(rand.NewPCG(1, 2)), Step: time.Second}
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	limit := t0.Add(time.Hour)
	for range 1000 {
		if d := g.Dur(time.Minute, time.Hour); d < time.Minute || d > time.Hour || d%time.Second != 0 {
			t.Fatalf("Dur = %v", d)
		}
		if u := g.Later(t0, limit, 0.5, 24*time.Hour); u.Before(t0) || u.After(limit) {
			t.Fatalf("Later = %v", u)
		}
		if u := g.Later(t0, t0.Add(-time.Hour), 1, time.Hour); !u.Equal(t0) {
			t.Fatalf("Later with limit before t = %v", u)
		}
	}
}
