package jobs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/athlake/athlake/load/store/s3store"
	"github.com/athlake/athlake/load/views"
)

// Config is athlake.yaml.
type Config struct {
	Output string `yaml:"output"`
	DuckDB string `yaml:"duckdb"`
	// Views is what the DuckDB database holds: "tables" (default), the
	// lake's current state as DuckDB tables, or "files", views reading
	// the Parquet files.
	Views   string   `yaml:"views"`
	S3      S3Config `yaml:"s3"`
	Sources Sources  `yaml:"sources"`
	// Dir is the folder of the config file; relative paths are resolved
	// against it.
	Dir string `yaml:"-"`
}

// S3Config configures an s3:// output.
type S3Config struct {
	Region         string `yaml:"region"`
	Endpoint       string `yaml:"endpoint"`
	ForcePathStyle bool   `yaml:"force_path_style"`
}

// Sources holds one section per vendor; a missing section skips the vendor.
type Sources struct {
	Plyomat *PlyomatConfig `yaml:"plyomat"`
	Optimo  *OptimoConfig  `yaml:"optimo"`
	TeamPro *TeamProConfig `yaml:"teampro"`
}

// OptimoConfig configures the Optimo Sport source.
type OptimoConfig struct {
	BaseURL            string   `yaml:"base_url"` // the account's endpoint, .../api/2.1/xml-in
	Token              Secret   `yaml:"token"`
	Timezone           string   `yaml:"timezone"` // the account's wall-clock zone (default UTC)
	DailyRequestBudget int      `yaml:"daily_request_budget"`
	Overlap            Duration `yaml:"overlap"`
	Timeout            Duration `yaml:"timeout"`
	// CursorFields names the element that carries each method's change
	// stamp (the one updated_from filters on), for accounts that do not
	// call it updated_at.
	CursorFields OptimoCursorFields `yaml:"cursor_fields"`
	zone         *time.Location
}

// OptimoCursorFields names the change stamp of each incremental method
// (default updated_at). Only methods read through updated_from have one.
type OptimoCursorFields struct {
	Athletes    string `yaml:"athlete.list"`
	Workouts    string `yaml:"workout.list"`
	Assessments string `yaml:"assessment.list"`
}

// ByMethod returns the configured fields by method name (unset ones left
// out).
func (c OptimoCursorFields) ByMethod() map[string]string {
	out := map[string]string{}
	for m, v := range map[string]string{"athlete.list": c.Athletes, "workout.list": c.Workouts, "assessment.list": c.Assessments} {
		if v != "" {
			out[m] = v
		}
	}
	return out
}

// Zone is the account's time zone, loaded by Validate.
func (o *OptimoConfig) Zone() *time.Location { return o.zone }

// PlyomatConfig configures the Plyomat source.
type PlyomatConfig struct {
	BaseURL     string   `yaml:"base_url"`
	APIKey      Secret   `yaml:"api_key"`
	Lookback    Duration `yaml:"lookback"`
	PageSize    int      `yaml:"page_size"`
	Concurrency int      `yaml:"concurrency"`
	Timeout     Duration `yaml:"timeout"`
}

// TeamProConfig configures the Polar Team Pro source.
type TeamProConfig struct {
	BaseURL      string   `yaml:"base_url"`
	AuthURL      string   `yaml:"auth_url"`
	TokenURL     string   `yaml:"token_url"`
	ClientID     string   `yaml:"client_id"`
	ClientSecret Secret   `yaml:"client_secret"`
	TokenFile    string   `yaml:"token_file"`
	RedirectURL  string   `yaml:"redirect_url"` // loopback address for `athlake auth teampro`; default any free port
	Samples      string   `yaml:"samples"`
	Lookback     Duration `yaml:"lookback"`
	Timeout      Duration `yaml:"timeout"`
	// Rate and Burst are the client-side limit (default: the vendor's 1/s
	// and 100); lower them when other tools share the client.
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
}

// Secret is a credential. It prints (under every verb, %#v included), logs
// and marshals as a placeholder; Reveal returns the value for the one place
// that sends it.
type Secret string

const redacted = "[redacted]"

// String is the placeholder, or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps the secret out of %#v.
func (s Secret) GoString() string { return "jobs.Secret(" + strconv.Quote(s.String()) + ")" }

// Format prints the placeholder under every verb: without it, a verb that
// does not suit a string (%d) would print the value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, s.GoString())
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), s.String())
}

// LogValue keeps the secret out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON keeps the secret out of JSON output.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalYAML keeps the secret out of YAML output.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// Duration is a time.Duration written as "90s", "2h" in YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration like 90s or 2h", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// ConfigError is a configuration problem; it names the key.
type ConfigError struct {
	Key string
	Msg string
}

func (e *ConfigError) Error() string {
	if e.Key == "" {
		return "config: " + e.Msg
	}
	return fmt.Sprintf("config: %s: %s", e.Key, e.Msg)
}

