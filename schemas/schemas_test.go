package schemas

import "testing"

func TestAll(t *testing.T) {
	r := All()
	want := map[string]bool{}
	for _, n := range []string{"athletes", "groups", "group_members", "devices", "sessions", "sets", "reps", "assessments", "org_members", "webhook_events"} {
		want["plyomat/"+n] = true
	}
	for _, tb := range r.Tables() {
		delete(want, tb.ID())
		if got := tb.ArrowSchema().NumFields(); got != len(tb.Columns)+3 {
			t.Errorf("%s: %d arrow fields, want %d", tb.ID(), got, len(tb.Columns)+3)
		}
	}
	if len(want) != 0 {
		t.Errorf("tables not declared: %v", want)
	}
}

func TestRegistryRejectsBadDeclarations(t *testing.T) {
	cases := map[string]*Table{
		"no key":           {Source: "s", Name: "t", Columns: []Column{{Name: "id"}}},
		"missing key":      {Source: "s", Name: "t", Columns: []Column{{Name: "id"}}, Key: []string{"x"}},
		"dup column":       {Source: "s", Name: "t", Columns: []Column{{Name: "id"}, {Name: "id"}}, Key: []string{"id"}},
		"key named column": {Source: "s", Name: "t", Columns: []Column{{Name: "id"}, {Name: "month", Type: Timestamp}}, Key: []string{"id"}, Partition: Partitioning{Key: "month", Column: "month", Granularity: Month}},
		"non-time column":  {Source: "s", Name: "t", Columns: []Column{{Name: "id"}}, Key: []string{"id"}, Partition: Partitioning{Key: "month", Column: "id", Granularity: Month}},
		"orphan inherit":   {Source: "s", Name: "t", Columns: []Column{{Name: "id"}}, Key: []string{"id"}, Partition: Partitioning{Key: "month", Granularity: Month}},
		"lineage clash":    {Source: "s", Name: "t", Columns: []Column{{Name: "id"}, {Name: ColRunID}}, Key: []string{"id"}},
	}
	for name, tb := range cases {
		if _, err := NewRegistry([]*Table{tb}); err == nil {
			t.Errorf("%s: NewRegistry accepted it", name)
		}
	}
}
