package httpx

import (
	"context"
	"sync"
	"time"
)

// Bucket is a client-side token bucket shared by every worker of a source,
// so a run stays under the vendor's rate limit instead of bouncing off it.
// Its state can be saved and restored across runs: a run that starts right
// after another must not assume the vendor's burst is full again.
type Bucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
}

// NewBucket returns a full bucket. now and sleep default to the real clock.
func NewBucket(rate float64, burst int, now func() time.Time, sleepFn func(context.Context, time.Duration) error) *Bucket {
	if now == nil {
		now = time.Now
	}
	if sleepFn == nil {
		sleepFn = sleep
	}
	return &Bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now(), now: now, sleep: sleepFn}
}

func (b *Bucket) refill() {
	now := b.now()
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(b.burst, b.tokens+el*b.rate)
	}
	b.last = now
}

// Wait takes a token, sleeping until one is available.
func (b *Bucket) Wait(ctx context.Context) error {
	b.mu.Lock()
	b.refill()
	b.tokens-- // reserve now: concurrent waiters queue behind each other
	var d time.Duration
	if b.tokens < 0 {
		d = time.Duration(-b.tokens / b.rate * float64(time.Second))
	}
	b.mu.Unlock()
	if d <= 0 {
		return nil
	}
	if err := b.sleep(ctx, d); err != nil {
		b.mu.Lock()
		b.tokens++ // give the reservation back
		b.mu.Unlock()
		return err
	}
	return nil
}

// Drain empties the bucket: the vendor said 429, so its bucket is empty.
func (b *Bucket) Drain() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	b.tokens = min(b.tokens, 0)
}

// BucketState is a bucket's level at an instant, for saving in run state.
type BucketState struct {
	Tokens float64   `json:"tokens"`
	At     time.Time `json:"at"`
}

// State returns the current level.
func (b *Bucket) State() BucketState {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	return BucketState{Tokens: b.tokens, At: b.last}
}

// Restore sets the level from a saved state, refilled for the time since.
func (b *Bucket) Restore(s BucketState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.At.IsZero() {
		return
	}
	b.tokens, b.last = min(b.burst, s.Tokens), s.At
	b.refill()
}

// Floor is the least time n more requests take from now: those past the
// tokens in the bucket wait for their refill.
func (b *Bucket) Floor(n int) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	if b.rate <= 0 {
		return 0
	}
	return time.Duration(max(float64(n)-b.tokens, 0) / b.rate * float64(time.Second))
}
