package simstate

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

type data struct{ xs []int }

func newState() *State[data, int] {
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	return New(start, rand.New(rand.NewPCG(1, 2)), nil, Hooks[data, int]{
		Clone:     func(d *data) *data { return &data{xs: slices.Clone(d.xs)} },
		Normalize: func(*data) {},
		Index:     func(d *data) int { return len(d.xs) },
	})
}

func TestTruthIsACopyAndMutateReindexes(t *testing.T) {
	s := newState()
	s.Mutate(func(d *data) { d.xs = append(d.xs, 1, 2) })
	if s.Index != 2 {
		t.Errorf("index after Mutate = %d, want 2", s.Index)
	}
	tr := s.Truth()
	tr.xs[0] = 9
	if s.Data.xs[0] != 1 {
		t.Error("Truth shares the dataset")
	}
}

func TestAdvance(t *testing.T) {
	s := newState()
	start := s.Now()
	calls := 0
	simulate := func(from, to time.Time) {
		calls++
		if s.Index != calls-1 {
			t.Errorf("simulate saw index %d, want the old one %d", s.Index, calls-1)
		}
		s.Data.xs = append(s.Data.xs, calls)
	}
	if from, to := s.Advance(-time.Hour, nil, simulate); !from.Equal(start) || !to.Equal(start.Add(-time.Hour)) || calls != 0 || !s.Now().Equal(start) {
		t.Errorf("Advance(-1h) = %v, %v with %d calls, now %v", from, to, calls, s.Now())
	}
	second := func(t time.Time) time.Time { return t.Truncate(time.Second) }
	if _, to := s.Advance(time.Millisecond, second, simulate); !to.Equal(start) || calls != 0 {
		t.Errorf("Advance(1ms) cut to the second = %v with %d calls", to, calls)
	}
	from, to := s.Advance(90*time.Minute+time.Millisecond, second, simulate)
	if !from.Equal(start) || !to.Equal(start.Add(90*time.Minute)) || !s.Now().Equal(to) || calls != 1 || s.Index != 1 {
		t.Errorf("Advance(90m) = %v, %v with %d calls, now %v, index %d", from, to, calls, s.Now(), s.Index)
	}
}
