package jobs

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/athlake/athlake/extract/optimo"
	"github.com/athlake/athlake/extract/plyomat"
	"github.com/athlake/athlake/extract/teampro"
	sbp "github.com/athlake/athlake/sandbox/plyomat"
)

// newHarness is a Plyomat simulator and a lake with only that source.
func newHarness(t *testing.T, seed int64) *lake {
	t.Helper()
	return newLake(t, "plyomat", seed, simOptions{})
}

// Cell formatting shared by expectations and views.Query's output.
func s(v string) string { return v }

func ps(v *string) string {
	if v == nil {
		return "NULL"
	}
	return *v
}

func f(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func pf(v *float64) string {
	if v == nil {
		return "NULL"
	}
	return f(*v)
}

func i(v int) string { return strconv.Itoa(v) }

func pi(v *int) string {
	if v == nil {
		return "NULL"
	}
	return i(*v)
}

func b(v bool) string { return strconv.FormatBool(v) }

func ts(v time.Time) string { return v.UTC().Format(time.RFC3339Nano) }

func pts(v *time.Time) string {
	if v == nil {
		return "NULL"
	}
	return ts(*v)
}

func normJSON(v string) string {
	if v == "NULL" {
		return v
	}
	var x any
	if err := json.Unmarshal([]byte(v), &x); err != nil {
		return "invalid JSON: " + v
	}
	out, _ := json.Marshal(x)
	return string(out)
}

// sortRows sorts rows by their cells, in place.
func sortRows(rows [][]string) [][]string {
	slices.SortFunc(rows, slices.Compare)
	return rows
}

// sortTables sorts the rows of every table, in place.
func sortTables(m map[string][][]string) map[string][][]string {
	for _, rows := range m {
		sortRows(rows)
	}
	return m
}

// rowsDiff is cmp.Diff, fast when the rows are equal (large tables).
func rowsDiff(want, got [][]string) string {
	if slices.EqualFunc(want, got, slices.Equal) {
		return ""
	}
	return truncateDiff(gocmp.Diff(want, got))
}

// expected renders the sandbox's truth as the rows each view must hold.
func expected(d *sbp.Dataset) map[string][][]string {
	m := map[string][][]string{}
	for _, a := range d.Athletes {
		m["athletes"] = append(m["athletes"], []string{s(a.ID), s(a.FirstName), s(a.LastName), s(a.Gender), f(a.BodyWeightKg), ps(a.ExternalID), ps(a.ExternalSource), ts(a.CreatedAt), ts(a.UpdatedAt)})
	}
	for _, g := range d.Groups {
		m["groups"] = append(m["groups"], []string{s(g.ID), s(g.Name), ps(g.Description), ts(g.CreatedAt), ts(g.UpdatedAt)})
	}
	for _, gm := range d.Memberships {
		m["group_members"] = append(m["group_members"], []string{s(gm.GroupID), s(gm.AthleteID)})
	}
	for _, dv := range d.Devices {
		cal, _ := json.Marshal(dv.Calibration)
		m["devices"] = append(m["devices"], []string{s(dv.ID), s(dv.SerialNumber), s(dv.Model), s(dv.FirmwareVersion), ts(dv.CreatedAt), ts(dv.UpdatedAt), normJSON(string(cal))})
	}
	for _, x := range d.Sessions {
		m["sessions"] = append(m["sessions"], []string{s(x.ID), s(x.AthleteID), ps(x.DeviceID), s(x.Name), ts(x.StartedAt), pts(x.EndedAt), ps(x.Notes), ts(x.CreatedAt), ts(x.UpdatedAt)})
	}
	for _, x := range d.Sets {
		m["sets"] = append(m["sets"], []string{s(x.ID), s(x.SessionID), s(x.AthleteID), s(x.Mode), pf(x.DropHeightCm), ts(x.StartedAt), ts(x.CreatedAt), ts(x.UpdatedAt)})
		for _, r := range x.Reps {
			m["reps"] = append(m["reps"], []string{s(x.ID), i(r.RepIndex), i(r.FlightTimeMs), pi(r.ContactTimeMs), f(r.JumpHeightCm), pf(r.RSI), s(r.Side), b(r.IsKept), ts(r.CapturedAt)})
		}
	}
	for _, x := range d.Assessments {
		m["assessments"] = append(m["assessments"], []string{s(x.ID), s(x.AthleteID), s(x.Name), f(x.Score), s(x.Unit), ts(x.AssessedAt), ts(x.CreatedAt), ts(x.UpdatedAt)})
	}
	for _, x := range d.OrgMembers {
		m["org_members"] = append(m["org_members"], []string{s(x.ID), s(x.Email), s(x.FirstName), s(x.LastName), s(x.Role), b(x.Archived), pts(x.ArchivedAt), ts(x.CreatedAt), ts(x.UpdatedAt)})
	}
	return sortTables(m)
}

// viewQueries select, per table, the columns expected() renders.
var viewQueries = map[string]string{
	"athletes":      "SELECT id, first_name, last_name, gender, body_weight_kg, external_id, external_source, created_at, updated_at FROM plyomat_athletes",
	"groups":        "SELECT id, name, description, created_at, updated_at FROM plyomat_groups",
	"group_members": "SELECT group_id, athlete_id FROM plyomat_group_members",
	"devices":       "SELECT id, serial_number, model, firmware_version, created_at, updated_at, CAST(_extra->'calibration' AS VARCHAR) FROM plyomat_devices",
	"sessions":      "SELECT id, athlete_id, device_id, name, started_at, ended_at, notes, created_at, updated_at FROM plyomat_sessions",
	"sets":          "SELECT id, session_id, athlete_id, mode, drop_height_cm, started_at, created_at, updated_at FROM plyomat_sets",
	"reps":          "SELECT set_id, rep_index, flight_time_ms, contact_time_ms, jump_height_cm, rsi, side, is_kept, captured_at FROM plyomat_reps",
	"assessments":   "SELECT id, athlete_id, name, score, unit, assessed_at, created_at, updated_at FROM plyomat_assessments",
	"org_members":   "SELECT id, email, first_name, last_name, role, archived, archived_at, created_at, updated_at FROM plyomat_org_members",
}

// normalizeDevices makes the devices' calibration JSON comparable.
func normalizeDevices(q string, rows [][]string) [][]string {
	if q == viewQueries["devices"] {
		for _, r := range rows {
			r[6] = normJSON(r[6])
		}
	}
	return rows
}

func truncateDiff(d string) string {
	if len(d) > 4000 {
		return d[:4000] + fmt.Sprintf("\n... (%d more bytes)", len(d)-4000)
	}
	return d
}

func diffRows(want, got [][]string) string { return truncateDiff(gocmp.Diff(want, got)) }

// assertViews compares each view (queries by table) with the truth.
func assertViews(t *testing.T, query func(string) [][]string, prefix string, queries map[string]string, want map[string][][]string) {
	t.Helper()
	for table, q := range queries {
		got := sortRows(query(q))
		if len(want[table]) == 0 {
			t.Errorf("truth of %s%s is empty: the test would prove nothing", prefix, table)
		}
		if d := rowsDiff(want[table], got); d != "" {
			t.Errorf("view %s%s differs from the sandbox (-want +got, %d vs %d rows):\n%s", prefix, table, len(want[table]), len(got), d)
		}
	}
}

// The sources' sections of a config, typed (nil when not configured).
func (s Sources) plyomat() *plyomat.Config { c, _ := s["plyomat"].(*plyomat.Config); return c }
func (s Sources) optimo() *optimo.Config   { c, _ := s["optimo"].(*optimo.Config); return c }
func (s Sources) teampro() *teampro.Config { c, _ := s["teampro"].(*teampro.Config); return c }
