package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/extract/teampro"
	"github.com/athlake/athlake/extract/teampro/teamprotest"
	"github.com/athlake/athlake/sandbox"
	sbt "github.com/athlake/athlake/sandbox/teampro"
)

// tpHarness is a Team Pro simulator on a loopback listener, authorized
// through the real OAuth2 flow, and a lake with only the teampro source.
type tpHarness struct {
	*lake
	clock *fakeClock
}

// newTPHarness runs the vendor's rate limit on a fake clock shared by the
// sandbox and the client, so tests larger than the burst take no real time
// (set o.Clock to use another).
func newTPHarness(t *testing.T, seed int64, o sbt.Options) *tpHarness {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)}
	if o.Clock == nil {
		o.Clock = clock.Now
	}
	sb := sandbox.New(sandbox.Options{Seed: seed, TeamPro: o})
	dir := t.TempDir()
	return &tpHarness{lake: openLake(t, "teampro", dir, teamproOn(t, dir, sb, clock)), clock: clock}
}

func pint(v *int) string {
	if v == nil {
		return "NULL"
	}
	return i(*v)
}

func pi64(v *int64) string {
	if v == nil {
		return "NULL"
	}
	return fmt.Sprint(*v)
}

func utcOf(wall time.Time, off *int) string {
	if off == nil {
		return "NULL"
	}
	return ts(wall.Add(-time.Duration(*off) * time.Minute))
}

// tpExpected renders the Team Pro truth as the rows of each view.
func tpExpected(d *sbt.Dataset) map[string][][]string {
	m := map[string][][]string{}
	add := func(table string, row ...string) { m[table] = append(m[table], row) }
	for _, t := range d.Teams {
		add("teams", t.ID, t.Name, t.Organisation, ts(t.Created), ts(t.Modified))
		for _, p := range t.Players {
			add("players", t.ID, p.PlayerID, i(p.PlayerNumber), p.Role, p.FirstName, p.LastName)
		}
	}
	for _, x := range d.TeamSessions {
		add("team_sessions", x.ID, x.TeamID, x.Name, x.Type, ps(x.Note), ts(x.Created), ts(x.Modified),
			ts(x.RecordStartTime), ts(x.RecordEndTime), ts(x.StartTime), ts(x.EndTime), pf(x.Latitude), pf(x.Longitude), x.Sport, ps(x.Arena))
		for _, p := range x.Participants {
			add("session_participants", x.ID, p.PlayerID, i(p.PlayerNumber), p.Role, p.PlayerSessionID)
		}
		for j, mk := range x.Markers {
			add("session_markers", x.ID, i(j), ts(mk.StartTime), ts(mk.EndTime), mk.MarkerType, mk.Name, ps(mk.Note))
		}
	}
	for _, x := range d.PlayerSessions {
		add("player_sessions", x.ID, x.PlayerID, x.Type, ts(x.Created), ts(x.Modified), x.Sport, x.Name, ps(x.Feeling), ps(x.Note),
			pf(x.Latitude), pf(x.Longitude), ts(x.StartTime), utcOf(x.StartTime, x.TimezoneOffset), ts(x.StopTime), utcOf(x.StopTime, x.TimezoneOffset),
			f(float64(x.DurationMs)), pint(x.TimezoneOffset), pf(x.Calories), pf(x.DistanceMeters), pf(x.TrainingLoad), pf(x.CardioLoad),
			pf(x.MuscleLoad), pf(x.RecoveryTimeMs), pint(x.FatPercentage), pint(x.HeartRateMax), pint(x.HeartRateAvg), pint(x.RunningIndex),
			pf(x.Ascent), pf(x.Descent), pint(x.SprintCounter), ps(x.Product))
		for j, rr := range x.RR {
			add("rr_intervals", x.ID, i(j), pint(rr))
		}
		for _, smp := range x.Samples {
			at := x.StartTime.Add(time.Duration(smp.OffsetMs) * time.Millisecond)
			add("samples", x.ID, fmt.Sprint(smp.OffsetMs), ts(at), utcOf(at, x.TimezoneOffset), pf(smp.Distance), pf(smp.HR), pf(smp.Speed),
				pf(smp.Cadence), pf(smp.Lat), pf(smp.Lon), pf(smp.Altitude), pf(smp.ForwardAcceleration), pi64(smp.Power))
		}
		if s := x.Summary; s != nil {
			add("session_summaries", s.PlayerSessionID, ts(s.Created), ts(s.Modified), ts(s.TrimmedStartTime), f(float64(s.DurationMs)),
				pf(s.DistanceMeters), pf(s.KiloCalories), pint(s.HeartRateMax), pint(s.HeartRateAvg), pint(s.HeartRateMin),
				pint(s.HeartRateMaxPercent), pint(s.HeartRateAvgPercent), pint(s.HeartRateMinPercent), pint(s.SprintCounter),
				pf(s.SpeedAvgKmh), pf(s.SpeedMaxKmh), pint(s.CadenceAvg), pint(s.CadenceMax), pf(s.TrainingLoad), pf(s.CardioLoad), pf(s.MuscleLoad))
			for _, z := range s.HeartRateZones {
				add("hr_zones", x.ID, i(z.Index), i(z.LowerLimit), i(z.HigherLimit), fmt.Sprint(z.InZoneMs))
			}
			for _, z := range s.SpeedZones {
				add("speed_zones", x.ID, i(z.Index), f(float64(z.LowerLimit)), f(float64(z.HigherLimit)), f(z.InZoneMeters))
			}
			for _, z := range s.PowerZones {
				add("power_zones", x.ID, i(z.Index), f(float64(z.LowerLimit)), f(float64(z.HigherLimit)), fmt.Sprint(z.InZoneMs), f(z.InZoneMuscleLoad))
			}
			for _, z := range s.AccelerationZones {
				add("acceleration_zones", x.ID, f(float64(z.Limit)), f(z.Counter))
			}
		}
	}
	return sortTables(m)
}

