package recs

import "testing"

func TestClone(t *testing.T) {
	if got := Clone([]*int(nil), func(**int) { t.Error("deepen called for a nil slice") }); got != nil {
		t.Errorf("Clone(nil) = %v, want nil", got)
	}
	one, two := 1, 2
	in := []*int{&one, nil, &two}
	out := Clone(in, func(p **int) { *p = Ptr(*p) })
	if len(out) != 3 || out[1] != nil || *out[0] != 1 || *out[2] != 2 {
		t.Fatalf("Clone = %v", out)
	}
	if out[0] == in[0] || out[2] == in[2] || &out[0] == &in[0] {
		t.Error("Clone shares memory with its input")
	}
}

func TestEach(t *testing.T) {
	s := []int{1, 2, 3}
	Each(s, func(x *int) { *x *= 10 })
	if s[0] != 10 || s[1] != 20 || s[2] != 30 {
		t.Errorf("Each: %v", s)
	}
}

func TestFilter(t *testing.T) {
	got := Filter([]int{5, 2, 8, 3}, func(p int) bool { return p > 2 })
	if len(got) != 3 || got[0] != 5 || got[1] != 8 || got[2] != 3 {
		t.Errorf("Filter = %v, want [5 8 3]", got)
	}
}
