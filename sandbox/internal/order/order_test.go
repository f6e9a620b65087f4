package order

import (
	"testing"
	"time"
)

func TestTimeThenID(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		at   time.Time
		aid  string
		bt   time.Time
		bid  string
		want int
	}{
		{t0, "b", t0.Add(time.Millisecond), "a", -1},
		{t0.Add(time.Millisecond), "a", t0, "b", 1},
		{t0, "a", t0, "b", -1},
		{t0, "b", t0.In(time.FixedZone("x", 3600)), "a", 1},
		{t0, "a", t0, "a", 0},
	} {
		if got := TimeThenID(c.at, c.aid, c.bt, c.bid); got != c.want {
			t.Errorf("TimeThenID(%v, %s, %v, %s) = %d, want %d", c.at, c.aid, c.bt, c.bid, got, c.want)
		}
	}
}