var tpQueries = map[string]string{
	"teams":                "SELECT id, name, organisation, created, modified FROM teampro_teams",
	"players":              "SELECT team_id, player_id, player_number, role, first_name, last_name FROM teampro_players",
	"team_sessions":        "SELECT id, team_id, name, type, note, created, modified, record_start_time, record_end_time, start_time, end_time, latitude, longitude, sport, arena FROM teampro_team_sessions",
	"session_participants": "SELECT team_session_id, player_id, player_number, role, player_session_id FROM teampro_session_participants",
	"session_markers":      "SELECT team_session_id, position, start_time, end_time, marker_type, name, note FROM teampro_session_markers",
	"player_sessions": `SELECT id, player_id, type, created, modified, sport, name, feeling, note, latitude, longitude, start_time, start_time_utc,
		stop_time, stop_time_utc, duration_ms, timezone_offset, calories, distance_meters, training_load, cardio_load, muscle_load,
		recovery_time_ms, fat_percentage, heart_rate_max, heart_rate_avg, running_index, ascent, descent, sprint_counter, product FROM teampro_player_sessions`,
	"rr_intervals": "SELECT player_session_id, position, rr_ms FROM teampro_rr_intervals",
	"samples": `SELECT player_session_id, offset_ms, sample_time, sample_time_utc, distance, hr, speed, cadence, lat, lon, altitude,
		forward_acceleration, power FROM teampro_samples`,
	"session_summaries": `SELECT player_session_id, created, modified, trimmed_start_time, duration_ms, distance_meters, kilo_calories,
		heart_rate_max, heart_rate_avg, heart_rate_min, heart_rate_max_percent, heart_rate_avg_percent, heart_rate_min_percent, sprint_counter,
		speed_avg_kmh, speed_max_kmh, cadence_avg, cadence_max, training_load, cardio_load, muscle_load FROM teampro_session_summaries`,
	"hr_zones":           "SELECT player_session_id, index, lower_limit, higher_limit, in_zone_ms FROM teampro_hr_zones",
	"speed_zones":        "SELECT player_session_id, index, lower_limit, higher_limit, in_zone_meters FROM teampro_speed_zones",
	"power_zones":        "SELECT player_session_id, index, lower_limit, higher_limit, in_zone_ms, in_zone_muscle_load FROM teampro_power_zones",
	"acceleration_zones": `SELECT player_session_id, "limit", counter FROM teampro_acceleration_zones`,
}

