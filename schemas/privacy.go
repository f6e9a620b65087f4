package schemas

import "fmt"

// Privacy says what a research export does with a column (`athlake
// export`): athlete data is health data, and a dataset leaves the club
// without what names a person.
type Privacy string

const (
	// Public columns are exported as they are.
	Public Privacy = ""
	// Person columns hold a vendor's id of an athlete (a player): they
	// are replaced by the person's keyed pseudonym, the same for every
	// vendor id linked to the person.
	Person Privacy = "person"
	// Identifying columns name or locate a person, or are free text that
	// may (names, e-mail addresses, notes, external ids, GPS positions):
	// they are left out.
	Identifying Privacy = "identifying"
	// BirthDate columns are reduced to the year.
	BirthDate Privacy = "birth_date"
)

// markPrivacy sets the privacy of the columns named "table.column" in
// tables; a name that matches no column is a mistake of the declarations.
func markPrivacy(tables []*Table, marks map[string]Privacy) []*Table {
	for name, p := range marks {
		found := false
		for _, t := range tables {
			for i := range t.Columns {
				if t.Name+"."+t.Columns[i].Name == name {
					t.Columns[i].Privacy, found = p, true
				}
			}
		}
		if !found {
			panic(fmt.Sprintf("schemas: privacy of %s: no such column", name))
		}
	}
	return tables
}
