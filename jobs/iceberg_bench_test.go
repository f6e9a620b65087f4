package jobs

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/load/store/s3store/s3test"
	"github.com/athlake/athlake/sandbox"
	sbo "github.com/athlake/athlake/sandbox/optimo"
	sbt "github.com/athlake/athlake/sandbox/teampro"
)

var (
	icebergDays  = flag.Int("iceberg.days", 3, "BenchmarkIcebergPublish: simulated days after the first sync, one sync a day")
	icebergScale = flag.String("iceberg.scale", "medium", "BenchmarkIcebergPublish: sandbox scale (small, medium, large)")
	icebergS3    = flag.Bool("iceberg.s3", false, "BenchmarkIcebergPublish: the lake on S3 (versitygw), the publish's requests counted")
)

// BenchmarkIcebergPublish measures what publishing to Iceberg costs: a
// lake synced without Iceberg registered whole, then a sync a day, each
// publishing at its end (time, of which finding the hidden rows; tables
// changed, snapshots, delete files; the bytes and files of Iceberg
// metadata; the snapshots the tables hold under the expiry policy, the
// clock a day on at each sync). With -iceberg.s3 the lake is on S3 and
// the publish's requests are counted: to the lake's files (staged to
// find hidden rows, read for their statistics) and to _iceberg/.
//
//	go test ./jobs -run '^$' -bench IcebergPublish -benchtime 1x -timeout 0 -args -iceberg.days=3 [-iceberg.s3]
func BenchmarkIcebergPublish(b *testing.B) {
	scale, err := sandbox.ParseScale(*icebergScale)
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		runIcebergPublish(b, scale, *icebergDays, *icebergS3, os.Stdout)
	}
}

func runIcebergPublish(b *testing.B, scale sandbox.Scale, days int, onS3 bool, w io.Writer) {
	ctx := context.Background()
	sb := sandbox.New(sandbox.Options{Seed: 3, Scale: scale, TeamPro: sbt.Options{Rate: 1000, Burst: 1 << 30}, Optimo: sbo.Options{DailyQuota: 1 << 30}})
	api := httptest.NewServer(sb)
	defer api.Close()
	cfg := SandboxConfig(api.URL, b.TempDir())
	cfg.Sources.teampro().Rate, cfg.Sources.teampro().Burst = 1000, 1<<30
	cfg.Sources.teampro().Lookback = connector.Duration(30 * 24 * time.Hour)
	cfg.Sources.optimo().DailyRequestBudget = 1 << 30
	clock := time.Now()
	count := &s3Count{}
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Log: slog.New(count), Now: func() time.Time { return clock }}
	metadata := func() (files int, bytes int64) {
		ice := filepath.Join(cfg.Output, IcebergDir)
		return countFiles(b, ice), dirBytes(b, ice)
	}
	if onS3 {
		srv := s3test.Start(b)
		bucket := srv.NewBucket(b)
		target, err := url.Parse(srv.Endpoint)
		if err != nil {
			b.Fatal(err)
		}
		proxy := httptest.NewServer(count.wrap(httputil.NewSingleHostReverseProxy(target)))
		defer proxy.Close()
		s3Config(cfg, srv, bucket, "lake")
		cfg.S3.Endpoint = proxy.URL
		s3Env(env, srv)
		metadata = func() (files int, bytes int64) {
			p := s3.NewListObjectsV2Paginator(srv.Client(b), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("lake/" + IcebergDir + "/")})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					b.Fatal(err)
				}
				for _, o := range page.Contents {
					files++
					bytes += aws.ToInt64(o.Size)
				}
			}
			return files, bytes
		}
	}
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	if err := Authorize(ctx, env, cfg, "teampro", connector.AuthOptions{Open: FollowRedirects}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	sum, err := Run(ctx, env, cfg, RunOptions{Command: "sync"})
	if err != nil {
		b.Fatal(err)
	}
	where := "local disk"
	if onS3 {
		where = "S3 (versitygw, on loopback)"
	}
	fmt.Fprintf(w, "iceberg publish, scale %s, %s: first sync without iceberg %.1fs, %d files\n", scale, where, time.Since(start).Seconds(), sum.Files)
	fmt.Fprintf(w, "%-8s %7s %7s %7s %6s %6s %5s %7s %6s %9s %9s %9s",
		"run", "sync s", "views s", "publish", "hidden", "tables", "snaps", "deletes", "meta", "meta B", "held", "expired")
	if onS3 {
		fmt.Fprintf(w, "  %s", "requests of the publish (to the lake's files / to _iceberg), bytes up and down")
	}
	fmt.Fprintln(w)
	cfg.Iceberg = &IcebergConfig{}
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	st, err := openStore(ctx, env, cfg)
	if err != nil {
		b.Fatal(err)
	}
	expired := 0
	line := func(run string, syncS, viewsS float64, p *IcebergPublish) {
		snaps, dels := 0, 0
		for _, r := range p.Tables {
			snaps += r.Snapshots
			dels += r.DeleteFiles
			expired += r.Expired
		}
		// The snapshots the tables hold: in all, and the most in one.
		cat, err := openCatalog(ctx, env, cfg, st, nil)
		if err != nil {
			b.Fatal(err)
		}
		held, most := 0, 0
		for _, t := range tables().Tables() {
			if tbl, err := cat.Load(ctx, t.ViewName()); err == nil {
				n := len(tbl.Metadata().Snapshots())
				held, most = held+n, max(most, n)
			}
		}
		cat.Close()
		files, bytes := metadata()
		fmt.Fprintf(w, "%-8s %7.1f %7.2f %7.2f %6.2f %6d %5d %7d %6d %9d %5d/%-3d %7d",
			run, syncS, viewsS, p.Seconds, p.HiddenSeconds, p.Changed, snaps, dels, files, bytes, held, most, expired)
		if onS3 {
			fmt.Fprintf(w, "  %s", count.report())
		}
		fmt.Fprintln(w)
	}
	p, err := IcebergRegister(ctx, env, cfg)
	if err != nil {
		b.Fatal(err)
	}
	line("register", 0, 0, p)
	for day := 1; day <= days; day++ {
		clock = clock.Add(24 * time.Hour)
		sb.Plyomat.Advance(24 * time.Hour)
		sb.TeamPro.Advance(24 * time.Hour)
		sb.Optimo.Advance(24 * time.Hour)
		count.reset()
		start := time.Now() // the run's own clock is the simulated one
		sum, err := Run(ctx, env, cfg, RunOptions{Command: "sync"})
		if err != nil {
			b.Fatal(err)
		}
		line(fmt.Sprintf("day %d", day), time.Since(start).Seconds(), sum.Views.Seconds, sum.Iceberg)
	}
}

// s3Count counts the requests an S3 proxy passes once a publish began: a
// log handler, it starts counting at the publish's first record (the
// publish is a run's last phase).
type s3Count struct {
	on   atomic.Bool
	mu   sync.Mutex
	req  map[string]int // by "lake|iceberg method"
	up   int64
	down int64
}

func (c *s3Count) begin() {
	c.mu.Lock()
	c.req, c.up, c.down = map[string]int{}, 0, 0
	c.mu.Unlock()
	c.on.Store(true)
}

func (c *s3Count) reset() { c.on.Store(false) }

func (c *s3Count) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !c.on.Load() {
			h.ServeHTTP(rw, r)
			return
		}
		cw := &countingWriter{ResponseWriter: rw}
		h.ServeHTTP(cw, r)
		op := r.Method
		if r.Method == http.MethodGet && r.URL.Query().Has("list-type") {
			op = "LIST"
		}
		where := "lake"
		if strings.Contains(r.URL.Path, "/"+IcebergDir+"/") || strings.Contains(r.URL.Query().Get("prefix"), IcebergDir+"/") {
			where = "iceberg"
		}
		c.mu.Lock()
		c.req[where+" "+op]++
		c.up += max(r.ContentLength, 0)
		c.down += cw.n
		c.mu.Unlock()
	})
}

// report is what was counted: requests by where and operation, bytes.
func (c *s3Count) report() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	total := map[string]int{}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c.req)) {
		where, _, _ := strings.Cut(k, " ")
		total[where] += c.req[k]
		parts = append(parts, fmt.Sprintf("%s %d", k, c.req[k]))
	}
	return fmt.Sprintf("%d/%d (%s), %.2f/%.2f MB", total["lake"], total["iceberg"], strings.Join(parts, ", "), float64(c.up)/1e6, float64(c.down)/1e6)
}

// The handler: the publish's first record turns the count on.
func (c *s3Count) Enabled(context.Context, slog.Level) bool { return true }
func (c *s3Count) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "publishing to iceberg" && !c.on.Load() {
		c.begin()
	}
	return nil
}
func (c *s3Count) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *s3Count) WithGroup(string) slog.Handler      { return c }

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}