func TestTeamProBackfillAndIncrementalExact(t *testing.T) {
	t.Parallel()
	h := newTPHarness(t, 31, sbt.Options{})
	// Advance edits sessions up to a few weeks old; look back that far.
	h.cfg.Sources.teampro().Lookback = connector.Duration(30 * 24 * time.Hour)
	start := time.Now()
	sum := h.sync()
	t.Logf("backfill sync took %v", time.Since(start))
	truth := h.sb.TeamPro.Truth()
	h.assertExact(tpExpected(truth))
	backfill := h.sb.TeamPro.Stats().Total
	// The wire's awkward rows are there, and counted.
	var extra, short int
	for _, ps := range truth.PlayerSessions {
		extra += len(ps.Extra)
		short += len(ps.Short)
	}
	if extra == 0 || short == 0 || len(sum.Anomalies) == 0 {
		t.Errorf("sandbox sent %d longer and %d shorter rows; %d anomalies reported", extra, short, len(sum.Anomalies))
	}
	if sum.Requests["teampro"].RateLimitWaits != 0 {
		t.Errorf("429s on a backfill under the burst: %+v", sum.Requests["teampro"])
	}

	rep := h.sb.TeamPro.Advance(48 * time.Hour)
	h.sb.TeamPro.ResetStats()
	h.sync()
	h.assertExact(tpExpected(h.sb.TeamPro.Truth()))
	st := h.sb.TeamPro.Stats()
	t.Logf("requests: backfill %d, incremental %d (%+v)", backfill, st.Total, st.ByRoute)
	// Details are fetched again exactly for the new and modified sessions.
	changed := len(rep.NewPlayerSessions) + len(rep.NewIndividualSessions) + len(rep.ModifiedPlayerSessions)
	if got := st.ByRoute["/v1/training_sessions/{id}"]; got != changed || changed == 0 {
		t.Errorf("fetched %d player session details; %d are new or modified", got, changed)
	}
	if got, want := st.ByRoute["/v1/teams/training_sessions/{id}"], len(rep.NewTeamSessions)+len(rep.ModifiedTeamSessions); got != want {
		t.Errorf("fetched %d team session details; %d are new or modified", got, want)
	}
	// Nothing new: only the lists are read again.
	h.sb.TeamPro.ResetStats()
	h.sync()
	if st := h.sb.TeamPro.Stats(); st.ByRoute["/v1/training_sessions/{id}"] != 0 {
		t.Errorf("a sync with nothing new fetched %d session details", st.ByRoute["/v1/training_sessions/{id}"])
	}
}

// fakeClock jumps forward whenever someone sleeps on it: rate limiting and
// backoff cost no real time, and the sandbox's bucket sees the same clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

