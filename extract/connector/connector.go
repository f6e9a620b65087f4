// Package connector is what a vendor is to athlake: one Connector value per
// source, listed once in the registry of package jobs. A connector names
// its config section and checks it, builds the source of a run, says which
// key a refused credential asks the user to fix, lists its tables for the
// data dictionary, and points at its simulator in the sandbox. Adding a
// vendor is writing its package and one registry entry.
//
// Extra abilities are optional interfaces of a section, found by type
// assertion: Authorizer (`athlake auth <source>`), Reporter (lines of
// its own in `athlake status`) and Replayer (`athlake rebuild`).
package connector

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
)

// Connector describes one source.
type Connector struct {
	// Name is the source's name: its section sources.<Name>, the value of
	// --source, its folder in the lake and the prefix of its views.
	Name string
	// Title names the vendor for people ("Polar Team Pro").
	Title string
	// NewConfig returns an empty section for sources.<Name> to decode into
	// (a pointer to a struct with yaml tags; unknown keys are errors).
	NewConfig func() Config
	// Tables lists the source's tables: the data dictionary, the writer's
	// schemas and the views.
	Tables func() []*schemas.Table
	// AuthError says which key of the section an error of a run asks the
	// user to fix, because the vendor refused its credentials; nil when the
	// error is not one of those.
	AuthError func(err error) *KeyError
	// Sandbox returns the section of this source's simulator in a sandbox
	// served at base (`athlake demo`, `athlake sandbox`), with the files the
	// source keeps (a token) under dir.
	Sandbox func(base, dir string) Config
	// DemoQuery, if set, is a query over the source's views that
	// `athlake demo` prints.
	DemoQuery string
	// Athletes, if set, is a query over the source's views listing the
	// people it knows, one row per id, with the columns athlete_id,
	// first_name, last_name, birth_date (a DATE or NULL), external_id and
	// external_source (VARCHARs or NULL): how the people of several
	// vendors are matched and linked (athlake_people).
	Athletes string
}

// Config is a source's section of athlake.yaml.
type Config interface {
	// Validate fills in defaults and checks the section without any
	// network call; a problem is a *KeyError naming the key.
	Validate() error
	// Source builds the source of one run.
	Source(ctx context.Context, env *Env) (pipeline.Source, error)
}

// Authorizer is a section whose credentials come from an interactive
// authorization (`athlake auth <source>`). Authorize saves what it gets and
// says where.
type Authorizer interface {
	Authorize(ctx context.Context, env *Env, o AuthOptions) (saved string, err error)
}

// AuthOptions configure an interactive authorization.
type AuthOptions struct {
	// Open shows the authorize URL in a browser; nil prints it only.
	Open func(ctx context.Context, authURL string) error
	// Prompt receives the instructions; Input, if set, is read for a pasted
	// code or redirect URL (machines without a browser).
	Prompt io.Writer
	Input  io.Reader
}

// Replayer is a section whose raw responses can be decoded again, with the
// code of this version, without a request to the vendor (`athlake
// rebuild`).
type Replayer interface {
	Replay(env *Env) (Replay, error)
}

// Replay decodes raw responses as the source's streams decode what they
// receive.
type Replay interface {
	// Decode decodes one raw response that run runID's stream received
	// into the batch the stream would emit for it (records, rejects,
	// anomalies; no raw, no state). An error means the response cannot be
	// decoded at all.
	Decode(stream, runID string, raw pipeline.Raw) (*pipeline.Batch, error)
}

// Reporter is a section with more to say in `athlake status` than its
// streams' states (a quota).
type Reporter interface {
	Report(ctx context.Context, env *Env, w io.Writer) error
}

// Env is what a source is built with. Log already says which source.
type Env struct {
	// Lake is the output; a source may keep state of its own beside its
	// streams' (under load.StateDir).
	Lake store.Store
	// OpenBucket opens an S3 bucket with the output's S3 settings (a
	// token kept in a bucket by a pod without a disk).
	OpenBucket func(ctx context.Context, bucket string) (store.Store, error)
	// Path resolves a configured path: ~ to the home folder, a relative
	// path against the config file's folder.
	Path      func(p string) (string, error)
	Registry  *schemas.Registry
	Mem       memory.Allocator
	RunID     string
	Log       *slog.Logger
	Transport http.RoundTripper
	UserAgent string
	Run       Run
}

// OverlayStream is the name of a stream that writes single records
// fetched by id (a webhook's targeted pulls). Its rows of a snapshot table
// are laid over that table's newest snapshot, newest version of a key
// first, until a newer snapshot replaces them.
const OverlayStream = "webhooks"

// Run is what a run covers, and the tuning tests give it.
type Run struct {
	Backfill bool
	// Webhooks runs only the streams that apply webhook deliveries
	// spooled by `athlake webhooks serve` (a source without any runs
	// nothing).
	Webhooks bool
	Athletes []string
	Since    time.Time
	Until    time.Time
	// Timeout and Backoff override the section's HTTP timeout and the
	// retries' backoff (tests shorten them).
	Timeout time.Duration
	Backoff time.Duration
	// Rate and Burst override a client-side rate limit; Clock and Sleep
	// are its clock (tests run it on a fake one).
	Rate  float64
	Burst int
	Clock func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// KeyError is a problem with one key of a source's section; Key is
// relative to the section ("api_key"; "" for the section itself). Package
// jobs reports it as a configuration error naming sources.<name>.<key>.
type KeyError struct {
	Key string
	Msg string
}

func (e *KeyError) Error() string {
	if e.Key == "" {
		return e.Msg
	}
	return e.Key + ": " + e.Msg
}