// DefaultConfigFile is read when no --config is given.
const DefaultConfigFile = "athlake.yaml"

// FindConfig picks the config file: the flag, else ./athlake.yaml if it
// exists, else $ATHLAKE_CONFIG.
func FindConfig(flag string, getenv func(string) string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if _, err := os.Stat(DefaultConfigFile); err == nil {
		return DefaultConfigFile, nil
	}
	if p := getenv("ATHLAKE_CONFIG"); p != "" {
		return p, nil
	}
	return "", &ConfigError{Key: "--config", Msg: "no ./athlake.yaml and ATHLAKE_CONFIG is not set"}
}

// LoadConfig reads a config file, expanding ${VAR} from getenv in values.
func LoadConfig(path string, getenv func(string) string) (*Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &ConfigError{Key: "--config", Msg: fmt.Sprintf("%s does not exist", path)}
	}
	if err != nil {
		return nil, &ConfigError{Key: "--config", Msg: err.Error()}
	}
	cfg, err := ParseConfig(b, getenv)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	cfg.Dir = filepath.Dir(abs)
	return cfg, cfg.Validate()
}

// xmlName matches the element names a cursor field may have (ASCII
// letters, digits, "_", "-" and ".", not starting with a digit, "-" or ".").
var xmlName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// ParseConfig decodes YAML. Unknown keys are errors, so a typo does not pass
// silently. ${VAR} in a value expands from getenv; an unset variable is an
// error naming the key.
func ParseConfig(b []byte, getenv func(string) string) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, &ConfigError{Msg: yamlMsg(err)}
	}
	if err := expand(&root, "", getenv); err != nil {
		return nil, err
	}
	var expanded bytes.Buffer
	enc := yaml.NewEncoder(&expanded)
	if err := enc.Encode(&root); err != nil {
		return nil, &ConfigError{Msg: yamlMsg(err)}
	}
	cfg := &Config{}
	dec := yaml.NewDecoder(&expanded)
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, &ConfigError{Msg: yamlMsg(err)}
	}
	return cfg, nil
}

func expand(n *yaml.Node, key string, getenv func(string) string) error {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			if err := expand(c, key, getenv); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if key != "" {
				k = key + "." + k
			}
			if err := expand(n.Content[i+1], k, getenv); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		var missing string
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			name := ref[2 : len(ref)-1]
			v := getenv(name)
			if v == "" && missing == "" {
				missing = name
			}
			return v
		})
		if missing != "" {
			return &ConfigError{Key: key, Msg: fmt.Sprintf("environment variable %s is not set", missing)}
		}
		if n.Tag == "" || n.Tag == "!!str" || strings.Contains(n.Value, "${") {
			n.Style = yaml.DoubleQuotedStyle
		}
	}
	return nil
}

// yamlMsg makes yaml.v3's messages name the key.
func yamlMsg(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
	return strings.ReplaceAll(msg, "field ", "unknown key ")
}

