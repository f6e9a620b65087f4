package jobs

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/athlake/athlake/pipeline"
)

// progress keeps one status line on a terminal up to date with the rows each
// stream has committed. It is silent when Env.Progress is false.
type progress struct {
	env  *Env
	mu   sync.Mutex
	rows map[string]int64
	last time.Time
	on   bool
}

func newProgress(env *Env) *progress {
	return &progress{env: env, rows: map[string]int64{}, on: env.Progress}
}

func (p *progress) committed(source, stream string, st pipeline.CommitStats) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range st.Rows {
		p.rows[source+"/"+stream] += n
	}
	if time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	var parts []string
	var total int64
	for _, k := range slices.Sorted(maps.Keys(p.rows)) {
		total += p.rows[k]
		parts = append(parts, fmt.Sprintf("%s %d", k, p.rows[k]))
	}
	line := fmt.Sprintf("%d rows committed: %s", total, strings.Join(parts, ", "))
	if len(line) > 150 {
		line = line[:149] + "…"
	}
	fmt.Fprintf(p.env.Stderr, "\r\033[K%s", line)
}

func (p *progress) done() {
	if p.on {
		fmt.Fprint(p.env.Stderr, "\r\033[K")
	}
}
