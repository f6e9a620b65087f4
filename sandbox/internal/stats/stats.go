// Package stats keeps a simulator's request counts, safe for concurrent
// use.
package stats

import (
	"maps"
	"sync"
)

// Counter holds counts of type S: a struct of counters with one map of
// counts by key (by path, route or method).
type Counter[S any] struct {
	mu    sync.Mutex
	s     S
	byKey func(*S) *map[string]int
}

// New returns a Counter at zero. byKey points at the map of an S.
func New[S any](byKey func(*S) *map[string]int) *Counter[S] {
	c := &Counter[S]{byKey: byKey}
	c.Reset()
	return c
}

// Count changes the counts with fn.
func (c *Counter[S]) Count(fn func(*S)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(&c.s)
}

// Get returns a copy of the counts (its map too).
func (c *Counter[S]) Get() S {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.s
	m := c.byKey(&s)
	*m = maps.Clone(*m)
	return s
}

// Reset zeroes the counts (the map empty, not nil).
func (c *Counter[S]) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero S
	c.s = zero
	*c.byKey(&c.s) = map[string]int{}
}

// Counts is what a simulator's users call on its Counter (Stats,
// ResetStats): the simulator's server embeds it.
type Counts[S any] struct{ c *Counter[S] }

// Counts returns the Counter's Counts.
func (c *Counter[S]) Counts() Counts[S] { return Counts[S]{c} }

// Stats returns the request counts since the start or the last
// ResetStats.
func (c Counts[S]) Stats() S { return c.c.Get() }

// ResetStats zeroes the counts.
func (c Counts[S]) ResetStats() { c.c.Reset() }
