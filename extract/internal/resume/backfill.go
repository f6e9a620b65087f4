// Package resume holds what the vendors' backfill streams share: the key
// a backfill's progress is kept under.
package resume

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// Key identifies a backfill by its ids (in any order, repeats ignored)
// and window: the same command resumes the progress kept under it, another
// one starts over.
func Key(ids []string, since, until time.Time) string {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	h := sha256.New()
	for _, id := range ids {
		fmt.Fprintf(h, "%q,", id) // quoted: no id can forge a separator
	}
	fmt.Fprintf(h, "|%s|%s", since.UTC().Format(time.RFC3339Nano), until.UTC().Format(time.RFC3339Nano))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Complete is the key of a backfill once done: the same command run again
// finds it and does the backfill again.
func Complete(params string) string { return "complete:" + params }
