// Package store is the lake's object storage: a flat key space of objects in
// which an object appears only once complete, plus compare-and-swap writes for
// state and locks.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// Store is an object store rooted at the lake's output.
type Store interface {
	// Create starts an object at key. Nothing is visible at key until Commit
	// returns; Abort (or a crash) leaves no trace a reader could see.
	Create(ctx context.Context, key string) (Writer, error)
	// Get reads a whole object with its version.
	Get(ctx context.Context, key string) ([]byte, string, error)
	// Open streams an object.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Put writes a small object atomically, replacing any previous one.
	Put(ctx context.Context, key string, data []byte) error
	// PutIf writes data only if the object's current version is ifVersion
	// (ifVersion "" means the object must not exist); it returns the new
	// version, or ErrConflict. Callers write data unique to the writer (a
	// lease with its expiry, a state with its time): a store may take
	// finding exactly data in place as its own earlier, retried write.
	PutIf(ctx context.Context, key string, data []byte, ifVersion string) (string, error)
	// Delete removes an object; a missing one is not an error.
	Delete(ctx context.Context, key string) error
	// List returns the committed objects whose keys start with prefix.
	List(ctx context.Context, prefix string) ([]Object, error)
	// AbortUnfinished removes what writers that never committed nor
	// aborted (killed processes) left behind under prefix, if started
	// before before: temporary files, multipart uploads. It returns how
	// many.
	AbortUnfinished(ctx context.Context, prefix string, before time.Time) (int, error)
	// URL locates the store for people and for readers such as DuckDB
	// (a local absolute path or an s3:// URL).
	URL() string
}

// Writer is an object being written.
type Writer interface {
	io.Writer
	Commit() error
	Abort() error
}

// Object describes a committed object.
type Object struct {
	Key     string
	Size    int64
	ModTime time.Time
}

var (
	// ErrNotFound is returned for a missing object.
	ErrNotFound = errors.New("object not found")
	// ErrConflict is returned when a conditional write loses.
	ErrConflict = errors.New("object changed concurrently")
)

// CheckKey rejects keys that are not clean relative slash paths, so that no
// key can reach outside the store's root.
func CheckKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || path.Clean(key) != key || key == "." ||
		strings.HasPrefix(key, "../") || key == ".." || strings.Contains(key, "\\") || strings.ContainsRune(key, 0) {
		return fmt.Errorf("store: bad key %q", key)
	}
	for _, part := range strings.Split(key, "/") {
		if part == ".." {
			return fmt.Errorf("store: bad key %q", key)
		}
	}
	return nil
}
