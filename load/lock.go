package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"syscall"
	"time"

	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/pipeline"
)

// LockKey is where the run lock of an output lives.
var LockKey = path.Join(StateDir, "lock.json")

// Lock is the run lock of an output: an object created only if absent and
// held through a lease the holder renews and, when done, lets expire. A
// lock whose lease has expired, or whose holder was a process on this host
// that no longer exists, is stale and taken over with a compare-and-swap,
// so two runs that find the same stale lock cannot both win.
type Lock struct {
	Store store.Store
	TTL   time.Duration // default one minute
	Now   func() time.Time
}

func (l *Lock) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Lock) ttl() time.Duration {
	if l.TTL > 0 {
		return l.TTL
	}
	return time.Minute
}

// Acquire takes the lock for h or returns a *pipeline.LockedError naming the
// holder.
func (l *Lock) Acquire(ctx context.Context, h pipeline.Holder) (pipeline.Lease, error) {
	for attempt := 0; attempt < 5; attempt++ {
		h.ExpiresAt = l.now().Add(l.ttl()).UTC()
		data, err := json.Marshal(h)
		if err != nil {
			return nil, err
		}
		v, err := l.Store.PutIf(ctx, LockKey, data, "")
		if err == nil {
			return &lease{lock: l, holder: h, version: v}, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("taking the lock: %w", err)
		}
		cur, ver, err := l.Store.Get(ctx, LockKey)
		if errors.Is(err, store.ErrNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("reading the lock: %w", err)
		}
		var other pipeline.Holder
		if json.Unmarshal(cur, &other) == nil && !l.stale(other, h.Host) {
			return nil, &pipeline.LockedError{Holder: other}
		}
		v, err = l.Store.PutIf(ctx, LockKey, data, ver)
		if err == nil {
			return &lease{lock: l, holder: h, version: v}, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("taking over a stale lock: %w", err)
		}
	}
	return nil, errors.New("taking the lock: lost the race five times")
}

// Held returns the holder of the lock if a live run holds it, else nil:
// for what reads the output without the lock and must not run beside a
// run (athlake plan spends Optimo's quota count a run keeps too).
func (l *Lock) Held(ctx context.Context) (*pipeline.Holder, error) {
	cur, _, err := l.Store.Get(ctx, LockKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the lock: %w", err)
	}
	var h pipeline.Holder
	host, _ := os.Hostname()
	if json.Unmarshal(cur, &h) != nil || l.stale(h, host) {
		return nil, nil
	}
	return &h, nil
}

// stale reports whether a lock can be taken over: its lease expired, or its
// holder ran on this host and has exited (a killed run).
func (l *Lock) stale(h pipeline.Holder, host string) bool {
	if !l.now().Before(h.ExpiresAt) {
		return true
	}
	if h.Host == host && h.PID > 0 {
		return syscall.Kill(h.PID, 0) == syscall.ESRCH
	}
	return false
}

type lease struct {
	lock    *Lock
	holder  pipeline.Holder
	version string
}

func (le *lease) TTL() time.Duration { return le.lock.ttl() }

// Renew extends the lease; it fails if the lock was taken over.
func (le *lease) Renew(ctx context.Context) error {
	h := le.holder
	h.ExpiresAt = le.lock.now().Add(le.lock.ttl()).UTC()
	data, err := json.Marshal(h)
	if err != nil {
		return err
	}
	v, err := le.lock.Store.PutIf(ctx, LockKey, data, le.version)
	if errors.Is(err, store.ErrConflict) {
		return pipeline.ErrLockLost
	}
	if err != nil {
		return fmt.Errorf("renewing the lock: %w", err)
	}
	le.holder, le.version = h, v
	return nil
}

// Release gives the lock up if it is still ours, by writing a lease that
// has already expired (a compare-and-swap, like every write of the lock:
// conditional DELETEs are not honoured by every S3-compatible server). The
// next run takes it over at once.
func (le *lease) Release(ctx context.Context) error {
	h := le.holder
	h.ExpiresAt = le.lock.now().UTC()
	data, err := json.Marshal(h)
	if err != nil {
		return err
	}
	_, err = le.lock.Store.PutIf(ctx, LockKey, data, le.version)
	if errors.Is(err, store.ErrConflict) {
		return errors.New("the lock was taken over by another run before release")
	}
	return err
}
