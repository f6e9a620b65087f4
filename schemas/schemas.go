// Package schemas declares every table athlake writes, once: its Arrow schema,
// primary key, partitioning, refresh mode and column documentation. The
// Parquet writer, the DuckDB views and `athlake schemas` are all driven from
// these declarations.
package schemas

import (
	"fmt"
	"slices"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
)

// Type is the logical type of a column.
type Type int

const (
	String Type = iota
	Int64
	Float64
	Bool
	// Timestamp is an instant, stored in UTC (TIMESTAMP WITH TIME ZONE).
	Timestamp
	// WallTime is a wall-clock time without a zone (TIMESTAMP).
	WallTime
	// JSON is JSON text (queryable as DuckDB JSON).
	JSON
	// Duration is an ISO-8601 duration sent as text ("PT1M2.3S"), stored as
	// integer milliseconds.
	Duration
	// Date is a calendar date (DATE).
	Date
)

var typeNames = map[Type]string{
	String: "string", Int64: "int64", Float64: "float64", Bool: "bool",
	Timestamp: "timestamp_utc", WallTime: "timestamp", JSON: "json", Duration: "duration_ms", Date: "date",
}

func (t Type) String() string { return typeNames[t] }

// Arrow returns the Arrow data type columns of t are stored as.
func (t Type) Arrow() arrow.DataType {
	switch t {
	case Int64, Duration:
		return arrow.PrimitiveTypes.Int64
	case Float64:
		return arrow.PrimitiveTypes.Float64
	case Bool:
		return arrow.FixedWidthTypes.Boolean
	case Date:
		return arrow.FixedWidthTypes.Date32
	case Timestamp:
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	case WallTime:
		return &arrow.TimestampType{Unit: arrow.Microsecond}
	default:
		return arrow.BinaryTypes.String
	}
}

// DuckDB returns the DuckDB SQL type of t.
func (t Type) DuckDB() string {
	switch t {
	case Int64, Duration:
		return "BIGINT"
	case Float64:
		return "DOUBLE"
	case Bool:
		return "BOOLEAN"
	case Date:
		return "DATE"
	case Timestamp:
		return "TIMESTAMP WITH TIME ZONE"
	case WallTime:
		return "TIMESTAMP"
	case JSON:
		return "JSON"
	default:
		return "VARCHAR"
	}
}

// Column is one column of a table.
type Column struct {
	Name string
	Type Type
	// Field is the vendor's field name the column is decoded from; empty
	// means Name. Columns filled by athlake itself set Derived.
	Field   string
	Derived bool
	Doc     string
	// UTCOf makes a derived UTC column from a wall-clock column, through a
	// column holding the zone's offset east of UTC in minutes (OffsetOf), or
	// without OffsetOf through the source's configured time zone; it is
	// null when the wall time (or the offset) is.
	UTCOf, OffsetOf string
	// Privacy is what a research export does with the column.
	Privacy Privacy
}

// Special values of Column.Field.
const (
	// FieldElement decodes the list element itself (rr intervals are a list
	// of numbers).
	FieldElement = "."
	// FieldPosition fills a child column with the element's 0-based index.
	FieldPosition = "#"
)

// FieldName is the vendor field the column comes from.
func (c Column) FieldName() string {
	if c.Field != "" {
		return c.Field
	}
	return c.Name
}

// Mode says how a table is refreshed, which decides what its view shows.
type Mode int

const (
	// Incremental tables accumulate versions; the view shows the latest
	// version of each key.
	Incremental Mode = iota
	// Snapshot tables are fully refreshed by every sync; the view shows the
	// latest complete snapshot, so records deleted at the vendor disappear.
	Snapshot
)

// Granularity of a time partition.
type Granularity int

const (
	None Granularity = iota
	Day
	Month
)

// Partitioning places a table's rows in hive partitions derived from a
// timestamp column.
type Partitioning struct {
	Key         string // hive key, e.g. "month"; never a column name
	Column      string // timestamp column the value is derived from; "" in a child table: the parent's value
	Granularity Granularity
}

// Parent links a child table to the record it is embedded in (reps in sets).
// Child rows belong to the latest version of their parent.
type Parent struct {
	Table string
	Field string            // the parent's field holding the list of children
	Keys  map[string]string // child column -> parent column
	// Custom children are decoded by a dedicated decoder (10 Hz samples),
	// not by the generic one.
	Custom bool
}

// Lineage and bookkeeping columns every table carries.
const (
	ColExtractedAt = "_extracted_at"
	ColRunID       = "_run_id"
	ColExtra       = "_extra"
)

// Table declares one table.
type Table struct {
	Source    string
	Name      string
	Doc       string
	Endpoint  string
	Columns   []Column // vendor and derived columns, without the lineage columns
	Key       []string
	Mode      Mode
	Partition Partitioning
	Parent    *Parent
	// PersonVia, for a table that is not a child, names the table whose
	// rows' person its rows are of (summaries of player sessions): how a
	// research export limited to some people reaches them.
	PersonVia *Parent
	// NotStudyData: staff or operational records, left out of a research
	// export unless asked for by name.
	NotStudyData bool
}

// ID is "<source>/<table>", the table's folder in the lake.
func (t *Table) ID() string { return t.Source + "/" + t.Name }

