package jobs

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/athlake/athlake/schemas"
)

// Schemas prints the data dictionary of every table, as Markdown or JSON.
func Schemas(w io.Writer, format string) error {
	reg := schemas.All()
	switch format {
	case "", "md":
		for _, t := range reg.Tables() {
			fmt.Fprintf(w, "## %s\n\n%s\n\n", t.ViewName(), t.Doc)
			fmt.Fprintf(w, "- from: `%s`\n- primary key: %s\n- refresh: %s\n", t.Endpoint, strings.Join(t.Key, ", "), modeName(t.Mode))
			if t.Partition.Granularity != schemas.None {
				fmt.Fprintf(w, "- partitioned by: `%s=` (%s of %s)\n", t.Partition.Key, granularityName(t.Partition.Granularity), partitionSource(t))
			}
			fmt.Fprintf(w, "\n| column | type | doc |\n|---|---|---|\n")
			for _, c := range t.AllColumns() {
				fmt.Fprintf(w, "| %s | %s | %s |\n", c.Name, c.Type.DuckDB(), c.Doc)
			}
			fmt.Fprintln(w)
		}
		return nil
	case "json":
		type col struct {
			Name string `json:"name"`
			Type string `json:"type"`
			Doc  string `json:"doc,omitempty"`
		}
		type table struct {
			View      string   `json:"view"`
			Doc       string   `json:"doc"`
			Endpoint  string   `json:"from"`
			Key       []string `json:"primary_key"`
			Refresh   string   `json:"refresh"`
			Partition string   `json:"partition,omitempty"`
			Columns   []col    `json:"columns"`
		}
		var out []table
		for _, t := range reg.Tables() {
			tt := table{View: t.ViewName(), Doc: t.Doc, Endpoint: t.Endpoint, Key: t.Key, Refresh: modeName(t.Mode)}
			if t.Partition.Granularity != schemas.None {
				tt.Partition = t.Partition.Key
			}
			for _, c := range t.AllColumns() {
				tt.Columns = append(tt.Columns, col{c.Name, c.Type.DuckDB(), c.Doc})
			}
			out = append(out, tt)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return &UsageError{Msg: fmt.Sprintf("--format %s: want md or json", format)}
}

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
