package schemas

import "testing"

// TestPrivacyOfIdentifyingNames: a column whose name says it names, reaches
// or locates a person has the privacy a research export needs, in every
// vendor's tables (a new vendor's too).
func TestPrivacyOfIdentifyingNames(t *testing.T) {
	want := map[string][]Privacy{
		"first_name": {Identifying}, "last_name": {Identifying}, "email": {Identifying},
		"note": {Identifying}, "notes": {Identifying}, "external_id": {Identifying},
		"latitude": {Identifying}, "longitude": {Identifying}, "lat": {Identifying}, "lon": {Identifying},
		"birth_date": {BirthDate}, "athlete_id": {Person, Identifying}, "player_id": {Person, Identifying},
	}
	for _, tables := range [][]*Table{Plyomat(), Optimo(), TeamPro()} {
		for _, tb := range tables {
			for _, c := range tb.Columns {
				ok, ps := true, want[c.Name]
				if ps != nil {
					ok = false
					for _, p := range ps {
						ok = ok || c.Privacy == p
					}
				}
				if !ok {
					t.Errorf("%s.%s: privacy %q, want one of %q", tb.ViewName(), c.Name, c.Privacy, ps)
				}
			}
		}
	}
}
