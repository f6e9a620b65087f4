package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store"
)

// MirrorOptions configure `athlake mirror`.
type MirrorOptions struct {
	To string // local folder
	// Parallel bounds the objects copied at once (default 8).
	Parallel int

	copy func(ctx context.Context, src store.Store, dst store.Store, obj store.Object) (int64, error) // tests cut mirrors short
}

// MirrorStats is what a mirror did.
type MirrorStats struct {
	Copied, Unchanged, Deleted int
	Bytes                      int64
}

// mirrorManifest, in the mirror's folder, records what the mirror copied
// and from where: it is how the next mirror knows what changed, and the
// only files a mirror ever deletes are those it lists.
const mirrorManifest = ".athlake-mirror.json"

type manifest struct {
	Source  string                   `json:"source"`
	Objects map[string]manifestEntry `json:"objects"`
}

type manifestEntry struct {
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
}

// Mirror copies the committed lake (tables, raw responses, rejects, commit
// markers, run summaries) to a local folder. An object is copied when its
// size or modification time in the lake differs from the last mirror's, or
// its copy is missing; copies of objects gone from the lake are deleted.
// Data files are copied before the commit markers that make them part of
// the lake, so a mirror killed half-way never shows a commit without its
// files. Uncommitted files of a running or killed sync are not copied, nor
// is _state/ (the lock, cursors and quotas belong to the output).
func Mirror(ctx context.Context, env *Env, cfg *Config, o MirrorOptions) (*MirrorStats, error) {
	if o.To == "" {
		return nil, &UsageError{Msg: "--to: required (the local folder to mirror into)"}
	}
	if strings.Contains(o.To, "://") {
		return nil, &UsageError{Msg: "--to: want a local folder"}
	}
	to, err := filepath.Abs(o.To)
	if err != nil {
		return nil, &UsageError{Msg: fmt.Sprintf("--to: %v", err)}
	}
	if !cfg.IsS3() {
		out, err := filepath.Abs(cfg.path(cfg.Output))
		if err == nil && (within(to, out) || within(out, to)) {
			return nil, &UsageError{Msg: fmt.Sprintf("--to %s: overlaps the output %s", to, out)}
		}
	}
	src, err := openStore(ctx, env, cfg)
	if err != nil {
		return nil, err
	}
	dst, err := store.NewLocal(to)
	if err != nil {
		return nil, &UsageError{Msg: fmt.Sprintf("--to: %v", err)}
	}
	prev, err := readManifest(ctx, dst, src.URL())
	if err != nil {
		return nil, err
	}
	reg := tables()
	c, err := load.ListCommitted(ctx, src, reg)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", src.URL(), err)
	}

	next := manifest{Source: src.URL(), Objects: map[string]manifestEntry{}}
	var data, markers []store.Object
	st := &MirrorStats{}
	for _, obj := range c.Objects {
		if strings.HasPrefix(obj.Key, load.StateDir+"/") {
			continue
		}
		e := manifestEntry{Size: obj.Size, ModTime: obj.ModTime}
		next.Objects[obj.Key] = e
		if p, ok := prev.Objects[obj.Key]; ok && p.Size == e.Size && p.ModTime.Equal(e.ModTime) && hasFile(dst, obj.Key, obj.Size) {
			st.Unchanged++
			continue
		}
		if strings.HasPrefix(obj.Key, load.CommitsDir+"/") {
			markers = append(markers, obj)
		} else {
			data = append(data, obj)
		}
	}
	// Before copying, the record names every file this mirror may write
	// (unknown size: copied again unless this mirror finishes), so that a
	// mirror cut short is resumed, and what it wrote stays its own.
	pending := manifest{Source: next.Source, Objects: maps.Clone(prev.Objects)}
	for _, obj := range slices.Concat(data, markers) {
		pending.Objects[obj.Key] = manifestEntry{Size: -1}
	}
	if err := writeManifest(ctx, dst, pending); err != nil {
		return st, err
	}
	// Temporary files of a mirror killed mid-copy.
	if _, err := dst.AbortUnfinished(ctx, "", time.Now().Add(-time.Hour)); err != nil {
		return st, err
	}
	copyFn := o.copy
	if copyFn == nil {
		copyFn = copyObject
	}
	var copied, bytes atomic.Int64
	for _, batch := range [][]store.Object{data, markers} {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(cmp.Or(o.Parallel, 8))
		for _, obj := range batch {
			g.Go(func() error {
				n, err := copyFn(gctx, src, dst, obj)
				if err != nil {
					return fmt.Errorf("copying %s: %w", obj.Key, err)
				}
				copied.Add(1)
				bytes.Add(n)
				return nil
			})
		}
		err := g.Wait()
		st.Copied, st.Bytes = int(copied.Load()), bytes.Load()
		if err != nil {
			return st, err
		}
	}
	for key := range prev.Objects {
		if _, ok := next.Objects[key]; ok {
			continue
		}
		if err := dst.Delete(ctx, key); err != nil {
			return st, err
		}
		st.Deleted++
	}
	if err := writeManifest(ctx, dst, next); err != nil {
		return st, err
	}
	fmt.Fprintf(env.Stdout, "mirrored %s to %s: %d objects copied (%d bytes), %d unchanged, %d deleted\n",
		src.URL(), dst.URL(), st.Copied, st.Bytes, st.Unchanged, st.Deleted)
	return st, nil
}

// readManifest reads the last mirror's record. A folder without one must be
// empty: a mirror never writes over, nor deletes, files it did not copy.
func readManifest(ctx context.Context, dst *store.Local, source string) (manifest, error) {
	m := manifest{Objects: map[string]manifestEntry{}}
	b, _, err := dst.Get(ctx, mirrorManifest)
	if errors.Is(err, store.ErrNotFound) {
		if objs, err := dst.List(ctx, ""); err != nil || len(objs) > 0 {
			return m, &UsageError{Msg: fmt.Sprintf("--to %s: the folder is not empty and holds no mirror (%s); choose an empty folder", dst.URL(), mirrorManifest)}
		}
		return m, nil
	}
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%s: %w", filepath.Join(dst.URL(), mirrorManifest), err)
	}
	if m.Source != source {
		return m, &UsageError{Msg: fmt.Sprintf("--to %s: it mirrors %s, not %s", dst.URL(), m.Source, source)}
	}
	return m, nil
}

func writeManifest(ctx context.Context, dst *store.Local, m manifest) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return dst.Put(ctx, mirrorManifest, b)
}

// within reports whether path p is dir or inside it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func hasFile(dst *store.Local, key string, size int64) bool {
	info, err := os.Stat(filepath.Join(dst.URL(), filepath.FromSlash(key)))
	return err == nil && info.Size() == size
}

// copyObject streams one object into another store; a local copy keeps
// the object's modification time (views pick the newest snapshot by the
// time of its commit marker).
func copyObject(ctx context.Context, src, dst store.Store, obj store.Object) (int64, error) {
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
	if err == nil && n != obj.Size {
		err = fmt.Errorf("read %d bytes, the listing said %d", n, obj.Size)
	}
	if err != nil {
		w.Abort()
		return n, err
	}
	if err := w.Commit(); err != nil {
		return n, err
	}
	if _, ok := dst.(*store.Local); !ok {
		return n, nil
	}
	p := filepath.Join(dst.URL(), filepath.FromSlash(obj.Key))
	return n, os.Chtimes(p, obj.ModTime, obj.ModTime)
}
