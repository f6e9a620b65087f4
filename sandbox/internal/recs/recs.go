// Package recs copies, walks and filters the simulators' record slices.
package recs

import "slices"

// Each calls f with a pointer to each element of s, in order.
func Each[T any](s []T, f func(*T)) {
	for i := range s {
		f(&s[i])
	}
}

// Clone returns a copy of s (nil for nil) after calling deepen on each of
// the copy's elements, to replace what they share with s.
func Clone[T any](s []T, deepen func(*T)) []T {
	out := slices.Clone(s)
	Each(out, deepen)
	return out
}

// Ptr returns a pointer to a copy of *p (nil for nil).
func Ptr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// Filter returns the positions among rows for which keep is true, in
// order.
func Filter(rows []int, keep func(p int) bool) []int {
	out := make([]int, 0, len(rows))
	for _, p := range rows {
		if keep(p) {
			out = append(out, p)
		}
	}
	return out
}
