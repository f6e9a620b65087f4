package pipeline

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// OrderedOptions bounds Ordered.
type OrderedOptions struct {
	// Parallel is how many items are produced at once (default 1).
	Parallel int
	// Ahead is how many results one item's producer may run ahead of
	// their delivery (default 2): memory stays bounded by Parallel×Ahead
	// results, whatever an item's size.
	Ahead int
}

// Ordered runs produce for every item, o.Parallel at once; each producer
// hands its results to send. The results reach deliver on the calling
// goroutine, one at a time, in the items' order (all of an item's before the
// next item's, each item's in the order sent), and done(item) is called
// after an item's last result. It is how a stream fetches in parallel while
// it emits, and so checkpoints, in order.
//
// The first error, from a producer, deliver or done, cancels the producers
// under way and is returned; nothing is delivered after it.
func Ordered[T, R any](ctx context.Context, o OrderedOptions, items []T,
	produce func(ctx context.Context, item T, send func(R) error) error,
	deliver func(item T, r R) error, done func(item T) error) error {
	o.Parallel, o.Ahead = max(o.Parallel, 1), max(o.Ahead, 1)
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	type lane struct {
		results chan R
		err     error // set before results is closed
	}
	lanes := make([]lane, len(items))
	for i := range lanes {
		lanes[i].results = make(chan R, o.Ahead)
	}
	slots := make(chan struct{}, o.Parallel) // taken when a producer starts, freed once its item is done
	g.Go(func() error {
		for i, it := range items {
			select {
			case slots <- struct{}{}:
			case <-gctx.Done():
				return nil
			}
			l := &lanes[i]
			g.Go(func() error {
				defer close(l.results)
				l.err = produce(gctx, it, func(r R) error {
					select {
					case l.results <- r:
						return nil
					case <-gctx.Done():
						return context.Cause(gctx)
					}
				})
				return l.err
			})
		}
		return nil
	})
	var consumeErr error
	finished := 0
consume:
	for i, it := range items {
		l := &lanes[i]
		for {
			var r R
			var ok bool
			select {
			case r, ok = <-l.results:
			case <-gctx.Done():
				break consume // a producer failed, or ctx ended
			}
			if !ok {
				break
			}
			if consumeErr = deliver(it, r); consumeErr != nil {
				break consume
			}
		}
		if l.err != nil {
			break // g.Wait returns it
		}
		if consumeErr = done(it); consumeErr != nil {
			break
		}
		finished++
		<-slots
	}
	cancel()
	produceErr := g.Wait()
	switch {
	case consumeErr != nil:
		return consumeErr // producers it cancelled may have failed with ctx errors
	case produceErr != nil:
		return produceErr
	}
	if finished < len(items) {
		return context.Cause(parent) // the caller's context ended
	}
	return nil
}

// OrderedMap applies work to each item feed emits, on up to parallel goroutines
// at once, and hands the results to deliver on the calling goroutine, in
// the order feed emitted the items. A worker is named by its number, below
// parallel, so that each can keep state of its own (a decoder). At most
// about 2×parallel items are emitted and not yet delivered, whatever their
// size: feed waits for deliver.
//
// The first error, from feed, work or deliver, cancels the rest and is
// returned; the results that were worked out but will not be delivered go
// to drop (so that their memory is released).
func OrderedMap[T, R any](ctx context.Context, parallel int,
	feed func(ctx context.Context, emit func(T) error) error,
	work func(ctx context.Context, worker int, item T) (R, error),
	deliver func(R) error, drop func(R)) error {
	parallel = max(parallel, 1)
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	type job struct {
		item T
		r    R
		err  error
		done chan struct{} // closed once r and err are set
	}
	order := make(chan *job, parallel) // in feed's order: what deliver waits for
	todo := make(chan *job)            // what the workers take
	g.Go(func() error {
		defer close(order)
		defer close(todo)
		return feed(gctx, func(it T) error {
			j := &job{item: it, done: make(chan struct{})}
			for _, ch := range []chan *job{order, todo} {
				select {
				case ch <- j:
				case <-gctx.Done():
					return context.Cause(gctx)
				}
			}
			return nil
		})
	})
	for w := range parallel {
		g.Go(func() error {
			for j := range todo {
				j.r, j.err = work(gctx, w, j.item)
				close(j.done)
				if j.err != nil {
					return j.err
				}
			}
			return nil
		})
	}
	var deliverErr error
	var left []*job // taken from order, not delivered
	stopped := false
	for j := range order {
		if !stopped {
			select {
			case <-j.done:
			case <-gctx.Done():
				stopped = true
			}
		}
		if stopped || j.err != nil { // g.Wait returns a worker's error
			stopped = true
			left = append(left, j)
			continue
		}
		if deliverErr = deliver(j.r); deliverErr != nil {
			stopped = true
			cancel()
		}
	}
	cancel()
	workErr := g.Wait()
	for _, j := range left {
		select {
		case <-j.done:
			if j.err == nil {
				drop(j.r)
			}
		default: // never taken by a worker
		}
	}
	switch {
	case deliverErr != nil:
		return deliverErr
	case workErr != nil:
		return workErr
	}
	return context.Cause(parent)
}
