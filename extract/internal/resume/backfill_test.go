package resume

import (
	"testing"
	"time"
)

func TestParams(t *testing.T) {
	day := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	base := Key([]string{"b", "a"}, day, time.Time{})
	if got := Key([]string{"a", "b", "a"}, day.In(time.FixedZone("x", 3600)), time.Time{}); got != base {
		t.Errorf("the same ids and window in another order, repeated, another zone: %s, want %s", got, base)
	}
	for name, other := range map[string]string{
		"another id":     Key([]string{"a", "c"}, day, time.Time{}),
		"forged join":    Key([]string{`a",b`}, day, time.Time{}),
		"another since":  Key([]string{"a", "b"}, day.Add(time.Second), time.Time{}),
		"an until":       Key([]string{"a", "b"}, day, day),
		"no ids at all":  Key(nil, day, time.Time{}),
		"complete of it": Complete(base),
	} {
		if other == base {
			t.Errorf("%s gives the same key %s", name, base)
		}
	}
}
