// Package sandbox serves faithful simulations of the vendor APIs from one
// process, each under its own path prefix, with deterministic synthetic data.
// It is the embedded default behind `athlake demo`, the fixture of the tests
// and the load generator of the benchmarks.
package sandbox

import (
	"net/http"
	"strings"
	"time"

	"github.com/athlake/athlake/sandbox/internal/fault"
	"github.com/athlake/athlake/sandbox/internal/scale"
	"github.com/athlake/athlake/sandbox/optimo"
	"github.com/athlake/athlake/sandbox/plyomat"
	"github.com/athlake/athlake/sandbox/teampro"
)

// Scale is the size of the simulated organisations: every simulator takes
// it (their Options.Scale say what each size holds).
type Scale = scale.Scale

// The scales, smallest first. ScaleSmall is the demo's (and the zero
// value).
const (
	ScaleSmall  = scale.Small
	ScaleMedium = scale.Medium
	ScaleLarge  = scale.Large
)

// ParseScale parses "small", "medium" or "large" (any case, spaces around
// ignored).
func ParseScale(s string) (Scale, error) { return scale.Parse(s) }

// HTTPFaults are the faults Plyomat's and Team Pro's simulators share:
// their Faults embed them.
type HTTPFaults = fault.HTTP

// Path prefixes of the simulated APIs.
const (
	PlyomatPrefix = "/plyomat/v1"
	TeamProPrefix = "/teampro" // API under /teampro/v1, OAuth2 under /teampro/oauth
	OptimoPrefix  = "/optimo"  // the endpoint is /optimo/api/2.1/xml-in
	OptimoPath    = OptimoPrefix + "/api/2.1/xml-in"
)

// Credentials the simulated vendors accept. They are the sandbox's own, not
// secrets of anyone's.
const (
	PlyomatKey = "pk_sandbox_3c1f9a7e5b2d4c6a"
	// PlyomatWebhookSecret signs the demo's webhook deliveries.
	PlyomatWebhookSecret = "whsec_sandbox_8e4b1d7a2c5f"
	TeamProClientID      = "athlake-sandbox"
	TeamProClientSecret  = "tp_sandbox_secret_9f2e71c4"
	OptimoAdminToken     = "op_admin_5d0c3b8e1f"
	OptimoCoachToken     = "op_coach_72a9e4d610"
	// OptimoTimezone is the simulated account's wall-clock zone.
	OptimoTimezone = "Europe/Copenhagen"
)

// Notes says what `athlake sandbox` adds to the sources' settings.
const Notes = "optimo also takes the coach token " + OptimoCoachToken + ", a role refused coach.list"

// Options configures a sandbox.
type Options struct {
	Seed  int64
	Scale Scale
	// Latency delays every response, as the round trip to a vendor's
	// servers does (the loopback has almost none): benchmarks of request
	// concurrency need it.
	Latency time.Duration
	Start   time.Time // the virtual clock's start (zero: the simulators' default)
	// TeamPro overrides the Team Pro simulator's options (token lifetime,
	// rate limit, clock); its seed, scale and client are filled in.
	TeamPro teampro.Options
	// Optimo overrides the Optimo simulator's options (quota, clock, a
	// larger scale than Scale).
	Optimo optimo.Options
}

// Sandbox is the set of simulated APIs.
type Sandbox struct {
	Plyomat *plyomat.Server
	TeamPro *teampro.Server
	Optimo  *optimo.Server
	latency time.Duration
	people  []Person
}

// New builds the simulators.
func New(o Options) *Sandbox {
	tp := o.TeamPro
	tp.Seed, tp.Scale, tp.Start = o.Seed, o.Scale, o.Start
	tp.ClientID, tp.ClientSecret = TeamProClientID, TeamProClientSecret
	op := o.Optimo
	op.Seed, op.Start = o.Seed, o.Start
	if op.Scale == ScaleSmall { // unset: the sandbox's scale
		op.Scale = o.Scale
	}
	op.AdminToken, op.CoachToken = OptimoAdminToken, OptimoCoachToken
	if op.Timezone == nil {
		op.Timezone, _ = time.LoadLocation(OptimoTimezone) // nil falls back to the simulator's default
	}
	s := &Sandbox{
		Plyomat: plyomat.New(plyomat.Options{Seed: o.Seed, Scale: o.Scale, APIKey: PlyomatKey, Start: o.Start}),
		TeamPro: teampro.New(tp),
		Optimo:  optimo.New(op),
		latency: o.Latency,
	}
	s.linkPeople(o.Seed)
	return s
}

// ServeHTTP routes to the simulators by path prefix. It does not use
// http.ServeMux, which cleans paths and redirects: an id such as "a/../b"
// (sent as a%2F..%2Fb) or ".." (sent as %2E%2E) must reach the simulator
// as the one segment the client sent.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.latency > 0 {
		t := time.NewTimer(s.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	for _, m := range []struct {
		prefix string
		h      http.Handler
	}{{PlyomatPrefix, s.Plyomat}, {TeamProPrefix, s.TeamPro}, {OptimoPrefix, s.Optimo}} {
		if strings.HasPrefix(r.URL.EscapedPath(), m.prefix+"/") {
			http.StripPrefix(m.prefix, m.h).ServeHTTP(w, r)
			return
		}
	}
	http.NotFound(w, r)
}
