// Package simtest holds what the simulators' tests share: a fake clock and
// the check that a simulator is deterministic.
package simtest

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Clock is a clock a test sets and moves, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Deterministic checks that fixtures a and b, made with the same seed,
// serve the same bytes (serve's), make the same report when advance moves
// their clocks and then serve the same bytes and hold the same truth;
// and that c, made with another seed, serves other bytes.
func Deterministic[F any](t *testing.T, a, b, c F, serve func(F) []string, advance, truth func(F) any) {
	t.Helper()
	if d := cmp.Diff(serve(a), serve(b)); d != "" {
		t.Errorf("same seed, different bytes (-a +b):\n%s", d)
	}
	if cmp.Equal(serve(a), serve(c)) {
		t.Error("different seeds served the same bytes")
	}
	if d := cmp.Diff(advance(a), advance(b)); d != "" {
		t.Errorf("same seed, different Advance reports:\n%s", d)
	}
	if d := cmp.Diff(serve(a), serve(b)); d != "" {
		t.Errorf("same seed, different bytes after Advance (-a +b):\n%s", d)
	}
	if d := cmp.Diff(truth(a), truth(b)); d != "" {
		t.Errorf("same seed, different truth:\n%s", d)
	}
}
