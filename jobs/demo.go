package jobs

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/extract/plyomat"
	"github.com/athlake/athlake/extract/plyomat/webhook"
	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/sandbox"
	sbp "github.com/athlake/athlake/sandbox/plyomat"
)

// DemoOptions configure the demo.
type DemoOptions struct {
	Out   string // default ./athlake-demo
	Seed  int64
	Scale sandbox.Scale
}

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
	if ply, ok := cfg.Sources[plyomat.SourceName].(*plyomat.Config); ok {
		ply.WebhookSecret = sandbox.PlyomatWebhookSecret
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := authorizeSandbox(ctx, env, cfg); err != nil {
		return err
	}
	if _, err := Run(ctx, env, cfg, RunOptions{Command: "demo"}); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "\nDuckDB views: %s\n", cfg.DuckDB)
	for _, c := range registry {
		q := c.DemoQuery
		if q == "" {
			continue
		}
		if err := printQuery(ctx, env.Stdout, cfg.DuckDB, q); err != nil {
			return fmt.Errorf("sample query: %w", err)
		}
	}
	if err := demoPeople(ctx, env, cfg); err != nil {
		return fmt.Errorf("people: %w", err)
	}
	if err := demoWebhooks(ctx, env, cfg, sb.Plyomat); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	fmt.Fprintf(env.Stdout, "\nOpen it from Python: duckdb.connect(%q, read_only=True).sql(\"SHOW TABLES\")\n", cfg.DuckDB)
	return nil
}

// demoAccept is the confidence from which the demo accepts suggested links:
// a name unique on both sides and above.
const demoAccept = 0.8

// demoPeople shows one person across vendors: `athlake people suggest`,
// the suggestions the demo accepts on the user's behalf written to
// people.csv (in real use, the user reviews them), and the views with the
// links.
func demoPeople(ctx context.Context, env *Env, cfg *Config) error {
	fmt.Fprintf(env.Stdout, "\nathlake people suggest (one person on several vendors):\n\n")
	got, err := SuggestPeople(ctx, env, cfg, SuggestOptions{})
	if err != nil {
		return err
	}
	mapping := filepath.Join(filepath.Dir(cfg.DuckDB), "people.csv")
	var b strings.Builder
	b.WriteString("# the links of athlake_people, accepted by the demo from athlake people suggest\n")
	w := csv.NewWriter(&b)
	w.Write([]string{"person_id", "source", "athlete_id", "reason"})
	for _, s := range got {
		if s.Confidence >= demoAccept {
			w.Write([]string{s.PersonID, s.Source, s.AthleteID, s.Reason})
		}
	}
	if w.Flush(); w.Error() != nil {
		return w.Error()
	}
	if err := os.WriteFile(mapping, []byte(b.String()), 0o644); err != nil {
		return err
	}
	cfg.People.Mapping = mapping
	if err := cfg.Validate(); err != nil {
		return err
	}
	st, err := openStore(ctx, env, cfg)
	if err != nil {
		return err
	}
	if _, err := buildViews(ctx, cfg, st, tables(), viewsRun{log: env.Log}); err != nil {
		return err
	}
	// A config of the lake alone, for what needs no vendor (views,
	// people suggest, export) after the demo's sandbox is gone.
	conf := filepath.Join(filepath.Dir(cfg.DuckDB), "athlake.yaml")
	body := fmt.Sprintf("# The demo's lake, for athlake views, people suggest and export (its sandbox is gone).\noutput: %s\nduckdb: %s\npeople:\n  mapping: %s\n",
		filepath.Base(cfg.Output), filepath.Base(cfg.DuckDB), filepath.Base(mapping))
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "\nThe demo accepted the suggestions of confidence %.1f and above into %s (people.mapping in %s); with them:\n", demoAccept, mapping, conf)
	return printQuery(ctx, env.Stdout, cfg.DuckDB, `SELECT person_id, first_name, last_name, vendor_ids, ids
FROM athlake_people
WHERE linked
ORDER BY person_id
LIMIT 5`)
}

