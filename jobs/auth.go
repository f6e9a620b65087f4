package jobs

import (
	"context"
	"fmt"
	"io"
	"net/url"

	"github.com/athlake/athlake/extract/teampro"
)

// AuthOptions configure `athlake auth teampro`.
type AuthOptions struct {
	// Open shows the authorize URL in a browser; nil prints it only.
	Open func(ctx context.Context, authURL string) error
	// Input is read for a pasted code or redirect URL (headless machines).
	Input io.Reader
}

// AuthTeamPro runs the OAuth2 authorization-code flow for Team Pro and
// stores the token file (mode 0600).
func AuthTeamPro(ctx context.Context, env *Env, cfg *Config, o AuthOptions) error {
	t := cfg.Sources.TeamPro
	if t == nil {
		return &ConfigError{Key: "sources.teampro", Msg: "not configured"}
	}
	ts, err := tokenStore(ctx, env, cfg)
	if err != nil {
		return err
	}
	flow := &teampro.AuthFlow{Config: oauthConfig(t), Open: o.Open, Prompt: env.Stderr, Input: o.Input}
	if t.RedirectURL != "" {
		u, _ := url.Parse(t.RedirectURL) // checked by Validate
		flow.Listen, flow.CallbackPath = u.Host, u.Path
	}
	tok, err := flow.Run(ctx)
	if err != nil {
		return err
	}
	if err := ts.Put(ctx, tok, ""); err != nil {
		return fmt.Errorf("saving the token: %w", err)
	}
	where := ts.String()
	if _, ok := ts.(teampro.TokenFile); ok {
		where += " (mode 0600)"
	}
	fmt.Fprintf(env.Stdout, "Team Pro token saved to %s\n", where)
	return nil
}
