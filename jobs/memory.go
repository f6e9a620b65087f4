package jobs

import (
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"strconv"
	"strings"

	"github.com/athlake/athlake/load/views"
)

// DefaultMemoryLimit is the memory budget of a run when neither
// memory_limit nor GOMEMLIMIT sets one.
const DefaultMemoryLimit = 256 << 20

// minMemoryLimit is the smallest budget accepted: below it the program
// itself (its code, DuckDB's, the runtime) leaves nothing to work with.
const minMemoryLimit = 96 << 20

// memoryReserve is what a budget keeps for what no setting bounds: the
// program's code and data pages (athlake with DuckDB linked in), thread
// stacks, C allocations outside DuckDB's buffer manager.
const memoryReserve = 48 << 20

// Memory is what a run may use, all derived from one budget: the peak
// resident memory it aims to stay within (memory_limit, a pod's limit).
type Memory struct {
	// Limit is the budget, in bytes.
	Limit int64
	// GoLimit is Go's soft memory limit (debug.SetMemoryLimit): the
	// budget less the reserve. The collector works harder near it instead
	// of letting the heap grow to twice what is live.
	GoLimit int64
	// Parallel is how many streams run at once.
	Parallel int
	// CommitBytes is how much a stream buffers before it commits. A
	// stream's buffer is held twice while its Parquet files are written,
	// and the collector needs room beside what is live: the streams
	// running at once together buffer a quarter of GoLimit.
	CommitBytes int64
	// DuckDBThreads is DuckDB's threads in compactions and the views
	// build: GOMAXPROCS, which follows a container's CPU limit, where
	// DuckDB's own default is every core of the machine. Each thread holds
	// buffers of its own beyond memory_limit (a Parquet row group it
	// writes, the file pages it reads): a pod limited to one CPU on a
	// 32-core node would otherwise run 32.
	DuckDBThreads int
	// DuckDB is DuckDB's memory_limit in compactions and the views build,
	// which run after the streams: the budget less duckDBBeside, never
	// under minDuckDB. Beyond it DuckDB spills to disk.
	DuckDB int64
	// Views is DuckDB's memory_limit for the views build, at the end of
	// every run: as DuckDB, but never under minViews.
	Views int64
}

// MemoryFor derives a run's settings from a budget in bytes.
func MemoryFor(limit int64) Memory {
	limit = max(limit, minMemoryLimit)
	m := Memory{Limit: limit, GoLimit: limit - memoryReserve}
	m.Parallel = int(min(max(m.GoLimit/(48<<20), 1), 4))
	m.CommitBytes = m.GoLimit / 4 / int64(m.Parallel)
	m.DuckDBThreads = runtime.GOMAXPROCS(0)
	m.DuckDB = max(limit-duckDBBeside, minDuckDB)
	m.Views = max(m.DuckDB, minViews)
	return m
}

// minDuckDB is the least memory_limit DuckDB gets, for the smallest
// budgets.
const minDuckDB = 64 << 20

// minViews is the least memory_limit of the views build: with less, the
// update at the end of a daily sync slows. A 60-day season at 104MiB
// against 256MiB, the two side by side: the median update 1.15–1.17×
// slower, a day's sync 1.3×, a database built afresh 1.2–1.5×. It is the
// peak of a large account's sync (Plyomat large: ~375MiB at a 256MiB
// budget, ~255MiB with the views build at 104MiB).
const minViews = 256 << 20

// duckDBBeside is what a DuckDB phase (a compaction, the views build)
// leaves of the budget beside DuckDB's memory_limit: the program's
// resident code and data once the streams' heap is handed back (athlake
// with DuckDB linked in: 70–115MiB measured at the start of these phases),
// and what DuckDB holds beyond its limit (its threads' buffers, the
// Parquet files' readers and writers: 40–76MiB measured, most in a Team
// Pro compaction). At 256MiB DuckDB gets 104MiB.
const duckDBBeside = 152 << 20

// duckDBRetryLimit is the memory_limit a DuckDB phase (a compaction, the
// views build) gets again when it ran out of the budget's share: at least
// four times that share, and 512MiB. A sync that exceeds its budget for a
// moment beats one that fails.
func duckDBRetryLimit(limit int64) int64 { return max(4*limit, 512<<20) }

// withDuckDBMemory runs a DuckDB phase with limit as DuckDB's
// memory_limit, and once more with duckDBRetryLimit if DuckDB ran out of
// it (with the budget's share, sandbox medium compacts a day of Team Pro
// samples and builds its views).
func withDuckDBMemory(log *slog.Logger, what string, limit int64, run func(limit int64) error) error {
	err := run(limit)
	if !views.OutOfMemory(err) {
		return err
	}
	more := duckDBRetryLimit(max(limit, 1))
	log.Warn("DuckDB ran out of its share of memory_limit; running again with more", "what", what, "duckdb_memory_limit", limit, "again_with", more, "err", err.Error())
	return run(more)
}

// Memory is the run's memory settings: from memory_limit, else GOMEMLIMIT
// (read by LoadConfig), else DefaultMemoryLimit.
func (c *Config) Memory() Memory {
	if c.memory > 0 {
		return MemoryFor(c.memory)
	}
	return MemoryFor(DefaultMemoryLimit)
}

// ParseBytes reads a size: a number of bytes, optionally with a unit, in
// the spellings of GOMEMLIMIT (KiB, MiB, GiB, TiB), Kubernetes (Ki, Mi, Gi,
// Ti; K, M, G, T) and DuckDB (KB, MB, GB, TB, powers of 1000). Units are not
// case-sensitive; a space may come before them.
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	}
	mult, ok := map[string]float64{
		"": 1, "b": 1,
		"kib": 1 << 10, "ki": 1 << 10, "mib": 1 << 20, "mi": 1 << 20, "gib": 1 << 30, "gi": 1 << 30, "tib": 1 << 40, "ti": 1 << 40,
		"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
	}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || num == "" || v < 0 || v*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("%q: want a size such as 512MiB, 1Gi or 2GB", s)
	}
	return int64(v * mult), nil
}

// validateMemory reads memory_limit.
func (c *Config) validateMemory() error {
	if c.MemoryLimit == "" {
		return nil
	}
	n, err := ParseBytes(c.MemoryLimit)
	if err != nil {
		return &ConfigError{Key: "memory_limit", Msg: err.Error()}
	}
	if n < minMemoryLimit {
		return &ConfigError{Key: "memory_limit", Msg: fmt.Sprintf("%q: at least %dMiB", c.MemoryLimit, minMemoryLimit>>20)}
	}
	c.memory = n
	return nil
}
