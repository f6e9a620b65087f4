package jobs

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/sandbox"
	sbo "github.com/athlake/athlake/sandbox/optimo"
	sbt "github.com/athlake/athlake/sandbox/teampro"
)

var (
	seasonDays  = flag.Int("season.days", 365, "BenchmarkSeason: simulated days, one sync a day")
	seasonEvery = flag.Int("season.every", 30, "BenchmarkSeason: print a checkpoint every this many days")
	seasonScale = flag.String("season.scale", "small", "BenchmarkSeason: sandbox scale (small, medium, large)")
	seasonRuns  = flag.Int("season.runs", 5, "BenchmarkSeason: runs of each query, the best counted")
)

// seasonQueries are the notebook queries the season benchmark times over the
// views and over native tables holding the same rows. Averages are taken
// over exact decimals, so that both give the same rows whatever the order
// of summation (a float sum's last bit depends on it).
var seasonQueries = []views.NamedQuery{
	{Name: "reps of one athlete (reps ⋈ sets ⋈ athletes)", SQL: `
		SELECT s.session_id, s.mode, count(*) AS reps, sum(CAST(r.jump_height_cm AS DECIMAL(18, 6))) / count(r.jump_height_cm), max(r.rsi)
		FROM plyomat_reps r JOIN plyomat_sets s ON s.id = r.set_id JOIN plyomat_athletes a ON a.id = s.athlete_id
		WHERE a.id = (SELECT min(athlete_id) FROM plyomat_sets)
		GROUP BY ALL`},
	{Name: "reps per athlete (reps ⋈ sets ⋈ athletes)", SQL: `
		SELECT a.id, count(*) AS reps, sum(CAST(r.jump_height_cm AS DECIMAL(18, 6))) / count(r.jump_height_cm), max(r.rsi)
		FROM plyomat_reps r JOIN plyomat_sets s ON s.id = r.set_id JOIN plyomat_athletes a ON a.id = s.athlete_id
		GROUP BY ALL`},
	{Name: "samples of one session", SQL: `
		SELECT count(*), sum(CAST(hr AS DECIMAL(18, 6))) / count(hr), max(speed), min(sample_time), max(sample_time)
		FROM teampro_samples WHERE player_session_id = (SELECT min(id) FROM teampro_player_sessions)`},
	{Name: "samples per session", SQL: `
		SELECT player_session_id, count(*), sum(CAST(hr AS DECIMAL(18, 6))) / count(hr), max(speed)
		FROM teampro_samples GROUP BY ALL`},
	{Name: "samples per player-day", SQL: `
		SELECT p.player_id, CAST(s.sample_time AS DATE) AS day, count(*), sum(CAST(s.hr AS DECIMAL(18, 6))) / count(s.hr), max(s.speed)
		FROM teampro_samples s JOIN teampro_player_sessions p ON p.id = s.player_session_id
		GROUP BY ALL`},
	{Name: "time in HR zones per session", SQL: `
		SELECT z.player_session_id, z.index, sum(z.in_zone_ms)
		FROM teampro_hr_zones z JOIN teampro_player_sessions p ON p.id = z.player_session_id
		GROUP BY ALL`},
	{Name: "current athletes (Plyomat and Optimo)", SQL: `
		SELECT id, first_name, last_name FROM plyomat_athletes
		UNION ALL SELECT CAST(athlete_id AS VARCHAR), first_name, last_name FROM optimo_athletes`},
}

// seasonTables are the views the queries read.
var seasonTables = []string{"plyomat_reps", "plyomat_sets", "plyomat_athletes", "optimo_athletes",
	"teampro_samples", "teampro_player_sessions", "teampro_hr_zones"}

// BenchmarkSeason syncs all three sandbox vendors once a simulated day for
// -season.days days and prints, every -season.every days, the lake's
// Parquet files, the folders holding them (partitions) and their bytes, the
// views database's size, that day's sync time, the time the syncs since the
// last line took to bring the views up to date (median and max), the time to build
// the views database afresh and a database of views over the files, and
// each notebook query's time over the views the syncs kept (tables), over
// views of the files, and over native DuckDB tables holding the same rows,
// with the ratios. Every query must give the same rows over all of them
// (and over the database built afresh). No network: the sandbox runs
// in-process.
//
//	go test ./jobs -run '^$' -bench Season -benchtime 1x -timeout 0 -args -season.days=365
func BenchmarkSeason(b *testing.B) {
	scale, err := sandbox.ParseScale(*seasonScale)
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		runSeason(b, scale, *seasonDays, *seasonEvery, *seasonRuns, os.Stdout)
	}
}

