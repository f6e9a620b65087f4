package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/sandbox"
)

// DemoOptions configure the demo.
type DemoOptions struct {
	Out   string // default ./athlake-demo
	Seed  int64
	Scale sandbox.Scale
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

// DemoTeamProQuery summarises the 10 Hz samples per player.
const DemoTeamProQuery = `SELECT p.first_name || ' ' || p.last_name AS player,
       count(DISTINCT s.player_session_id) AS sessions,
       round(count(*) / 600.0) AS minutes,
       round(max(s.speed) * 3.6, 1) AS top_kmh,
       max(s.hr)::INT AS max_hr
FROM teampro_samples s
JOIN teampro_player_sessions ps ON ps.id = s.player_session_id
JOIN teampro_players p ON p.player_id = ps.player_id
GROUP BY ALL
ORDER BY minutes DESC
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

	cfg := SandboxConfig(base, out)
	if err := cfg.Validate(); err != nil {
		return err
	}
	// The sandbox is new on every run, so is its OAuth2 server: authorize
	// through the real flow, with an HTTP client as the "browser" that
	// approves and follows the redirect to the loopback listener.
	quiet := *env
	quiet.Stdout, quiet.Stderr = io.Discard, io.Discard
	if err := AuthTeamPro(ctx, &quiet, cfg, AuthOptions{Open: FollowRedirects}); err != nil {
		return fmt.Errorf("authorizing Team Pro: %w", err)
	}
	env.Log.Info("authorized Team Pro through the sandbox's OAuth2 flow")
	if _, err := Run(ctx, env, cfg, RunOptions{Command: "demo"}); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "\nDuckDB views: %s\n", cfg.DuckDB)
	for _, q := range []string{DemoQuery, DemoTeamProQuery} {
		cols, rows, err := views.Query(ctx, cfg.DuckDB, q)
		if err != nil {
			return fmt.Errorf("sample query: %w", err)
		}
		fmt.Fprintf(env.Stdout, "\n%s\n\n", q)
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
		for _, r := range rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		tw.Flush()
	}
	fmt.Fprintf(env.Stdout, "\nOpen it from Python: duckdb.connect(%q, read_only=True).sql(\"SELECT * FROM plyomat_reps\")\n", cfg.DuckDB)
	return nil
}

// SandboxConfig is a configuration of every source against a sandbox at
// base, with the lake and token file under dir.
func SandboxConfig(base, dir string) *Config {
	return &Config{
		Output: filepath.Join(dir, "lake"),
		DuckDB: filepath.Join(dir, "athlake.duckdb"),
		Sources: Sources{
			Plyomat: &PlyomatConfig{BaseURL: base + sandbox.PlyomatPrefix, APIKey: Secret(sandbox.PlyomatKey)},
			Optimo: &OptimoConfig{BaseURL: base + sandbox.OptimoPath, Token: Secret(sandbox.OptimoAdminToken),
				Timezone: sandbox.OptimoTimezone},
			TeamPro: &TeamProConfig{
				BaseURL:  base + sandbox.TeamProPrefix,
				AuthURL:  base + sandbox.TeamProPrefix + "/oauth/authorize",
				TokenURL: base + sandbox.TeamProPrefix + "/oauth/token",
				ClientID: sandbox.TeamProClientID, ClientSecret: Secret(sandbox.TeamProClientSecret),
				TokenFile: filepath.Join(dir, "teampro-token.json"),
			},
		},
	}
}

// FollowRedirects plays a browser whose user approves at once: it opens the
// authorize URL and follows the redirects, which end at the loopback
// listener of the flow.
func FollowRedirects(ctx context.Context, authURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("authorization page answered %s", resp.Status)
	}
	return nil
}

// SandboxOptions configure `athlake sandbox`.
type SandboxOptions struct {
	Addr    string
	Seed    int64
	Scale   sandbox.Scale
	Latency time.Duration // added to every response
}

// Sandbox serves the simulated APIs until ctx is done.
func Sandbox(ctx context.Context, env *Env, o SandboxOptions) error {
	sb := sandbox.New(sandbox.Options{Seed: o.Seed, Scale: o.Scale, Latency: o.Latency})
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return &UsageError{Msg: fmt.Sprintf("--addr %s: %v", o.Addr, err)}
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	base := "http://" + ln.Addr().String()
	tp := base + sandbox.TeamProPrefix
	fmt.Fprintf(env.Stdout, "sandbox listening on %s\n", base)
	fmt.Fprintf(env.Stdout, "  plyomat  base_url: %s%s  api_key: %s\n", base, sandbox.PlyomatPrefix, sandbox.PlyomatKey)
	fmt.Fprintf(env.Stdout, "  teampro  base_url: %s  auth_url: %s/oauth/authorize  token_url: %s/oauth/token  client_id: %s  client_secret: %s\n",
		tp, tp, tp, sandbox.TeamProClientID, sandbox.TeamProClientSecret)
	fmt.Fprintf(env.Stdout, "  optimo   base_url: %s%s  token: %s (coach: %s)  timezone: %s\n",
		base, sandbox.OptimoPath, sandbox.OptimoAdminToken, sandbox.OptimoCoachToken, sandbox.OptimoTimezone)
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
