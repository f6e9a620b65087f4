package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/athlake/athlake/extract/optimo"
	"github.com/athlake/athlake/extract/plyomat"
	"github.com/athlake/athlake/extract/teampro"
	"github.com/athlake/athlake/internal/testlog"
	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/sandbox"
	sbt "github.com/athlake/athlake/sandbox/teampro"
)

// planSims build, per source, a simulator of the given scale for the
// plan's test.
var planSims = map[string]func(t *testing.T, dir string, sc sandbox.Scale) *simulator{
	"plyomat": func(t *testing.T, dir string, sc sandbox.Scale) *simulator {
		sb := sandbox.New(sandbox.Options{Seed: 7, Scale: sc})
		return &simulator{sb: sb, section: plyomat.Connector.Sandbox(serve(t, sb), dir),
			advance: func() { sb.Plyomat.Advance(36 * time.Hour) }}
	},
	"optimo": func(t *testing.T, dir string, sc sandbox.Scale) *simulator {
		sb := sandbox.New(sandbox.Options{Seed: 7, Scale: sc})
		return &simulator{sb: sb, section: optimo.Connector.Sandbox(serve(t, sb), dir),
			advance: func() { sb.Optimo.Advance(24 * time.Hour) }}
	},
	"teampro": func(t *testing.T, dir string, sc sandbox.Scale) *simulator {
		return teamproPlanSim(t, dir, sc, 1000, 100000)
	},
}

// teamproPlanSim is Team Pro's simulator with the rate limit given to both
// sides on a fake clock (as teamproSim), its sessions 10 s long, to
// keep the test short at every scale.
func teamproPlanSim(t *testing.T, dir string, sc sandbox.Scale, rate float64, burst int) *simulator {
	clock := &fakeClock{t: time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)}
	sb := sandbox.New(sandbox.Options{Seed: 7, Scale: sc, TeamPro: sbt.Options{Rate: rate, Burst: burst, Clock: clock.Now, MaxDuration: 10 * time.Second}})
	sim := teamproOn(t, dir, sb, clock)
	sec := sim.section.(*teampro.Config)
	sec.Rate, sec.Burst = rate, burst
	sim.advance = func() { sb.TeamPro.Advance(24 * time.Hour) }
	return sim
}

// TestPlanUnderTheLimits: Team Pro's seconds are the time the sync then
// takes under the rate limit (1/s, a burst of 10, on a fake clock), and
// Optimo's plan says when the day's budget cannot hold the sync, which
// then stops where the plan said.
func TestPlanUnderTheLimits(t *testing.T) {
	t.Parallel()
	t.Run("teampro", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		l := openLake(t, "teampro", dir, teamproPlanSim(t, dir, sandbox.ScaleSmall, 1, 10))
		p := l.plan()
		start := l.sim.run.Clock()
		l.sync()
		took := l.sim.run.Clock().Sub(start).Seconds()
		t.Logf("plan: %d requests, %.0f s; the sync took %.0f s on the fake clock", p.Requests, p.Seconds, took)
		if p.Seconds < 10 {
			t.Errorf("the plan says %.0f s for %d requests at 1/s with a burst of 10", p.Seconds, p.Requests)
		}
		closeTo(t, "seconds", p.Seconds, took)
	})
	t.Run("optimo", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		sb := sandbox.New(sandbox.Options{Seed: 7, Scale: sandbox.ScaleMedium})
		sec := optimo.Connector.Sandbox(serve(t, sb), dir).(*optimo.Config)
		sec.DailyRequestBudget = 50
		l := openLake(t, "optimo", dir, &simulator{sb: sb, section: sec})
		p := l.plan()
		if p.Days != 2 || p.Seconds < 1 {
			t.Errorf("the plan says %d requests over %d days, %.0f s; want 2 days for more than the budget of 50", p.Requests, p.Days, p.Seconds)
		}
		before := sb.Optimo.Stats().Total
		if _, err := l.run(RunOptions{}); !errors.Is(err, pipeline.ErrStopEarly) {
			t.Fatalf("the sync past the day's budget: %v, want it stopped early", err)
		}
		if got, want := sb.Optimo.Stats().Total-before, 50-p.Asked; got != want {
			t.Errorf("the vendor got %d requests of the sync, want the %d the plan left of the day's budget", got, want)
		}
	})
}

