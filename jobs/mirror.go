package jobs

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store"
)

// MirrorOptions configure `athlake mirror`.
type MirrorOptions struct {
	To string // local folder
	// Parallel bounds the objects copied at once (default 8).
	Parallel int
}

// MirrorStats is what a mirror did.
type MirrorStats struct {
	Copied, Unchanged, Deleted int
	Bytes                      int64
}

// Mirror copies the committed lake (tables, raw responses, rejects, commit
// markers, run summaries) to a local folder. Objects are compared by size
// and modification time, so only what changed is transferred; local copies
// of objects gone from the lake are deleted. Uncommitted files of a running
// or killed sync are not copied, nor is _state/ (the lock, cursors and
// quotas belong to the output), nor files at the top of the folder (such as
// a views database built over the copy).
func Mirror(ctx context.Context, env *Env, cfg *Config, o MirrorOptions) (*MirrorStats, error) {
	if o.To == "" {
		return nil, &UsageError{Msg: "--to: required (the local folder to mirror into)"}
	}
	if strings.Contains(o.To, "://") {
		return nil, &UsageError{Msg: "--to: want a local folder"}
	}
	src, err := openStore(ctx, env, cfg)
	if err != nil {
		return nil, err
	}
	dst, err := store.NewLocal(o.To)
	if err != nil {
		return nil, &UsageError{Msg: fmt.Sprintf("--to: %v", err)}
	}
	if !cfg.IsS3() && filepath.Clean(src.URL()) == filepath.Clean(dst.URL()) {
		return nil, &UsageError{Msg: "--to: that is the output itself"}
	}
	c, err := load.ListCommitted(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", src.URL(), err)
	}
	have, err := dst.List(ctx, "")
	if err != nil {
		return nil, err
	}
	local := map[string]store.Object{}
	for _, obj := range have {
		if mirrored(obj.Key) {
			local[obj.Key] = obj
		}
	}

	st := &MirrorStats{}
	var copied, bytes atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(o.Parallel, 8))
	for _, obj := range c.Objects {
		if !mirrored(obj.Key) {
			continue
		}
		l, ok := local[obj.Key]
		delete(local, obj.Key)
		if ok && l.Size == obj.Size && l.ModTime.Equal(obj.ModTime) {
			st.Unchanged++
			continue
		}
		g.Go(func() error {
			n, err := copyObject(gctx, src, dst, obj)
			if err != nil {
				return fmt.Errorf("copying %s: %w", obj.Key, err)
			}
			copied.Add(1)
			bytes.Add(n)
			return nil
		})
	}
	err = g.Wait()
	st.Copied, st.Bytes = int(copied.Load()), bytes.Load()
	if err != nil {
		return st, err
	}
	for key := range local {
		if err := dst.Delete(ctx, key); err != nil {
			return st, err
		}
		st.Deleted++
	}
	fmt.Fprintf(env.Stdout, "mirrored %s to %s: %d objects copied (%d bytes), %d unchanged, %d deleted\n",
		src.URL(), dst.URL(), st.Copied, st.Bytes, st.Unchanged, st.Deleted)
	return st, nil
}

// mirrored reports whether a key is part of what a mirror copies.
func mirrored(key string) bool {
	return strings.Contains(key, "/") && !strings.HasPrefix(key, load.StateDir+"/")
}

// copyObject streams one object into the local store and gives the copy the
// object's modification time, which the next mirror compares.
func copyObject(ctx context.Context, src store.Store, dst *store.Local, obj store.Object) (int64, error) {
	r, err := src.Open(ctx, obj.Key)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	w, err := dst.Create(ctx, obj.Key)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(w, r)
	if err != nil {
		w.Abort()
		return n, err
	}
	if n != obj.Size {
		w.Abort()
		return n, fmt.Errorf("read %d bytes, the listing said %d", n, obj.Size)
	}
	if err := w.Commit(); err != nil {
		return n, err
	}
	p := filepath.Join(dst.URL(), filepath.FromSlash(obj.Key))
	return n, os.Chtimes(p, obj.ModTime, obj.ModTime)
}
