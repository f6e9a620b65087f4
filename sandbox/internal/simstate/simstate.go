// Package simstate holds what every simulator keeps under one lock: its
// dataset, the dataset's indexes, the virtual clock and the data's random
// source, with the Now, Truth, Mutate and Advance every simulator offers.
package simstate

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Hooks are what a simulator knows of its own dataset D and indexes X.
type Hooks[D, X any] struct {
	// Clone returns a deep copy of a dataset.
	Clone func(*D) *D
	// Normalize brings a changed dataset to the wire's form.
	Normalize func(*D)
	// Index builds a dataset's indexes.
	Index func(*D) X
}

// State is a simulator's dataset, its indexes and its virtual clock. The
// simulator's own code reads them under RLock and changes them under
// Lock; Now, Truth, Mutate and Advance take the lock themselves.
type State[D, X any] struct {
	sync.RWMutex // guards the fields below

	Data  D
	Index X
	Clock time.Time  // the virtual clock's now
	Rand  *rand.Rand // the data's random source

	hooks Hooks[D, X]
}

// New returns a State at clock with the random source r and the dataset
// data, indexed (not normalised: generated data is in the wire's form).
func New[D, X any](clock time.Time, r *rand.Rand, data func(r *rand.Rand) D, h Hooks[D, X]) *State[D, X] {
	s := &State[D, X]{Clock: clock, Rand: r, hooks: h}
	if data != nil {
		s.Data = data(r)
		s.Index = h.Index(&s.Data)
	}
	return s
}

// Now is the virtual clock.
func (s *State[D, X]) Now() time.Time {
	s.RLock()
	defer s.RUnlock()
	return s.Clock
}

// Truth returns a deep copy of the dataset.
func (s *State[D, X]) Truth() *D {
	s.RLock()
	defer s.RUnlock()
	return s.hooks.Clone(&s.Data)
}

// Mutate runs fn on the dataset under the write lock, then reindexes it.
func (s *State[D, X]) Mutate(fn func(d *D)) {
	s.Lock()
	defer s.Unlock()
	defer s.Reindex()
	fn(&s.Data)
}

// Reindex brings the dataset to the wire's form and rebuilds its indexes.
// Callers hold the write lock.
func (s *State[D, X]) Reindex() {
	s.hooks.Normalize(&s.Data)
	s.Index = s.hooks.Index(&s.Data)
}

// Advance moves the virtual clock forward under the write lock: the
// window ends at the clock plus d, cut by round unless round is nil. When
// the window's end is after its start the clock moves there, simulate
// changes the dataset for the window (from, to] (the indexes still the
// old ones) and the dataset is reindexed. It returns the window.
func (s *State[D, X]) Advance(d time.Duration, round func(time.Time) time.Time, simulate func(from, to time.Time)) (from, to time.Time) {
	s.Lock()
	defer s.Unlock()
	from, to = s.Clock, s.Clock.Add(d)
	if round != nil {
		to = round(to)
	}
	if !to.After(from) {
		return from, to
	}
	s.Clock = to
	defer s.Reindex()
	simulate(from, to)
	return from, to
}

// Access is what a simulator's users call on its State (Now, Truth,
// Mutate) without its fields and lock: the simulator's server embeds it.
type Access[D, X any] struct{ s *State[D, X] }

// Access returns the State's Access.
func (s *State[D, X]) Access() Access[D, X] { return Access[D, X]{s} }

// Now is the virtual clock. It moves only with Advance.
func (a Access[D, X]) Now() time.Time { return a.s.Now() }

// Truth returns a deep copy of the current data: exactly what the API
// serves.
func (a Access[D, X]) Truth() *D { return a.s.Truth() }

// Mutate runs fn on the data under the write lock, to set up any
// situation (exact stamps, late records, odd values...); afterwards the
// data is brought to the wire's form (the Dataset's documentation says
// what that means) and reindexed.
func (a Access[D, X]) Mutate(fn func(d *D)) { a.s.Mutate(fn) }
