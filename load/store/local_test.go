package store_test

import (
	"testing"

	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/load/store/storetest"
)

func TestLocal(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