func TestTeamProLimiterHoldsOff429s(t *testing.T) {
	t.Parallel()
	const burst = 10
	h := newTPHarness(t, 32, sbt.Options{Burst: burst, Rate: 1})
	clock := h.clock
	start := clock.Now()
	sum := h.syncWith(RunOptions{Run: connector.Run{Burst: burst, Rate: 1}})
	elapsed := clock.Now().Sub(start)
	st := h.sb.TeamPro.Stats()
	requests := sum.Requests["teampro"].Requests
	t.Logf("%d requests in %v of vendor time; floor %v; 429s %d", requests, elapsed, time.Duration(requests-burst)*time.Second, st.RateLimited)
	if requests < 3*burst {
		t.Fatalf("only %d requests: the backfill must be larger than the burst", requests)
	}
	if st.RateLimited != 0 || sum.Requests["teampro"].RateLimitWaits != 0 {
		t.Errorf("%d 429s from the vendor", st.RateLimited)
	}
	floor := time.Duration(requests-burst) * time.Second
	if elapsed < floor-time.Second || elapsed > floor+2*time.Second {
		t.Errorf("took %v of vendor time, want the floor %v (no idle gaps, no overrun)", elapsed, floor)
	}
	h.assertExact(tpExpected(h.sb.TeamPro.Truth()))

	// A run right after finds the vendor's bucket empty, and knows it.
	h.sb.TeamPro.ResetStats()
	h.syncWith(RunOptions{Run: connector.Run{Burst: burst, Rate: 1}})
	if st := h.sb.TeamPro.Stats(); st.RateLimited != 0 {
		t.Errorf("back-to-back run got %d 429s", st.RateLimited)
	}
}

func TestTeamProTokenRotatesMidRun(t *testing.T) {
	t.Parallel()
	// Access tokens expire 10.5 s after issue; x/oauth2 renews 10 s early,
	// so nearly every request of the run refreshes and rotates.
	h := newTPHarness(t, 33, sbt.Options{AccessTTL: 10500 * time.Millisecond})
	h.sync()
	h.assertExact(tpExpected(h.sb.TeamPro.Truth()))
	st := h.sb.TeamPro.Stats()
	if st.TokenRequests < 5 {
		t.Errorf("only %d token requests: the run did not refresh", st.TokenRequests)
	}
	// The file holds the newest refresh token: the next run can refresh.
	h.sync()
	info, err := os.Stat(h.cfg.Sources.teampro().TokenFile)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("token file: %v, mode %v", err, info.Mode())
	}
}

func TestTeamProRevokedAuthorization(t *testing.T) {
	t.Parallel()
	h := newTPHarness(t, 34, sbt.Options{})
	h.sync()
	h.sb.TeamPro.RevokeRefreshTokens()
	// Make the stored access token look expired so the run must refresh.
	tok := teamprotest.ExpireToken(t, teampro.TokenFile{Path: h.cfg.Sources.teampro().TokenFile})
	_, err := h.run(RunOptions{})
	var cfgErr *ConfigError
	if !errors.Is(err, teampro.ErrReauthorize) || !errors.As(err, &cfgErr) || !strings.Contains(err.Error(), "athlake auth teampro") {
		t.Fatalf("err = %v; want a configuration error telling to run athlake auth teampro", err)
	}
	if st := h.sb.TeamPro.Stats(); st.TokenRequests > 3 {
		t.Errorf("invalid_grant was retried: %d token requests", st.TokenRequests)
	}
	for _, secret := range []string{tok.AccessToken, tok.RefreshToken, sandbox.TeamProClientSecret} {
		if strings.Contains(err.Error(), secret) || strings.Contains(h.logs.String(), secret) {
			t.Errorf("a secret leaked into the error or logs")
		}
	}
}

