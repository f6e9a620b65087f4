package jobs

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/extract/optimo"
	"github.com/athlake/athlake/extract/plyomat"
	"github.com/athlake/athlake/extract/teampro"
	"github.com/athlake/athlake/sandbox"
	sbo "github.com/athlake/athlake/sandbox/optimo"
	sbp "github.com/athlake/athlake/sandbox/plyomat"
	sbt "github.com/athlake/athlake/sandbox/teampro"
)

// simulators adapt each source's simulator to the conformance suite, by
// the connector's Name: a registered source without one fails the suite.
// dir is where the section keeps its files (a token).
var simulators = map[string]func(t *testing.T, dir string, seed int64, o simOptions) *simulator{
	"plyomat": plyomatSim,
	"teampro": teamproSim,
	"optimo":  optimoSim,
}

// when is f if on, else none (the zero value).
func when[F any](on bool, f F) F {
	if !on {
		var none F
		return none
	}
	return f
}

// httpChaosStorm is the length of httpChaos's 429 storm.
const httpChaosStorm = 3

// httpChaos is the mix of faults the JSON simulators inject while the
// conformance suite's faults are on: server errors, cut and stalled
// bodies, a 429 storm and one malformed response at path once.
func httpChaos(once string) sandbox.HTTPFaults {
	return sandbox.HTTPFaults{
		ErrorRate: 0.05, ResetRate: 0.04, HangRate: 0.02, HangFor: 5 * time.Second,
		Storm429: httpChaosStorm, RetryAfter: 1, MalformedOnce: once,
	}
}

func plyomatSim(t *testing.T, dir string, seed int64, o simOptions) *simulator {
	sb := sandbox.New(sandbox.Options{Seed: seed, Scale: sandbox.ScaleSmall})
	sec := plyomat.Connector.Sandbox(serve(t, sb), dir).(*plyomat.Config)
	p := sb.Plyomat
	var ids []string
	if o.Hostile {
		ids = p.AddHostileIDs()
	}
	return &simulator{
		sb: sb, section: sec,
		run:       RunOptions{Run: connector.Run{Timeout: 2 * time.Second}},
		queries:   viewQueries,
		normalize: normalizeDevices,
		want:      func() map[string][][]string { return expected(p.Truth()) },
		advance:   func() { p.Advance(36 * time.Hour) },
		faults: func(on bool) {
			p.SetFaults(when(on, sbp.Faults{HTTP: httpChaos("/sets")}))
		},
		faultWaits: httpChaosStorm,
		broken: func(on bool) (string, []string, []string) {
			p.SetFaults(when(on, sbp.Faults{HTTP: sandbox.HTTPFaults{MalformedAlways: "/sets"}}))
			return "GET /plyomat/v1/sets", []string{"sets", "reps"}, []string{"sets"}
		},
		hostile: func(t *testing.T, l *lake) {
			for _, id := range ids {
				l.assertTrue("SELECT count(*) > 0 FROM plyomat_sets WHERE athlete_id = " + sqlString(id))
			}
		},
		wrongType: func(*lake) (func() []string, func() map[string][][]string) {
			var badRep, badSet string
			p.Mutate(func(d *sbp.Dataset) {
				s := &d.Sets[2]
				s.Reps[1].Overrides = map[string]any{"jump_height_cm": "high"}
				badRep = s.ID
				d.Sets[3].Overrides = map[string]any{"started_at": 1714726365}
				badSet = d.Sets[3].ID
			})
			rejects := func() []string {
				return []string{
					"reps set_id=" + badRep + ",rep_index=1 jump_height_cm: want a number, got a string \"high\"",
					"sets id=" + badSet + " started_at: want a timestamp string, got a number 1714726365",
				}
			}
			want := func() map[string][][]string {
				truth := p.Truth()
				for i := range truth.Sets {
					if truth.Sets[i].ID == badRep {
						truth.Sets[i].Reps = slices.Delete(truth.Sets[i].Reps, 1, 2)
					}
				}
				truth.Sets = slices.DeleteFunc(truth.Sets, func(s sbp.Set) bool { return s.ID == badSet })
				return expected(truth)
			}
			return rejects, want
		},
		secrets: func() []string { return []string{sandbox.PlyomatKey} },
		badSecret: func() (string, string) {
			sec.APIKey = "pk_live_wrong_but_secret"
			return sec.APIKey.Reveal(), "api_key"
		},
		kills: 8,
	}
}

