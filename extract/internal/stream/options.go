package stream

import (
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/schemas"
)

// Options are what every source's streams take from a run; each vendor's
// SourceOptions embeds them beside its own.
type Options struct {
	Registry *schemas.Registry
	Mem      memory.Allocator // default memory.DefaultAllocator
	RunID    string
	// Lookback is how far an incremental pass reads again before its
	// watermark (the vendor's default when zero).
	Lookback time.Duration
	// Backfill replaces the incremental streams by a pass per athlete over
	// the window [Since, Until] (zero: unbounded) for Athletes (the
	// vendor's athlete ids; none: all).
	Backfill bool
	Athletes []string
	Since    time.Time
	Until    time.Time
}

// WithDefaults fills in the allocator, and lookback when none is set.
func (o Options) WithDefaults(lookback time.Duration) Options {
	if o.Lookback <= 0 {
		o.Lookback = lookback
	}
	if o.Mem == nil {
		o.Mem = memory.DefaultAllocator
	}
	return o
}

// FromEnv takes a run's options from the environment a connector builds
// its source in.
func FromEnv(env *connector.Env, lookback time.Duration) Options {
	r := env.Run
	return Options{
		Registry: env.Registry, Mem: env.Mem, RunID: env.RunID, Lookback: lookback,
		Backfill: r.Backfill, Athletes: r.Athletes, Since: r.Since, Until: r.Until,
	}
}