// TestTokenRefreshAcrossProcesses: two processes find the access token
// expired at the same moment. One refreshes (rotating the refresh token);
// the other must not spend the old refresh token but read the new one.
func TestTokenRefreshAcrossProcesses(t *testing.T) {
	t.Parallel()
	h := newTPHarness(t, 35, sbt.Options{})
	teamprotest.ExpireToken(t, teampro.TokenFile{Path: h.cfg.Sources.teampro().TokenFile})
	before := h.sb.TeamPro.Stats().TokenRequests
	cfgPath := filepath.Join(h.dir, "tp.yaml")
	tp := h.cfg.Sources.teampro()
	yaml := fmt.Sprintf("output: %s\nsources:\n  teampro:\n    base_url: %s\n    auth_url: %s\n    token_url: %s\n    client_id: %s\n    client_secret: %s\n    token_file: %s\n",
		h.cfg.Output, tp.BaseURL, tp.AuthURL, tp.TokenURL, tp.ClientID, tp.ClientSecret.Reveal(), tp.TokenFile)
	os.WriteFile(cfgPath, []byte(yaml), 0o600)
	var wg sync.WaitGroup
	outs := make([]string, 4)
	for n := range outs {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "ATHLAKE_CHILD_TOKEN="+cfgPath)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("child %d: %v\n%s", n, err, out)
			}
			outs[n] = strings.TrimSpace(string(out))
		})
	}
	wg.Wait()
	if got := h.sb.TeamPro.Stats().TokenRequests - before; got != 1 {
		t.Errorf("%d refreshes for 4 processes, want exactly 1", got)
	}
	for n, o := range outs {
		if o != outs[0] || !strings.HasPrefix(o, "access token ") {
			t.Errorf("child %d got %q, child 0 %q", n, o, outs[0])
		}
	}
	// And the stored refresh token is the live one.
	h.sync()
}

// childToken is the child of TestTokenRefreshAcrossProcesses: it asks the
// token source for an access token and prints a digest of it.
func childToken(path string) int {
	cfg, err := LoadConfig(path, os.Getenv)
	if err != nil {
		fmt.Println(err)
		return 2
	}
	ts, err := cfg.Sources.teampro().TokenSource(context.Background(), sourceEnv(&Env{}, cfg, "teampro", slog.Default()))
	if err != nil {
		fmt.Println(err)
		return 2
	}
	tok, err := ts.Token()
	if err != nil {
		fmt.Println(err)
		return 1
	}
	b, _ := json.Marshal(len(tok.AccessToken))
	fmt.Printf("access token %s %s\n", b, tok.AccessToken[len(tok.AccessToken)-6:])
	return 0
}

// TestTeamProEmptiedTeamsEmpty: the teams snapshot follows the vendor
// down to nothing (the conformance suite proves an unchanged sync writes
// nothing).
func TestTeamProEmptiedTeamsEmpty(t *testing.T) {
	t.Parallel()
	h := newTPHarness(t, 36, sbt.Options{})
	h.sync()
	if n := h.query("SELECT count(*) > 0 FROM teampro_players"); n[0][0] != "true" {
		t.Fatal("no players: the test would prove nothing")
	}

	// Every team deleted at the vendor: the teams and players views empty.
	h.sb.TeamPro.Mutate(func(d *sbt.Dataset) { d.Teams = nil })
	h.sync()
	for _, view := range []string{"teampro_teams", "teampro_players"} {
		if n := h.query("SELECT count(*) FROM " + view); n[0][0] != "0" {
			t.Errorf("%s has %s rows after every team was deleted at the vendor", view, n[0][0])
		}
	}
}

// TestTeamProFetchesOnlyWhatChanged: after the vendor moved on a day, a
// sync fetches the details of the new sessions only, not again those it
// fetched before that the lookback lists again (a pass once forgot them
// as soon as a newer session moved its lookback window).
func TestTeamProFetchesOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openLake(t, "teampro", dir, teamproPlanSim(t, dir, sandbox.ScaleSmall, 1000, 100000))
	l.sync()
	tp := l.sb.TeamPro
	rep := tp.Advance(24 * time.Hour)
	before := tp.Stats().ByRoute[sbt.RoutePlayerSession]
	l.sync()
	want := len(rep.NewPlayerSessions) + len(rep.NewIndividualSessions) + len(rep.ModifiedPlayerSessions)
	if got := tp.Stats().ByRoute[sbt.RoutePlayerSession] - before; got != want {
		t.Errorf("the sync after an advance fetched %d player sessions' details, want the %d new or modified", got, want)
	}
}
