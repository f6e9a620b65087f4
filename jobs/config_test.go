package jobs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/extract/optimo"
	"github.com/athlake/athlake/extract/plyomat"
	"github.com/athlake/athlake/extract/teampro"
	"gopkg.in/yaml.v3"
)

// A secret never shows, however it is printed, logged or marshalled: on its
// own or inside the configuration.
func TestSecretIsRedacted(t *testing.T) {
	const value = "s3cr3t-value"
	cfg := &Config{Output: "lake", Sources: Sources{
		"plyomat": &plyomat.Config{APIKey: connector.Secret(value)},
		"optimo":  &optimo.Config{Token: connector.Secret(value)},
		"teampro": &teampro.Config{ClientSecret: connector.Secret(value)},
	}}
	var out []string
	for _, verb := range []string{"%v", "%s", "%+v", "%#v", "%q", "%x", "%X", "%d", "%10s", "%T"} {
		out = append(out, fmt.Sprintf(verb, connector.Secret(value)), fmt.Sprintf(verb, []connector.Secret{connector.Secret(value)}))
	}
	// Structs print with %v: under a verb that does not suit a struct (%s,
	// %d), fmt prints the fields behind its pointers without calling any
	// method, Format included.
	for _, verb := range []string{"%v", "%+v", "%#v"} {
		out = append(out, fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, *cfg), fmt.Sprintf(verb, *cfg.Sources.plyomat()))
	}
	for _, v := range []any{connector.Secret(value), cfg, *cfg.Sources.plyomat()} {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		y, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "v", v)
		slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "v", v)
		out = append(out, string(j), string(y), logs.String())
	}
	for _, s := range out {
		if strings.Contains(s, value) || strings.Contains(s, fmt.Sprintf("%x", value)) {
			t.Errorf("the secret shows in %q", s)
		}
	}
	if got, want := fmt.Sprintf("%#v", connector.Secret(value)), `connector.Secret("[redacted]")`; got != want {
		t.Errorf("%%#v = %s, want %s", got, want)
	}
	if got := fmt.Sprintf("%s|%q|%#v", connector.Secret(""), connector.Secret(""), connector.Secret("")); got != `|""|connector.Secret("")` {
		t.Errorf("an empty secret prints %s", got)
	}
	if connector.Secret(value).Reveal() != value {
		t.Error("Reveal does not return the value")
	}
}