// ViewName is the DuckDB view name, "<source>_<table>".
func (t *Table) ViewName() string { return t.Source + "_" + t.Name }

// AllColumns returns the table's columns followed by the lineage columns.
func (t *Table) AllColumns() []Column {
	cols := make([]Column, 0, len(t.Columns)+3)
	cols = append(cols, t.Columns...)
	return append(cols,
		Column{Name: ColExtractedAt, Type: Timestamp, Derived: true, Doc: "UTC time of the API response the row came from."},
		Column{Name: ColRunID, Type: String, Derived: true, Doc: "The athlake run that wrote the row."},
		Column{Name: ColExtra, Type: JSON, Derived: true, Doc: "Fields the vendor sent that the schema does not know, as a JSON object (null when none)."},
	)
}

// Column returns the named column.
func (t *Table) Column(name string) (Column, bool) {
	for _, c := range t.AllColumns() {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// ArrowSchema is the Arrow schema of the table's files. Every column is
// nullable: a missing vendor value is null, never zero.
func (t *Table) ArrowSchema() *arrow.Schema {
	cols := t.AllColumns()
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.Name, Type: c.Type.Arrow(), Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

// Registry is the set of declared tables.
type Registry struct {
	tables []*Table
	byID   map[string]*Table
}

// NewRegistry checks the declarations and indexes them.
func NewRegistry(tables ...[]*Table) (*Registry, error) {
	r := &Registry{byID: map[string]*Table{}}
	for _, group := range tables {
		for _, t := range group {
			if err := t.validate(); err != nil {
				return nil, err
			}
			if _, dup := r.byID[t.ID()]; dup {
				return nil, fmt.Errorf("schemas: table %s declared twice", t.ID())
			}
			r.byID[t.ID()] = t
			r.tables = append(r.tables, t)
		}
	}
	for _, t := range r.tables {
		if t.Parent != nil {
			if _, ok := r.byID[t.Source+"/"+t.Parent.Table]; !ok {
				return nil, fmt.Errorf("schemas: %s: parent table %s not declared", t.ID(), t.Parent.Table)
			}
		}
		if t.PersonVia != nil {
			if _, ok := r.byID[t.Source+"/"+t.PersonVia.Table]; !ok {
				return nil, fmt.Errorf("schemas: %s: person via table %s not declared", t.ID(), t.PersonVia.Table)
			}
		}
	}
	sort.SliceStable(r.tables, func(i, j int) bool { return r.tables[i].ID() < r.tables[j].ID() })
	return r, nil
}

// Tables returns every table, ordered by ID.
func (r *Registry) Tables() []*Table { return r.tables }

// Lookup finds a table by source and name.
func (r *Registry) Lookup(source, name string) (*Table, bool) {
	t, ok := r.byID[source+"/"+name]
	return t, ok
}

func (t *Table) validate() error {
	seen := map[string]bool{}
	for _, c := range t.AllColumns() {
		if seen[c.Name] {
			return fmt.Errorf("schemas: %s: column %q declared twice", t.ID(), c.Name)
		}
		seen[c.Name] = true
	}
	for _, c := range t.Columns {
		if c.UTCOf == "" {
			continue
		}
		w, ok1 := t.Column(c.UTCOf)
		o, ok2 := t.Column(c.OffsetOf)
		if c.OffsetOf == "" {
			o, ok2 = Column{Type: Int64}, true
		}
		if !ok1 || !ok2 || w.Type != WallTime || o.Type != Int64 || c.Type != Timestamp || !c.Derived {
			return fmt.Errorf("schemas: %s: UTC column %q needs a wall-clock column and an integer offset column", t.ID(), c.Name)
		}
	}
	if len(t.Key) == 0 {
		return fmt.Errorf("schemas: %s: no primary key", t.ID())
	}
	for _, k := range t.Key {
		if !seen[k] {
			return fmt.Errorf("schemas: %s: key column %q not declared", t.ID(), k)
		}
	}
	if t.Parent != nil {
		// A child's key names its parent, so that one key never
		// stands for rows of two parents.
		for c := range t.Parent.Keys {
			if !slices.Contains(t.Key, c) {
				return fmt.Errorf("schemas: %s: the key lacks the parent column %q", t.ID(), c)
			}
		}
	}
	if p := t.Partition; p.Granularity != None {
		if seen[p.Key] {
			// DuckDB lets a hive key silently override a file column.
			return fmt.Errorf("schemas: %s: partition key %q is also a column", t.ID(), p.Key)
		}
		if p.Column == "" && t.Parent == nil {
			return fmt.Errorf("schemas: %s: only a child table may inherit its parent's partition", t.ID())
		}
		if c, ok := t.Column(p.Column); p.Column != "" && (!ok || (c.Type != Timestamp && c.Type != WallTime)) {
			return fmt.Errorf("schemas: %s: partition column %q must be a timestamp", t.ID(), p.Column)
		}
	}
	return nil
}

// All returns the registry of every table athlake writes.
func All() *Registry {
	r, err := NewRegistry(Plyomat(), TeamPro(), Optimo())
	if err != nil {
		// The declarations are constants of the program; TestAll proves them valid.
		panic(err)
	}
	return r
}
