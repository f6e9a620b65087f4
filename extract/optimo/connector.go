package optimo

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"regexp"
	"slices"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/extract/internal/stream"
	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/sandbox"
	"github.com/athlake/athlake/schemas"
)

// Connector is Optimo Sport to athlake.
var Connector = connector.Connector{
	Name:      "optimo",
	Title:     "Optimo Sport",
	NewConfig: func() connector.Config { return &Config{} },
	Tables:    schemas.Optimo,
	AuthError: connector.RefusedCredential("optimo", "token"),
	Sandbox: func(base, _ string) connector.Config {
		return &Config{BaseURL: base + sandbox.OptimoPath, Token: sandbox.OptimoAdminToken, Timezone: sandbox.OptimoTimezone}
	},
	Athletes: `SELECT athlete_id::VARCHAR AS athlete_id, first_name, last_name, birth_date,
       NULL::VARCHAR AS external_id, NULL::VARCHAR AS external_source
FROM optimo_athletes`,
}

// Config is the section sources.optimo.
type Config struct {
	BaseURL            string             `yaml:"base_url"` // the account's endpoint, .../api/2.1/xml-in
	Token              connector.Secret   `yaml:"token"`
	Timezone           string             `yaml:"timezone"` // the account's wall-clock zone (default UTC)
	DailyRequestBudget int                `yaml:"daily_request_budget"`
	Lookback           connector.Duration `yaml:"lookback"`
	// Overlap is lookback's name before the three sources shared it; still
	// read.
	Overlap connector.Duration `yaml:"overlap"`
	Timeout connector.Duration `yaml:"timeout"`
	// CursorFields names the element that carries each method's change
	// stamp (the one updated_from filters on), for accounts that do not
	// call it updated_at.
	CursorFields CursorFields `yaml:"cursor_fields"`
	zone         *time.Location
}

// CursorFields names the change stamp of each incremental method (default
// updated_at). Only methods read through updated_from have one.
type CursorFields struct {
	Athletes    string `yaml:"athlete.list"`
	Workouts    string `yaml:"workout.list"`
	Assessments string `yaml:"assessment.list"`
}

// ByMethod returns the configured fields by method name (unset ones left
// out).
func (c CursorFields) ByMethod() map[string]string {
	out := map[string]string{}
	for m, v := range map[string]string{"athlete.list": c.Athletes, "workout.list": c.Workouts, "assessment.list": c.Assessments} {
		if v != "" {
			out[m] = v
		}
	}
	return out
}

// Zone is the account's time zone, loaded by Validate.
func (c *Config) Zone() *time.Location { return c.zone }

// xmlName matches the element names a cursor field may have (ASCII
// letters, digits, "_", "-" and ".", not starting with a digit, "-" or ".").
var xmlName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// Validate checks the section and loads the time zone.
func (c *Config) Validate() error {
	if err := connector.CheckURL("base_url", c.BaseURL, "want the account's https://.../api/2.1/xml-in URL"); err != nil {
		return err
	}
	if err := connector.Required("token", c.Token); err != nil {
		return err
	}
	if c.Overlap != 0 && c.Lookback != 0 {
		return &connector.KeyError{Key: "overlap", Msg: "the older name of lookback: set one of them"}
	}
	c.Lookback = cmp.Or(c.Lookback, c.Overlap)
	c.Timezone = cmp.Or(c.Timezone, "UTC")
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return &connector.KeyError{Key: "timezone", Msg: fmt.Sprintf("%q is not an IANA time zone like Europe/Copenhagen", c.Timezone)}
	}
	c.zone = loc
	c.DailyRequestBudget = cmp.Or(c.DailyRequestBudget, 5000)
	if c.DailyRequestBudget < 1 {
		return &connector.KeyError{Key: "daily_request_budget", Msg: "must be at least 1"}
	}
	fields := c.CursorFields.ByMethod()
	for _, m := range slices.Sorted(maps.Keys(fields)) {
		if f := fields[m]; !xmlName.MatchString(f) {
			return &connector.KeyError{Key: "cursor_fields." + m, Msg: fmt.Sprintf("%q is not an XML element name like updated_at", f)}
		}
	}
	return nil
}

// Source builds the source of one run; the day's request count is kept in
// the lake's state folder.
func (c *Config) Source(ctx context.Context, env *connector.Env) (pipeline.Source, error) {
	budget, err := NewBudget(ctx, LakeQuota(env.Lake), c.zone, c.DailyRequestBudget, env.Run.Clock)
	if err != nil {
		return nil, err
	}
	cl, err := New(Options{
		BaseURL: c.BaseURL, Token: c.Token.Reveal(), UserAgent: env.UserAgent, Budget: budget,
		Timeout: cmp.Or(env.Run.Timeout, time.Duration(c.Timeout)), Backoff: env.Run.Backoff,
		Transport: env.Transport, Log: env.Log,
	})
	if err != nil {
		return nil, &connector.KeyError{Msg: err.Error()}
	}
	return NewSource(cl, SourceOptions{
		Options: stream.FromEnv(env, time.Duration(c.Lookback)),
		Zone:    c.zone, CursorFields: c.CursorFields.ByMethod(), Log: env.Log,
	}), nil
}

// Report prints the day's spending of the request budget.
func (c *Config) Report(ctx context.Context, env *connector.Env, w io.Writer) error {
	q, err := LakeQuota(env.Lake).Load(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\noptimo quota: %d of %d requests spent on %s (%s)\n", q.Used, c.DailyRequestBudget, cmp.Or(q.Day, "-"), c.Timezone)
	if q.VendorRefused {
		fmt.Fprintf(w, "  the vendor refused a request for its quota on %s: the next run tries one request first\n", q.Day)
	}
	return nil
}

// LakeQuota keeps the day's request count in a lake's state folder.
func LakeQuota(lake store.Store) QuotaStore { return lakeQuota{lake} }

type lakeQuota struct{ st store.Store }

var quotaKey = path.Join(load.StateDir, "optimo-quota.json")

func (q lakeQuota) Load(ctx context.Context) (Quota, error) {
	var out Quota
	b, _, err := q.st.Get(ctx, quotaKey)
	if errors.Is(err, store.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	return out, json.Unmarshal(b, &out)
}

func (q lakeQuota) Save(ctx context.Context, v Quota) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return q.st.Put(ctx, quotaKey, b)
}
