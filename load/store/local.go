package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// tmpPrefix marks files being written; readers and List ignore them.
const tmpPrefix = ".tmp-"

// Local is a Store on a local file system. Objects are written to a hidden
// temporary file in their final folder, synced, and renamed into place, so
// they appear whole or not at all.
type Local struct {
	root string
}

// NewLocal returns a store rooted at dir (made absolute).
func NewLocal(dir string) (*Local, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, err
	}
	return &Local{root: abs}, nil
}

// URL is the store's absolute root folder.
func (l *Local) URL() string { return l.root }

func (l *Local) path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return filepath.Join(l.root, filepath.FromSlash(key)), nil
}

type localWriter struct {
	f     *os.File
	final string
	done  bool
}

// Create starts an object.
func (l *Local) Create(_ context.Context, key string) (Writer, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(p), tmpPrefix+"*")
	if err != nil {
		return nil, err
	}
	return &localWriter{f: f, final: p}, nil
}

func (w *localWriter) Write(b []byte) (int, error) { return w.f.Write(b) }

func (w *localWriter) Commit() error {
	if w.done {
		return errors.New("store: object already committed or aborted")
	}
	w.done = true
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		return err
	}
	if err := w.f.Close(); err != nil {
		os.Remove(w.f.Name())
		return err
	}
	if err := os.Chmod(w.f.Name(), 0o644); err != nil {
		os.Remove(w.f.Name())
		return err
	}
	if err := os.Rename(w.f.Name(), w.final); err != nil {
		os.Remove(w.f.Name())
		return err
	}
	return syncDir(filepath.Dir(w.final))
}

func (w *localWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	return os.Remove(w.f.Name())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Get reads a whole object; its version is the SHA-256 of its content.
func (l *Local) Get(_ context.Context, key string) ([]byte, string, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, "", err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, "", err
	}
	return b, ContentVersion(b), nil
}

// ContentVersion is the version Local gives an object holding b: a digest
// of the content alone. A file kept outside a Store (Team Pro's token file)
// can use it for the same compare-and-swap.
func ContentVersion(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// Open streams an object.
func (l *Local) Open(_ context.Context, key string) (io.ReadCloser, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return f, err
}

// Put writes a small object atomically.
func (l *Local) Put(ctx context.Context, key string, data []byte) error {
	w, err := l.Create(ctx, key)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return err
	}
	return w.Commit()
}

// PutIf is a compare-and-swap, serialised between processes with flock(2) on
// a hidden sidecar file.
func (l *Local) PutIf(ctx context.Context, key string, data []byte, ifVersion string) (string, error) {
	var v string
	err := l.withKeyLock(key, func() error {
		if err := l.check(ctx, key, ifVersion); err != nil {
			return err
		}
		v = ContentVersion(data)
		return l.Put(ctx, key, data)
	})
	return v, err
}

func (l *Local) check(ctx context.Context, key, ifVersion string) error {
	_, cur, err := l.Get(ctx, key)
	switch {
	case errors.Is(err, ErrNotFound):
		if ifVersion != "" {
			return ErrConflict
		}
		return nil
	case err != nil:
		return err
	case cur != ifVersion:
		return ErrConflict
	}
	return nil
}

func (l *Local) withKeyLock(key string, fn func() error) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".cas"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return fn()
}

// Delete removes an object.
func (l *Local) Delete(_ context.Context, key string) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// AbortUnfinished removes the temporary files of writers killed before
// before, in the folder of prefix and below.
func (l *Local) AbortUnfinished(_ context.Context, prefix string, before time.Time) (int, error) {
	n := 0
	err := filepath.WalkDir(l.start(prefix), func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() || !strings.HasPrefix(d.Name(), tmpPrefix) {
			return err
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // committed or aborted meanwhile
		}
		if err != nil || !info.ModTime().Before(before) {
			return err
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		n++
		return nil
	})
	return n, err
}

// start is the folder holding every key with prefix.
func (l *Local) start(prefix string) string {
	if dir := prefix[:strings.LastIndex(prefix, "/")+1]; dir != "" {
		return filepath.Join(l.root, filepath.FromSlash(dir))
	}
	return l.root
}

// List walks the committed objects under prefix, skipping hidden files
// (temporary files, lock sidecars).
func (l *Local) List(_ context.Context, prefix string) ([]Object, error) {
	var out []Object
	err := filepath.WalkDir(l.start(prefix), func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		rel, err := filepath.Rel(l.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted while listing
		}
		if err != nil {
			return err
		}
		out = append(out, Object{Key: key, Size: info.Size(), ModTime: info.ModTime()})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, err
}
