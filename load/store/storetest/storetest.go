// Package storetest is the conformance suite every store.Store passes.
package storetest

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/athlake/athlake/load/store"
)

// Run checks the Store contract on a fresh, empty store from newStore.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	t.Run("CommitMakesVisible", func(t *testing.T) {
		s := newStore(t)
		w := uncommitted(t, s, "a/b/c.parquet", "hello")
		if objs, _ := s.List(ctx, "a/"); len(objs) != 0 {
			t.Fatalf("uncommitted object listed: %v", objs)
		}
		if _, _, err := s.Get(ctx, "a/b/c.parquet"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("uncommitted object readable: %v", err)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		got, _, err := s.Get(ctx, "a/b/c.parquet")
		if err != nil || string(got) != "hello" {
			t.Fatalf("Get = %q, %v", got, err)
		}
		objs, err := s.List(ctx, "a/")
		if err != nil || len(objs) != 1 || objs[0].Key != "a/b/c.parquet" || objs[0].Size != 5 {
			t.Fatalf("List = %+v, %v", objs, err)
		}
	})
	t.Run("AbortLeavesNothing", func(t *testing.T) {
		s := newStore(t)
		w := uncommitted(t, s, "x/y.bin", "partial")
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
		if objs, _ := s.List(ctx, ""); len(objs) != 0 {
			t.Fatalf("aborted object listed: %v", objs)
		}
	})
	t.Run("ListPrefix", func(t *testing.T) {
		s := newStore(t)
		for _, k := range []string{"p/t1/a", "p/t10/b", "p/t2/c", "q/d"} {
			if err := s.Put(ctx, k, []byte(k)); err != nil {
				t.Fatal(err)
			}
		}
		objs, err := s.List(ctx, "p/t1/")
		if err != nil || len(objs) != 1 || objs[0].Key != "p/t1/a" {
			t.Fatalf("List(p/t1/) = %+v, %v", objs, err)
		}
		if objs, _ := s.List(ctx, "p/"); len(objs) != 3 {
			t.Fatalf("List(p/) = %+v", objs)
		}
	})
	t.Run("PutIf", func(t *testing.T) {
		s := newStore(t)
		v1, err := s.PutIf(ctx, "lock", []byte("one"), "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutIf(ctx, "lock", []byte("two"), ""); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("create over existing: %v, want ErrConflict", err)
		}
		if _, err := s.PutIf(ctx, "lock", []byte("two"), "stale"); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("update with wrong version: %v, want ErrConflict", err)
		}
		v2, err := s.PutIf(ctx, "lock", []byte("two"), v1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutIf(ctx, "lock", []byte("three"), v1); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("update with an old version: %v", err)
		}
		if got, v, err := s.Get(ctx, "lock"); err != nil || string(got) != "two" || v != v2 {
			t.Fatalf("Get = %q, %q, %v; want two at %q", got, v, err, v2)
		}
	})
	t.Run("AbortUnfinished", func(t *testing.T) {
		s := newStore(t)
		if err := s.Put(ctx, "keep/a", []byte("a")); err != nil {
			t.Fatal(err)
		}
		uncommitted(t, s, "keep/b", string(make([]byte, 1000))) // a killed writer never commits nor aborts
		if _, err := s.AbortUnfinished(ctx, "keep/", time.Now().Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AbortUnfinished(ctx, "keep/", time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if n, err := s.AbortUnfinished(ctx, "keep/", time.Now().Add(time.Minute)); err != nil || n != 0 {
			t.Fatalf("second AbortUnfinished = %d, %v; want nothing left", n, err)
		}
		objs, err := s.List(ctx, "keep/")
		if err != nil || len(objs) != 1 || objs[0].Key != "keep/a" {
			t.Fatalf("List = %+v, %v; want the committed object only", objs, err)
		}
	})
	t.Run("BadKeys", func(t *testing.T) {
		s := newStore(t)
		for _, k := range []string{"../x", "a/../../x", "/abs", "", "a//b"} {
			if err := s.Put(ctx, k, nil); err == nil {
				t.Errorf("Put(%q) accepted", k)
			}
		}
	})
}

// uncommitted starts key in s and writes data to it, neither committing nor
// aborting.
func uncommitted(t *testing.T, s store.Store, key, data string) store.Writer {
	t.Helper()
	w, err := s.Create(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, data)
	return w
}

// NewLocal returns a local store in dir, ending the test if it cannot.
func NewLocal(t testing.TB, dir string) *store.Local {
	t.Helper()
	s, err := store.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
