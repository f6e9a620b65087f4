package httpx

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
)

// vanishedBeforeAnySuccess is how many 404s on details, with no detail
// answered yet, mean a wrong base URL rather than deleted records.
const vanishedBeforeAnySuccess = 3

// Vanished judges 404s on the detail of a record that a list has just
// returned. Such a record was deleted at the vendor between the two
// requests: it is skipped with an anomaly naming the endpoint, and the
// stream goes on. When several details 404 before any has been answered,
// the base URL (or the account) is wrong, and the 404 is an error as any
// other. It is safe for concurrent use; use one per stream and run.
type Vanished struct {
	mu            sync.Mutex
	found, missed int
}

// Check takes a detail request's error. It returns ("", nil) for a
// success, (anomaly, nil) for a record to skip, and (_, err) for an error
// that still fails the stream.
func (v *Vanished) Check(err error) (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err == nil {
		v.found++
		return "", nil
	}
	var api *APIError
	if !errors.As(err, &api) || api.Status != http.StatusNotFound {
		return "", err
	}
	v.missed++
	if v.found == 0 && v.missed >= vanishedBeforeAnySuccess {
		return "", fmt.Errorf("%w (%d details in a row not found and none found: is base_url right?)", err, v.missed)
	}
	return fmt.Sprintf("%s %s: not found, although a list had just returned it (deleted at the vendor meanwhile): skipped", api.Source, api.Endpoint), nil
}
