// Package sandbox serves faithful simulations of the vendor APIs from one
// process, each under its own path prefix, with deterministic synthetic data.
// It is the embedded default behind `athlake demo`, the fixture of the tests
// and the load generator of the benchmarks.
package sandbox

import (
	"net/http"
	"time"

	"github.com/athlake/athlake/sandbox/plyomat"
)

// Path prefixes of the simulated APIs.
const (
	PlyomatPrefix = "/plyomat/v1"
)

// PlyomatKey is the API key the sandbox's Plyomat accepts.
const PlyomatKey = "pk_sandbox_3c1f9a7e5b2d4c6a"

// Options configures a sandbox.
type Options struct {
	Seed  int64
	Scale plyomat.Scale
	Start time.Time // the virtual clock's start (zero: the simulators' default)
}

// Sandbox is the set of simulated APIs.
type Sandbox struct {
	Plyomat *plyomat.Server
	mux     *http.ServeMux
}

// New builds the simulators.
func New(o Options) *Sandbox {
	s := &Sandbox{
		Plyomat: plyomat.New(plyomat.Options{Seed: o.Seed, Scale: o.Scale, APIKey: PlyomatKey, Start: o.Start}),
		mux:     http.NewServeMux(),
	}
	s.mux.Handle(PlyomatPrefix+"/", http.StripPrefix(PlyomatPrefix, s.Plyomat))
	return s
}

// ServeHTTP routes to the simulators.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }
