package jobs

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/sandbox"
	sbo "github.com/athlake/athlake/sandbox/optimo"
	sbt "github.com/athlake/athlake/sandbox/teampro"
)

var (
	icebergDays  = flag.Int("iceberg.days", 3, "BenchmarkIcebergPublish: simulated days after the first sync, one sync a day")
	icebergScale = flag.String("iceberg.scale", "medium", "BenchmarkIcebergPublish: sandbox scale (small, medium, large)")
)

// BenchmarkIcebergPublish measures what publishing to Iceberg costs: a
// lake synced without Iceberg registered whole, then a sync a day, each
// publishing at its end (time, of which finding the hidden rows; tables
// changed, snapshots, delete files; the bytes and files under _iceberg).
//
//	go test ./jobs -run '^$' -bench IcebergPublish -benchtime 1x -timeout 0 -args -iceberg.days=3
func BenchmarkIcebergPublish(b *testing.B) {
	scale, err := sandbox.ParseScale(*icebergScale)
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		runIcebergPublish(b, scale, *icebergDays, os.Stdout)
	}
}

func runIcebergPublish(b *testing.B, scale sandbox.Scale, days int, w io.Writer) {
	ctx := context.Background()
	sb := sandbox.New(sandbox.Options{Seed: 3, Scale: scale, TeamPro: sbt.Options{Rate: 1000, Burst: 1 << 30}, Optimo: sbo.Options{DailyQuota: 1 << 30}})
	api := httptest.NewServer(sb)
	defer api.Close()
	cfg := SandboxConfig(api.URL, b.TempDir())
	cfg.Sources.teampro().Rate, cfg.Sources.teampro().Burst = 1000, 1<<30
	cfg.Sources.teampro().Lookback = connector.Duration(30 * 24 * time.Hour)
	cfg.Sources.optimo().DailyRequestBudget = 1 << 30
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Log: slog.New(slog.DiscardHandler)}
	if err := Authorize(ctx, env, cfg, "teampro", connector.AuthOptions{Open: FollowRedirects}); err != nil {
		b.Fatal(err)
	}
	sum, err := Run(ctx, env, cfg, RunOptions{Command: "sync"})
	if err != nil {
		b.Fatal(err)
	}
	ice := filepath.Join(cfg.Output, IcebergDir)
	fmt.Fprintf(w, "iceberg publish, scale %s: first sync without iceberg %.1fs, %d files\n", scale, sum.Duration, sum.Files)
	fmt.Fprintf(w, "%-9s %7s %8s %8s %7s %6s %6s %9s %6s %9s\n", "run", "sync s", "views s", "publish", "hidden", "tables", "snaps", "deletes", "files", "bytes")
	cfg.Iceberg = &IcebergConfig{}
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	p, err := IcebergRegister(ctx, env, cfg)
	if err != nil {
		b.Fatal(err)
	}
	line := func(run string, syncS, viewsS float64, p *IcebergPublish) {
		snaps, dels := 0, 0
		for _, r := range p.Tables {
			snaps += r.Snapshots
			dels += r.DeleteFiles
		}
		fmt.Fprintf(w, "%-9s %7.1f %8.2f %8.2f %7.2f %6d %6d %9d %6d %9d\n", run, syncS, viewsS, p.Seconds, p.HiddenSeconds, p.Changed, snaps, dels, countFiles(b, ice), dirBytes(b, ice))
	}
	line("register", 0, 0, p)
	for day := 1; day <= days; day++ {
		sb.Plyomat.Advance(24 * time.Hour)
		sb.TeamPro.Advance(24 * time.Hour)
		sb.Optimo.Advance(24 * time.Hour)
		sum, err := Run(ctx, env, cfg, RunOptions{Command: "sync"})
		if err != nil {
			b.Fatal(err)
		}
		line(fmt.Sprintf("day %d", day), sum.Duration, sum.Views.Seconds, sum.Iceberg)
	}
}
