// Package sandbox serves faithful simulations of the vendor APIs from one
// process, each under its own path prefix, with deterministic synthetic data.
// It is the embedded default behind `athlake demo`, the fixture of the tests
// and the load generator of the benchmarks.
package sandbox

import (
	"net/http"
	"time"

	"github.com/athlake/athlake/sandbox/plyomat"
	"github.com/athlake/athlake/sandbox/teampro"
)

// Path prefixes of the simulated APIs.
const (
	PlyomatPrefix = "/plyomat/v1"
	TeamProPrefix = "/teampro" // API under /teampro/v1, OAuth2 under /teampro/oauth
)

// Credentials the simulated vendors accept. They are the sandbox's own, not
// secrets of anyone's.
const (
	PlyomatKey          = "pk_sandbox_3c1f9a7e5b2d4c6a"
	TeamProClientID     = "athlake-sandbox"
	TeamProClientSecret = "tp_sandbox_secret_9f2e71c4"
)

// Options configures a sandbox.
type Options struct {
	Seed  int64
	Scale plyomat.Scale
	Start time.Time // the virtual clock's start (zero: the simulators' default)
	// TeamPro overrides the Team Pro simulator's options (token lifetime,
	// rate limit, clock); its seed, scale and client are filled in.
	TeamPro teampro.Options
}

// Sandbox is the set of simulated APIs.
type Sandbox struct {
	Plyomat *plyomat.Server
	TeamPro *teampro.Server
	mux     *http.ServeMux
}

// New builds the simulators.
func New(o Options) *Sandbox {
	tp := o.TeamPro
	tp.Seed, tp.Scale, tp.Start = o.Seed, teampro.Scale(o.Scale), o.Start
	tp.ClientID, tp.ClientSecret = TeamProClientID, TeamProClientSecret
	s := &Sandbox{
		Plyomat: plyomat.New(plyomat.Options{Seed: o.Seed, Scale: o.Scale, APIKey: PlyomatKey, Start: o.Start}),
		TeamPro: teampro.New(tp),
		mux:     http.NewServeMux(),
	}
	s.mux.Handle(PlyomatPrefix+"/", http.StripPrefix(PlyomatPrefix, s.Plyomat))
	s.mux.Handle(TeamProPrefix+"/", http.StripPrefix(TeamProPrefix, s.TeamPro))
	return s
}

// ServeHTTP routes to the simulators.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }
