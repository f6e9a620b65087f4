package jobs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/sandbox"
	sbplyomat "github.com/athlake/athlake/sandbox/plyomat"
)

// DemoOptions configure the demo.
type DemoOptions struct {
	Out   string // default ./athlake-demo
	Seed  int64
	Scale sbplyomat.Scale
}

// DemoQuery is the sample query the demo prints: each athlete's best kept
// jump.
const DemoQuery = `SELECT a.first_name || ' ' || a.last_name AS athlete,
       count(*) AS jumps,
       round(max(r.jump_height_cm), 1) AS best_jump_cm,
       round(avg(r.rsi), 2) AS mean_rsi
FROM plyomat_reps r
JOIN plyomat_sets s ON s.id = r.set_id
JOIN plyomat_athletes a ON a.id = s.athlete_id
WHERE r.is_kept
GROUP BY ALL
ORDER BY best_jump_cm DESC
LIMIT 5`

// Demo starts the sandbox APIs in-process on a loopback port, syncs
// everything into Out, builds the views and prints a sample query.
func Demo(ctx context.Context, env *Env, o DemoOptions) error {
	if o.Out == "" {
		o.Out = "athlake-demo"
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return err
	}
	sb := sandbox.New(sandbox.Options{Seed: o.Seed, Scale: o.Scale})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("starting the sandbox: %w", err)
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		srv.Close()
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			env.Log.Warn("sandbox server", "err", err)
		}
	}()
	base := "http://" + ln.Addr().String()
	env.Log.Info("sandbox started", "url", base)

	cfg := &Config{
		Output: filepath.Join(out, "lake"),
		DuckDB: filepath.Join(out, "athlake.duckdb"),
		Sources: Sources{
			Plyomat: &PlyomatConfig{BaseURL: base + sandbox.PlyomatPrefix, APIKey: Secret(sandbox.PlyomatKey)},
		},
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if _, err := Run(ctx, env, cfg, RunOptions{Command: "demo"}); err != nil {
		return err
	}
	cols, rows, err := views.Query(ctx, cfg.DuckDB, DemoQuery)
	if err != nil {
		return fmt.Errorf("sample query: %w", err)
	}
	fmt.Fprintf(env.Stdout, "\nDuckDB views: %s\n\n%s\n\n", cfg.DuckDB, DemoQuery)
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
	fmt.Fprintf(env.Stdout, "\nOpen it from Python: duckdb.connect(%q, read_only=True).sql(\"SELECT * FROM plyomat_reps\")\n", cfg.DuckDB)
	return nil
}

// SandboxOptions configure `athlake sandbox`.
type SandboxOptions struct {
	Addr  string
	Seed  int64
	Scale sbplyomat.Scale
}

// Sandbox serves the simulated APIs until ctx is done.
func Sandbox(ctx context.Context, env *Env, o SandboxOptions) error {
	sb := sandbox.New(sandbox.Options{Seed: o.Seed, Scale: o.Scale})
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return &UsageError{Msg: fmt.Sprintf("--addr %s: %v", o.Addr, err)}
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(env.Stdout, "sandbox listening on %s\n  plyomat  base_url: %s%s  api_key: %s\n",
		base, base, sandbox.PlyomatPrefix, sandbox.PlyomatKey)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	<-served
	return nil
}
