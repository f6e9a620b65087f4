package schemas

// Constructors the vendor declarations share. A vendor's own conventions
// (how it sends wall-clock times, booleans, durations) stay in its file.

func str(name, doc string) Column     { return Column{Name: name, Type: String, Doc: doc} }
func num(name, doc string) Column     { return Column{Name: name, Type: Float64, Doc: doc} }
func integer(name, doc string) Column { return Column{Name: name, Type: Int64, Doc: doc} }
func flag(name, doc string) Column    { return Column{Name: name, Type: Bool, Doc: doc} }
func ts(name, doc string) Column      { return Column{Name: name, Type: Timestamp, Doc: doc} }

// derived is a string column athlake fills itself: a child's copy of its
// parent's key, or the filter a list was read with.
func derived(name, doc string) Column {
	return Column{Name: name, Type: String, Derived: true, Doc: doc}
}

// position is a child's column holding the element's index in its list.
func position() Column {
	return Column{Name: "position", Type: Int64, Field: FieldPosition, Doc: "0-based position in the list as sent."}
}

// day and month partition a table by the day or month of column col.
func day(col string) Partitioning { return Partitioning{Key: "date", Column: col, Granularity: Day} }
func month(col string) Partitioning {
	return Partitioning{Key: "month", Column: col, Granularity: Month}
}
