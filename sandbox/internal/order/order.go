// Package order is the order in which the simulated vendors list their
// records.
package order

import (
	"cmp"
	"time"
)

// TimeThenID orders records by a time (created, started), then by id: a
// total order, as ids are unique.
func TimeThenID(at time.Time, aid string, bt time.Time, bid string) int {
	if c := at.Compare(bt); c != 0 {
		return c
	}
	return cmp.Compare(aid, bid)
}