func runSeason(b testing.TB, scale sandbox.Scale, days, every, runs int, w io.Writer) {
	ctx := context.Background()
	sb := sandbox.New(sandbox.Options{Seed: 1, Scale: scale,
		TeamPro: sbt.Options{Rate: 1000, Burst: 1 << 30}, Optimo: sbo.Options{DailyQuota: 1 << 30}})
	api := httptest.NewServer(sb)
	defer api.Close()
	dir := b.TempDir()
	cfg := SandboxConfig(api.URL, dir)
	cfg.Sources.teampro().Rate, cfg.Sources.teampro().Burst = 1000, 1<<30
	cfg.Sources.optimo().DailyRequestBudget = 1 << 30
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Log: slog.New(slog.DiscardHandler)}
	if err := Authorize(ctx, env, cfg, "teampro", connector.AuthOptions{Open: FollowRedirects}); err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(w, "season: %d days, scale %s, one sync a day of plyomat, teampro and optimo; query times are the best of %d runs\n", days, scale, runs)
	fmt.Fprintf(w, "views: the syncs' updates of the tables database since the last line (median, max and its day, * if that sync compacted); rebuild: that database from every file; files: views over the Parquet files\n")
	fmt.Fprintf(w, "%4s %6s %6s %7s %7s %7s %16s %8s %7s  %-46s %8s %8s %8s %6s %6s\n", "day", "files", "parts", "lake MB", "db MB", "sync s", "views s", "rebuild s", "files s",
		"query", "tables", "files", "native", "tables", "files")
	var updates []float64    // the syncs' views updates since the last line
	most, mostDay := 0.0, "" // the longest, its day, * if that sync compacted
	for day := 0; day <= days; day++ {
		if day > 0 {
			sb.Plyomat.Advance(24 * time.Hour)
			sb.TeamPro.Advance(24 * time.Hour)
			sb.Optimo.Advance(24 * time.Hour)
		}
		start := time.Now()
		// Files a compaction replaced go at the next one: the simulated
		// days pass faster than a notebook's grace.
		sum, err := Run(ctx, env, cfg, RunOptions{Command: "sync", CompactGrace: -1})
		if err != nil {
			b.Fatalf("day %d: %v", day, err)
		}
		synced := time.Since(start)
		if day > 0 {
			if len(updates) == 0 || sum.Views.Seconds > most {
				most, mostDay = sum.Views.Seconds, fmt.Sprint(day)
				if sum.Compacted != nil && len(sum.Compacted.Tables) > 0 {
					mostDay += "*"
				}
			}
			updates = append(updates, sum.Views.Seconds)
		}
		if day%every != 0 && day != days {
			continue
		}
		med := 0.0
		if len(updates) > 0 {
			slices.Sort(updates)
			med = updates[len(updates)/2]
			updates = updates[:0] // the next interval's first sync resets most
		}
		files, bytes := parquetFiles(b, cfg.Output)
		parts := partitions(b, cfg.Output)
		info, err := os.Stat(cfg.DuckDBPath())
		if err != nil {
			b.Fatal(err)
		}
		built := map[views.Mode]time.Duration{}
		other := map[views.Mode]string{}
		for _, mode := range []views.Mode{views.Tables, views.Files} {
			c := *cfg
			c.Views, c.DuckDB = string(mode), filepath.Join(dir, "fresh-"+string(mode)+".duckdb")
			os.Remove(c.DuckDB)
			start = time.Now()
			if err := Views(ctx, env, &c, ViewsOptions{}); err != nil {
				b.Fatalf("day %d: %s views: %v", day, mode, err)
			}
			built[mode], other[mode] = time.Since(start), c.DuckDB
		}
		// The native tables copy the database the syncs kept up to date;
		// the same rows over a database built afresh and over the files
		// check it.
		timings, err := views.CompareNative(ctx, []string{cfg.DuckDBPath(), other[views.Files], other[views.Tables]}, seasonTables, seasonQueries, runs)
		if err != nil {
			b.Fatalf("day %d: %v", day, err)
		}
		for i, t := range timings {
			lead := fmt.Sprintf("%4d %6d %6d %7.1f %7.1f %7.2f %5.2f %5.2f@%-4s %8.2f %7.2f", day, files, parts, float64(bytes)/1e6, float64(info.Size())/1e6,
				synced.Seconds(), med, most, mostDay, built[views.Tables].Seconds(), built[views.Files].Seconds())
			if i > 0 {
				lead = strings.Repeat(" ", len(lead))
			}
			fmt.Fprintf(w, "%s  %-46s %8.1f %8.1f %8.1f %5.2fx %5.1fx\n", lead, t.Name, ms(t.Views[0]), ms(t.Views[1]), ms(t.Native), t.Ratio(0), t.Ratio(1))
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// parquetFiles counts the lake's Parquet files and their bytes.
func parquetFiles(tb testing.TB, root string) (int, int64) {
	var n int
	var size int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".parquet") {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n++
		size += info.Size()
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n, size
}

// partitions counts the folders that hold a table's Parquet files (a
// table's partitions; an unpartitioned table's own folder).
func partitions(tb testing.TB, root string) int {
	dirs := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".parquet") {
			dirs[filepath.Dir(p)] = true
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return len(dirs)
}

// TestSeasonBenchmarkRuns runs the season benchmark over a day, so it
// keeps working; its check that the views and the native tables give the
// same rows for every query is real.
func TestSeasonBenchmarkRuns(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	runSeason(t, sandbox.ScaleSmall, 1, 1, 1, &out)
	for _, q := range seasonQueries {
		if strings.Count(out.String(), q.Name) != 2 {
			t.Errorf("query %q not reported at days 0 and 1:\n%s", q.Name, out.String())
		}
	}
}
