package jobs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/athlake/athlake/extract/connector"
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
	Views string `yaml:"views"`
	// MemoryLimit is the peak resident memory a run aims to stay within
	// (e.g. 512MiB, a pod's limit); Go's soft limit, the commit size, the
	// streams at once and DuckDB's memory_limit derive from it (Memory).
	// Default: GOMEMLIMIT if set, else DefaultMemoryLimit.
	MemoryLimit string   `yaml:"memory_limit"`
	S3          S3Config `yaml:"s3"`
	Sources     Sources  `yaml:"sources"`
	// People links the athletes of several vendors who are one person.
	People PeopleConfig `yaml:"people"`
	// Export configures research exports.
	Export ExportConfig `yaml:"export"`
	// Iceberg, if set, publishes the lake's tables to an Iceberg catalog
	// after every sync and backfill.
	Iceberg *IcebergConfig `yaml:"iceberg"`
	// Dir is the folder of the config file; relative paths are resolved
	// against it.
	Dir string `yaml:"-"`

	memory int64        // the budget in bytes; 0: DefaultMemoryLimit
	links  []views.Link // people.mapping, read by Validate
}

// S3Config configures an s3:// output.
type S3Config struct {
	Region         string `yaml:"region"`
	Endpoint       string `yaml:"endpoint"`
	ForcePathStyle bool   `yaml:"force_path_style"`
}

// Sources holds the configured sources' sections by name (see registry);
// a missing section skips the vendor.
type Sources map[string]connector.Config

// UnmarshalYAML decodes each section into its connector's type. Unknown
// sources and unknown keys are errors naming them, so a typo does not
// pass silently.
func (s *Sources) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return &ConfigError{Key: "sources", Msg: fmt.Sprintf("line %d: want a section per source", n.Line)}
	}
	*s = Sources{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, body := n.Content[i].Value, n.Content[i+1]
		c, ok := lookup(name)
		if !ok {
			return &ConfigError{Key: "sources." + name, Msg: fmt.Sprintf("line %d: unknown source (known: %s)", n.Content[i].Line, strings.Join(names(registry), ", "))}
		}
		sec := c.NewConfig()
		if err := checkKeys(body, reflect.TypeOf(sec), "sources."+name); err != nil {
			return err
		}
		if err := body.Decode(sec); err != nil {
			return &ConfigError{Key: "sources." + name, Msg: yamlMsg(err)}
		}
		(*s)[name] = sec
	}
	return nil
}

// checkKeys reports the first key of a mapping that no yaml tag of t (a
// struct, or a pointer to one) names, nested sections included.
func checkKeys(n *yaml.Node, t reflect.Type, key string) error {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind != yaml.MappingNode || t.Kind() != reflect.Struct {
		return nil
	}
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); tag != "" && tag != "-" {
			fields[tag] = f.Type
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		ft, ok := fields[k.Value]
		if !ok {
			return &ConfigError{Key: key + "." + k.Value, Msg: fmt.Sprintf("line %d: unknown key %s", k.Line, k.Value)}
		}
		if err := checkKeys(n.Content[i+1], ft, key+"."+k.Value); err != nil {
			return err
		}
	}
	return nil
}

func names(cs []connector.Connector) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
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
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	// Without memory_limit, the budget is Go's own limit, as a pod sets
	// it (GOMEMLIMIT, which the runtime has checked).
	if g := getenv("GOMEMLIMIT"); cfg.memory == 0 && g != "" && g != "off" {
		n, err := ParseBytes(g)
		if err != nil {
			return nil, &ConfigError{Key: "GOMEMLIMIT", Msg: err.Error()}
		}
		cfg.memory = n
	}
	return cfg, nil
}

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
	var ce *ConfigError
	if err := dec.Decode(cfg); errors.As(err, &ce) {
		return nil, ce // a source's section, already naming the key
	} else if err != nil && !errors.Is(err, io.EOF) {
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
	if err := c.validateMemory(); err != nil {
		return err
	}
	if c.Iceberg != nil {
		if err := c.Iceberg.validate(c); err != nil {
			return err
		}
	}
	for _, name := range c.sourceNames() {
		if err := c.Sources[name].Validate(); err != nil {
			return sourceError(name, err)
		}
	}
	return c.loadLinks()
}

// sourceError names the key of a source's section in a *KeyError.
func sourceError(name string, err error) error {
	var ke *connector.KeyError
	if !errors.As(err, &ke) {
		return err
	}
	key := "sources." + name
	if ke.Key != "" {
		key += "." + ke.Key
	}
	return &ConfigError{Key: key, Msg: ke.Msg}
}

// resolve resolves a configured path: ~ to the home folder, a relative
// path against the config file's folder.
func (c *Config) resolve(p string, home func() (string, error)) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		h, err := home()
		if err != nil {
			return "", fmt.Errorf("cannot expand ~: %w", err)
		}
		return filepath.Join(h, p[1:]), nil
	}
	return c.path(p), nil
}

// IsS3 reports whether the output is an s3:// URL.
func (c *Config) IsS3() bool { return strings.HasPrefix(c.Output, "s3://") }

// DuckDBPath is where the views database lives.
func (c *Config) DuckDBPath() string { return c.path(c.DuckDB) }

// compactWork is the folder compactions work in, beside the database.
func (c *Config) compactWork() string { return c.DuckDBPath() + ".compact" }

// path resolves a configured path against the config file's folder.
func (c *Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.Dir == "" {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// sourceNames lists the configured sources, in the registry's order.
func (c *Config) sourceNames() []string {
	var out []string
	for _, r := range registry {
		if c.Sources[r.Name] != nil {
			out = append(out, r.Name)
		}
	}
	return out
}
