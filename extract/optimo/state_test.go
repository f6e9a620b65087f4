package optimo

import (
	"context"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/athlake/athlake/extract/internal/stream"
	"github.com/athlake/athlake/pipeline"
	sbo "github.com/athlake/athlake/sandbox/optimo"
	"github.com/athlake/athlake/schemas"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestStateFormat pins the states a list writes, resuming from a state in
// the format of before (no started_at, rows or edge): it reads its last
// page again, then goes on, and the watermark is the newest stamp (no
// start to bound it); as the pass was resumed, a pass from the watermark
// follows at once (page 1 with updated_from).
func TestStateFormat(t *testing.T) {
	ctx := context.Background()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sb := sbo.New(sbo.Options{Seed: 9, AdminToken: "tok", RecordCalls: true})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	b, _ := NewBudget(ctx, &memQuota{}, sb.Zone(), 100, nil)
	c, err := New(Options{BaseURL: srv.URL + sbo.Endpoint, Token: "tok", Budget: b})
	if err != nil {
		t.Fatal(err)
	}
	src := NewSource(c, SourceOptions{Options: stream.Options{Registry: schemas.All(), Mem: mem}, Zone: sb.Zone()})
	st := &list{src: src, method: "workout.list", table: "workouts", incremental: true}
	old := `{"pass":{"pages_done":1,"max_updated_at":"2020-01-01T00:00:00Z"}}`
	var states []string
	err = st.Run(ctx, []byte(old), func(_ context.Context, b *pipeline.Batch) error {
		for _, r := range b.Records {
			r.Record.Release()
		}
		if b.State != nil {
			states = append(states, string(b.State))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var pages []string
	for _, call := range sb.Calls() {
		pages = append(pages, call.Args["page"])
	}
	if want := []string{"1", "2", "1"}; !slices.Equal(pages, want) {
		t.Errorf("pages %v, want %v (the last page of the old state again, then the next pass)", pages, want)
	}
	if _, ok := sb.Calls()[2].Args["updated_from"]; !ok {
		t.Error("the pass after the resumed one asks no updated_from")
	}
	got := strings.Join(states, "\n") + "\n"
	golden := filepath.Join("testdata", "states-resumed.golden")
	if *update {
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("states (-golden +got):\n%s", d)
	}
}
