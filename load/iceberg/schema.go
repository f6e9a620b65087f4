// Package iceberg publishes the lake's tables as Apache Iceberg tables, so
// that engines which know nothing of athlake (Spark, Trino/Athena, DuckDB's
// iceberg_scan, PyIceberg/Polars) read exactly what the views show.
//
// The lake's Parquet files are registered, never copied: an Iceberg table's
// data files are the files its view reads, and the rows the view does not
// show (older versions of a key between compactions, children of an older
// version of their parent) are position deletes, written beside the table's
// metadata. Publishing is a reconcile: it makes each table's current
// snapshot equal the lake's committed state, and does nothing when it is
// equal already, so a run killed between athlake's commit and Iceberg's is
// repaired by the next publish.
//
// The package links no DuckDB: the caller computes the hidden rows (the
// views package does, from the views' own SQL).
package iceberg

import (
	"fmt"

	ice "github.com/apache/iceberg-go"

	"github.com/athlake/athlake/schemas"
)

// Schema is the Iceberg schema a table is created with: its columns and
// the lineage columns, in declaration order, numbered from 1. The numbers
// are given once, when the table is created; columns declared later are
// added by a schema update and get the next free ids (Evolve), so a
// column's id never changes.
func Schema(t *schemas.Table) *ice.Schema {
	cols := t.AllColumns()
	fields := make([]ice.NestedField, len(cols))
	for i, c := range cols {
		fields[i] = ice.NestedField{ID: i + 1, Name: c.Name, Type: Type(c.Type), Doc: c.Doc}
	}
	return ice.NewSchema(0, fields...)
}

// Type is the Iceberg type of a column type: the type its Parquet files
// hold (JSON is text, a duration integer milliseconds).
func Type(t schemas.Type) ice.Type {
	switch t {
	case schemas.Int64, schemas.Duration:
		return ice.PrimitiveTypes.Int64
	case schemas.Float64:
		return ice.PrimitiveTypes.Float64
	case schemas.Bool:
		return ice.PrimitiveTypes.Bool
	case schemas.Date:
		return ice.PrimitiveTypes.Date
	case schemas.Timestamp:
		return ice.PrimitiveTypes.TimestampTz
	case schemas.WallTime:
		return ice.PrimitiveTypes.Timestamp
	default:
		return ice.PrimitiveTypes.String
	}
}

// Spec is the partition spec of a table: the day or month of the column
// its hive partition is derived from, named like the hive key ("date",
// "month"), so files can be pruned by it. A child table, whose partition
// value is its parent's and not a column of its own, is unpartitioned in
// Iceberg: its files are still registered where they lie.
func Spec(t *schemas.Table, sc *ice.Schema) (ice.PartitionSpec, error) {
	p := t.Partition
	if p.Granularity == schemas.None || p.Column == "" {
		return *ice.UnpartitionedSpec, nil
	}
	var tr ice.Transform
	switch p.Granularity {
	case schemas.Day:
		tr = ice.DayTransform{}
	case schemas.Month:
		tr = ice.MonthTransform{}
	default:
		return ice.PartitionSpec{}, fmt.Errorf("%s: partition granularity %d", t.ID(), p.Granularity)
	}
	return ice.NewPartitionSpecOpts(ice.AddPartitionFieldByName(p.Column, p.Key, tr, sc, nil))
}
