package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/schemas"
)

// Schemas prints the data dictionary of every table, then of the analysis
// views (views.Analysis) with their units, formulas and references, as
// Markdown or JSON.
// With a views database (db not ""), it also reports the fields vendors sent
// that the schemas do not know, which the views keep in _extra.
func Schemas(ctx context.Context, w io.Writer, format, db string) error {
	reg := tables()
	unknown, err := unknownFields(ctx, db, reg)
	if err != nil {
		return err
	}
	switch format {
	case "", "md":
		for _, t := range reg.Tables() {
			fmt.Fprintf(w, "## %s\n\n%s\n\n", t.ViewName(), t.Doc)
			fmt.Fprintf(w, "- from: `%s`\n- primary key: %s\n- refresh: %s\n", t.Endpoint, strings.Join(t.Key, ", "), modeName(t.Mode))
			if t.Partition.Granularity != schemas.None {
				fmt.Fprintf(w, "- partitioned by: `%s=` (%s of %s)\n", t.Partition.Key, granularityName(t.Partition.Granularity), partitionSource(t))
			}
			if u := unknown[t.ViewName()]; len(u) > 0 {
				fmt.Fprintf(w, "- fields seen that the schema does not know (in `_extra`): %s\n", strings.Join(u, ", "))
			}
			fmt.Fprintf(w, "\n| column | type | doc |\n|---|---|---|\n")
			for _, c := range t.AllColumns() {
				fmt.Fprintf(w, "| %s | %s | %s |\n", c.Name, c.Type.DuckDB(), c.Doc)
			}
			fmt.Fprintln(w)
		}
		for _, v := range views.Analysis() {
			fmt.Fprintf(w, "## %s\n\n%s\n\n", v.Name, v.Doc)
			fmt.Fprintf(w, "- computed from: %s (an analysis view: computed when queried)\n- one row per: %s\n- reference: %s\n",
				"`"+strings.Join(v.From, "`, `")+"`", strings.Join(v.Grain, ", "), v.Reference)
			fmt.Fprintf(w, "\n| column | type | unit | doc and formula |\n|---|---|---|---|\n")
			for _, c := range v.Columns {
				fmt.Fprintf(w, "| %s | %s | %s | %s |\n", c.Name, c.Type, c.Unit, c.Doc)
			}
			fmt.Fprintln(w)
		}
		return nil
	case "json":
		type col struct {
			Name string `json:"name"`
			Type string `json:"type"`
			Doc  string `json:"doc,omitempty"`
			Unit string `json:"unit,omitempty"`
		}
		type table struct {
			View      string   `json:"view"`
			Doc       string   `json:"doc"`
			Endpoint  string   `json:"from"`
			Key       []string `json:"primary_key"`
			Refresh   string   `json:"refresh"`
			Partition string   `json:"partition,omitempty"`
			Columns   []col    `json:"columns"`
			Unknown   []string `json:"unknown_fields,omitempty"`
			Reference string   `json:"reference,omitempty"`
		}
		var out []table
		for _, t := range reg.Tables() {
			tt := table{View: t.ViewName(), Doc: t.Doc, Endpoint: t.Endpoint, Key: t.Key, Refresh: modeName(t.Mode), Unknown: unknown[t.ViewName()]}
			if t.Partition.Granularity != schemas.None {
				tt.Partition = t.Partition.Key
			}
			for _, c := range t.AllColumns() {
				tt.Columns = append(tt.Columns, col{Name: c.Name, Type: c.Type.DuckDB(), Doc: c.Doc})
			}
			out = append(out, tt)
		}
		for _, v := range views.Analysis() {
			tt := table{View: v.Name, Doc: v.Doc, Endpoint: "computed from " + strings.Join(v.From, ", "), Key: v.Grain, Refresh: analysisRefresh, Reference: v.Reference}
			for _, c := range v.Columns {
				tt.Columns = append(tt.Columns, col{c.Name, c.Type, c.Doc, c.Unit})
			}
			out = append(out, tt)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return &UsageError{Msg: fmt.Sprintf("--format %s: want md or json", format)}
}

// analysisRefresh is the refresh of an analysis view in the JSON
// dictionary.
const analysisRefresh = "analysis view (computed when queried from the views it reads)"

func modeName(m schemas.Mode) string {
	if m == schemas.Snapshot {
		return "snapshot (fully refreshed; deletions disappear from the view)"
	}
	return "incremental (latest version per key)"
}

func granularityName(g schemas.Granularity) string {
	if g == schemas.Day {
		return "day"
	}
	return "month"
}

func partitionSource(t *schemas.Table) string {
	if t.Partition.Column == "" {
		return "the parent " + t.Parent.Table + " row"
	}
	return t.Partition.Column
}

// unknownFields lists, per view, the top-level keys found in _extra.
func unknownFields(ctx context.Context, db string, reg *schemas.Registry) (map[string][]string, error) {
	out := map[string][]string{}
	if _, err := os.Stat(db); db == "" || err != nil {
		return out, nil // nothing synced yet
	}
	for _, t := range reg.Tables() {
		q := fmt.Sprintf(`SELECT DISTINCT unnest(json_keys(%q)) AS k FROM %q WHERE %q IS NOT NULL ORDER BY k`,
			schemas.ColExtra, t.ViewName(), schemas.ColExtra)
		_, rows, err := views.Query(ctx, db, q)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.ViewName(), err)
		}
		for _, r := range rows {
			out[t.ViewName()] = append(out[t.ViewName()], r[0])
		}
	}
	return out, nil
}
