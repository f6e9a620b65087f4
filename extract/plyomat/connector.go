package plyomat

import (
	"cmp"
	"context"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/extract/internal/stream"
	"github.com/athlake/athlake/extract/plyomat/webhook"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/sandbox"
	"github.com/athlake/athlake/schemas"
)

// Connector is Plyomat to athlake.
var Connector = connector.Connector{
	Name:      "plyomat",
	Title:     "Plyomat",
	NewConfig: func() connector.Config { return &Config{} },
	Tables:    schemas.Plyomat,
	AuthError: connector.RefusedCredential("plyomat", "api_key"),
	Sandbox: func(base, _ string) connector.Config {
		return &Config{BaseURL: base + sandbox.PlyomatPrefix, APIKey: sandbox.PlyomatKey}
	},
	DemoQuery: `SELECT a.first_name || ' ' || a.last_name AS athlete,
       count(*) AS jumps,
       round(max(r.jump_height_cm), 1) AS best_jump_cm,
       round(avg(r.rsi), 2) AS mean_rsi
FROM plyomat_reps r
JOIN plyomat_sets s ON s.id = r.set_id
JOIN plyomat_athletes a ON a.id = s.athlete_id
WHERE r.is_kept
GROUP BY ALL
ORDER BY best_jump_cm DESC
LIMIT 5`,
	Athletes: `SELECT id AS athlete_id, first_name, last_name, NULL::DATE AS birth_date, external_id, external_source
FROM plyomat_athletes`,
}

// Config is the section sources.plyomat.
type Config struct {
	BaseURL     string             `yaml:"base_url"`
	APIKey      connector.Secret   `yaml:"api_key"`
	Lookback    connector.Duration `yaml:"lookback"`
	PageSize    int                `yaml:"page_size"`
	Concurrency int                `yaml:"concurrency"`
	Timeout     connector.Duration `yaml:"timeout"`
	// WebhookSecret is the signing secret (whsec_...) of the webhook
	// subscription whose deliveries `athlake webhooks serve` receives;
	// with it, syncs apply the spooled deliveries first.
	WebhookSecret connector.Secret `yaml:"webhook_secret"`
}

// WebhookSecretKey is the key of the signing secret in the section.
const WebhookSecretKey = "webhook_secret"

// Validate checks the section.
func (c *Config) Validate() error {
	if err := connector.Required("base_url", c.BaseURL); err != nil {
		return err
	}
	if err := connector.CheckURL("base_url", c.BaseURL, "want an http:// or https:// URL"); err != nil {
		return err
	}
	if err := connector.Required("api_key", c.APIKey); err != nil {
		return err
	}
	if c.PageSize < 0 || c.PageSize > 500 {
		return &connector.KeyError{Key: "page_size", Msg: "must be between 1 and 500"}
	}
	if c.Concurrency < 0 || c.Concurrency > 64 {
		return &connector.KeyError{Key: "concurrency", Msg: "must be between 1 and 64"}
	}
	return nil
}

// Source builds the source of one run.
func (c *Config) Source(_ context.Context, env *connector.Env) (pipeline.Source, error) {
	cl, err := New(Options{
		BaseURL: c.BaseURL, APIKey: c.APIKey.Reveal(), UserAgent: env.UserAgent,
		PageSize: c.PageSize, Concurrency: c.Concurrency, Timeout: cmp.Or(env.Run.Timeout, time.Duration(c.Timeout)),
		Backoff: env.Run.Backoff, Transport: env.Transport, Log: env.Log,
	})
	if err != nil {
		return nil, &connector.KeyError{Msg: err.Error()}
	}
	o := SourceOptions{Options: stream.FromEnv(env, time.Duration(c.Lookback)), Concurrency: c.Concurrency, WebhooksOnly: env.Run.Webhooks}
	if env.Lake != nil {
		// Read by the snapshots whether or not webhooks are configured
		// now: an overlay written before still counts.
		o.Overlays = webhook.NewOverlays(env.Lake, SourceName)
		if c.WebhookSecret != "" {
			o.Spool = webhook.NewSpool(env.Lake, SourceName)
		}
	}
	return NewSource(cl, o), nil
}
