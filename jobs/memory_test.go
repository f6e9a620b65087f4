package jobs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/google/go-cmp/cmp"
)

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"268435456": 256 << 20, "256MiB": 256 << 20, "256 MiB": 256 << 20, "256Mi": 256 << 20, "1GiB": 1 << 30,
		"1gi": 1 << 30, "1.5GiB": 3 << 29, "512MB": 512e6, "2G": 2e9, "100KiB": 100 << 10, "4096B": 4096,
	} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1MiB", "12 parsecs", "1e3", "0x10", "99999999999TiB"} {
		if got, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) = %d, want an error", in, got)
		}
	}
}

// memory_limit sets the budget; without it GOMEMLIMIT does, else the
// default; a malformed or too small one is an error naming the key.
func TestMemoryLimitConfig(t *testing.T) {
	dir := t.TempDir()
	load := func(line string, env map[string]string) (*Config, error) {
		p := filepath.Join(dir, "athlake.yaml")
		if err := os.WriteFile(p, []byte("output: lake\n"+line), 0o600); err != nil {
			t.Fatal(err)
		}
		return LoadConfig(p, func(k string) string { return env[k] })
	}
	for _, c := range []struct {
		line string
		env  map[string]string
		want int64
	}{
		{"", nil, DefaultMemoryLimit},
		{"memory_limit: 512MiB\n", nil, 512 << 20},
		{"memory_limit: 1Gi\n", map[string]string{"GOMEMLIMIT": "300MiB"}, 1 << 30},
		{"", map[string]string{"GOMEMLIMIT": "300MiB"}, 300 << 20},
		{"", map[string]string{"GOMEMLIMIT": "off"}, DefaultMemoryLimit},
		{"", map[string]string{"GOMEMLIMIT": "1MiB"}, minMemoryLimit}, // the runtime's own limit, raised to the least that works
	} {
		cfg, err := load(c.line, c.env)
		if err != nil {
			t.Errorf("%q %v: %v", c.line, c.env, err)
			continue
		}
		if got := cfg.Memory().Limit; got != c.want {
			t.Errorf("%q %v: budget %d, want %d", c.line, c.env, got, c.want)
		}
	}
	for _, line := range []string{"memory_limit: lots\n", "memory_limit: 10MiB\n", "memory_limit: -1GiB\n"} {
		_, err := load(line, nil)
		if ce, ok := err.(*ConfigError); !ok || ce.Key != "memory_limit" {
			t.Errorf("%q: error %v, want a ConfigError naming memory_limit", line, err)
		}
		if ExitCode(err) != ExitUsage {
			t.Errorf("%q: exit code %d, want %d", line, ExitCode(err), ExitUsage)
		}
	}
}

// The settings derived from a budget: Go's limit below it, what streams
// buffer a quarter of Go's limit, DuckDB the budget less what is beside
// it (the views build at least 256MiB); fewer streams at once on a small
// budget.
func TestMemoryFor(t *testing.T) {
	for _, c := range []struct {
		limit int64
		want  Memory
	}{
		{256 << 20, Memory{Limit: 256 << 20, GoLimit: 208 << 20, Parallel: 4, CommitBytes: 13 << 20, DuckDBThreads: runtime.GOMAXPROCS(0), DuckDB: 104 << 20, Views: 256 << 20}},
		{1 << 30, Memory{Limit: 1 << 30, GoLimit: 976 << 20, Parallel: 4, CommitBytes: 61 << 20, DuckDBThreads: runtime.GOMAXPROCS(0), DuckDB: 872 << 20, Views: 872 << 20}},
		{128 << 20, Memory{Limit: 128 << 20, GoLimit: 80 << 20, Parallel: 1, CommitBytes: 20 << 20, DuckDBThreads: runtime.GOMAXPROCS(0), DuckDB: 64 << 20, Views: 256 << 20}},
		{1, Memory{Limit: minMemoryLimit, GoLimit: 48 << 20, Parallel: 1, CommitBytes: 12 << 20, DuckDBThreads: runtime.GOMAXPROCS(0), DuckDB: 64 << 20, Views: 256 << 20}},
	} {
		if d := cmp.Diff(c.want, MemoryFor(c.limit)); d != "" {
			t.Errorf("MemoryFor(%d) (-want +got):\n%s", c.limit, d)
		}
	}
	if m := MemoryFor(256 << 20); int64(m.Parallel)*m.CommitBytes > m.GoLimit/4 || m.GoLimit >= m.Limit {
		t.Errorf("%+v: the parts exceed the budget", m)
	}
	// DuckDB's threads follow GOMAXPROCS (a container's CPU limit), not
	// the machine's cores. (No parallel test runs yet: this one is not.)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	if m := MemoryFor(256 << 20); m.DuckDBThreads != 1 {
		t.Errorf("GOMAXPROCS 1: DuckDB threads %d", m.DuckDBThreads)
	}
}

// A DuckDB phase that runs out of its share of the budget runs once more
// with duckDBRetryLimit; any other error is returned as it is.
func TestWithDuckDBMemory(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	var limits []int64
	err := withDuckDBMemory(log, "test", 104<<20, func(limit int64) error {
		limits = append(limits, limit)
		if limit < 512<<20 {
			return fmt.Errorf("compacting: %w", &duckdb.Error{Type: duckdb.ErrorTypeOutOfMemory, Msg: "Out of Memory Error: could not allocate block of size 256.0 KiB (104.0 MiB/104.0 MiB used)"})
		}
		return nil
	})
	if err != nil || !slices.Equal(limits, []int64{104 << 20, 512 << 20}) {
		t.Errorf("limits tried %v, err %v; want 104MiB then 512MiB, nil", limits, err)
	}
	limits = nil
	// Only DuckDB's own out-of-memory error, not one that says so.
	other := errors.New("IO Error: no such file (not an Out of Memory Error)")
	if err := withDuckDBMemory(log, "test", 104<<20, func(limit int64) error { limits = append(limits, limit); return other }); err != other || len(limits) != 1 {
		t.Errorf("another error: tried %v, got %v", limits, err)
	}
}
