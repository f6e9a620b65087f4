package teampro

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/extract/internal/stream"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/sandbox"
	"github.com/athlake/athlake/schemas"
)

// Connector is Polar Team Pro to athlake.
var Connector = connector.Connector{
	Name:      "teampro",
	Title:     "Polar Team Pro",
	NewConfig: func() connector.Config { return &Config{} },
	Tables:    schemas.TeamPro,
	AuthError: authError,
	Sandbox: func(base, dir string) connector.Config {
		tp := base + sandbox.TeamProPrefix
		return &Config{
			BaseURL: tp, AuthURL: tp + "/oauth/authorize", TokenURL: tp + "/oauth/token",
			ClientID: sandbox.TeamProClientID, ClientSecret: sandbox.TeamProClientSecret,
			TokenFile: filepath.Join(dir, "teampro-token.json"),
		}
	},
	DemoQuery: `SELECT p.first_name || ' ' || p.last_name AS player,
       count(DISTINCT s.player_session_id) AS sessions,
       round(count(*) / 600.0) AS minutes,
       round(max(s.speed) * 3.6, 1) AS top_kmh,
       max(s.hr)::INT AS max_hr
FROM teampro_samples s
JOIN teampro_player_sessions ps ON ps.id = s.player_session_id
JOIN teampro_players p ON p.player_id = ps.player_id
GROUP BY ALL
ORDER BY top_kmh DESC
LIMIT 5`,
	// A player is on a row of each team's roster.
	Athletes: `SELECT player_id AS athlete_id, any_value(first_name) AS first_name, any_value(last_name) AS last_name,
       NULL::DATE AS birth_date, NULL::VARCHAR AS external_id, NULL::VARCHAR AS external_source
FROM teampro_players
GROUP BY player_id`,
}

// authError: every refusal of the vendor is fixed by authorizing again,
// which rewrites the token file.
func authError(err error) *connector.KeyError {
	var api *APIError
	switch {
	case errors.Is(err, ErrReauthorize):
		return &connector.KeyError{Key: "token_file", Msg: "the Team Pro authorization is missing, revoked or expired"}
	case errors.As(err, &api) && api.Source == "teampro" && api.Status == http.StatusUnauthorized:
		return &connector.KeyError{Key: "token_file", Msg: "the vendor rejected the access token: run `athlake auth teampro` again"}
	case errors.As(err, &api) && api.Source == "teampro" && api.Status == http.StatusForbidden:
		return &connector.KeyError{Key: "token_file", Msg: "the vendor refused access: authorize a user who can read the teams (scope team_read) with `athlake auth teampro`"}
	}
	return nil
}

// Config is the section sources.teampro.
type Config struct {
	BaseURL      string             `yaml:"base_url"`
	AuthURL      string             `yaml:"auth_url"`
	TokenURL     string             `yaml:"token_url"`
	ClientID     string             `yaml:"client_id"`
	ClientSecret connector.Secret   `yaml:"client_secret"`
	TokenFile    string             `yaml:"token_file"`
	RedirectURL  string             `yaml:"redirect_url"` // loopback address for `athlake auth teampro`; default any free port
	Samples      string             `yaml:"samples"`
	Lookback     connector.Duration `yaml:"lookback"`
	Timeout      connector.Duration `yaml:"timeout"`
	// Rate and Burst are the client-side limit (default: the vendor's 1/s
	// and 100); lower them when other tools share the client.
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
}

// Validate checks the section and fills in the vendor's addresses.
func (c *Config) Validate() error {
	c.BaseURL = cmp.Or(c.BaseURL, "https://teampro.api.polar.com")
	c.AuthURL = cmp.Or(c.AuthURL, "https://auth.polar.com/oauth/authorize")
	c.TokenURL = cmp.Or(c.TokenURL, "https://auth.polar.com/oauth/token")
	for _, u := range []struct{ key, v string }{{"base_url", c.BaseURL}, {"auth_url", c.AuthURL}, {"token_url", c.TokenURL}} {
		if err := connector.CheckURL(u.key, u.v, "want an http:// or https:// URL"); err != nil {
			return err
		}
	}
	if err := connector.Required("client_id", c.ClientID); err != nil {
		return err
	}
	if err := connector.Required("client_secret", c.ClientSecret); err != nil {
		return err
	}
	c.TokenFile = cmp.Or(c.TokenFile, "~/.config/athlake/teampro-token.json")
	if _, _, ok := tokenObject(c.TokenFile); strings.HasPrefix(c.TokenFile, "s3://") && !ok {
		return &connector.KeyError{Key: "token_file", Msg: fmt.Sprintf("%q: want a file path or s3://bucket/key", c.TokenFile)}
	}
	c.Samples = cmp.Or(c.Samples, "all")
	if c.Rate < 0 {
		return &connector.KeyError{Key: "rate", Msg: "must be positive (requests per second)"}
	}
	if c.Burst < 0 {
		return &connector.KeyError{Key: "burst", Msg: "must be positive"}
	}
	if c.RedirectURL != "" {
		u, err := url.Parse(c.RedirectURL)
		if err != nil || u.Scheme != "http" || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost" && u.Hostname() != "::1") || u.Port() == "" {
			return &connector.KeyError{Key: "redirect_url", Msg: "want a loopback URL with a port, like http://127.0.0.1:8765/callback"}
		}
	}
	return nil
}