// TestPlanMatchesTheSync plans, then syncs, at each scale, on a fresh lake
// and after the vendor moved on: the plan's requests and rows are within
// 10% of the sync's, and its JSON has the documented shape.
func TestPlanMatchesTheSync(t *testing.T) {
	t.Parallel()
	for name, mk := range planSims {
		for _, sc := range []sandbox.Scale{sandbox.ScaleSmall, sandbox.ScaleMedium, sandbox.ScaleLarge} {
			t.Run(name+"/"+sc.String(), func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				l := openLake(t, name, dir, mk(t, dir, sc))
				for _, when := range []string{"fresh", "after an advance"} {
					if when != "fresh" {
						l.sim.advance()
					}
					p := l.plan()
					sum := l.sync()
					var rows int64
					for tbl, n := range sum.Rows {
						if strings.HasPrefix(tbl, name+"_") {
							rows += n
						}
					}
					req := sum.Requests[name].Requests
					t.Logf("%s: plan %d requests (%d its own), %d rows, %.1f s, %d bytes; sync %d requests, %d rows, %.1f s, %d bytes",
						when, p.Requests, p.Asked, p.Rows, p.Seconds, p.Bytes, req, rows, sum.Duration, sum.Bytes)
					closeTo(t, when+": requests", float64(p.Requests), float64(req))
					if !closeTo(t, when+": rows", float64(p.Rows), float64(rows)) {
						for tbl, n := range sum.Rows {
							t.Logf("  %s: plan %d, sync %d", tbl, p.Tables[tbl], n)
						}
					}
					for tbl, n := range p.Tables {
						if n > 0 && sum.Rows[tbl] == 0 {
							t.Errorf("%s: the plan expects %d rows of %s, the sync wrote none", when, n, tbl)
						}
					}
				}
			})
		}
	}
}

// closeTo fails unless got is within 10% of want.
func closeTo(t *testing.T, what string, got, want float64) bool {
	t.Helper()
	if math.Abs(got-want) > 0.1*want {
		t.Errorf("%s: the plan says %.0f, the sync did %.0f", what, got, want)
		return false
	}
	return true
}

// plan runs `athlake plan --format json` on the lake's source and reads
// what it printed.
func (l *lake) plan() *SourcePlan {
	l.t.Helper()
	out := &testlog.Buffer{}
	env := l.env()
	env.Stdout = out
	if _, err := PlanRun(context.Background(), env, l.cfg, PlanOptions{Format: "json", Run: l.sim.run.Run}); err != nil {
		l.t.Fatalf("plan: %v", err)
	}
	var p struct {
		Sources map[string]*SourcePlan `json:"sources"`
	}
	if err := json.Unmarshal([]byte(out.String()), &p); err != nil {
		l.t.Fatalf("plan's JSON: %v\n%s", err, out)
	}
	sp := p.Sources[l.name]
	if sp == nil {
		l.t.Fatalf("plan's JSON has no sources.%s:\n%s", l.name, out)
	}
	return sp
}

// TestPlanBesideARun: while a run holds the lake, the plan refuses (its
// Optimo requests would race the run's count of the day's quota).
func TestPlanBesideARun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openLake(t, "optimo", dir, planSims["optimo"](t, dir, sandbox.ScaleSmall))
	st, err := store.NewLocal(l.cfg.Output)
	if err != nil {
		t.Fatal(err)
	}
	lease, err := (&load.Lock{Store: st}).Acquire(context.Background(), pipeline.Holder{RunID: "r", Command: "sync", Host: "elsewhere", PID: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(context.Background())
	before := l.sb.Optimo.Stats().Total
	_, err = PlanRun(context.Background(), l.env(), l.cfg, PlanOptions{Format: "json"})
	var locked *pipeline.LockedError
	if !errors.As(err, &locked) || ExitCode(err) != ExitStopped {
		t.Fatalf("plan beside a run: %v (exit %d), want the lock named, exit %d", err, ExitCode(err), ExitStopped)
	}
	if n := l.sb.Optimo.Stats().Total - before; n != 0 {
		t.Errorf("the plan beside a run sent %d requests", n)
	}
}