// demoWebhooks shows push: the receiver of `athlake webhooks serve` on a
// loopback port, the Plyomat simulator subscribed to it; jumps happen,
// set.completed deliveries arrive, and the sets are in the views by the
// time the applier is done (no coalescing window, to keep the demo fast).
func demoWebhooks(ctx context.Context, env *Env, cfg *Config, p *sbp.Server) error {
	sec, ok := cfg.Sources[plyomat.SourceName].(*plyomat.Config)
	if !ok {
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	st, err := openStore(ctx, env, cfg)
	if err != nil {
		return err
	}
	spool := webhook.NewSpool(st, plyomat.SourceName)
	var (
		inflight atomic.Int64
		failed   atomic.Value
	)
	rctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- ServeWebhooks(rctx, env, cfg, WebhooksOptions{Listener: ln, ApplyDelay: -1,
			Applying: func() { inflight.Add(1) },
			Applied: func(_ *Summary, err error) {
				if err != nil {
					failed.Store(err)
				}
				inflight.Add(-1)
			}})
	}()
	defer func() {
		cancel()
		<-served
	}()
	p.SetWebhookOptions(sbp.WebhookOptions{Coalesce: -1})
	p.Subscribe("http://"+ln.Addr().String()+webhook.Path, []string{"set.completed"}, sec.WebhookSecret.Reveal())
	rep := p.Advance(2 * time.Hour)
	if len(rep.NewSets) == 0 {
		return nil
	}
	sent := time.Now()
	var ackMax time.Duration
	acked := 0
	for _, a := range p.DeliverDue(ctx) {
		if a.OK() {
			acked++
			ackMax = max(ackMax, a.Latency)
		}
	}
	// Applied when the spool is empty and no run is under way (the spool
	// read first: a run starting later finds nothing to apply).
	deadline := time.Now().Add(time.Minute)
	for {
		if err, _ := failed.Load().(error); err != nil {
			return err
		}
		if n, err := spool.Pending(ctx); err == nil && n == 0 && inflight.Load() == 0 {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("the deliveries were not applied within a minute")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	took := time.Since(sent)
	fmt.Fprintf(env.Stdout, "\nWebhooks: %d set.completed deliveries signed, acknowledged (slowest ack %s) and applied by GET /sets/{id}; in the views %s after they were sent.\n",
		acked, ackMax.Round(time.Millisecond), took.Round(time.Millisecond))
	q := `SELECT e.event_type, s.id AS set_id, s.mode, count(r.rep_index) AS reps, round(max(r.jump_height_cm), 1) AS best_jump_cm, e.received_at
FROM plyomat_webhook_events e
JOIN plyomat_sets s ON s.id = e.record_id
JOIN plyomat_reps r ON r.set_id = s.id
WHERE s.id = ` + "'" + strings.ReplaceAll(rep.NewSets[0], "'", "''") + "'" + `
GROUP BY ALL`
	if err := printQuery(ctx, env.Stdout, cfg.DuckDB, q); err != nil {
		return fmt.Errorf("webhook query: %w", err)
	}
	return nil
}

// printQuery prints a query of the views database and its result as a
// table.
func printQuery(ctx context.Context, w io.Writer, db, q string) error {
	cols, rows, err := views.Query(ctx, db, q)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s\n\n", q)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// SandboxConfig is a configuration of every source against a sandbox at
// base, with the lake and the sources' files (a token) under dir.
func SandboxConfig(base, dir string) *Config {
	cfg := &Config{Output: filepath.Join(dir, "lake"), DuckDB: filepath.Join(dir, "athlake.duckdb"), Sources: Sources{}}
	for _, c := range registry {
		cfg.Sources[c.Name] = c.Sandbox(base, dir)
	}
	return cfg
}

// authorizeSandbox authorizes every configured source that needs it
// through its real flow against the sandbox (new on every run, so is its
// OAuth2 server), with an HTTP client as the "browser" that approves and
// follows the redirect to the loopback listener.
func authorizeSandbox(ctx context.Context, env *Env, cfg *Config) error {
	quiet := *env
	quiet.Stdout, quiet.Stderr = io.Discard, io.Discard
	for _, name := range cfg.sourceNames() {
		if _, ok := cfg.Sources[name].(connector.Authorizer); !ok {
			continue
		}
		if err := Authorize(ctx, &quiet, cfg, name, connector.AuthOptions{Open: FollowRedirects}); err != nil {
			return fmt.Errorf("authorizing %s: %w", name, err)
		}
		env.Log.Info("authorized through the sandbox's flow", "source", name)
	}
	return nil
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
	fmt.Fprintf(env.Stdout, "sandbox listening on %s\n", base)
	for _, c := range registry {
		fmt.Fprintf(env.Stdout, "  %-8s %s\n", c.Name, describe(c.Sandbox(base, ".")))
	}
	fmt.Fprintf(env.Stdout, "  (%s)\n", sandbox.Notes)
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

// describe prints a section's set keys, secrets included: the sandbox's
// credentials are its own, for pasting into a config.
func describe(sec connector.Config) string {
	v := reflect.ValueOf(sec).Elem()
	var out []string
	for i := range v.NumField() {
		tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
		f := v.Field(i)
		if tag == "" || tag == "-" || f.IsZero() || f.Kind() == reflect.Struct {
			continue
		}
		val := fmt.Sprint(f.Interface())
		if s, ok := f.Interface().(connector.Secret); ok {
			val = s.Reveal()
		}
		out = append(out, tag+": "+val)
	}
	return strings.Join(out, "  ")
}