// teamproOn is Team Pro simulator sb, its rate limit on clock, as a lake
// drives it.
func teamproOn(t *testing.T, dir string, sb *sandbox.Sandbox, clock *fakeClock) *simulator {
	return &simulator{
		sb: sb, section: teampro.Connector.Sandbox(serve(t, sb), dir),
		run:     RunOptions{Run: connector.Run{Clock: clock.Now, Sleep: clock.Sleep}},
		queries: tpQueries,
		want:    func() map[string][][]string { return tpExpected(sb.TeamPro.Truth()) },
	}
}

func teamproSim(t *testing.T, dir string, seed int64, o simOptions) *simulator {
	// The vendor's rate limit, on a fake clock shared by the sandbox and
	// the client, is lifted on both sides (the limiter has tests of its
	// own); child processes run on the real clock.
	clock := &fakeClock{t: time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)}
	sb := sandbox.New(sandbox.Options{Seed: seed, TeamPro: sbt.Options{Rate: 1000, Burst: 100000, Clock: clock.Now}})
	sim := teamproOn(t, dir, sb, clock)
	sec := sim.section.(*teampro.Config)
	sec.Rate, sec.Burst = 1000, 100000
	sec.Lookback = connector.Duration(30 * 24 * time.Hour) // Advance edits sessions weeks old
	tp := sb.TeamPro
	// A minute of 10 Hz samples a session: the hours of the generated
	// ones would only make every run and comparison slower.
	trimmed := map[string]bool{}
	trim := func() {
		for _, ps := range tp.TruthWithoutSamples().PlayerSessions {
			if !trimmed[ps.ID] {
				trimmed[ps.ID] = true
				tp.MutateSession(ps.ID, func(x *sbt.PlayerSession) {
					x.Samples, x.RR = x.Samples[:min(len(x.Samples), 600)], x.RR[:min(len(x.RR), 100)]
				})
			}
		}
	}
	trim()
	var ids []string
	if o.Hostile {
		ids = tp.AddHostileTeams()
		trim()
	}
	*sim = simulator{
		sb: sb, section: sec, run: sim.run, queries: sim.queries, want: sim.want,
		advance: func() { tp.Advance(24 * time.Hour); trim() },
		faults: func(on bool) {
			tp.SetFaults(when(on, sbt.Faults{HTTP: httpChaos("/v1/training_sessions/")}))
		},
		faultWaits: httpChaosStorm,
		broken: func(on bool) (string, []string, []string) {
			tp.SetFaults(when(on, sbt.Faults{HTTP: sandbox.HTTPFaults{MalformedAlways: "/v1/teams/training_sessions"}}))
			// The training stream saves its pass in progress (and the
			// rate bucket) without data: its state moves, its views not.
			return "GET /teampro/v1/teams/training_sessions/", nil, nil
		},
		hostile: func(t *testing.T, l *lake) {
			if st := tp.Stats(); st.ByRoute[sbt.RouteUnknown] != 0 {
				t.Errorf("%d requests the sandbox could not route", st.ByRoute[sbt.RouteUnknown])
			}
			for _, id := range ids {
				lit := sqlString(id)
				l.assertTrue(
					"SELECT count(*) = 1 FROM teampro_teams WHERE id = "+lit,
					"SELECT count(*) = 1 FROM teampro_players WHERE player_id = "+lit,
					"SELECT count(*) = 1 FROM teampro_team_sessions WHERE id = "+lit,
					"SELECT count(*) = 1 FROM teampro_player_sessions WHERE id = "+lit+" AND player_id IS NOT NULL",
					"SELECT count(*) = 1 FROM teampro_session_summaries WHERE player_session_id = "+lit,
					"SELECT count(DISTINCT player_session_id) = 1 FROM teampro_samples WHERE player_session_id = "+lit)
			}
		},
		wrongType: func(l *lake) (func() []string, func() map[string][][]string) {
			// The first session summary sent has a number for a time.
			var bad string
			created := regexp.MustCompile(`"created":"[^"]*"`)
			l.transport = &bodyRewriter{next: http.DefaultTransport, rewrite: func(r *http.Request, body []byte) []byte {
				id, ok := strings.CutSuffix(r.URL.EscapedPath(), "/session_summary")
				if !ok || !created.Match(body) {
					return nil
				}
				bad = id[strings.LastIndex(id, "/")+1:]
				loc := created.FindIndex(body)
				return slices.Concat(body[:loc[0]], []byte(`"created":1714726365`), body[loc[1]:])
			}}
			rejects := func() []string {
				return []string{"session_summaries player_session_id=" + bad + " created: want a timestamp string, got a number 1714726365"}
			}
			want := func() map[string][][]string {
				truth := tp.Truth()
				for i := range truth.PlayerSessions {
					if truth.PlayerSessions[i].ID == bad {
						truth.PlayerSessions[i].Summary = nil
					}
				}
				return tpExpected(truth)
			}
			return rejects, want
		},
		secrets: func() []string {
			tok, _, err := (teampro.TokenFile{Path: sec.TokenFile}).Get(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return []string{sandbox.TeamProClientSecret, tok.AccessToken, tok.RefreshToken}
		},
		keep:        []string{sec.TokenFile},
		kills:       2,
		commitBytes: 1 << 20,
	}
	return sim
}