// Validate checks the config without any network call.
func (c *Config) Validate() error {
	if c.Output == "" {
		c.Output = "./lake"
	}
	switch {
	case c.IsS3():
		if _, _, err := s3store.ParseURL(c.Output); err != nil {
			return &ConfigError{Key: "output", Msg: err.Error()}
		}
		if e := c.S3.Endpoint; e != "" {
			if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return &ConfigError{Key: "s3.endpoint", Msg: fmt.Sprintf("%q: want an http:// or https:// URL", e)}
			}
		}
		if c.DuckDB == "" {
			c.DuckDB = "athlake.duckdb" // beside the config: the views are always a local file
		}
		if strings.HasPrefix(c.DuckDB, "s3://") {
			return &ConfigError{Key: "duckdb", Msg: "the views database is a local file; DuckDB cannot write it to S3"}
		}
	case strings.Contains(c.Output, "://"):
		return &ConfigError{Key: "output", Msg: fmt.Sprintf("%q: want a folder or s3://bucket/prefix", c.Output)}
	case c.DuckDB == "":
		c.DuckDB = filepath.Join(c.Output, "athlake.duckdb")
	}
	switch c.Views {
	case "":
		c.Views = string(views.Tables)
	case string(views.Tables), string(views.Files):
	default:
		return &ConfigError{Key: "views", Msg: fmt.Sprintf("%q: want tables or files", c.Views)}
	}
	if p := c.Sources.Plyomat; p != nil {
		if p.BaseURL == "" {
			return &ConfigError{Key: "sources.plyomat.base_url", Msg: "required"}
		}
		if !strings.HasPrefix(p.BaseURL, "http://") && !strings.HasPrefix(p.BaseURL, "https://") {
			return &ConfigError{Key: "sources.plyomat.base_url", Msg: "want an http:// or https:// URL"}
		}
		if p.APIKey == "" {
			return &ConfigError{Key: "sources.plyomat.api_key", Msg: "required"}
		}
		if p.PageSize < 0 || p.PageSize > 500 {
			return &ConfigError{Key: "sources.plyomat.page_size", Msg: "must be between 1 and 500"}
		}
		if p.Concurrency < 0 || p.Concurrency > 64 {
			return &ConfigError{Key: "sources.plyomat.concurrency", Msg: "must be between 1 and 64"}
		}
	}
	if o := c.Sources.Optimo; o != nil {
		if !strings.HasPrefix(o.BaseURL, "http://") && !strings.HasPrefix(o.BaseURL, "https://") {
			return &ConfigError{Key: "sources.optimo.base_url", Msg: "want the account's https://.../api/2.1/xml-in URL"}
		}
		if o.Token == "" {
			return &ConfigError{Key: "sources.optimo.token", Msg: "required"}
		}
		if o.Timezone == "" {
			o.Timezone = "UTC"
		}
		loc, err := time.LoadLocation(o.Timezone)
		if err != nil {
			return &ConfigError{Key: "sources.optimo.timezone", Msg: fmt.Sprintf("%q is not an IANA time zone like Europe/Copenhagen", o.Timezone)}
		}
		o.zone = loc
		if o.DailyRequestBudget == 0 {
			o.DailyRequestBudget = 5000
		}
		if o.DailyRequestBudget < 1 {
			return &ConfigError{Key: "sources.optimo.daily_request_budget", Msg: "must be at least 1"}
		}
		fields := o.CursorFields.ByMethod()
		for _, m := range slices.Sorted(maps.Keys(fields)) {
			if f := fields[m]; !xmlName.MatchString(f) {
				return &ConfigError{Key: "sources.optimo.cursor_fields." + m, Msg: fmt.Sprintf("%q is not an XML element name like updated_at", f)}
			}
		}
	}
	if t := c.Sources.TeamPro; t != nil {
		if t.BaseURL == "" {
			t.BaseURL = "https://teampro.api.polar.com"
		}
		if t.AuthURL == "" {
			t.AuthURL = "https://auth.polar.com/oauth/authorize"
		}
		if t.TokenURL == "" {
			t.TokenURL = "https://auth.polar.com/oauth/token"
		}
		for key, v := range map[string]string{"base_url": t.BaseURL, "auth_url": t.AuthURL, "token_url": t.TokenURL} {
			if !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
				return &ConfigError{Key: "sources.teampro." + key, Msg: "want an http:// or https:// URL"}
			}
		}
		if t.ClientID == "" {
			return &ConfigError{Key: "sources.teampro.client_id", Msg: "required"}
		}
		if t.ClientSecret == "" {
			return &ConfigError{Key: "sources.teampro.client_secret", Msg: "required"}
		}
		if t.TokenFile == "" {
			t.TokenFile = "~/.config/athlake/teampro-token.json"
		}
		if strings.HasPrefix(t.TokenFile, "s3://") {
			if _, key, err := s3store.ParseURL(t.TokenFile); err != nil || key == "" {
				return &ConfigError{Key: "sources.teampro.token_file", Msg: fmt.Sprintf("%q: want a file path or s3://bucket/key", t.TokenFile)}
			}
		}
		if t.Samples == "" {
			t.Samples = "all"
		}
		if t.Rate < 0 {
			return &ConfigError{Key: "sources.teampro.rate", Msg: "must be positive (requests per second)"}
		}
		if t.Burst < 0 {
			return &ConfigError{Key: "sources.teampro.burst", Msg: "must be positive"}
		}
		if t.RedirectURL != "" {
			u, err := url.Parse(t.RedirectURL)
			if err != nil || u.Scheme != "http" || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost" && u.Hostname() != "::1") || u.Port() == "" {
				return &ConfigError{Key: "sources.teampro.redirect_url", Msg: "want a loopback URL with a port, like http://127.0.0.1:8765/callback"}
			}
		}
	}
	return nil
}

// TokenFilePath is where the Team Pro token lives (~ expanded).
func (c *Config) TokenFilePath(home func() (string, error)) (string, error) {
	p := c.Sources.TeamPro.TokenFile
	if p == "~" || strings.HasPrefix(p, "~/") {
		h, err := home()
		if err != nil {
			return "", &ConfigError{Key: "sources.teampro.token_file", Msg: "cannot expand ~: " + err.Error()}
		}
		return filepath.Join(h, p[1:]), nil
	}
	return c.path(p), nil
}

// IsS3 reports whether the output is an s3:// URL.
func (c *Config) IsS3() bool { return strings.HasPrefix(c.Output, "s3://") }

// DuckDBPath is where the views database lives.
func (c *Config) DuckDBPath() string { return c.path(c.DuckDB) }

// path resolves a configured path against the config file's folder.
func (c *Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.Dir == "" {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// sourceNames lists the configured sources.
func (c *Config) sourceNames() []string {
	var out []string
	if c.Sources.Plyomat != nil {
		out = append(out, "plyomat")
	}
	if c.Sources.Optimo != nil {
		out = append(out, "optimo")
	}
	if c.Sources.TeamPro != nil {
		out = append(out, "teampro")
	}
	return out
}