// tokenObject splits s3://bucket/key.
func tokenObject(p string) (bucket, key string, ok bool) {
	rest, found := strings.CutPrefix(p, "s3://")
	if !found {
		return "", "", false
	}
	bucket, key, _ = strings.Cut(rest, "/")
	return bucket, key, bucket != "" && key != "" && store.CheckKey(key) == nil
}

// Source builds the source of one run.
func (c *Config) Source(ctx context.Context, env *connector.Env) (pipeline.Source, error) {
	tokens, err := c.TokenSource(ctx, env)
	if err != nil {
		return nil, err
	}
	r := env.Run
	cl, err := New(Options{
		BaseURL: c.BaseURL, Tokens: tokens, UserAgent: env.UserAgent,
		Timeout: cmp.Or(r.Timeout, time.Duration(c.Timeout)), Backoff: r.Backoff,
		Rate: cmp.Or(r.Rate, c.Rate), Burst: cmp.Or(r.Burst, c.Burst), Clock: r.Clock, Sleep: r.Sleep,
		Transport: env.Transport, Log: env.Log,
	})
	if err != nil {
		return nil, &connector.KeyError{Msg: err.Error()}
	}
	return NewSource(cl, SourceOptions{Options: stream.FromEnv(env, time.Duration(c.Lookback)), Samples: c.Samples}), nil
}

// TokenSource is the account's access tokens, refreshed as they expire.
func (c *Config) TokenSource(ctx context.Context, env *connector.Env) (*TokenSource, error) {
	ts, err := c.tokens(ctx, env)
	if err != nil {
		return nil, err
	}
	return &TokenSource{Config: c.oauth(), Store: ts}, nil
}

// Authorize runs the OAuth2 authorization-code flow and saves the token.
func (c *Config) Authorize(ctx context.Context, env *connector.Env, o connector.AuthOptions) (string, error) {
	ts, err := c.tokens(ctx, env)
	if err != nil {
		return "", err
	}
	flow := &AuthFlow{Config: c.oauth(), Open: o.Open, Prompt: o.Prompt, Input: o.Input}
	if c.RedirectURL != "" {
		u, _ := url.Parse(c.RedirectURL) // checked by Validate
		flow.Listen, flow.CallbackPath = u.Host, u.Path
	}
	tok, err := flow.Run(ctx)
	if err != nil {
		return "", err
	}
	if err := ts.Put(ctx, tok, ""); err != nil {
		return "", fmt.Errorf("saving the token: %w", err)
	}
	where := ts.String()
	if _, ok := ts.(TokenFile); ok {
		where += " (mode 0600)"
	}
	return where, nil
}

// tokens is where the token lives: a local file (mode 0600), or an object
// at s3://bucket/key for pods without a persistent disk (the output's S3
// settings; refreshes use compare-and-swap).
func (c *Config) tokens(ctx context.Context, env *connector.Env) (TokenStore, error) {
	bucket, key, ok := tokenObject(c.TokenFile)
	if !ok {
		p, err := env.Path(c.TokenFile)
		if err != nil {
			return nil, &connector.KeyError{Key: "token_file", Msg: err.Error()}
		}
		return TokenFile{Path: p}, nil
	}
	st, err := env.OpenBucket(ctx, bucket)
	if err != nil {
		return nil, err
	}
	return ObjectToken{Store: st, Key: key}, nil
}

// oauth is the OAuth2 client of the account: client credentials in HTTP
// basic auth, as the vendor requires.
func (c *Config) oauth() *oauth2.Config {
	return &oauth2.Config{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret.Reveal(), Scopes: []string{Scope},
		Endpoint: oauth2.Endpoint{AuthURL: c.AuthURL, TokenURL: c.TokenURL, AuthStyle: oauth2.AuthStyleInHeader},
	}
}