// optimoOn is Optimo simulator sb (behind wrap, if given) as a lake
// drives it.
func optimoOn(t *testing.T, dir string, sb *sandbox.Sandbox, wrap ...func(http.Handler) http.Handler) *simulator {
	op := sb.Optimo
	return &simulator{
		sb: sb, section: optimo.Connector.Sandbox(serve(t, sb, wrap...), dir),
		queries: opQueries,
		want: func() map[string][][]string {
			return opExpectedIDs(op.Truth(), wallUTCOracle(op.Zone().String()), op.WireID)
		},
	}
}

func optimoSim(t *testing.T, dir string, seed int64, o simOptions) *simulator {
	opts := sbo.Options{HostileIDs: o.Hostile}
	if o.Crash {
		opts.Scale = sandbox.ScaleMedium // lists of several pages
	}
	sb := sandbox.New(sandbox.Options{Seed: seed, Optimo: opts})
	sim := optimoOn(t, dir, sb)
	sec := sim.section.(*optimo.Config)
	op := sb.Optimo
	want := func(d *sbo.Dataset) map[string][][]string {
		return opExpectedIDs(d, wallUTCOracle(op.Zone().String()), op.WireID)
	}
	*sim = simulator{
		sb: sb, section: sec, queries: sim.queries, want: sim.want,
		advance: func() { op.Advance(24 * time.Hour) },
		faults: func(on bool) {
			op.SetFaults(when(on, sbo.Faults{ErrorRate: 0.1, MalformedOnce: true, HTMLOnce: true, RequestRootRate: 0.5}))
		},
		broken: func(on bool) (string, []string, []string) {
			op.SetFaults(sbo.Faults{MalformedAlways: on})
			return "POST /optimo/api/2.1/xml-in", nil, []string{"athletes", "coaches", "workouts", "assessments"}
		},
		hostile: func(t *testing.T, l *lake) {
			truth := op.Truth()
			for _, id := range sbo.HostileIDs[:min(len(sbo.HostileIDs), len(truth.Athletes))] {
				l.assertTrue("SELECT count(*) = 1 FROM optimo_athletes WHERE athlete_id = " + sqlString(id))
			}
		},
		wrongType: func(l *lake) (func() []string, func() map[string][][]string) {
			// The first assessment result sent has a word for its value.
			var assessment string
			var position int
			value := regexp.MustCompile(`<value>[^<]*</value>`)
			id := regexp.MustCompile(`<assessment_id>([^<]*)</assessment_id>`)
			l.transport = &bodyRewriter{next: http.DefaultTransport, rewrite: func(_ *http.Request, body []byte) []byte {
				loc := value.FindIndex(body)
				if loc == nil {
					return nil
				}
				ids := id.FindAllSubmatchIndex(body[:loc[0]], -1)
				last := ids[len(ids)-1]
				assessment = string(body[last[2]:last[3]])
				position = bytes.Count(body[last[1]:loc[0]], []byte("<result>")) - 1
				return slices.Concat(body[:loc[0]], []byte(`<value>fast</value>`), body[loc[1]:])
			}}
			rejects := func() []string {
				return []string{"assessment_results assessment_id=" + assessment + ",position=" + strconv.Itoa(position) +
					" value: want a number, got a string \"fast\""}
			}
			wantRejected := func() map[string][][]string {
				m := want(op.Truth())
				m["assessment_results"] = slices.DeleteFunc(m["assessment_results"], func(r []string) bool {
					return r[0] == assessment && r[1] == strconv.Itoa(position)
				})
				return m
			}
			return rejects, wantRejected
		},
		secrets: func() []string { return []string{sandbox.OptimoAdminToken, sandbox.OptimoCoachToken} },
		badSecret: func() (string, string) {
			sec.Token = "op_live_wrong_but_secret"
			return sec.Token.Reveal(), "token"
		},
		kills: 4,
	}
	return sim
}
