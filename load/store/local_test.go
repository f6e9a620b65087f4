package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/load/store/storetest"
)

func TestLocal(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return storetest.NewLocal(t, t.TempDir()) })
}

// A killed writer's temporary file is removed once old enough.
func TestLocalAbortUnfinished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := storetest.NewLocal(t, dir)
	w, _ := s.Create(ctx, "a/b.parquet")
	w.Write([]byte("half"))
	tmps := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "a", ".tmp-*"))
		return m
	}
	if len(tmps()) != 1 {
		t.Fatalf("temporary files: %v", tmps())
	}
	if n, err := s.AbortUnfinished(ctx, "", time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("young temporary file removed: %d, %v", n, err)
	}
	if n, err := s.AbortUnfinished(ctx, "", time.Now().Add(time.Minute)); err != nil || n != 1 || len(tmps()) != 0 {
		t.Fatalf("AbortUnfinished = %d, %v; left %v", n, err, tmps())
	}
}
