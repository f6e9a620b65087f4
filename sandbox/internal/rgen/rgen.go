// Package rgen holds the random draws the simulators' generators share,
// all from one seeded stream (the same calls give the same values).
package rgen

import (
	"math/rand/v2"
	"time"
)

// Gen draws from R. A simulator's generator embeds it.
type Gen struct {
	R    *rand.Rand
	Step time.Duration // the resolution of Dur and Later: a millisecond or a second
}

// Pick is a uniform element of list.
func (g Gen) Pick(list []string) string { return list[g.R.IntN(len(list))] }

// Between is a uniform integer in [lo, hi].
func (g Gen) Between(lo, hi int) int { return lo + g.R.IntN(hi-lo+1) }

// Chance is true with probability p.
func (g Gen) Chance(p float64) bool { return g.R.Float64() < p }

// Dur is a uniform duration in [lo, hi], to the Step.
func (g Gen) Dur(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(g.R.Int64N(int64((hi-lo)/g.Step)+1))*g.Step
}

// Later is the time a record stamped at t was last changed: t itself, or
// with probability p a minute to maxLag later, never after limit (nor
// before t).
func (g Gen) Later(t, limit time.Time, p float64, maxLag time.Duration) time.Time {
	if !g.Chance(p) {
		return t
	}
	u := t.Add(g.Dur(time.Minute, maxLag))
	if u.After(limit) {
		u = limit
	}
	if u.Before(t) {
		return t
	}
	return u
}
